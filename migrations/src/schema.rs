//! The diesel schema, one `table!` per table; the same for SQLite and PostgreSQL.

diesel::table! {
    users (id) {
        id -> Text,
        name -> Text,
        password_hash -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    keys (id) {
        id -> Text,
        backend -> Text,
        kind -> Text,
        wrapped -> Binary,
        public_key -> Binary,
        created_at -> BigInt,
        destroyed_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    ca (name) {
        name -> Text,
        key_id -> Text,
        cert_der -> Binary,
    }
}

diesel::table! {
    credentials (id) {
        id -> Text,
        user_id -> Text,
        key_id -> Text,
        key_kind -> Text,
        cert_chain_pem -> Text,
        scal -> Integer,
        auth_mode -> Text,
        pin_hash -> Text,
        totp_secret -> Nullable<Binary>,
        last_totp_step -> Nullable<BigInt>,
        multisign -> BigInt,
        enabled -> Bool,
        failed_attempts -> Integer,
        locked -> Bool,
        description -> Text,
        binding_mac -> Binary,
        created_at -> BigInt,
    }
}

diesel::table! {
    tokens (hash) {
        hash -> Binary,
        kind -> Text,
        user_id -> Text,
        session_id -> Text,
        expires_at -> BigInt,
        revoked -> Bool,
        created_at -> BigInt,
    }
}

diesel::table! {
    sads (id) {
        id -> Text,
        hash -> Binary,
        user_id -> Text,
        credential_id -> Text,
        session_id -> Text,
        hash_alg -> Nullable<Text>,
        num_signatures -> BigInt,
        remaining -> BigInt,
        pinned -> Bool,
        expires_at -> BigInt,
        revoked -> Bool,
        mac -> Binary,
        created_at -> BigInt,
    }
}

diesel::table! {
    sad_hashes (sad_id, digest) {
        sad_id -> Text,
        digest -> Binary,
        spent -> Bool,
    }
}

diesel::table! {
    audit_log (chain_id, seq) {
        chain_id -> Text,
        seq -> BigInt,
        at_ms -> BigInt,
        event -> Text,
        actor -> Text,
        credential_id -> Nullable<Text>,
        sad_ref -> Nullable<Text>,
        outcome -> Text,
        detail -> Text,
        prev_hash -> Binary,
        hash -> Binary,
    }
}

diesel::joinable!(credentials -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    keys,
    ca,
    credentials,
    tokens,
    sads,
    sad_hashes,
    audit_log
);
