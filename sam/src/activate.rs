//! Key activation: a `signHash` request spends its SAD inside one database transaction together
//! with its audit record, and only then may the backend sign. [`Activation::sign`] consumes the
//! activation, so one spend yields one use of the key.

use std::collections::HashSet;
use std::sync::Arc;

use migrations::DbConnection;
use migrations::queries;
use secrecy::SecretString;
use signer::{Digest, SignatureAlgorithm};

use crate::audit::{AuditEvent, Outcome};
use crate::authorize::{IssuedSad, check_hash_list};
use crate::secrets::{SAD_PREFIX, new_secret, secret_hash};
use crate::store::{KeyMaterial, LiveSad, hash_set_digest};
use crate::{Sam, SamError};

/// A `signatures/signHash` request as the SAM sees it.
pub struct SignHashRequest {
    pub user_id: String,
    pub session_id: String,
    pub credential_id: String,
    pub sad: Option<SecretString>,
    pub hash_algo: Option<String>,
    pub sign_algo: String,
    /// DER `signAlgoParams` (RSASSA-PSS parameters).
    pub sign_algo_params: Option<Vec<u8>>,
    pub hashes: Vec<Vec<u8>>,
}

/// A spent SAD: permission to use one key once, for exactly these digests.
pub struct Activation {
    sam: Sam,
    key: Arc<KeyMaterial>,
    alg: SignatureAlgorithm,
    digests: Vec<Digest>,
    credential_id: String,
    sad_id: String,
    actor: String,
}

impl std::fmt::Debug for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Activation")
            .field("credential_id", &self.credential_id)
            .field("alg", &self.alg)
            .field("digests", &self.digests.len())
            .finish_non_exhaustive()
    }
}

impl Activation {
    pub fn algorithm(&self) -> SignatureAlgorithm {
        self.alg
    }

    /// Signs the authorized digests, in request order.
    pub async fn sign(self) -> Result<Vec<Vec<u8>>, SamError> {
        let Self {
            sam,
            key,
            alg,
            digests,
            credential_id,
            sad_id,
            actor,
        } = self;
        let digests_len = (key.kind, digests.len());
        let signer = sam.clone();
        let work = move || {
            signer
                .inner
                .keystore
                .sign(&key.id, key.kind, &key.wrapped, alg, &digests)
                .map_err(|e| SamError::Backend(e.to_string()))
        };
        // A few signatures cost less than a hop to the blocking pool and back; large batches go
        // there so one request cannot hold an async worker for long.
        let result = if self_contained(&digests_len) {
            work()
        } else {
            tokio::task::spawn_blocking(work)
                .await
                .map_err(|_| SamError::Backend("signing task failed".into()))
                .and_then(|r| r)
        };
        if let Err(e) = &result {
            tracing::error!(error = %e, credential = %credential_id, "key backend failed after the SAD was spent");
            let _ = sam
                .record(
                    AuditEvent::new("signature.failed", actor, Outcome::Error)
                        .credential(credential_id)
                        .sad(&sad_id)
                        .reason(e),
                )
                .await;
        }
        result
    }
}

/// Why a conditional spend touched nothing.
fn why_not_spent(conn: &mut DbConnection, sad_id: &str, cid: &str, n: i64, now: i64) -> SamError {
    match queries::credentials::state(conn, cid) {
        Ok(Some((false, _))) => return SamError::CredentialDisabled,
        Ok(Some((true, true))) => return SamError::CredentialLocked,
        Ok(_) => {}
        Err(e) => return e.into(),
    }
    match queries::sads::by_id(conn, sad_id) {
        Ok(Some(s)) if s.revoked => SamError::SadRevoked,
        Ok(Some(s)) if s.expires_at <= now => SamError::SadExpired,
        Ok(Some(s)) if s.remaining < n => SamError::SadExhausted,
        // Live with budget left: the token presented was replaced by extendTransaction.
        Ok(Some(_)) => SamError::SadRevoked,
        Ok(None) => SamError::SadUnknown,
        Err(e) => e.into(),
    }
}

