-- Members of a group at T: the page query reads member_type and source of every member, so
-- they are carried in the index (index-only range, no table row per member). Replaces the
-- (group_id, member_id, valid_from, valid_to) index of 000002, of which it is an extension.
CREATE INDEX membership_periods_group_at_idx ON membership_periods (group_id, member_id, valid_from, valid_to, member_type, source);
DROP INDEX membership_periods_group_member_idx;
