ALTER TABLE groups DROP COLUMN doc_norm;
ALTER TABLE users DROP COLUMN doc_norm;