/// Whether signing `n` digests with a key of `kind` is cheap enough to do on the caller's thread
/// (about 0.3 ms of CPU at most).
fn self_contained(&(kind, n): &(signer::KeyKind, usize)) -> bool {
    match kind {
        signer::KeyKind::EcP256 | signer::KeyKind::Ed25519 => n <= 16,
        signer::KeyKind::Rsa { bits: ..=2048 } => n <= 1,
        signer::KeyKind::EcP384 | signer::KeyKind::Rsa { .. } => false,
    }
}

struct Refusal {
    credential_id: Option<String>,
    sad_id: Option<String>,
    error: SamError,
    audited: bool,
}

impl Refusal {
    fn new(error: SamError) -> Self {
        Self {
            credential_id: None,
            sad_id: None,
            error,
            audited: false,
        }
    }
}

impl Sam {
    /// Finds a SAD and checks everything about it that does not change on spending: that the SAM
    /// issued it (MAC), for this user, caller and credential, that it is live, and that the
    /// credential may be used.
    fn check_sad(
        &self,
        conn: &mut DbConnection,
        token: &SecretString,
        user_id: &str,
        session_id: &str,
        credential_id: &str,
        now_s: i64,
    ) -> Result<LiveSad, Refusal> {
        let named = |e: SamError| Refusal {
            credential_id: Some(credential_id.to_owned()),
            ..Refusal::new(e)
        };
        let sad = queries::sads::by_hash(conn, &secret_hash(token))
            .map_err(|e| named(e.into()))?
            .ok_or_else(|| named(SamError::SadUnknown))?;
        let with_sad = |e: SamError| Refusal {
            credential_id: Some(credential_id.to_owned()),
            sad_id: Some(sad.id.clone()),
            ..Refusal::new(e)
        };
        let hash_set: Option<HashSet<Vec<u8>>> = if sad.pinned {
            Some(
                queries::sads::hashes(conn, &sad.id)
                    .map_err(|e| with_sad(e.into()))?
                    .into_iter()
                    .map(|h| h.digest)
                    .collect(),
            )
        } else {
            None
        };
        let set_digest = hash_set
            .as_ref()
            .map(|s| hash_set_digest(&s.iter().cloned().collect::<Vec<_>>()))
            .unwrap_or_default();
        if !self.check_sad_mac(&sad, &set_digest).map_err(with_sad)? {
            return Err(with_sad(SamError::SadForged));
        }
        if sad.credential_id != credential_id
            || sad.user_id != user_id
            || sad.session_id != session_id
        {
            return Err(with_sad(SamError::SadMisbound));
        }
        if sad.revoked {
            return Err(with_sad(SamError::SadRevoked));
        }
        if sad.expires_at <= now_s {
            return Err(with_sad(SamError::SadExpired));
        }
        if sad.remaining <= 0 {
            return Err(with_sad(SamError::SadExhausted));
        }
        let cred = self
            .load_credential(conn, credential_id, Some(user_id))
            .map_err(with_sad)?;
        if !cred.enabled {
            return Err(with_sad(SamError::CredentialDisabled));
        }
        if cred.locked {
            return Err(with_sad(SamError::CredentialLocked));
        }
        self.check_certificate(&cred, now_s).map_err(with_sad)?;
        let key = self.key_material(conn, &cred.key_id).map_err(with_sad)?;
        Ok(LiveSad {
            sad,
            hash_set,
            hash_set_digest: set_digest,
            key,
        })
    }

    /// Spends a SAD for the request's hashes. On success the key may be used once, through the
    /// returned [`Activation`]. Every outcome is audited before this returns.
    pub async fn activate(&self, req: SignHashRequest) -> Result<Activation, SamError> {
        let actor = format!("user:{}", req.user_id);
        match self.activate_inner(req, &actor).await {
            Ok(a) => Ok(a),
            Err(r) if r.audited => Err(r.error),
            Err(r) => {
                let mut ev = AuditEvent::new("signature.authorize", actor, Outcome::Refused)
                    .reason(&r.error);
                if let Some(c) = r.credential_id {
                    ev = ev.credential(c);
                }
                if let Some(s) = r.sad_id {
                    ev = ev.sad(&s);
                }
                if self.record(ev).await.is_err() {
                    return Err(SamError::AuditUnavailable);
                }
                Err(r.error)
            }
        }
    }

