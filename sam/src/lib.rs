//! The Signature Activation Module: the only path from a signer's approval to a key.
//!
//! It checks the signer's evidence itself (PIN, TOTP), issues Signature Activation Data (SAD)
//! bound to one user, credential, caller session, hash algorithm and hash set, spends it
//! atomically in the database together with the audit record, and only then lets a key backend
//! sign. Key backends are private to this crate: the one way to a signature is
//! [`Sam::activate`] followed by [`Activation::sign`].
#![forbid(unsafe_code)]

mod activate;
pub mod audit;
mod authorize;
mod backend;
mod clock;
mod credentials;
pub mod dev_ca;
mod error;
pub mod factors;
mod secrets;
mod store;
mod users;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use activate::{Activation, SignHashRequest};
pub use audit::{AuditEvent, Outcome, VerifyReport};
pub use authorize::{AuthorizeRequest, IssuedSad};
pub use backend::software::Capabilities as BackendCapabilities;
pub use clock::{Clock, ManualClock, SystemClock};
pub use credentials::{
    AuthMode, CreatedCredential, CredentialInfo, CredentialStatus, MAX_MULTISIGN, NewCredential,
};
pub use error::SamError;
pub use secrets::{
    ACCESS_TOKEN_PREFIX, REFRESH_TOKEN_PREFIX, SAD_PREFIX, new_id, new_secret, secret_hash,
};
pub use users::UserInfo;

use migrations::{Database, Pool};

use crate::audit::AuditWriter;
use crate::backend::software::{Kek, SoftwareKeystore};
use crate::secrets::DerivedKeys;

/// Failed authentications after which a credential locks until an operator unlocks it.
pub const MAX_FAILED_AUTHENTICATIONS: i32 = 5;

/// Where the SAM keeps its state and how it behaves.
#[derive(Debug, Clone)]
pub struct SamConfig {
    /// The data folder: the KEK file lives here (and the SQLite file by default).
    pub data_dir: PathBuf,
    pub database: Database,
    /// SAD lifetime in seconds.
    pub sad_lifetime_s: i64,
    /// Database connections for reads.
    pub pool_size: u32,
}

impl SamConfig {
    pub fn new(data_dir: impl Into<PathBuf>, database: Database) -> Self {
        Self {
            data_dir: data_dir.into(),
            database,
            sad_lifetime_s: 300,
            pool_size: 8,
        }
    }

    fn kek_path(&self) -> PathBuf {
        self.data_dir.join("kek")
    }
}

/// The SAM. Cheap to clone; one per process.
#[derive(Clone)]
pub struct Sam {
    inner: Arc<Inner>,
}

struct Inner {
    config: SamConfig,
    pool: Pool,
    writer: AuditWriter,
    keystore: SoftwareKeystore,
    keys: DerivedKeys,
    clock: Arc<dyn Clock>,
    store: store::Cache,
}

impl std::fmt::Debug for Sam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sam")
            .field("data_dir", &self.inner.config.data_dir)
            .field("database", &self.inner.config.database)
            .finish_non_exhaustive()
    }
}

impl Sam {
    /// Initialises a data folder: the KEK, the database schema and the development CA. Safe to
    /// run again: what exists is kept.
    pub fn init(config: &SamConfig, clock: Arc<dyn Clock>) -> Result<InitReport, SamError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| SamError::Config(format!("cannot create the data folder: {e}")))?;
        let kek_created = ensure_kek(&config.kek_path())?;
        config.database.migrate()?;
        let sam = Self::open(config.clone(), clock, "init")?;
        let ca_created = sam.ensure_dev_ca()?;
        Ok(InitReport {
            kek_created,
            ca_created,
        })
    }

    /// Opens an initialised data folder. `kind` names this process's audit chain.
    pub fn open(config: SamConfig, clock: Arc<dyn Clock>, kind: &str) -> Result<Self, SamError> {
        let kek = read_kek(&config.kek_path())?;
        let keys = DerivedKeys::derive(kek.expose_bytes())?;
        let keystore = SoftwareKeystore::new(kek);
        let pool = config.database.pool(config.pool_size)?;
        let writer = AuditWriter::start(config.database.clone(), clock.clone(), kind)?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                pool,
                writer,
                keystore,
                keys,
                clock,
                store: store::Cache::default(),
            }),
        })
    }

    /// What the key backend can do: key kinds, algorithms, whether keys are extractable.
    pub fn backend(&self) -> BackendCapabilities {
        SoftwareKeystore::describe()
    }

    pub fn config(&self) -> &SamConfig {
        &self.inner.config
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The read pool, for the front end's own tables (users, tokens) and listings.
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// Records an event decided outside the SAM (a login, a token revocation) in the audit log,
    /// waiting for its commit.
    pub async fn record(&self, event: AuditEvent) -> Result<(), SamError> {
        self.inner.writer.run(move |txn| txn.append(event)).await
    }

    /// As [`record`](Self::record), outside an async runtime.
    pub fn record_blocking(&self, event: AuditEvent) -> Result<(), SamError> {
        self.inner.writer.run_blocking(move |txn| txn.append(event))
    }

    /// Whether the database answers.
    pub async fn ready(&self) -> bool {
        let pool = self.inner.pool.clone();
        tokio::task::spawn_blocking(move || {
            pool.get()
                .ok()
                .is_some_and(|mut c| migrations::queries::audit::count(&mut c).is_ok())
        })
        .await
        .unwrap_or(false)
    }

    /// Runs a blocking read on a pooled connection.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, SamError>
    where
        T: Send + 'static,
        F: FnOnce(&mut migrations::DbConnection) -> Result<T, SamError> + Send + 'static,
    {
        let pool = self.inner.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(|e| SamError::Database(e.to_string()))?;
            f(&mut conn)
        })
        .await
        .map_err(|_| SamError::Database("read task failed".into()))?
    }

    pub(crate) fn read_blocking<T>(
        &self,
        f: impl FnOnce(&mut migrations::DbConnection) -> Result<T, SamError>,
    ) -> Result<T, SamError> {
        let mut conn = self
            .inner
            .pool
            .get()
            .map_err(|e| SamError::Database(e.to_string()))?;
        f(&mut conn)
    }
}

/// What `init` did.
#[derive(Debug, Clone, Copy)]
pub struct InitReport {
    pub kek_created: bool,
    pub ca_created: bool,
}

fn ensure_kek(path: &Path) -> Result<bool, SamError> {
    if path.exists() {
        return Ok(false);
    }
    let kek = Kek::generate(&mut rand::rng());
    write_private_file(path, kek.expose_bytes())?;
    Ok(true)
}

fn read_kek(path: &Path) -> Result<Kek, SamError> {
    let bytes = zeroize::Zeroizing::new(std::fs::read(path).map_err(|_| {
        SamError::Config(format!(
            "no key encryption key at {}: run `qsign init` first",
            path.display()
        ))
    })?);
    Kek::from_bytes(&bytes).map_err(|_| SamError::Config("the KEK file is malformed".into()))
}

fn write_private_file(path: &Path, data: &[u8]) -> Result<(), SamError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts
        .open(path)
        .map_err(|e| SamError::Config(format!("cannot create {}: {e}", path.display())))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .map_err(|e| SamError::Config(format!("cannot write {}: {e}", path.display())))
}
