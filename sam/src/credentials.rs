//! Credentials: a signing key in a backend, its certificate, the signer's activation factors
//! (PIN, TOTP) and its state. Created, enabled, disabled and unlocked by operators; read by the
//! front end for `credentials/list` and `credentials/info`.

use migrations::DbConnection;
use migrations::models::{CaRow, Credential, KeyRow};
use migrations::queries;
use openssl::x509::X509;
use secrecy::SecretString;
use signer::KeyKind;

use crate::audit::{AuditEvent, Outcome};
use crate::dev_ca::{self, DevCaMaterial};
use crate::factors::{check_pin_policy, hash_secret, otpauth_uri};
use crate::secrets::{new_id, sha256};
use crate::{Sam, SamError};

/// How the signer activates a credential in explicit mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    Pin,
    PinTotp,
}

impl AuthMode {
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "pin" => Some(Self::Pin),
            "pin+totp" => Some(Self::PinTotp),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Pin => "pin",
            Self::PinTotp => "pin+totp",
        }
    }
}

/// An operator's request for a new credential.
pub struct NewCredential {
    pub user: String,
    pub key: KeyKind,
    pub scal: u8,
    pub auth: AuthMode,
    pub pin: SecretString,
    pub multisign: i64,
    pub description: Option<String>,
}

/// The largest `multisign` an operator may set.
pub const MAX_MULTISIGN: i64 = 1_000_000_000;

/// What `credential create` hands back.
#[derive(Debug, Clone)]
pub struct CreatedCredential {
    pub id: String,
    /// For TOTP credentials, the enrolment URI (shown once).
    pub otpauth: Option<SecretString>,
}

/// Key and certificate state as CSC reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialStatus {
    Enabled,
    Disabled,
    Locked,
}

/// A credential as the front end may show it: no factor, no key material.
#[derive(Debug, Clone)]
pub struct CredentialInfo {
    pub id: String,
    pub user_id: String,
    pub key: KeyKind,
    pub status: CredentialStatus,
    pub scal: u8,
    pub auth: AuthMode,
    pub multisign: i64,
    pub description: String,
    /// DER certificates, signer first.
    pub certificates: Vec<Vec<u8>>,
    pub subject_dn: String,
    pub issuer_dn: String,
    pub serial_hex: String,
    /// `YYYYMMDDHHMMSSZ` as CSC `validFrom`/`validTo` expect.
    pub valid_from: String,
    pub valid_to: String,
    /// Unix seconds.
    pub not_after_s: i64,
    pub not_before_s: i64,
}

pub(crate) fn parse_key_kind(name: &str) -> Result<KeyKind, SamError> {
    KeyKind::from_name(name).ok_or(SamError::CredentialIntegrity)
}

impl Sam {
    /// Fields whose change the SAM must notice: who owns the credential, which key, which
    /// certificate, which factors.
    pub(crate) fn credential_mac(&self, c: &Credential) -> Result<Vec<u8>, SamError> {
        let scal = c.scal.to_be_bytes();
        let multisign = c.multisign.to_be_bytes();
        let chain = sha256(c.cert_chain_pem.as_bytes());
        let totp = c.totp_secret.clone().unwrap_or_default();
        self.inner.keys.binding_mac(&[
            b"credential",
            c.id.as_bytes(),
            c.user_id.as_bytes(),
            c.key_id.as_bytes(),
            c.key_kind.as_bytes(),
            &scal,
            c.auth_mode.as_bytes(),
            &multisign,
            &chain,
            c.pin_hash.as_bytes(),
            &totp,
        ])
    }

    /// Loads a credential and checks its integrity; `CredentialNotFound` also when it belongs to
    /// another user, so nobody learns which IDs exist.
    pub(crate) fn load_credential(
        &self,
        conn: &mut DbConnection,
        id: &str,
        user_id: Option<&str>,
    ) -> Result<Credential, SamError> {
        let c = queries::credentials::by_id(conn, id)?.ok_or(SamError::CredentialNotFound)?;
        if user_id.is_some_and(|u| u != c.user_id) {
            return Err(SamError::CredentialNotFound);
        }
        let mac = self.credential_mac(&c)?;
        if mac.len() != c.binding_mac.len() || !openssl::memcmp::eq(&mac, &c.binding_mac) {
            return Err(SamError::CredentialIntegrity);
        }
        Ok(c)
    }

