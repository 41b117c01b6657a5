//! Query functions, one module per table. Conditional writes return whether they took effect, so
//! the caller (the SAM) can decide inside its transaction.

use diesel::prelude::*;

use crate::DbConnection;
use crate::models::*;
use crate::schema;

pub use diesel::result::Error as DieselError;

/// Runs a query on the concrete connection inside [`DbConnection`]: the same query text for
/// both backends, with each backend's prepared-statement cache (queries through the combined
/// backend are prepared anew every time).
macro_rules! native {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            DbConnection::Sqlite($c) => $body,
            DbConnection::Pg($c) => $body,
        }
    };
}

pub type QueryResult<T> = Result<T, DieselError>;

pub mod users {
    use super::*;
    use schema::users::dsl as u;

    pub fn insert(conn: &mut DbConnection, user: &User) -> QueryResult<()> {
        diesel::insert_into(u::users)
            .values(user)
            .execute(conn)
            .map(|_| ())
    }

    pub fn by_name(conn: &mut DbConnection, name: &str) -> QueryResult<Option<User>> {
        u::users
            .filter(u::name.eq(name))
            .select(User::as_select())
            .first(conn)
            .optional()
    }

    pub fn by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Option<User>> {
        u::users
            .filter(u::id.eq(id))
            .select(User::as_select())
            .first(conn)
            .optional()
    }

    pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<User>> {
        u::users
            .order(u::name.asc())
            .select(User::as_select())
            .load(conn)
    }
}

pub mod keys {
    use super::*;
    use schema::keys::dsl as k;

    pub fn insert(conn: &mut DbConnection, key: &KeyRow) -> QueryResult<()> {
        diesel::insert_into(k::keys)
            .values(key)
            .execute(conn)
            .map(|_| ())
    }

    pub fn by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Option<KeyRow>> {
        k::keys
            .filter(k::id.eq(id))
            .select(KeyRow::as_select())
            .first(conn)
            .optional()
    }
}

pub mod ca {
    use super::*;
    use schema::ca::dsl as c;

    pub fn insert(conn: &mut DbConnection, row: &CaRow) -> QueryResult<()> {
        diesel::insert_into(c::ca)
            .values(row)
            .execute(conn)
            .map(|_| ())
    }

    pub fn by_name(conn: &mut DbConnection, name: &str) -> QueryResult<Option<CaRow>> {
        c::ca
            .filter(c::name.eq(name))
            .select(CaRow::as_select())
            .first(conn)
            .optional()
    }
}

pub mod credentials {
    use super::*;
    use schema::credentials::dsl as c;

    pub fn insert(conn: &mut DbConnection, cred: &Credential) -> QueryResult<()> {
        diesel::insert_into(c::credentials)
            .values(cred)
            .execute(conn)
            .map(|_| ())
    }

    pub fn by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Credential>> {
        native!(conn, |native_conn| {
            c::credentials
                .filter(c::id.eq(id))
                .select(Credential::as_select())
                .first(native_conn)
                .optional()
        })
    }

    pub fn list_for_user(conn: &mut DbConnection, user_id: &str) -> QueryResult<Vec<Credential>> {
        c::credentials
            .filter(c::user_id.eq(user_id))
            .order(c::created_at.asc())
            .select(Credential::as_select())
            .load(conn)
    }

    pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<Credential>> {
        c::credentials
            .order(c::created_at.asc())
            .select(Credential::as_select())
            .load(conn)
    }

    /// `(enabled, locked)`, without the rest of the row.
    pub fn state(conn: &mut DbConnection, id: &str) -> QueryResult<Option<(bool, bool)>> {
        native!(conn, |native_conn| {
            c::credentials
                .filter(c::id.eq(id))
                .select((c::enabled, c::locked))
                .first(native_conn)
                .optional()
        })
    }

    /// Enables or disables; returns whether the row exists.
    pub fn set_enabled(conn: &mut DbConnection, id: &str, enabled: bool) -> QueryResult<bool> {
        diesel::update(c::credentials.filter(c::id.eq(id)))
            .set(c::enabled.eq(enabled))
            .execute(conn)
            .map(|n| n == 1)
    }

    /// Counts one failed authentication; locks the credential when `max` is reached. Returns the
    /// new failure count and whether the credential is now locked.
    pub fn record_failure(conn: &mut DbConnection, id: &str, max: i32) -> QueryResult<(i32, bool)> {
        diesel::update(c::credentials.filter(c::id.eq(id)))
            .set(c::failed_attempts.eq(c::failed_attempts + 1))
            .execute(conn)?;
        diesel::update(
            c::credentials
                .filter(c::id.eq(id))
                .filter(c::failed_attempts.ge(max)),
        )
        .set(c::locked.eq(true))
        .execute(conn)?;
        c::credentials
            .filter(c::id.eq(id))
            .select((c::failed_attempts, c::locked))
            .first(conn)
    }

