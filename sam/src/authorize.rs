//! Explicit authorization (`credentials/authorize` with PIN, or PIN + TOTP): the SAM checks the
//! factors itself and issues a SAD bound to the user, the credential, the caller's session, the
//! hash algorithm and either the exact hash set or a count. Also `extendTransaction`.

use std::collections::HashSet;

use migrations::models::Sad;
use migrations::queries;
use secrecy::SecretString;
use signer::DigestAlgorithm;

use crate::audit::{AuditEvent, Outcome};
use crate::credentials::AuthMode;
use crate::factors::{verify_secret, verify_totp};
use crate::secrets::{SAD_PREFIX, new_id, new_secret, secret_hash};
use crate::store::hash_set_digest;
use crate::{MAX_FAILED_AUTHENTICATIONS, Sam, SamError};

/// A request for a SAD.
pub struct AuthorizeRequest {
    pub user_id: String,
    /// The login session of the caller's token: the SAD works only for that caller.
    pub session_id: String,
    pub credential_id: String,
    pub num_signatures: i64,
    /// The hashes to authorize (raw bytes). Required for SCAL2; optional for SCAL1, where an
    /// empty list authorizes a count.
    pub hashes: Vec<Vec<u8>>,
    /// `hashAlgorithmOID` / `hashAlgo`, if the caller sent one.
    pub hash_algo: Option<String>,
    pub pin: Option<SecretString>,
    pub otp: Option<SecretString>,
}

/// A freshly issued SAD: the only time its value exists outside the caller.
pub struct IssuedSad {
    pub sad: SecretString,
    pub expires_in: i64,
}

impl std::fmt::Debug for IssuedSad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedSad")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// The largest hash list one request may carry.
pub const MAX_HASHES_PER_REQUEST: usize = 1000;

/// At most [`MAX_HASHES_PER_REQUEST`] hashes, each once.
pub(crate) fn check_hash_list(hashes: &[Vec<u8>]) -> Result<(), SamError> {
    if hashes.len() > MAX_HASHES_PER_REQUEST {
        return Err(SamError::InvalidRequest("too many hashes in one request"));
    }
    let mut seen = HashSet::with_capacity(hashes.len());
    if !hashes.iter().all(|h| seen.insert(h.as_slice())) {
        return Err(SamError::InvalidRequest("the same hash appears twice"));
    }
    Ok(())
}

/// Checks the shape of a hash list and works out its algorithm.
pub(crate) fn check_hashes(
    hashes: &[Vec<u8>],
    hash_algo: Option<&str>,
) -> Result<Option<DigestAlgorithm>, SamError> {
    check_hash_list(hashes)?;
    let alg = match hash_algo {
        Some(oid) => Some(DigestAlgorithm::from_oid_str(oid)?),
        None => match hashes.first() {
            None => None,
            Some(h) => Some(
                DigestAlgorithm::ALL
                    .into_iter()
                    .find(|d| d.output_len() == h.len())
                    .ok_or(SamError::Algorithm(signer::AlgError::DigestLength {
                        alg: "any SHA-2",
                        expected: 32,
                        got: h.len(),
                    }))?,
            ),
        },
    };
    if let Some(alg) = alg
        && hashes.iter().any(|h| h.len() != alg.output_len())
    {
        return Err(SamError::InvalidRequest(
            "hash length does not match the hash algorithm",
        ));
    }
    Ok(alg)
}

impl Sam {
    /// Checks the signer's factors and issues a SAD. Every outcome is audited.
    pub async fn authorize(&self, req: AuthorizeRequest) -> Result<IssuedSad, SamError> {
        let actor = format!("user:{}", req.user_id);
        match self.authorize_inner(req, &actor).await {
            Ok(s) => Ok(s),
            Err(Refusal::Audited(e)) => Err(e),
            Err(Refusal::Unaudited(cred, e)) => {
                if !matches!(e, SamError::AuditUnavailable) {
                    let mut ev =
                        AuditEvent::new("credential.authorize", actor, Outcome::Refused).reason(&e);
                    if let Some(c) = cred {
                        ev = ev.credential(c);
                    }
                    // A refusal whose record cannot be written still refuses.
                    if self.record(ev).await.is_err() {
                        return Err(SamError::AuditUnavailable);
                    }
                }
                Err(e)
            }
        }
    }