    /// Creates the development CA if the database has none. Returns whether it did.
    pub(crate) fn ensure_dev_ca(&self) -> Result<bool, SamError> {
        if self
            .read_blocking(|c| Ok(queries::ca::by_name(c, "issuing")?))?
            .is_some()
        {
            return Ok(false);
        }
        let now_s = self.inner.clock.now_s();
        let m = dev_ca::create_dev_ca(&self.inner.keystore, now_s, &mut rand::rng())
            .map_err(|e| SamError::Backend(e.to_string()))?;
        let rows = [
            (
                "root",
                m.root_key_id.clone(),
                m.root_key_wrapped.clone(),
                m.root_cert_der.clone(),
            ),
            (
                "issuing",
                m.issuing_key_id.clone(),
                m.issuing_key_wrapped.clone(),
                m.issuing_cert_der.clone(),
            ),
        ];
        self.inner.writer.run_blocking(move |txn| {
            txn.atomic(|conn| {
                for (name, key_id, wrapped, cert) in rows {
                    let public_key = X509::from_der(&cert)
                        .and_then(|c| c.public_key())
                        .and_then(|k| k.public_key_to_der())
                        .map_err(|e| SamError::Backend(e.to_string()))?;
                    queries::keys::insert(
                        conn,
                        &KeyRow {
                            id: key_id.clone(),
                            backend: "software".into(),
                            kind: KeyKind::EcP256.name().into(),
                            wrapped,
                            public_key,
                            created_at: now_s,
                            destroyed_at: None,
                        },
                    )?;
                    queries::ca::insert(
                        conn,
                        &CaRow {
                            name: name.into(),
                            key_id,
                            cert_der: cert,
                        },
                    )?;
                }
                Ok(())
            })?;
            txn.append(
                AuditEvent::new("ca.created", "operator", Outcome::Ok)
                    .detail("qualified", false)
                    .detail("note", "development CA, NOT QUALIFIED"),
            )
        })?;
        Ok(true)
    }

    fn dev_ca_material(&self) -> Result<DevCaMaterial, SamError> {
        self.read_blocking(|conn| {
            let root = queries::ca::by_name(conn, "root")?
                .ok_or_else(|| SamError::Config("no development CA: run `qsign init`".into()))?;
            let issuing = queries::ca::by_name(conn, "issuing")?
                .ok_or_else(|| SamError::Config("no development CA: run `qsign init`".into()))?;
            let root_key = queries::keys::by_id(conn, &root.key_id)?
                .ok_or(SamError::Config("development CA key missing".into()))?;
            let issuing_key = queries::keys::by_id(conn, &issuing.key_id)?
                .ok_or(SamError::Config("development CA key missing".into()))?;
            Ok(DevCaMaterial {
                root_key_id: root.key_id,
                root_key_wrapped: root_key.wrapped,
                root_cert_der: root.cert_der,
                issuing_key_id: issuing.key_id,
                issuing_key_wrapped: issuing_key.wrapped,
                issuing_cert_der: issuing.cert_der,
            })
        })
    }

    /// The development root CA certificate, PEM.
    pub fn dev_ca_root_pem(&self) -> Result<String, SamError> {
        let root = self.read_blocking(|c| Ok(queries::ca::by_name(c, "root")?))?;
        let root =
            root.ok_or_else(|| SamError::Config("no development CA: run `qsign init`".into()))?;
        let pem = X509::from_der(&root.cert_der)
            .and_then(|c| c.to_pem())
            .map_err(|e| SamError::Backend(e.to_string()))?;
        String::from_utf8(pem).map_err(|_| SamError::Backend("PEM is not UTF-8".into()))
    }

