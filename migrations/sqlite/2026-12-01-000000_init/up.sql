CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE keys (
    id TEXT PRIMARY KEY NOT NULL,
    backend TEXT NOT NULL,
    kind TEXT NOT NULL,
    wrapped BLOB NOT NULL,
    public_key BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    destroyed_at BIGINT
);

CREATE TABLE ca (
    name TEXT PRIMARY KEY NOT NULL,
    key_id TEXT NOT NULL REFERENCES keys(id),
    cert_der BLOB NOT NULL
);

CREATE TABLE credentials (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    key_id TEXT NOT NULL REFERENCES keys(id),
    key_kind TEXT NOT NULL,
    cert_chain_pem TEXT NOT NULL,
    scal INTEGER NOT NULL,
    auth_mode TEXT NOT NULL,
    pin_hash TEXT NOT NULL,
    totp_secret BLOB,
    last_totp_step BIGINT,
    multisign BIGINT NOT NULL,
    enabled BOOLEAN NOT NULL,
    failed_attempts INTEGER NOT NULL,
    locked BOOLEAN NOT NULL,
    description TEXT NOT NULL,
    binding_mac BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX credentials_user ON credentials(user_id);

CREATE TABLE tokens (
    hash BLOB PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    session_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX tokens_session ON tokens(session_id);

CREATE TABLE sads (
    id TEXT PRIMARY KEY NOT NULL,
    hash BLOB NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users(id),
    credential_id TEXT NOT NULL REFERENCES credentials(id),
    session_id TEXT NOT NULL,
    hash_alg TEXT,
    num_signatures BIGINT NOT NULL,
    remaining BIGINT NOT NULL,
    pinned BOOLEAN NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked BOOLEAN NOT NULL,
    mac BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX sads_credential ON sads(credential_id);

CREATE TABLE sad_hashes (
    sad_id TEXT NOT NULL REFERENCES sads(id),
    digest BLOB NOT NULL,
    spent BOOLEAN NOT NULL,
    PRIMARY KEY (sad_id, digest)
);

CREATE TABLE audit_log (
    chain_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    event TEXT NOT NULL,
    actor TEXT NOT NULL,
    credential_id TEXT,
    sad_ref TEXT,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (chain_id, seq)
);
