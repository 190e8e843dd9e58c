-- The filter-index copy of each document (case-insensitive strings folded in Rust, dateTimes
-- canonical). Filled by the application; rows written before this migration are back-filled
-- at start (doc_norm = '').
ALTER TABLE users ADD COLUMN doc_norm TEXT NOT NULL DEFAULT '';
ALTER TABLE groups ADD COLUMN doc_norm TEXT NOT NULL DEFAULT '';