    pub fn reset_failures(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
        diesel::update(
            c::credentials
                .filter(c::id.eq(id))
                .filter(c::failed_attempts.ne(0)),
        )
        .set(c::failed_attempts.eq(0))
        .execute(conn)
        .map(|_| ())
    }

    /// Clears the lock and the failure count; returns whether the row exists.
    pub fn unlock(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
        diesel::update(c::credentials.filter(c::id.eq(id)))
            .set((c::locked.eq(false), c::failed_attempts.eq(0)))
            .execute(conn)
            .map(|n| n == 1)
    }

    /// Records a used TOTP step if it is newer than the last one; false means a replay.
    pub fn advance_totp_step(conn: &mut DbConnection, id: &str, step: i64) -> QueryResult<bool> {
        diesel::update(
            c::credentials
                .filter(c::id.eq(id))
                .filter(c::last_totp_step.is_null().or(c::last_totp_step.lt(step))),
        )
        .set(c::last_totp_step.eq(step))
        .execute(conn)
        .map(|n| n == 1)
    }
}

pub mod tokens {
    use super::*;
    use schema::tokens::dsl as t;

    pub fn insert(conn: &mut DbConnection, token: &Token) -> QueryResult<()> {
        native!(conn, |native_conn| {
            diesel::insert_into(t::tokens)
                .values(token)
                .execute(native_conn)
                .map(|_| ())
        })
    }

    pub fn by_hash(conn: &mut DbConnection, hash: &[u8]) -> QueryResult<Option<Token>> {
        native!(conn, |native_conn| {
            t::tokens
                .filter(t::hash.eq(hash))
                .select(Token::as_select())
                .first(native_conn)
                .optional()
        })
    }

    /// Revokes every token of a login session; returns how many were live.
    pub fn revoke_session(conn: &mut DbConnection, session_id: &str) -> QueryResult<usize> {
        diesel::update(
            t::tokens
                .filter(t::session_id.eq(session_id))
                .filter(t::revoked.eq(false)),
        )
        .set(t::revoked.eq(true))
        .execute(conn)
    }

    /// Revokes one token; returns whether it was live.
    pub fn revoke(conn: &mut DbConnection, hash: &[u8]) -> QueryResult<bool> {
        diesel::update(
            t::tokens
                .filter(t::hash.eq(hash))
                .filter(t::revoked.eq(false)),
        )
        .set(t::revoked.eq(true))
        .execute(conn)
        .map(|n| n == 1)
    }
}

pub mod sads {
    use super::*;
    use schema::sad_hashes::dsl as h;
    use schema::sads::dsl as s;

    pub fn insert(conn: &mut DbConnection, sad: &Sad, hashes: &[Vec<u8>]) -> QueryResult<()> {
        diesel::insert_into(s::sads).values(sad).execute(conn)?;
        // One row at a time: batch inserts are not portable across the two backends.
        for digest in hashes {
            diesel::insert_into(h::sad_hashes)
                .values((
                    h::sad_id.eq(&sad.id),
                    h::digest.eq(digest),
                    h::spent.eq(false),
                ))
                .execute(conn)?;
        }
        Ok(())
    }

    pub fn by_hash(conn: &mut DbConnection, hash: &[u8]) -> QueryResult<Option<Sad>> {
        native!(conn, |native_conn| {
            s::sads
                .filter(s::hash.eq(hash))
                .select(Sad::as_select())
                .first(native_conn)
                .optional()
        })
    }

    pub fn by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Sad>> {
        native!(conn, |native_conn| {
            s::sads
                .filter(s::id.eq(id))
                .select(Sad::as_select())
                .first(native_conn)
                .optional()
        })
    }

    /// Takes `n` from the budget of a live SAD presented with its current token; false if it is
    /// revoked, expired at `now`, replaced (extendTransaction), the budget is too small, or its
    /// credential is disabled or locked.
    /// Atomic: a single conditional UPDATE.
    pub fn spend_count(
        conn: &mut DbConnection,
        id: &str,
        token_hash: &[u8],
        n: i64,
        now: i64,
    ) -> QueryResult<bool> {
        use diesel::sql_types::{BigInt, Binary, Text};
        // Plain SQL so each backend caches the prepared statement (diesel re-prepares a DSL
        // query with a subselect every time); the text differs only in its placeholders.
        const SQLITE: &str = "UPDATE sads SET remaining = remaining - ? \
             WHERE id = ? AND hash = ? AND NOT revoked AND expires_at > ? AND remaining >= ? \
             AND EXISTS (SELECT 1 FROM credentials WHERE credentials.id = sads.credential_id \
             AND credentials.enabled AND NOT credentials.locked)";
        const POSTGRES: &str = "UPDATE sads SET remaining = remaining - $1 \
             WHERE id = $2 AND hash = $3 AND NOT revoked AND expires_at > $4 AND remaining >= $5 \
             AND EXISTS (SELECT 1 FROM credentials WHERE credentials.id = sads.credential_id \
             AND credentials.enabled AND NOT credentials.locked)";
        let sql = match conn {
            DbConnection::Sqlite(_) => SQLITE,
            DbConnection::Pg(_) => POSTGRES,
        };
        native!(conn, |native_conn| {
            diesel::sql_query(sql)
                .bind::<BigInt, _>(n)
                .bind::<Text, _>(id)
                .bind::<Binary, _>(token_hash)
                .bind::<BigInt, _>(now)
                .bind::<BigInt, _>(n)
                .execute(native_conn)
                .map(|updated| updated == 1)
        })
    }