    async fn activate_inner(
        &self,
        req: SignHashRequest,
        actor: &str,
    ) -> Result<Activation, Refusal> {
        let named = |e: SamError| Refusal {
            credential_id: Some(req.credential_id.clone()),
            ..Refusal::new(e)
        };
        if req.hashes.is_empty() {
            return Err(named(SamError::InvalidRequest("no hash to sign")));
        }
        check_hash_list(&req.hashes).map_err(named)?;
        let token = req
            .sad
            .clone()
            .ok_or_else(|| named(SamError::InvalidRequest("SAD required")))?;
        let now_s = self.inner.clock.now_s();
        let sam = self.clone();
        let (user_id, session_id, credential_id) = (
            req.user_id.clone(),
            req.session_id.clone(),
            req.credential_id.clone(),
        );
        let token_hash = secret_hash(&token);
        let live = match self.cached_sad(&token_hash) {
            Some(live) => live,
            None => {
                let live = self
                    .read(move |conn| {
                        Ok(sam.check_sad(
                            conn,
                            &token,
                            &user_id,
                            &session_id,
                            &credential_id,
                            now_s,
                        ))
                    })
                    .await
                    .map_err(named)??;
                let live = Arc::new(live);
                self.cache_sad(token_hash.clone(), live.clone());
                live
            }
        };
        let with_sad = |e: SamError| Refusal {
            credential_id: Some(req.credential_id.clone()),
            sad_id: Some(live.sad.id.clone()),
            ..Refusal::new(e)
        };
        // What a cached SAD must still satisfy; its budget, revocation and the credential's
        // state are decided atomically when it is spent.
        if live.sad.credential_id != req.credential_id
            || live.sad.user_id != req.user_id
            || live.sad.session_id != req.session_id
        {
            return Err(with_sad(SamError::SadMisbound));
        }
        if live.sad.expires_at <= now_s {
            return Err(with_sad(SamError::SadExpired));
        }
        self.check_certificate_validity(&live.sad.credential_id, now_s)
            .map_err(with_sad)?;

        let alg = SignatureAlgorithm::resolve(
            &req.sign_algo,
            req.hash_algo.as_deref(),
            req.sign_algo_params.as_deref(),
            live.key.kind,
        )
        .map_err(|e| with_sad(e.into()))?;
        let digest_alg = alg.digest().ok_or_else(|| {
            with_sad(SamError::InvalidRequest(
                "this algorithm signs documents, not hashes",
            ))
        })?;
        if live
            .sad
            .hash_alg
            .as_deref()
            .is_some_and(|bound| bound != digest_alg.oid().to_string())
        {
            return Err(with_sad(SamError::SadAlgorithm));
        }
        let digests = req
            .hashes
            .iter()
            .map(|h| Digest::new(digest_alg, h.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| with_sad(e.into()))?;
        if let Some(set) = &live.hash_set
            && !req.hashes.iter().all(|h| set.contains(h))
        {
            return Err(with_sad(SamError::HashNotAuthorized));
        }
        let n = i64::try_from(req.hashes.len()).unwrap_or(i64::MAX);

        // The spend and its record: one transaction, before the key is touched.
        let sad_id = live.sad.id.clone();
        let pinned = live.sad.pinned;
        let hashes = req.hashes.clone();
        let cid = req.credential_id.clone();
        let who = actor.to_owned();
        let spent = self
            .inner
            .writer
            .run(move |txn| {
                let now = txn.now_ms().div_euclid(1000);
                let spend = |conn: &mut DbConnection| {
                    // One statement checks budget, expiry, revocation, the current token and
                    // the credential's state.
                    if !queries::sads::spend_count(conn, &sad_id, &token_hash, n, now)? {
                        return Err(why_not_spent(conn, &sad_id, &cid, n, now));
                    }
                    if pinned {
                        for h in &hashes {
                            if !queries::sads::spend_hash(conn, &sad_id, h)? {
                                return Err(SamError::HashNotAuthorized);
                            }
                        }
                    }
                    Ok(())
                };
                // A count-only spend is a single statement; a hash set needs a savepoint so
                // that a refused hash undoes the others.
                let r = if pinned {
                    txn.atomic(spend)
                } else {
                    spend(txn.conn())
                };
                let hex_hashes: Vec<String> = hashes.iter().map(hex::encode).collect();
                match r {
                    Ok(()) => {
                        txn.append(
                            AuditEvent::new("signature.authorize", who, Outcome::Ok)
                                .credential(&cid)
                                .sad(&sad_id)
                                .detail("algorithm", alg.oid().to_string())
                                .detail("hashes", hex_hashes),
                        )?;
                        Ok(Ok(()))
                    }
                    Err(e @ (SamError::AuditUnavailable | SamError::Database(_))) => Err(e),
                    Err(e) => {
                        txn.append(
                            AuditEvent::new("signature.authorize", who, Outcome::Refused)
                                .credential(&cid)
                                .sad(&sad_id)
                                .reason(&e)
                                .detail("hashes", hex_hashes),
                        )?;
                        Ok(Err(e))
                    }
                }
            })
            .await;
        match spent {
            Ok(Ok(())) => Ok(Activation {
                sam: self.clone(),
                key: live.key.clone(),
                alg,
                digests,
                credential_id: req.credential_id.clone(),
                sad_id: live.sad.id.clone(),
                actor: actor.to_owned(),
            }),
            Ok(Err(e)) | Err(e) => Err(Refusal {
                audited: true,
                ..Refusal::new(e)
            }),
        }
    }

    /// `credentials/extendTransaction`: a new SAD value with a fresh expiry for a live SAD; the
    /// old value stops working.
    pub async fn extend_transaction(
        &self,
        user_id: &str,
        session_id: &str,
        credential_id: &str,
        token: SecretString,
    ) -> Result<IssuedSad, SamError> {
        let actor = format!("user:{user_id}");
        let now_s = self.inner.clock.now_s();
        let sam = self.clone();
        let (u, s, c) = (
            user_id.to_owned(),
            session_id.to_owned(),
            credential_id.to_owned(),
        );
        let live = self
            .read(move |conn| Ok(sam.check_sad(conn, &token, &u, &s, &c, now_s)))
            .await?;
        let live = match live {
            Ok(l) => l,
            Err(r) => {
                let mut ev = AuditEvent::new("sad.extend", actor, Outcome::Refused)
                    .reason(&r.error)
                    .credential(credential_id);
                if let Some(s) = r.sad_id {
                    ev = ev.sad(&s);
                }
                self.record(ev).await?;
                return Err(r.error);
            }
        };
        let lifetime = self.inner.config.sad_lifetime_s;
        let new_token = new_secret(SAD_PREFIX);
        self.forget_sad(&live.sad.hash);
        let mut renewed = live.sad.clone();
        renewed.hash = secret_hash(&new_token);
        renewed.expires_at = now_s + lifetime;
        renewed.mac = self.sad_mac(&renewed, &live.hash_set_digest)?;
        let cid = credential_id.to_owned();
        self.inner
            .writer
            .run(move |txn| {
                txn.atomic(|conn| {
                    if queries::sads::extend(
                        conn,
                        &renewed.id,
                        &renewed.hash,
                        &renewed.mac,
                        renewed.expires_at,
                        now_s,
                    )? {
                        Ok(())
                    } else {
                        Err(SamError::SadExpired)
                    }
                })?;
                txn.append(
                    AuditEvent::new("sad.extended", actor, Outcome::Ok)
                        .credential(cid)
                        .sad(&renewed.id)
                        .detail("expires_at", renewed.expires_at),
                )
            })
            .await?;
        Ok(IssuedSad {
            sad: new_token,
            expires_in: lifetime,
        })
    }

    /// Kills the SADs issued to a login session (its token was revoked).
    pub async fn revoke_session_sads(
        &self,
        session_id: &str,
        actor: &str,
    ) -> Result<usize, SamError> {
        let (session, actor) = (session_id.to_owned(), actor.to_owned());
        self.inner
            .writer
            .run(move |txn| {
                let n =
                    txn.atomic(|conn| Ok(queries::sads::revoke_for_session(conn, &session)?))?;
                txn.append(
                    AuditEvent::new("session.revoked", actor, Outcome::Ok)
                        .detail("sads_revoked", n),
                )?;
                Ok(n)
            })
            .await
    }
}
