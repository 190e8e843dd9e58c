-- Indexes for the read-only audit API (/audit/v1). Indexes only: no table or column changes.
-- Event filters by actor, action or resource id alone, keyset-paged by seq.
CREATE INDEX events_actor_idx ON events (actor, seq);
CREATE INDEX events_action_idx ON events (action, seq);
CREATE INDEX events_resource_id_idx ON events (resource_id, seq);
-- "This resource as it was at T": the version whose span contains T (valid_to included so the
-- span test needs no table row).
CREATE INDEX resource_versions_at_idx ON resource_versions (resource_type, resource_id, valid_from, valid_to);
-- Members of a group at T or over a window, keyset-paged by member id.
CREATE INDEX membership_periods_group_member_idx ON membership_periods (group_id, member_id, valid_from, valid_to);
