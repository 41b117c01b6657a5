//! Signer accounts: the name and password a platform logs in with on the signer's behalf
//! (`auth/login`). The password is stored as an argon2id hash.

use migrations::models::User;
use migrations::queries;
use secrecy::SecretString;

use crate::audit::{AuditEvent, Outcome};
use crate::factors::{hash_secret, verify_secret};
use crate::secrets::new_id;
use crate::{Sam, SamError};

/// A user as the front end sees it.
#[derive(Debug, Clone)]
pub struct UserInfo {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

impl From<User> for UserInfo {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            name: u.name,
            created_at: u.created_at,
        }
    }
}

/// User names: 1 to 64 characters of letters, digits and `.-_@`.
pub fn valid_user_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_@".contains(c))
}

/// A fixed argon2id hash compared against when the user does not exist, so both cases take
/// the same time.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3i3xmmv4Zzgk6Wb6IK1nXlqXtjK8wxTpCHC5Y4ykkeA";

impl Sam {
    /// Adds a user. Operator command.
    pub fn add_user(&self, name: &str, password: &SecretString) -> Result<UserInfo, SamError> {
        if !valid_user_name(name) {
            return Err(SamError::InvalidRequest(
                "user names are 1 to 64 characters: letters, digits and . - _ @",
            ));
        }
        if secrecy::ExposeSecret::expose_secret(password)
            .chars()
            .count()
            < 8
        {
            return Err(SamError::InvalidRequest(
                "passwords have at least 8 characters",
            ));
        }
        let user = User {
            id: new_id("user-", 8),
            name: name.to_owned(),
            password_hash: hash_secret(password)?,
            created_at: self.inner.clock.now_s(),
        };
        let info = UserInfo::from(user.clone());
        self.inner.writer.run_blocking(move |txn| {
            txn.atomic(|conn| {
                if queries::users::by_name(conn, &user.name)?.is_some() {
                    return Err(SamError::UserExists);
                }
                Ok(queries::users::insert(conn, &user)?)
            })?;
            txn.append(
                AuditEvent::new("user.created", "operator", Outcome::Ok).detail("user", user.name),
            )
        })?;
        Ok(info)
    }

    pub fn list_users(&self) -> Result<Vec<UserInfo>, SamError> {
        let users = self.read_blocking(|c| Ok(queries::users::list(c)?))?;
        Ok(users.into_iter().map(UserInfo::from).collect())
    }

    /// Checks a login; `None` for an unknown user or a wrong password alike.
    pub async fn check_password(
        &self,
        name: &str,
        password: SecretString,
    ) -> Result<Option<UserInfo>, SamError> {
        let name = name.to_owned();
        let user = self
            .read(move |c| Ok(queries::users::by_name(c, &name)?))
            .await?;
        let hash = user
            .as_ref()
            .map_or_else(|| DUMMY_HASH.to_owned(), |u| u.password_hash.clone());
        let ok = tokio::task::spawn_blocking(move || verify_secret(&password, &hash))
            .await
            .unwrap_or(false);
        Ok(user.filter(|_| ok).map(UserInfo::from))
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserInfo>, SamError> {
        let id = id.to_owned();
        let user = self
            .read(move |c| Ok(queries::users::by_id(c, &id)?))
            .await?;
        Ok(user.map(UserInfo::from))
    }
}
