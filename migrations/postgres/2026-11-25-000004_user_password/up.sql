-- Argon2id PHC strings of user passwords (writeOnly): apart from the profile so that no
-- query of users ever reads them; never returned, never in events.
CREATE TABLE user_passwords (
    user_id TEXT COLLATE "C" PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash TEXT NOT NULL,
    changed TIMESTAMP NOT NULL
);
