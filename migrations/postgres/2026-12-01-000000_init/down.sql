DROP TABLE audit_log;
DROP TABLE sad_hashes;
DROP TABLE sads;
DROP TABLE tokens;
DROP TABLE credentials;
DROP TABLE ca;
DROP TABLE keys;
DROP TABLE users;
