//! `TestApp`: the real server on 127.0.0.1 with a fresh database (a SQLite file, or a fresh
//! PostgreSQL schema), a real HTTP client, and a clock the test can move.

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use csc_api::server::{self, Running, ServerOptions};
use diesel::RunQueryDsl;
use migrations::Database;
use openssl::hash::{MessageDigest, hash};
use reqwest::StatusCode;
use sam::{AuthMode, ManualClock, NewCredential, Sam, SamConfig};
use secrecy::SecretString;
use serde_json::{Value, json};
use signer::KeyKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub const PIN: &str = "246810";
pub const PASSWORD: &str = "correct horse battery";

/// The PostgreSQL server the suite runs against.
fn postgres_base_url() -> String {
    std::env::var("QSIGN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned())
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub sam: Sam,
    pub clock: ManualClock,
    pub data: PathBuf,
    pub database: Database,
    schema: Option<String>,
    server: Running,
}

/// A credential made for a test.
#[derive(Debug, Clone)]
pub struct TestCredential {
    pub id: String,
    pub otpauth: Option<String>,
}

/// A logged-in platform acting for one user.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
}

impl TestApp {
    pub async fn start(db: Db) -> Self {
        let tag = sam::new_id("", 8);
        let data = std::env::temp_dir().join(format!("qsign-test-{tag}"));
        std::fs::create_dir_all(&data).unwrap();
        let (database, schema) = match db {
            Db::Sqlite => (Database::Sqlite(data.join("qsign.db")), None),
            Db::Postgres => {
                let schema = format!("qs_test_{tag}");
                let admin = Database::Postgres(postgres_base_url());
                let mut conn = admin.connect().expect("PostgreSQL must run for the suite");
                diesel::sql_query(format!("CREATE SCHEMA {schema}"))
                    .execute(&mut conn)
                    .unwrap();
                let url = format!("{}?options=-csearch_path%3D{schema}", postgres_base_url());
                (Database::Postgres(url), Some(schema))
            }
        };
        let clock = ManualClock::starting_now();
        let config = SamConfig::new(&data, database.clone());
        let c = config.clone();
        let clk: Arc<dyn sam::Clock> = Arc::new(clock.clone());
        let sam = tokio::task::spawn_blocking(move || {
            Sam::init(&c, clk.clone()).unwrap();
            Sam::open(c, clk, "serve").unwrap()
        })
        .await
        .unwrap();
        let server = server::start(
            sam.clone(),
            ServerOptions {
                listen: "127.0.0.1:0".into(),
                workers: Some(2),
                ..ServerOptions::default()
            },
        )
        .await
        .unwrap();
        Self {
            base: format!("http://{}", server.addr),
            client: reqwest::Client::new(),
            sam,
            clock,
            data,
            database,
            schema,
            server,
        }
    }

