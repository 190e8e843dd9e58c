CREATE INDEX membership_periods_group_member_idx ON membership_periods (group_id, member_id, valid_from, valid_to);
DROP INDEX membership_periods_group_at_idx;
