DROP TABLE push_log;
DROP TABLE push_state;
DROP TABLE push_cursors;
DROP TABLE push_targets;
