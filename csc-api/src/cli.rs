//! The `qsign` command: `serve`, `init`, users, credentials, the development CA and the audit
//! log. Every command takes `--data DIR` (env `QSIGN_DATA`) and works while `qsign serve` runs on
//! the same data folder.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use migrations::Database;
use sam::{AuthMode, NewCredential, Sam, SamConfig, SystemClock};
use secrecy::{ExposeSecret, SecretString};
use signer::KeyKind;

use crate::server::{self, ServerOptions};

#[derive(Debug, Parser)]
#[command(
    name = "qsign",
    version,
    about = "qsign remote signing service (CSC API)"
)]
pub struct Cli {
    /// Data folder: KEK, SQLite database, configuration.
    #[arg(
        long,
        global = true,
        env = "QSIGN_DATA",
        default_value = "./qsign-data"
    )]
    data: PathBuf,
    /// PostgreSQL URL (`postgres://…`); default: SQLite in the data folder, or the URL given to
    /// `qsign init`.
    #[arg(
        long,
        global = true,
        env = "QSIGN_DATABASE_URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service (initialises an empty data folder first).
    Serve(ServeArgs),
    /// Create the data folder, database, KEK and development CA.
    Init,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage credentials.
    #[command(subcommand)]
    Credential(CredentialCommand),
    /// The development CA (NOT QUALIFIED).
    #[command(subcommand)]
    Ca(CaCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long)]
    listen: Option<String>,
    /// Configuration file (TOML: listen, database_url, sad_lifetime, tls_cert, tls_key,
    /// workers, access_token_lifetime).
    #[arg(long)]
    config: Option<PathBuf>,
    /// PEM certificate chain for HTTPS.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// HTTP worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user; the password is read from standard input.
    Add {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List users.
    List,
}

#[derive(Debug, Subcommand)]
enum CredentialCommand {
    /// Generate a key, certify it with the development CA, and store the credential.
    Create {
        #[arg(long)]
        user: String,
        /// ecdsa-p256, ecdsa-p384, rsa-2048 or rsa-3072.
        #[arg(long)]
        key: String,
        /// Sole control assurance level: 1 or 2.
        #[arg(long, default_value_t = 1)]
        scal: u8,
        /// pin or pin+totp.
        #[arg(long, default_value = "pin")]
        auth: String,
        /// Read the PIN from standard input.
        #[arg(long, required = true)]
        pin_stdin: bool,
        /// Signatures one authorization may cover.
        #[arg(long, default_value_t = 250)]
        multisign: i64,
        #[arg(long)]
        description: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List credentials.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Disable a credential; its outstanding SADs stop working.
    Disable { id: String },
    /// Enable a credential.
    Enable { id: String },
    /// Clear a lockout after failed authentications.
    Unlock { id: String },
}

#[derive(Debug, Subcommand)]
enum CaCommand {
    /// Print the development root CA certificate (PEM).
    Root,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check the whole hash chain; exits non-zero naming the first bad record.
    Verify,
}

/// Settings read from `--config`, the environment and the command line, in rising priority.
#[derive(Debug, Default)]
struct FileConfig {
    listen: Option<String>,
    database_url: Option<String>,
    sad_lifetime: Option<i64>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    workers: Option<usize>,
    access_token_lifetime: Option<i64>,
}

/// Reads the TOML subset qsign's configuration uses: `key = "string"` and `key = integer`.
fn read_config(path: &Path) -> anyhow::Result<FileConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut cfg = FileConfig::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            bail!("{}:{}: expected `key = value`", path.display(), n + 1);
        };
        let (key, value) = (key.trim(), value.trim());
        let string = || -> anyhow::Result<String> {
            value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .map(str::to_owned)
                .with_context(|| {
                    format!(
                        "{}:{}: {key} must be a quoted string",
                        path.display(),
                        n + 1
                    )
                })
        };
        let int = || -> anyhow::Result<i64> {
            value
                .parse()
                .with_context(|| format!("{}:{}: {key} must be an integer", path.display(), n + 1))
        };
        match key {
            "listen" => cfg.listen = Some(string()?),
            "database_url" => cfg.database_url = Some(string()?),
            "sad_lifetime" => cfg.sad_lifetime = Some(int()?),
            "tls_cert" => cfg.tls_cert = Some(string()?.into()),
            "tls_key" => cfg.tls_key = Some(string()?.into()),
            "workers" => cfg.workers = Some(usize::try_from(int()?)?),
            "access_token_lifetime" => cfg.access_token_lifetime = Some(int()?),
            other => bail!("{}:{}: unknown setting {other}", path.display(), n + 1),
        }
    }
    Ok(cfg)
}