    /// Marks one authorized hash spent; false if it is not in the set or already spent.
    pub fn spend_hash(conn: &mut DbConnection, sad_id: &str, digest: &[u8]) -> QueryResult<bool> {
        native!(conn, |native_conn| {
            diesel::update(
                h::sad_hashes
                    .filter(h::sad_id.eq(sad_id))
                    .filter(h::digest.eq(digest))
                    .filter(h::spent.eq(false)),
            )
            .set(h::spent.eq(true))
            .execute(native_conn)
            .map(|updated| updated == 1)
        })
    }

    /// Replaces a live SAD's token and expiry (extendTransaction); false if it is not live.
    pub fn extend(
        conn: &mut DbConnection,
        id: &str,
        new_hash: &[u8],
        new_mac: &[u8],
        new_expiry: i64,
        now: i64,
    ) -> QueryResult<bool> {
        diesel::update(
            s::sads
                .filter(s::id.eq(id))
                .filter(s::revoked.eq(false))
                .filter(s::expires_at.gt(now))
                .filter(s::remaining.gt(0)),
        )
        .set((
            s::hash.eq(new_hash),
            s::mac.eq(new_mac),
            s::expires_at.eq(new_expiry),
        ))
        .execute(conn)
        .map(|updated| updated == 1)
    }

    /// Kills every outstanding SAD of a credential; returns how many were live.
    pub fn revoke_for_credential(
        conn: &mut DbConnection,
        credential_id: &str,
    ) -> QueryResult<usize> {
        diesel::update(
            s::sads
                .filter(s::credential_id.eq(credential_id))
                .filter(s::revoked.eq(false)),
        )
        .set(s::revoked.eq(true))
        .execute(conn)
    }

    /// Kills every outstanding SAD issued to a login session.
    pub fn revoke_for_session(conn: &mut DbConnection, session_id: &str) -> QueryResult<usize> {
        diesel::update(
            s::sads
                .filter(s::session_id.eq(session_id))
                .filter(s::revoked.eq(false)),
        )
        .set(s::revoked.eq(true))
        .execute(conn)
    }

    /// The authorized hashes of a SAD, in no particular order.
    pub fn hashes(conn: &mut DbConnection, sad_id: &str) -> QueryResult<Vec<SadHash>> {
        native!(conn, |native_conn| {
            h::sad_hashes
                .filter(h::sad_id.eq(sad_id))
                .select(SadHash::as_select())
                .load(native_conn)
        })
    }
}

pub mod audit {
    use super::*;
    use schema::audit_log::dsl as a;

    pub fn insert(conn: &mut DbConnection, row: &AuditRow) -> QueryResult<()> {
        native!(conn, |native_conn| {
            diesel::insert_into(a::audit_log)
                .values(row)
                .execute(native_conn)
                .map(|_| ())
        })
    }

    /// The last record of a chain.
    pub fn head(conn: &mut DbConnection, chain_id: &str) -> QueryResult<Option<AuditRow>> {
        a::audit_log
            .filter(a::chain_id.eq(chain_id))
            .order(a::seq.desc())
            .select(AuditRow::as_select())
            .first(conn)
            .optional()
    }

    /// Records ordered by chain then sequence, `limit` at a time after (`chain_id`, `seq`).
    pub fn page(
        conn: &mut DbConnection,
        after: Option<(&str, i64)>,
        limit: i64,
    ) -> QueryResult<Vec<AuditRow>> {
        let mut q = a::audit_log
            .order((a::chain_id.asc(), a::seq.asc()))
            .select(AuditRow::as_select())
            .limit(limit)
            .into_boxed();
        if let Some((chain, seq)) = after {
            q = q.filter(
                a::chain_id
                    .gt(chain.to_owned())
                    .or(a::chain_id.eq(chain.to_owned()).and(a::seq.gt(seq))),
            );
        }
        q.load(conn)
    }

    /// The records of one credential, oldest first.
    pub fn for_credential(
        conn: &mut DbConnection,
        credential_id: &str,
    ) -> QueryResult<Vec<AuditRow>> {
        a::audit_log
            .filter(a::credential_id.eq(credential_id))
            .order((a::at_ms.asc(), a::chain_id.asc(), a::seq.asc()))
            .select(AuditRow::as_select())
            .load(conn)
    }

    pub fn count(conn: &mut DbConnection) -> QueryResult<i64> {
        a::audit_log.count().get_result(conn)
    }
}