    /// Generates a key in the keystore, has the development CA certify it, and stores the
    /// credential. Operator command.
    pub fn create_credential(&self, req: NewCredential) -> Result<CreatedCredential, SamError> {
        check_pin_policy(&req.pin)?;
        if !(1..=MAX_MULTISIGN).contains(&req.multisign) {
            return Err(SamError::InvalidRequest(
                "multisign must be between 1 and 1000000000",
            ));
        }
        if !matches!(req.scal, 1 | 2) {
            return Err(SamError::InvalidRequest("SCAL must be 1 or 2"));
        }
        if matches!(req.key, KeyKind::Rsa { bits } if bits < 2048) {
            return Err(SamError::InvalidRequest(
                "RSA keys shorter than 2048 bits are not allowed",
            ));
        }
        let user = self
            .read_blocking(|c| Ok(queries::users::by_name(c, &req.user)?))?
            .ok_or(SamError::UserNotFound)?;
        let ca = self.dev_ca_material()?;
        let now_s = self.inner.clock.now_s();
        let id = new_id("cred-", 12);
        let key_id = new_id("key-", 12);
        let generated = self
            .inner
            .keystore
            .generate(&key_id, req.key)
            .map_err(|e| SamError::Backend(e.to_string()))?;
        let mut serial = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut serial);
        let leaf = dev_ca::issue_signer_certificate(
            &self.inner.keystore,
            &ca,
            &user.name,
            &generated.public_key_der,
            &serial,
            now_s,
            730,
        )
        .map_err(|e| SamError::Backend(e.to_string()))?;
        let mut chain_pem = String::new();
        for der in [&leaf, &ca.issuing_cert_der, &ca.root_cert_der] {
            let pem = X509::from_der(der)
                .and_then(|c| c.to_pem())
                .map_err(|e| SamError::Backend(e.to_string()))?;
            chain_pem.push_str(&String::from_utf8_lossy(&pem));
        }
        let (totp_secret, otpauth) = match req.auth {
            AuthMode::Pin => (None, None),
            AuthMode::PinTotp => {
                let mut seed = zeroize::Zeroizing::new([0u8; 20]);
                rand::RngCore::fill_bytes(&mut rand::rng(), seed.as_mut());
                let sealed = self.inner.keys.seal(seed.as_ref(), id.as_bytes())?;
                let uri = otpauth_uri(seed.as_ref(), &format!("{} {}", user.name, id), "qsign");
                (Some(sealed), Some(SecretString::from(uri)))
            }
        };
        let pin_hash = hash_secret(&req.pin)?;
        let mut cred = Credential {
            id: id.clone(),
            user_id: user.id.clone(),
            key_id: key_id.clone(),
            key_kind: req.key.name().to_owned(),
            cert_chain_pem: chain_pem,
            scal: i32::from(req.scal),
            auth_mode: req.auth.name().to_owned(),
            pin_hash,
            totp_secret,
            last_totp_step: None,
            multisign: req.multisign,
            enabled: true,
            failed_attempts: 0,
            locked: false,
            description: req.description.unwrap_or_else(|| {
                format!("{} key of {} (NOT QUALIFIED)", req.key.name(), user.name)
            }),
            binding_mac: Vec::new(),
            created_at: now_s,
        };
        cred.binding_mac = self.credential_mac(&cred)?;
        let key_row = KeyRow {
            id: key_id.clone(),
            backend: "software".into(),
            kind: req.key.name().into(),
            wrapped: generated.wrapped,
            public_key: generated.public_key_der,
            created_at: now_s,
            destroyed_at: None,
        };
        let kind = req.key;
        let scal = req.scal;
        let auth = req.auth;
        let multisign = req.multisign;
        let user_name = user.name.clone();
        self.inner.writer.run_blocking(move |txn| {
            txn.atomic(|conn| {
                queries::keys::insert(conn, &key_row)?;
                queries::credentials::insert(conn, &cred)?;
                Ok(())
            })?;
            txn.append(
                AuditEvent::new("key.generated", "operator", Outcome::Ok)
                    .credential(&cred.id)
                    .detail("key_id", key_row.id.clone())
                    .detail("kind", kind.name())
                    .detail("backend", "software"),
            )?;
            txn.append(
                AuditEvent::new("credential.created", "operator", Outcome::Ok)
                    .credential(&cred.id)
                    .detail("user", user_name)
                    .detail("scal", scal)
                    .detail("auth", auth.name())
                    .detail("multisign", multisign)
                    .detail("certificate_serial", hex::encode(serial)),
            )
        })?;
        Ok(CreatedCredential { id, otpauth })
    }

    /// Enables or disables a credential. Disabling kills its outstanding SADs. Operator command.
    pub fn set_credential_enabled(&self, id: &str, enabled: bool) -> Result<(), SamError> {
        let id = id.to_owned();
        self.inner.writer.run_blocking(move |txn| {
            let killed = txn.atomic(|conn| {
                if !queries::credentials::set_enabled(conn, &id, enabled)? {
                    return Err(SamError::CredentialNotFound);
                }
                if enabled {
                    Ok(0)
                } else {
                    Ok(queries::sads::revoke_for_credential(conn, &id)?)
                }
            })?;
            txn.append(
                AuditEvent::new(
                    if enabled {
                        "credential.enabled"
                    } else {
                        "credential.disabled"
                    },
                    "operator",
                    Outcome::Ok,
                )
                .credential(&id)
                .detail("sads_revoked", killed),
            )
        })
    }

    /// Clears a lockout. Operator command.
    pub fn unlock_credential(&self, id: &str) -> Result<(), SamError> {
        let id = id.to_owned();
        self.inner.writer.run_blocking(move |txn| {
            txn.atomic(|conn| {
                if queries::credentials::unlock(conn, &id)? {
                    Ok(())
                } else {
                    Err(SamError::CredentialNotFound)
                }
            })?;
            txn.append(
                AuditEvent::new("credential.unlocked", "operator", Outcome::Ok).credential(&id),
            )
        })
    }

    /// Every credential, for operators.
    pub fn list_all_credentials(&self) -> Result<Vec<CredentialInfo>, SamError> {
        let rows = self.read_blocking(|c| Ok(queries::credentials::list(c)?))?;
        rows.iter().map(credential_info).collect()
    }

    /// A user's credentials, for `credentials/list`.
    pub async fn list_credentials(&self, user_id: &str) -> Result<Vec<CredentialInfo>, SamError> {
        let user_id = user_id.to_owned();
        let rows = self
            .read(move |c| Ok(queries::credentials::list_for_user(c, &user_id)?))
            .await?;
        rows.iter().map(credential_info).collect()
    }

    /// One credential of a user, for `credentials/info`.
    pub async fn credential_info(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<CredentialInfo, SamError> {
        let (user_id, id) = (user_id.to_owned(), id.to_owned());
        let sam = self.clone();
        let row = self
            .read(move |c| sam.load_credential(c, &id, Some(&user_id)))
            .await?;
        credential_info(&row)
    }
}

