//! Every way a SAM operation can be refused, one variant per failed check. The front end maps
//! them to CSC errors in one place; the detail goes to the audit log, not to the caller.

/// Why the SAM refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum SamError {
    #[error("credential not found")]
    CredentialNotFound,
    #[error("credential is disabled")]
    CredentialDisabled,
    #[error("credential is locked after too many failed authentications")]
    CredentialLocked,
    #[error("the credential's certificate is not valid now")]
    CertificateNotValid,
    #[error("credential record failed its integrity check")]
    CredentialIntegrity,
    #[error("user not found")]
    UserNotFound,
    #[error("user already exists")]
    UserExists,
    #[error("authentication failed")]
    AuthenticationFailed,
    #[error("one-time password required")]
    OtpRequired,
    #[error("unknown SAD")]
    SadUnknown,
    #[error("SAD failed its integrity check")]
    SadForged,
    #[error("SAD was issued for another credential or caller")]
    SadMisbound,
    #[error("SAD expired")]
    SadExpired,
    #[error("SAD revoked")]
    SadRevoked,
    #[error("SAD budget exhausted")]
    SadExhausted,
    #[error("SAD was authorized for another hash algorithm")]
    SadAlgorithm,
    #[error("hash not authorized by the SAD or already signed")]
    HashNotAuthorized,
    #[error("more signatures requested than the credential allows")]
    TooManySignatures,
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    #[error(transparent)]
    Algorithm(#[from] signer::AlgError),
    #[error("the audit log cannot be written")]
    AuditUnavailable,
    #[error("database unavailable: {0}")]
    Database(String),
    #[error("key backend failed: {0}")]
    Backend(String),
    #[error("SAM configuration: {0}")]
    Config(String),
}

impl SamError {
    /// The short, stable reason recorded in the audit log.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::CredentialNotFound => "credential_not_found",
            Self::CredentialDisabled => "credential_disabled",
            Self::CredentialLocked => "credential_locked",
            Self::CertificateNotValid => "certificate_not_valid",
            Self::CredentialIntegrity => "credential_integrity",
            Self::UserNotFound => "user_not_found",
            Self::UserExists => "user_exists",
            Self::AuthenticationFailed => "authentication_failed",
            Self::OtpRequired => "otp_required",
            Self::SadUnknown => "sad_unknown",
            Self::SadForged => "sad_forged",
            Self::SadMisbound => "sad_misbound",
            Self::SadExpired => "sad_expired",
            Self::SadRevoked => "sad_revoked",
            Self::SadExhausted => "sad_exhausted",
            Self::SadAlgorithm => "sad_algorithm",
            Self::HashNotAuthorized => "hash_not_authorized",
            Self::TooManySignatures => "too_many_signatures",
            Self::InvalidRequest(_) => "invalid_request",
            Self::Algorithm(_) => "algorithm",
            Self::AuditUnavailable => "audit_unavailable",
            Self::Database(_) => "database",
            Self::Backend(_) => "backend",
            Self::Config(_) => "config",
        }
    }
}

impl From<diesel::result::Error> for SamError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Database(e.to_string())
    }
}

impl From<migrations::DbError> for SamError {
    fn from(e: migrations::DbError) -> Self {
        Self::Database(e.to_string())
    }
}
