//! The HTTP server: routes for CSC v1 and v2, operational endpoints, security headers, metrics.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sam::Sam;

use crate::auth;
use crate::error::ApiError;
use crate::routes::{Version, credentials, info, ops, signatures};

/// What every handler can reach.
pub struct AppState {
    pub sam: Sam,
    pub tokens: auth::TokenCache,
    pub metrics: PrometheusHandle,
    pub access_token_lifetime_s: i64,
    pub refresh_token_lifetime_s: i64,
}

/// How to run the server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub listen: String,
    /// PEM certificate chain and private key files for HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub workers: Option<usize>,
    pub access_token_lifetime_s: i64,
    pub refresh_token_lifetime_s: i64,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            tls: None,
            workers: None,
            access_token_lifetime_s: 3600,
            refresh_token_lifetime_s: 30 * 86_400,
        }
    }
}

/// A started server.
pub struct Running {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

fn metrics_handle() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(h) = HANDLE.get() {
        return Ok(h.clone());
    }
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    // Only the first server in a process installs the global recorder; later ones share it.
    if metrics::set_global_recorder(recorder).is_ok() {
        let _ = HANDLE.set(handle);
    }
    HANDLE
        .get()
        .cloned()
        .context("metrics recorder already installed elsewhere")
}

/// Routes of one CSC version.
fn csc_scope(version: Version) -> actix_web::Scope {
    let prefix = match version {
        Version::V1 => "/csc/v1",
        Version::V2 => "/csc/v2",
    };
    web::scope(prefix)
        .app_data(web::Data::new(version))
        .route("/info", web::post().to(info::info))
        .route("/info", web::get().to(info::info))
        .route("/auth/login", web::post().to(auth::login))
        .route("/auth/revoke", web::post().to(auth::revoke))
        .route("/credentials/list", web::post().to(credentials::list))
        .route("/credentials/info", web::post().to(credentials::info))
        .route(
            "/credentials/authorize",
            web::post().to(credentials::authorize),
        )
        .route(
            "/credentials/extendTransaction",
            web::post().to(credentials::extend_transaction),
        )
        .route(
            "/signatures/signHash",
            web::post().to(signatures::sign_hash),
        )
}

/// Security headers on every answer, and request metrics.
async fn around(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    let status = res.status().as_u16().to_string();
    metrics::counter!("qsign_http_requests_total", "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("qsign_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    Ok(res)
}

/// Binds and starts the server on the current Tokio runtime.
pub async fn start(sam: Sam, opts: ServerOptions) -> anyhow::Result<Running> {
    let state = web::Data::new(AppState {
        sam,
        tokens: auth::TokenCache::default(),
        metrics: metrics_handle()?,
        access_token_lifetime_s: opts.access_token_lifetime_s,
        refresh_token_lifetime_s: opts.refresh_token_lifetime_s,
    });
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(from_fn(around))
            .service(csc_scope(Version::V1))
            .service(csc_scope(Version::V2))
            .route("/healthz", web::get().to(ops::healthz))
            .route("/readyz", web::get().to(ops::readyz))
            .route("/metrics", web::get().to(ops::metrics))
            .route("/openapi.json", web::get().to(ops::openapi))
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(ApiError::NotFound)
            }))
    })
    // Clients such as pyHanko keep a connection open while the signer types a PIN or OTP.
    .keep_alive(std::time::Duration::from_secs(75))
    .shutdown_timeout(5);
    if let Some(w) = opts.workers {
        server = server.workers(w);
    }
    let server = match &opts.tls {
        None => server
            .bind(&opts.listen)
            .with_context(|| format!("cannot listen on {}", opts.listen))?,
        Some((cert, key)) => {
            let mut builder =
                openssl::ssl::SslAcceptor::mozilla_intermediate_v5(openssl::ssl::SslMethod::tls())?;
            builder
                .set_private_key_file(key, openssl::ssl::SslFiletype::PEM)
                .with_context(|| format!("cannot read the TLS key {}", key.display()))?;
            builder
                .set_certificate_chain_file(cert)
                .with_context(|| format!("cannot read the TLS certificate {}", cert.display()))?;
            server
                .bind_openssl(&opts.listen, builder)
                .with_context(|| format!("cannot listen on {}", opts.listen))?
        }
    };
    let addr = server
        .addrs()
        .first()
        .copied()
        .context("the server has no address")?;
    let server = server.run();
    let handle = server.handle();
    let task = tokio::spawn(server);
    Ok(Running { addr, handle, task })
}
