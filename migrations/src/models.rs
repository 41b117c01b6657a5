//! Rows as Rust structs. Plain data: the rules about them live in the SAM and the front end.

use diesel::prelude::*;

use crate::schema::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: String,
    pub name: String,
    /// argon2id PHC string; not a secret in itself but never logged.
    pub password_hash: String,
    pub created_at: i64,
}

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = keys)]
pub struct KeyRow {
    pub id: String,
    pub backend: String,
    pub kind: String,
    /// The private key wrapped under the KEK (software keystore) or a handle label (PKCS#11).
    pub wrapped: Vec<u8>,
    pub public_key: Vec<u8>,
    pub created_at: i64,
    pub destroyed_at: Option<i64>,
}

impl std::fmt::Debug for KeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRow")
            .field("id", &self.id)
            .field("backend", &self.backend)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = ca)]
pub struct CaRow {
    pub name: String,
    pub key_id: String,
    pub cert_der: Vec<u8>,
}

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = credentials)]
pub struct Credential {
    pub id: String,
    pub user_id: String,
    pub key_id: String,
    pub key_kind: String,
    pub cert_chain_pem: String,
    pub scal: i32,
    pub auth_mode: String,
    pub pin_hash: String,
    pub totp_secret: Option<Vec<u8>>,
    pub last_totp_step: Option<i64>,
    pub multisign: i64,
    pub enabled: bool,
    pub failed_attempts: i32,
    pub locked: bool,
    pub description: String,
    pub binding_mac: Vec<u8>,
    pub created_at: i64,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("key_kind", &self.key_kind)
            .field("scal", &self.scal)
            .field("auth_mode", &self.auth_mode)
            .field("multisign", &self.multisign)
            .field("enabled", &self.enabled)
            .field("locked", &self.locked)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tokens)]
pub struct Token {
    /// SHA-256 of the token: the token itself is never stored.
    pub hash: Vec<u8>,
    pub kind: String,
    pub user_id: String,
    pub session_id: String,
    pub expires_at: i64,
    pub revoked: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sads)]
pub struct Sad {
    pub id: String,
    /// SHA-256 of the SAD: the SAD itself is never stored.
    pub hash: Vec<u8>,
    pub user_id: String,
    pub credential_id: String,
    pub session_id: String,
    pub hash_alg: Option<String>,
    pub num_signatures: i64,
    pub remaining: i64,
    pub pinned: bool,
    pub expires_at: i64,
    pub revoked: bool,
    pub mac: Vec<u8>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sad_hashes)]
pub struct SadHash {
    pub sad_id: String,
    pub digest: Vec<u8>,
    pub spent: bool,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub chain_id: String,
    pub seq: i64,
    pub at_ms: i64,
    pub event: String,
    pub actor: String,
    pub credential_id: Option<String>,
    pub sad_ref: Option<String>,
    pub outcome: String,
    pub detail: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}