    async fn authorize_inner(
        &self,
        req: AuthorizeRequest,
        actor: &str,
    ) -> Result<IssuedSad, Refusal> {
        let cred_id = req.credential_id.clone();
        let sam = self.clone();
        let user_id = req.user_id.clone();
        let lookup_id = cred_id.clone();
        let cred = self
            .read(move |c| sam.load_credential(c, &lookup_id, Some(&user_id)))
            .await
            .map_err(|e| {
                // Only name the credential in the log when it exists for this user.
                let named = matches!(e, SamError::CredentialIntegrity).then(|| cred_id.clone());
                Refusal::Unaudited(named, e)
            })?;
        let fail = |e: SamError| Refusal::Unaudited(Some(cred_id.clone()), e);
        if !cred.enabled {
            return Err(fail(SamError::CredentialDisabled));
        }
        if cred.locked {
            return Err(fail(SamError::CredentialLocked));
        }
        self.check_certificate(&cred, self.inner.clock.now_s())
            .map_err(fail)?;
        if req.num_signatures < 1 {
            return Err(fail(SamError::InvalidRequest(
                "numSignatures must be at least 1",
            )));
        }
        if req.num_signatures > cred.multisign {
            return Err(fail(SamError::TooManySignatures));
        }
        let hash_alg = check_hashes(&req.hashes, req.hash_algo.as_deref()).map_err(fail)?;
        let pinned = !req.hashes.is_empty();
        if pinned && i64::try_from(req.hashes.len()).ok() != Some(req.num_signatures) {
            return Err(fail(SamError::InvalidRequest(
                "numSignatures must equal the number of hashes",
            )));
        }
        if cred.scal == 2 && !pinned {
            return Err(fail(SamError::InvalidRequest(
                "a SCAL2 credential authorizes an exact list of hashes",
            )));
        }
        let auth = AuthMode::from_name(&cred.auth_mode)
            .ok_or_else(|| fail(SamError::CredentialIntegrity))?;
        let pin = req
            .pin
            .ok_or_else(|| fail(SamError::InvalidRequest("PIN required")))?;
        let otp = match auth {
            AuthMode::Pin => None,
            AuthMode::PinTotp => Some(req.otp.ok_or_else(|| fail(SamError::OtpRequired))?),
        };

        // The factors: argon2id off the async threads.
        let pin_hash = cred.pin_hash.clone();
        let pin_ok = tokio::task::spawn_blocking(move || verify_secret(&pin, &pin_hash))
            .await
            .unwrap_or(false);
        let now_ms = self.inner.clock.now_ms();
        let now_s = now_ms.div_euclid(1000);
        let totp_step = match (&otp, &cred.totp_secret) {
            (None, _) => None,
            (Some(code), Some(sealed)) => {
                let seed = self
                    .inner
                    .keys
                    .open(sealed, cred.id.as_bytes())
                    .map_err(|_| fail(SamError::CredentialIntegrity))?;
                Some(verify_totp(&seed, code, now_s).map_err(fail)?)
            }
            (Some(_), None) => return Err(fail(SamError::CredentialIntegrity)),
        };
        let factors_ok = pin_ok && totp_step.is_none_or(|s| s.is_some());

        let sad_token = new_secret(SAD_PREFIX);
        let lifetime = self.inner.config.sad_lifetime_s;
        let mut sad = Sad {
            id: new_id("sad-", 12),
            hash: secret_hash(&sad_token),
            user_id: req.user_id.clone(),
            credential_id: cred.id.clone(),
            session_id: req.session_id.clone(),
            hash_alg: hash_alg.map(|d| d.oid().to_string()),
            num_signatures: req.num_signatures,
            remaining: req.num_signatures,
            pinned,
            expires_at: now_s + lifetime,
            revoked: false,
            mac: Vec::new(),
            created_at: now_s,
        };
        sad.mac = self
            .sad_mac(&sad, &hash_set_digest(&req.hashes))
            .map_err(fail)?;
        let hashes = req.hashes;
        let actor = actor.to_owned();
        let cid = cred.id.clone();
        let result = self
            .inner
            .writer
            .run(move |txn| {
                if !factors_ok {
                    let (failures, locked) = txn.atomic(|conn| {
                        Ok(queries::credentials::record_failure(
                            conn,
                            &cid,
                            MAX_FAILED_AUTHENTICATIONS,
                        )?)
                    })?;
                    txn.append(
                        AuditEvent::new("credential.authorize", actor.clone(), Outcome::Refused)
                            .credential(&cid)
                            .detail("reason", "authentication_failed")
                            .detail("failed_attempts", failures),
                    )?;
                    if locked && failures == MAX_FAILED_AUTHENTICATIONS {
                        txn.append(
                            AuditEvent::new("credential.locked", "system", Outcome::Ok)
                                .credential(&cid)
                                .detail("failed_attempts", failures),
                        )?;
                    }
                    return Ok(Err(SamError::AuthenticationFailed));
                }
                let issued = txn.atomic(|conn| {
                    let current = queries::credentials::by_id(conn, &cid)?
                        .ok_or(SamError::CredentialNotFound)?;
                    if !current.enabled {
                        return Err(SamError::CredentialDisabled);
                    }
                    if current.locked {
                        return Err(SamError::CredentialLocked);
                    }
                    if let Some(Some(step)) = totp_step
                        && !queries::credentials::advance_totp_step(conn, &cid, step)?
                    {
                        return Err(SamError::AuthenticationFailed);
                    }
                    queries::credentials::reset_failures(conn, &cid)?;
                    queries::sads::insert(conn, &sad, &hashes)?;
                    Ok(())
                });
                match issued {
                    Ok(()) => {
                        txn.append(
                            AuditEvent::new("credential.authorize", actor.clone(), Outcome::Ok)
                                .credential(&cid)
                                .sad(&sad.id),
                        )?;
                        let mut ev = AuditEvent::new("sad.issued", actor, Outcome::Ok)
                            .credential(&cid)
                            .sad(&sad.id)
                            .detail("num_signatures", sad.num_signatures)
                            .detail("expires_at", sad.expires_at)
                            .detail("hash_alg", sad.hash_alg.clone());
                        if !hashes.is_empty() {
                            ev = ev.detail(
                                "hashes",
                                hashes.iter().map(hex::encode).collect::<Vec<_>>(),
                            );
                        }
                        txn.append(ev)?;
                        Ok(Ok(()))
                    }
                    Err(e @ (SamError::AuditUnavailable | SamError::Database(_))) => Err(e),
                    Err(e) => {
                        txn.append(
                            AuditEvent::new("credential.authorize", actor, Outcome::Refused)
                                .credential(&cid)
                                .reason(&e),
                        )?;
                        Ok(Err(e))
                    }
                }
            })
            .await;
        match result {
            Ok(Ok(())) => Ok(IssuedSad {
                sad: sad_token,
                expires_in: lifetime,
            }),
            // Refusals decided in the transaction are audited there; a failed transaction
            // cannot be audited at all.
            Ok(Err(e)) | Err(e) => Err(Refusal::Audited(e)),
        }
    }
}

/// Why authorization failed, and whether the audit log already says so.
enum Refusal {
    Unaudited(Option<String>, SamError),
    Audited(SamError),
}