/// The file in the data folder that remembers a PostgreSQL URL given to `init`.
fn database_url_file(data: &Path) -> PathBuf {
    data.join("database-url")
}

fn database(data: &Path, url: Option<&str>) -> anyhow::Result<Database> {
    let url = match url {
        Some(u) => Some(u.to_owned()),
        None => std::fs::read_to_string(database_url_file(data))
            .ok()
            .map(|s| s.trim().to_owned()),
    };
    match url {
        None => Ok(Database::Sqlite(data.join("qsign.db"))),
        Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
            Ok(Database::Postgres(u))
        }
        Some(u) => match u.strip_prefix("sqlite://") {
            Some(path) => Ok(Database::Sqlite(PathBuf::from(path))),
            None => bail!("--database-url must start with postgres:// or sqlite://"),
        },
    }
}

fn sam_config(data: &Path, db: Database, sad_lifetime: Option<i64>) -> anyhow::Result<SamConfig> {
    let mut config = SamConfig::new(data, db);
    let env = std::env::var("QSIGN_SAD_LIFETIME").ok();
    if let Some(s) = env {
        config.sad_lifetime_s = s
            .trim()
            .parse()
            .context("QSIGN_SAD_LIFETIME must be a number of seconds")?;
    } else if let Some(s) = sad_lifetime {
        config.sad_lifetime_s = s;
    }
    if !(1..=86_400).contains(&config.sad_lifetime_s) {
        bail!("the SAD lifetime must be between 1 and 86400 seconds");
    }
    Ok(config)
}

fn read_secret(stdin: &mut dyn Read, what: &str) -> anyhow::Result<SecretString> {
    let mut buf = zeroize::Zeroizing::new(String::new());
    stdin
        .read_to_string(&mut buf)
        .with_context(|| format!("cannot read the {what} from standard input"))?;
    let value = buf.trim_end_matches(['\r', '\n']);
    if value.is_empty() {
        bail!("no {what} on standard input");
    }
    Ok(SecretString::from(value.to_owned()))
}

fn open(cli: &Cli, kind: &str) -> anyhow::Result<Sam> {
    let db = database(&cli.data, cli.database_url.as_deref())?;
    let config = sam_config(&cli.data, db, None)?;
    Sam::open(config, Arc::new(SystemClock), kind).map_err(|e| anyhow::anyhow!("{e}"))
}

fn init(cli: &Cli, url: Option<&str>) -> anyhow::Result<sam::InitReport> {
    let db = database(&cli.data, url)?;
    let config = sam_config(&cli.data, db.clone(), None)?;
    let report = Sam::init(&config, Arc::new(SystemClock)).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let (Database::Postgres(u), Some(_)) = (&db, url) {
        let path = database_url_file(&cli.data);
        if !path.exists() {
            write_private(&path, u.as_bytes())?;
        }
    }
    Ok(report)
}

fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(data)?;
    Ok(())
}

/// Runs the command line; returns the process exit code.
pub fn run(
    args: impl IntoIterator<Item = OsString>,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
) -> anyhow::Result<i32> {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            write!(stdout, "{}", e.render())?;
            return Ok(code);
        }
    };
    match &cli.command {
        Command::Serve(args) => serve(&cli, args),
        Command::Init => {
            let r = init(&cli, cli.database_url.as_deref())?;
            writeln!(
                stdout,
                "initialised {} (KEK {}, development CA {}; NOT QUALIFIED)",
                cli.data.display(),
                if r.kek_created { "created" } else { "kept" },
                if r.ca_created { "created" } else { "kept" },
            )?;
            Ok(0)
        }
        Command::User(UserCommand::Add { name, .. }) => {
            let password = read_secret(stdin, "password")?;
            let sam = open(&cli, "cli")?;
            let user = sam
                .add_user(name, &password)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            writeln!(stdout, "{}", user.id)?;
            Ok(0)
        }
        Command::User(UserCommand::List) => {
            let sam = open(&cli, "cli")?;
            for u in sam.list_users().map_err(|e| anyhow::anyhow!("{e}"))? {
                writeln!(stdout, "{}\t{}", u.id, u.name)?;
            }
            Ok(0)
        }
        Command::Credential(c) => credential(&cli, c, stdin, stdout),
        Command::Ca(CaCommand::Root) => {
            let sam = open(&cli, "cli")?;
            write!(
                stdout,
                "{}",
                sam.dev_ca_root_pem().map_err(|e| anyhow::anyhow!("{e}"))?
            )?;
            Ok(0)
        }
        Command::Audit(AuditCommand::Verify) => {
            let db = database(&cli.data, cli.database_url.as_deref())?;
            let report = sam::audit::verify(&db).map_err(|e| anyhow::anyhow!("{e}"))?;
            match report.first_bad {
                None => {
                    writeln!(
                        stdout,
                        "audit log intact: {} records in {} chains, head {}",
                        report.records, report.chains, report.head
                    )?;
                    Ok(0)
                }
                Some(bad) => {
                    writeln!(stdout, "audit log TAMPERED: first bad record is {bad}")?;
                    Ok(1)
                }
            }
        }
    }
}

