DROP INDEX membership_periods_group_member_idx;
DROP INDEX resource_versions_at_idx;
DROP INDEX events_resource_id_idx;
DROP INDEX events_action_idx;
DROP INDEX events_actor_idx;
