//! The admin API of targets: validation, scopes, secrets never returned, pause/resume.
