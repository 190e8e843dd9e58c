-- Recompute the keys again at the next start (with whatever normalisation that binary has).
UPDATE users SET doc_norm = '';
UPDATE groups SET doc_norm = '';
