DROP TABLE scheduled_jobs;
DROP TABLE suspended_memberships;
DROP TABLE rule_grants;
DROP TABLE rules;