fn credential(
    cli: &Cli,
    cmd: &CredentialCommand,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
) -> anyhow::Result<i32> {
    match cmd {
        CredentialCommand::Create {
            user,
            key,
            scal,
            auth,
            multisign,
            description,
            json,
            ..
        } => {
            let kind = match KeyKind::from_name(key) {
                Some(k @ (KeyKind::EcP256 | KeyKind::EcP384 | KeyKind::Rsa { .. })) => k,
                _ => bail!("--key must be ecdsa-p256, ecdsa-p384, rsa-2048 or rsa-3072"),
            };
            let auth = AuthMode::from_name(auth).context("--auth must be pin or pin+totp")?;
            let pin = read_secret(stdin, "PIN")?;
            let sam = open(cli, "cli")?;
            let created = sam
                .create_credential(NewCredential {
                    user: user.clone(),
                    key: kind,
                    scal: *scal,
                    auth,
                    pin,
                    multisign: *multisign,
                    description: description.clone(),
                })
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let otpauth = created
                .otpauth
                .as_ref()
                .map(|s| s.expose_secret().to_owned());
            if *json {
                writeln!(
                    stdout,
                    "{}",
                    serde_json::json!({ "credentialID": created.id, "otpauth": otpauth })
                )?;
            } else {
                writeln!(stdout, "{}", created.id)?;
                if let Some(uri) = otpauth {
                    writeln!(stdout, "{uri}")?;
                }
            }
            Ok(0)
        }
        CredentialCommand::List { json } => {
            let sam = open(cli, "cli")?;
            let all = sam
                .list_all_credentials()
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if *json {
                let v: Vec<_> = all
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "credentialID": c.id, "userID": c.user_id, "key": c.key.name(),
                            "scal": c.scal, "auth": c.auth.name(), "multisign": c.multisign,
                            "status": format!("{:?}", c.status).to_lowercase(),
                        })
                    })
                    .collect();
                writeln!(stdout, "{}", serde_json::Value::from(v))?;
            } else {
                for c in all {
                    writeln!(
                        stdout,
                        "{}\t{}\t{}\tSCAL{}\t{}\t{:?}",
                        c.id,
                        c.user_id,
                        c.key.name(),
                        c.scal,
                        c.auth.name(),
                        c.status
                    )?;
                }
            }
            Ok(0)
        }
        CredentialCommand::Disable { id } => {
            open(cli, "cli")?
                .set_credential_enabled(id, false)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            writeln!(stdout, "disabled {id}")?;
            Ok(0)
        }
        CredentialCommand::Enable { id } => {
            open(cli, "cli")?
                .set_credential_enabled(id, true)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            writeln!(stdout, "enabled {id}")?;
            Ok(0)
        }
        CredentialCommand::Unlock { id } => {
            open(cli, "cli")?
                .unlock_credential(id)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            writeln!(stdout, "unlocked {id}")?;
            Ok(0)
        }
    }
}

fn serve(cli: &Cli, args: &ServeArgs) -> anyhow::Result<i32> {
    let file = match &args.config {
        Some(p) => read_config(p)?,
        None => FileConfig::default(),
    };
    let url = cli.database_url.clone().or(file.database_url.clone());
    if !cli.data.join("kek").exists() {
        init(cli, url.as_deref())?;
    }
    let db = database(&cli.data, url.as_deref())?;
    let config = sam_config(&cli.data, db, file.sad_lifetime)?;
    let sam =
        Sam::open(config, Arc::new(SystemClock), "serve").map_err(|e| anyhow::anyhow!("{e}"))?;
    let tls = match (
        args.tls_cert.clone().or(file.tls_cert),
        args.tls_key.clone().or(file.tls_key),
    ) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => bail!("HTTPS needs both a certificate and a key"),
    };
    let opts = ServerOptions {
        listen: args
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into()),
        workers: args.workers.or(file.workers),
        access_token_lifetime_s: file.access_token_lifetime.unwrap_or(3600),
        tls,
        ..ServerOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let scheme = if opts.tls.is_some() { "https" } else { "http" };
        let running = server::start(sam, opts).await?;
        tracing::info!(
            "qsign listening on {scheme}://{} (NOT QUALIFIED: development CA, software keystore)",
            running.addr
        );
        eprintln!("qsign listening on {scheme}://{}", running.addr);
        running.task.await??;
        anyhow::Ok(())
    })?;
    Ok(0)
}