    /// Adds a user through the SAM, as `qsign user add` does.
    pub async fn user(&self, name: &str) -> String {
        let sam = self.sam.clone();
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || {
            sam.add_user(&name, &SecretString::from(PASSWORD.to_owned()))
                .unwrap()
                .id
        })
        .await
        .unwrap()
    }

    pub async fn credential(&self, user: &str, key: &str, scal: u8, auth: &str) -> TestCredential {
        self.credential_with(user, key, scal, auth, 250).await
    }

    pub async fn credential_with(
        &self,
        user: &str,
        key: &str,
        scal: u8,
        auth: &str,
        multisign: i64,
    ) -> TestCredential {
        let sam = self.sam.clone();
        let kind = KeyKind::from_name(key).unwrap();
        let req = NewCredential {
            user: user.to_owned(),
            key: kind,
            scal,
            auth: AuthMode::from_name(auth).unwrap(),
            pin: SecretString::from(PIN.to_owned()),
            multisign,
            description: None,
        };
        let created = tokio::task::spawn_blocking(move || sam.create_credential(req).unwrap())
            .await
            .unwrap();
        TestCredential {
            id: created.id,
            otpauth: created
                .otpauth
                .map(|s| secrecy::ExposeSecret::expose_secret(&s).to_owned()),
        }
    }

    /// Runs the operator command line in-process (same code as the `qsign` binary).
    pub async fn cli(&self, args: &[&str], stdin: &str) -> (i32, String) {
        let mut all: Vec<std::ffi::OsString> = vec!["qsign".into(), "--data".into()];
        all.push(self.data.clone().into());
        if let Database::Postgres(url) = &self.database {
            all.push("--database-url".into());
            all.push(url.into());
        }
        all.extend(args.iter().map(Into::into));
        let stdin = stdin.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut input = stdin.as_bytes();
            let mut out = Vec::new();
            let code = match csc_api::cli::run(all, &mut input, &mut out) {
                Ok(code) => code,
                Err(e) => {
                    out.extend_from_slice(format!("error: {e:#}").as_bytes());
                    1
                }
            };
            (code, String::from_utf8(out).unwrap())
        })
        .await
        .unwrap()
    }

    pub async fn login(&self, user: &str) -> Session {
        let (status, body) = self.login_with(user, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        Session {
            token: body["access_token"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn login_with(&self, user: &str, password: &str) -> (StatusCode, Value) {
        let resp = self
            .client
            .post(format!("{}/csc/v2/auth/login", self.base))
            .basic_auth(user, Some(password))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// POSTs JSON to `path` (e.g. "/csc/v2/credentials/info") with an optional bearer token.
    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (StatusCode, Value) {
        self.post_raw(path, token, serde_json::to_vec(body).unwrap())
            .await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        if status != StatusCode::NO_CONTENT {
            assert_eq!(
                resp.headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_owned()),
                Some("application/json".to_owned()),
                "every CSC answer is application/json"
            );
        }
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Explicit authorization with the PIN (v1 field names), returning the SAD.
    pub async fn authorize(&self, s: &Session, cred: &str, hashes: &[Vec<u8>]) -> String {
        let (status, body) = self
            .post(
                "/csc/v1/credentials/authorize",
                Some(&s.token),
                &json!({
                    "credentialID": cred,
                    "numSignatures": hashes.len(),
                    "hash": b64_all(hashes),
                    "PIN": PIN,
                }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["SAD"].as_str().unwrap().to_owned()
    }

    /// A fresh connection to the test's database, for checking what was (not) written.
    pub fn db(&self) -> migrations::DbConnection {
        self.database.connect().unwrap()
    }

    /// Remaining budget of every SAD of a credential, oldest first.
    pub fn sad_budgets(&self, cred: &str) -> Vec<i64> {
        use diesel::prelude::*;
        use migrations::schema::sads::dsl as s;
        let mut conn = self.db();
        s::sads
            .filter(s::credential_id.eq(cred))
            .order(s::created_at.asc())
            .select(s::remaining)
            .load(&mut conn)
            .unwrap()
    }

    /// How many signature spends the audit log records for a credential.
    pub fn signatures_audited(&self, cred: &str) -> usize {
        let mut conn = self.db();
        migrations::queries::audit::for_credential(&mut conn, cred)
            .unwrap()
            .iter()
            .filter(|r| r.event == "signature.authorize" && r.outcome == "ok")
            .count()
    }

    /// The audit records of a credential, `(event, outcome)`.
    pub fn audit_events(&self, cred: &str) -> Vec<(String, String)> {
        let mut conn = self.db();
        migrations::queries::audit::for_credential(&mut conn, cred)
            .unwrap()
            .into_iter()
            .map(|r| (r.event, r.outcome))
            .collect()
    }

    /// Runs SQL directly against the test's database (tampering tests).
    pub fn sql(&self, statement: &str) -> usize {
        let mut conn = self.db();
        diesel::sql_query(statement).execute(&mut conn).unwrap()
    }

    pub async fn stop(self) {
        self.server.handle.stop(false).await;
        if let Some(schema) = &self.schema
            && let Ok(mut conn) = Database::Postgres(postgres_base_url()).connect()
        {
            let _ = diesel::sql_query(format!("DROP SCHEMA {schema} CASCADE")).execute(&mut conn);
        }
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

pub fn sha256(data: &[u8]) -> Vec<u8> {
    hash(MessageDigest::sha256(), data).unwrap().to_vec()
}

pub fn digest(md: MessageDigest, data: &[u8]) -> Vec<u8> {
    hash(md, data).unwrap().to_vec()
}

pub fn b64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

pub fn b64_all(hashes: &[Vec<u8>]) -> Vec<String> {
    hashes.iter().map(|h| b64(h)).collect()
}

pub fn unb64(s: &Value) -> Vec<u8> {
    STANDARD.decode(s.as_str().unwrap()).unwrap()
}

/// Asserts a CSC error body.
#[track_caller]
pub fn assert_error(got: &(StatusCode, Value), status: StatusCode, error: &str) {
    assert_eq!(got.0, status, "body: {}", got.1);
    assert_eq!(got.1["error"], error, "body: {}", got.1);
    assert!(
        got.1["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "error_description missing: {}",
        got.1
    );
}

/// Base32 (RFC 4648) decoding of an otpauth secret.
pub fn base32_decode(s: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = alphabet.iter().position(|&a| a == c).unwrap() as u32;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    out
}

/// The secret of an otpauth:// URI.
pub fn otpauth_secret(uri: &str) -> Vec<u8> {
    let q = uri.split_once('?').unwrap().1;
    let secret = q
        .split('&')
        .find_map(|kv| kv.strip_prefix("secret="))
        .unwrap();
    base32_decode(secret)
}

/// Generates a test on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    ($(#[$meta:meta])* async fn $name:ident($app:ident: TestApp) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($app: &$crate::harness::TestApp) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$meta])*
            async fn sqlite() {
                let app = $crate::harness::TestApp::start($crate::harness::Db::Sqlite).await;
                run(&app).await;
                app.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$meta])*
            async fn postgres() {
                let app = $crate::harness::TestApp::start($crate::harness::Db::Postgres).await;
                run(&app).await;
                app.stop().await;
            }
        }
    };
}
