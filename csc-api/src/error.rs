//! The one place where failures become CSC error bodies: `{"error", "error_description"}` and
//! an HTTP status. Signature and SAD failures stay vague here; their detail is in the audit log.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use sam::SamError;
use signer::AlgError;

/// Why a request failed, as the front end knows it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing access token")]
    MissingToken,
    #[error("invalid access token")]
    InvalidToken,
    #[error("invalid user name or password")]
    BadLogin,
    #[error("malformed request body: {0}")]
    MalformedBody(String),
    #[error("request body too large")]
    BodyTooLarge,
    #[error("missing or invalid type {kind} parameter {name}")]
    MissingParam {
        name: &'static str,
        kind: &'static str,
    },
    #[error("invalid parameter {0}")]
    InvalidParam(&'static str),
    #[error("{0} is not supported")]
    Unsupported(&'static str),
    #[error("unknown endpoint")]
    NotFound,
    #[error("internal error")]
    Internal,
    #[error(transparent)]
    Sam(#[from] SamError),
}

impl ApiError {
    /// Status, CSC `error` and `error_description`.
    fn parts(&self) -> (StatusCode, &'static str, String) {
        use StatusCode as S;
        let bad = |d: &str| (S::BAD_REQUEST, "invalid_request", d.to_owned());
        match self {
            Self::MissingToken => (
                S::UNAUTHORIZED,
                "invalid_token",
                "Missing access token".into(),
            ),
            Self::InvalidToken => (
                S::UNAUTHORIZED,
                "invalid_token",
                "The access token is not valid".into(),
            ),
            Self::BadLogin => (
                S::UNAUTHORIZED,
                "authentication_error",
                "Invalid user name or password".into(),
            ),
            Self::MalformedBody(why) => bad(&format!("Malformed request body: {why}")),
            Self::BodyTooLarge => (
                S::PAYLOAD_TOO_LARGE,
                "invalid_request",
                "Request body too large".into(),
            ),
            Self::MissingParam { name, kind } => bad(&format!(
                "Missing (or invalid type) {kind} parameter {name}"
            )),
            Self::InvalidParam(name) => bad(&format!("Invalid parameter {name}")),
            Self::Unsupported(what) => bad(&format!("{what} is not supported")),
            Self::NotFound => (S::NOT_FOUND, "invalid_request", "Unknown endpoint".into()),
            Self::Internal => (
                S::INTERNAL_SERVER_ERROR,
                "server_error",
                "Internal error".into(),
            ),
            Self::Sam(e) => sam_parts(e),
        }
    }
}

fn sam_parts(e: &SamError) -> (StatusCode, &'static str, String) {
    use StatusCode as S;
    let bad = |d: &str| (S::BAD_REQUEST, "invalid_request", d.to_owned());
    match e {
        SamError::CredentialNotFound => bad("Invalid parameter credentialID"),
        SamError::CredentialDisabled => bad("The credential is disabled"),
        SamError::CredentialLocked => bad("The credential is locked"),
        SamError::CertificateNotValid => bad("The credential's certificate is not valid"),
        SamError::CredentialIntegrity => (
            S::INTERNAL_SERVER_ERROR,
            "server_error",
            "The credential cannot be used".into(),
        ),
        SamError::UserNotFound => bad("Unknown user"),
        SamError::UserExists => bad("The user already exists"),
        SamError::AuthenticationFailed => (
            S::BAD_REQUEST,
            "invalid_pin",
            "The PIN or OTP is invalid".into(),
        ),
        SamError::OtpRequired => bad("Missing (or invalid type) string parameter OTP"),
        SamError::SadUnknown
        | SamError::SadForged
        | SamError::SadMisbound
        | SamError::SadRevoked
        | SamError::SadExhausted
        | SamError::SadAlgorithm => bad("Invalid SAD"),
        SamError::SadExpired => bad("SAD expired"),
        SamError::HashNotAuthorized => bad("The SAD does not authorize these hashes"),
        SamError::TooManySignatures => bad("Invalid parameter numSignatures"),
        SamError::InvalidRequest(d) => bad(d),
        SamError::Algorithm(a) => match a {
            AlgError::UnsupportedDigest(_) => bad("Invalid parameter hashAlgorithmOID"),
            AlgError::MissingDigest => {
                bad("Missing (or invalid type) string parameter hashAlgorithmOID")
            }
            AlgError::DigestMismatch => bad("hashAlgorithmOID does not match signAlgo"),
            AlgError::MalformedOid | AlgError::UnsupportedSignatureAlgorithm(_) => {
                bad("Invalid parameter signAlgo")
            }
            AlgError::KeyMismatch => bad("signAlgo is not supported by the credential's key"),
            AlgError::InvalidPssParams(_) => bad("Invalid parameter signAlgoParams"),
            AlgError::DigestLength { .. } => bad("Invalid digest value length"),
            AlgError::InvalidEcdsaSignature | AlgError::Encoding => (
                S::INTERNAL_SERVER_ERROR,
                "server_error",
                "Signing failed".into(),
            ),
        },
        SamError::AuditUnavailable | SamError::Database(_) => (
            S::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "The service cannot record the operation; nothing was signed".into(),
        ),
        SamError::Backend(_) | SamError::Config(_) => (
            S::INTERNAL_SERVER_ERROR,
            "server_error",
            "Signing failed".into(),
        ),
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.parts().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, error, description) = self.parts();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::info!(error = %self, status = status.as_u16(), "request refused");
        }
        metrics::counter!("qsign_errors_total", "error" => error).increment(1);
        let mut resp = HttpResponse::build(status);
        if status == StatusCode::UNAUTHORIZED && error == "invalid_token" {
            resp.insert_header(("WWW-Authenticate", "Bearer error=\"invalid_token\""));
        }
        resp.json(serde_json::json!({
            "error": error,
            "error_description": description,
        }))
    }
}
