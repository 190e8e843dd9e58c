DROP TABLE user_passwords;