fn credential_info(c: &Credential) -> Result<CredentialInfo, SamError> {
    let certs = X509::stack_from_pem(c.cert_chain_pem.as_bytes())
        .map_err(|e| SamError::Backend(e.to_string()))?;
    let leaf = certs.first().ok_or(SamError::CredentialIntegrity)?;
    let der: Vec<Vec<u8>> = certs
        .iter()
        .map(|x| x.to_der())
        .collect::<Result<_, _>>()
        .map_err(|e| SamError::Backend(e.to_string()))?;
    let serial_hex = leaf
        .serial_number()
        .to_bn()
        .and_then(|b| b.to_hex_str().map(|s| s.to_string()))
        .map_err(|e| SamError::Backend(e.to_string()))?;
    Ok(CredentialInfo {
        id: c.id.clone(),
        user_id: c.user_id.clone(),
        key: parse_key_kind(&c.key_kind)?,
        status: if !c.enabled {
            CredentialStatus::Disabled
        } else if c.locked {
            CredentialStatus::Locked
        } else {
            CredentialStatus::Enabled
        },
        scal: u8::try_from(c.scal).unwrap_or(1),
        auth: AuthMode::from_name(&c.auth_mode).ok_or(SamError::CredentialIntegrity)?,
        multisign: c.multisign,
        description: c.description.clone(),
        certificates: der,
        subject_dn: dn_string(leaf.subject_name()),
        issuer_dn: dn_string(leaf.issuer_name()),
        serial_hex,
        valid_from: generalized(leaf.not_before()),
        valid_to: generalized(leaf.not_after()),
        not_before_s: unix_seconds(leaf.not_before()),
        not_after_s: unix_seconds(leaf.not_after()),
    })
}

fn dn_string(name: &openssl::x509::X509NameRef) -> String {
    name.entries()
        .filter_map(|e| {
            let key = e.object().nid().short_name().ok()?;
            let value = e.data().to_string().ok()?;
            Some(format!("{key}={value}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn unix_seconds(t: &openssl::asn1::Asn1TimeRef) -> i64 {
    openssl::asn1::Asn1Time::from_unix(0)
        .ok()
        .and_then(|epoch| epoch.diff(t).ok())
        .map(|d| i64::from(d.days) * 86_400 + i64::from(d.secs))
        .unwrap_or(0)
}

fn generalized(t: &openssl::asn1::Asn1TimeRef) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix_seconds(t))
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!(
                "[year][month][day][hour][minute][second]Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}
