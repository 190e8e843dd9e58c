-- Case-insensitive keys became NFKC + case folding (scim::resource::normalize_case): empty
-- doc_norm makes the start-up back-fill recompute doc_norm and every *_norm column of every
-- row with the new function. No schema change.
UPDATE users SET doc_norm = '';
UPDATE groups SET doc_norm = '';
