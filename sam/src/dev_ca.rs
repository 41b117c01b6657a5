//! The development CA (NOT QUALIFIED): a root and an issuing CA for the embedded default.
//!
//! Both CA keys are P-256 keys of the software keystore, stored wrapped like any other key; the
//! issuing CA signs signers' end-entity certificates with ecdsa-with-SHA256. Every name it writes
//! says NOT QUALIFIED: nothing it issues may pass for a qualified certificate. It never reads the
//! clock or draws randomness of its own: the time and the serial numbers come in as arguments.

use std::fmt;

use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::bn::BigNum;
use openssl::ec::EcKey;
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, PKeyRef, Private, Public};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Builder, X509Name, X509NameRef, X509Ref};
use rand::CryptoRng;
use signer::KeyKind;

use crate::backend::software::{KeystoreError, SoftwareKeystore};

/// Key id of the root CA's key in the software keystore.
pub(crate) const ROOT_KEY_ID: &str = "dev-ca-root";
/// Key id of the issuing CA's key in the software keystore.
pub(crate) const ISSUING_KEY_ID: &str = "dev-ca-issuing";
/// The organization of every name the development CA writes.
pub(crate) const ORGANIZATION: &str = "qsign (NOT QUALIFIED)";
pub(crate) const ROOT_COMMON_NAME: &str = "qsign Development Root CA - NOT QUALIFIED";
pub(crate) const ISSUING_COMMON_NAME: &str = "qsign Development Issuing CA - NOT QUALIFIED";
/// The CA keys' kind.
pub(crate) const CA_KEY_KIND: KeyKind = KeyKind::EcP256;
/// Upper bound of a commonName (X.520 ub-common-name), in characters.
pub(crate) const MAX_COMMON_NAME_CHARS: usize = 64;

const DAY_SECONDS: i64 = 86_400;
/// 20 years, leap days included.
const ROOT_VALIDITY_DAYS: i64 = 7_305;
/// 10 years, leap days included.
const ISSUING_VALIDITY_DAYS: i64 = 3_653;
/// notBefore lies this far before "now", for relying parties whose clocks run a little late.
const BACKDATE_SECONDS: i64 = 300;
const SERIAL_LEN: usize = 16;
/// RSA subject keys shorter than this are refused.
const MIN_RSA_BITS: u32 = 2048;

/// Why the development CA refused or failed. No variant carries key material.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DevCaError {
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    #[error("the subject name is empty")]
    EmptyName,
    #[error("the subject name is longer than {MAX_COMMON_NAME_CHARS} characters")]
    NameTooLong,
    #[error("the subject name contains a control or bidirectional formatting character")]
    ControlCharacter,
    #[error("the serial number is zero once made positive")]
    ZeroSerial,
    #[error("a certificate is valid for at least one day")]
    ZeroValidity,
    #[error("the validity period is out of range")]
    ValidityOutOfRange,
    #[error("the issuing CA is not valid at the requested time")]
    IssuerNotValid,
    #[error("the issuing CA certificate does not match its key or cannot be read")]
    InvalidIssuer,
    #[error("the subject public key is not a DER SubjectPublicKeyInfo")]
    InvalidPublicKey,
    #[error("the subject public key's algorithm or size is not accepted")]
    UnsupportedPublicKey,
    #[error("OpenSSL: {0}")]
    OpenSsl(String),
}

impl From<ErrorStack> for DevCaError {
    fn from(e: ErrorStack) -> Self {
        Self::OpenSsl(e.to_string())
    }
}

/// The development CA as the caller stores it: both keys wrapped by the software keystore under
/// the key ids given here, and both certificates in DER.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct DevCaMaterial {
    pub(crate) root_key_id: String,
    pub(crate) root_key_wrapped: Vec<u8>,
    pub(crate) root_cert_der: Vec<u8>,
    pub(crate) issuing_key_id: String,
    pub(crate) issuing_key_wrapped: Vec<u8>,
    pub(crate) issuing_cert_der: Vec<u8>,
}

impl fmt::Debug for DevCaMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevCaMaterial")
            .field("root_key_id", &self.root_key_id)
            .field("root_cert_der_len", &self.root_cert_der.len())
            .field("issuing_key_id", &self.issuing_key_id)
            .field("issuing_cert_der_len", &self.issuing_cert_der.len())
            .finish_non_exhaustive()
    }
}

/// What a certificate is for; decides its extensions.
#[derive(Clone, Copy)]
enum Profile {
    Root,
    Issuing,
    EndEntity,
}

/// Creates the development root CA (self-signed, 20 years) and an issuing CA under it (10
/// years, pathlen 0), both with new P-256 keys generated in the software keystore.
pub(crate) fn create_dev_ca(
    ks: &SoftwareKeystore,
    now_unix: i64,
    rng: &mut impl CryptoRng,
) -> Result<DevCaMaterial, DevCaError> {
    let root_key = ks.generate(ROOT_KEY_ID, CA_KEY_KIND)?;
    let issuing_key = ks.generate(ISSUING_KEY_ID, CA_KEY_KIND)?;
    let root_private = ks.unwrap_private(ROOT_KEY_ID, CA_KEY_KIND, &root_key.wrapped)?;

    let root_name = name(ROOT_COMMON_NAME)?;
    let root_public = PKey::public_key_from_der(&root_key.public_key_der)?;
    let root_cert = build_certificate(
        Profile::Root,
        &root_name,
        &root_public,
        &random_serial(rng)?,
        &*validity_start(now_unix)?,
        &*validity_end(now_unix, ROOT_VALIDITY_DAYS)?,
        None,
        &root_private,
    )?;

    let issuing_public = PKey::public_key_from_der(&issuing_key.public_key_der)?;
    let issuing_cert = build_certificate(
        Profile::Issuing,
        &*name(ISSUING_COMMON_NAME)?,
        &issuing_public,
        &random_serial(rng)?,
        &*validity_start(now_unix)?,
        &*validity_end(now_unix, ISSUING_VALIDITY_DAYS)?,
        Some(&root_cert),
        &root_private,
    )?;

    Ok(DevCaMaterial {
        root_key_id: ROOT_KEY_ID.to_owned(),
        root_key_wrapped: root_key.wrapped,
        root_cert_der: root_cert.to_der()?,
        issuing_key_id: ISSUING_KEY_ID.to_owned(),
        issuing_key_wrapped: issuing_key.wrapped,
        issuing_cert_der: issuing_cert.to_der()?,
    })
}

/// Issues a signer's end-entity certificate (DER) for `public_key_der` (a SubjectPublicKeyInfo)
/// under the issuing CA: subject `O=qsign (NOT QUALIFIED), CN=<subject_common_name>`, keyUsage
/// digitalSignature and nonRepudiation, valid from five minutes before `now_unix` for
/// `validity_days`, but never beyond the issuing CA. The serial's top bit is cleared so it is
/// positive.
pub(crate) fn issue_signer_certificate(
    ks: &SoftwareKeystore,
    material: &DevCaMaterial,
    subject_common_name: &str,
    public_key_der: &[u8],
    serial: &[u8; SERIAL_LEN],
    now_unix: i64,
    validity_days: u32,
) -> Result<Vec<u8>, DevCaError> {
    validate_common_name(subject_common_name)?;
    if validity_days == 0 {
        return Err(DevCaError::ZeroValidity);
    }
    let subject_key = subject_public_key(public_key_der)?;

    let issuing_cert =
        X509::from_der(&material.issuing_cert_der).map_err(|_| DevCaError::InvalidIssuer)?;
    let issuing_key = ks.unwrap_private(
        &material.issuing_key_id,
        CA_KEY_KIND,
        &material.issuing_key_wrapped,
    )?;
    let issuer_public = issuing_cert
        .public_key()
        .map_err(|_| DevCaError::InvalidIssuer)?;
    if !issuer_public.public_eq(&issuing_key) {
        return Err(DevCaError::InvalidIssuer);
    }

    let now = Asn1Time::from_unix(now_unix).map_err(|_| DevCaError::ValidityOutOfRange)?;
    if is_after(issuing_cert.not_before(), &now)? || is_after(&now, issuing_cert.not_after())? {
        return Err(DevCaError::IssuerNotValid);
    }
    let requested_end = validity_end(now_unix, i64::from(validity_days))?;
    let not_after: &Asn1TimeRef = if is_after(&requested_end, issuing_cert.not_after())? {
        issuing_cert.not_after()
    } else {
        &requested_end
    };

    let mut subject = X509Name::builder()?;
    subject.append_entry_by_nid(Nid::ORGANIZATIONNAME, ORGANIZATION)?;
    subject.append_entry_by_nid(Nid::COMMONNAME, subject_common_name)?;
    let cert = build_certificate(
        Profile::EndEntity,
        &subject.build(),
        &subject_key,
        &positive_serial(serial)?,
        &*validity_start(now_unix)?,
        not_after,
        Some(&issuing_cert),
        &issuing_key,
    )?;
    Ok(cert.to_der()?)
}

/// Refuses names that would mislead or break whoever displays them: empty, over 64 characters,
/// control characters (newlines included) and bidirectional overrides.
fn validate_common_name(name: &str) -> Result<(), DevCaError> {
    if name.trim().is_empty() {
        return Err(DevCaError::EmptyName);
    }
    if name.chars().count() > MAX_COMMON_NAME_CHARS {
        return Err(DevCaError::NameTooLong);
    }
    let bidi = |c: char| matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if name.chars().any(|c| c.is_control() || bidi(c)) {
        return Err(DevCaError::ControlCharacter);
    }
    Ok(())
}

/// The subject key, exactly as given (no trailing bytes), of an accepted algorithm and size.
fn subject_public_key(der: &[u8]) -> Result<PKey<Public>, DevCaError> {
    let key = PKey::public_key_from_der(der).map_err(|_| DevCaError::InvalidPublicKey)?;
    if key.public_key_to_der()? != der {
        return Err(DevCaError::InvalidPublicKey);
    }
    let accepted = match key.id() {
        Id::RSA => key.bits() >= MIN_RSA_BITS,
        Id::EC => {
            let curve = key
                .ec_key()
                .ok()
                .and_then(|ec: EcKey<Public>| ec.group().curve_name());
            matches!(curve, Some(Nid::X9_62_PRIME256V1 | Nid::SECP384R1))
        }
        Id::ED25519 => true,
        _ => false,
    };
    if accepted {
        Ok(key)
    } else {
        Err(DevCaError::UnsupportedPublicKey)
    }
}

/// `O=qsign (NOT QUALIFIED), CN=<common_name>` for the CA certificates.
fn name(common_name: &str) -> Result<X509Name, DevCaError> {
    let mut name = X509Name::builder()?;
    name.append_entry_by_nid(Nid::ORGANIZATIONNAME, ORGANIZATION)?;
    name.append_entry_by_nid(Nid::COMMONNAME, common_name)?;
    Ok(name.build())
}

fn random_serial(rng: &mut impl CryptoRng) -> Result<BigNum, DevCaError> {
    let mut serial = [0u8; SERIAL_LEN];
    rng.fill_bytes(&mut serial);
    positive_serial(&serial)
}

/// The serial as a positive INTEGER: the top bit cleared, zero refused.
fn positive_serial(serial: &[u8; SERIAL_LEN]) -> Result<BigNum, DevCaError> {
    let mut bytes = *serial;
    if let Some(first) = bytes.first_mut() {
        *first &= 0x7f;
    }
    if bytes.iter().all(|&b| b == 0) {
        return Err(DevCaError::ZeroSerial);
    }
    Ok(BigNum::from_slice(&bytes)?)
}

fn validity_start(now_unix: i64) -> Result<Asn1Time, DevCaError> {
    let start = now_unix
        .checked_sub(BACKDATE_SECONDS)
        .ok_or(DevCaError::ValidityOutOfRange)?;
    Asn1Time::from_unix(start).map_err(|_| DevCaError::ValidityOutOfRange)
}

fn validity_end(now_unix: i64, days: i64) -> Result<Asn1Time, DevCaError> {
    let end = days
        .checked_mul(DAY_SECONDS)
        .and_then(|secs| now_unix.checked_add(secs))
        .ok_or(DevCaError::ValidityOutOfRange)?;
    Asn1Time::from_unix(end).map_err(|_| DevCaError::ValidityOutOfRange)
}

fn is_after(a: &Asn1TimeRef, b: &Asn1TimeRef) -> Result<bool, DevCaError> {
    Ok(a.compare(b)? == std::cmp::Ordering::Greater)
}

/// Builds and signs one certificate (ecdsa-with-SHA256 with the CA's P-256 key). `issuer` is
/// `None` for the self-signed root.
#[expect(
    clippy::too_many_arguments,
    reason = "one call per profile, all arguments named"
)]
fn build_certificate(
    profile: Profile,
    subject: &X509NameRef,
    public_key: &PKeyRef<Public>,
    serial: &BigNum,
    not_before: &Asn1TimeRef,
    not_after: &Asn1TimeRef,
    issuer: Option<&X509Ref>,
    signing_key: &PKeyRef<Private>,
) -> Result<X509, DevCaError> {
    let mut builder = X509Builder::new()?;
    builder.set_version(2)?;
    builder.set_serial_number(&*serial.to_asn1_integer()?)?;
    builder.set_subject_name(subject)?;
    builder.set_issuer_name(issuer.map_or(subject, |i| i.subject_name()))?;
    builder.set_pubkey(public_key)?;
    builder.set_not_before(not_before)?;
    builder.set_not_after(not_after)?;

    let (basic_constraints, key_usage) = match profile {
        Profile::Root => (
            BasicConstraints::new().critical().ca().build()?,
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()?,
        ),
        Profile::Issuing => (
            BasicConstraints::new().critical().ca().pathlen(0).build()?,
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()?,
        ),
        Profile::EndEntity => (
            BasicConstraints::new().build()?,
            KeyUsage::new()
                .critical()
                .digital_signature()
                .non_repudiation()
                .build()?,
        ),
    };
    builder.append_extension(basic_constraints)?;
    builder.append_extension(key_usage)?;
    let ski = SubjectKeyIdentifier::new().build(&builder.x509v3_context(issuer, None))?;
    builder.append_extension(ski)?;
    if let Some(issuer) = issuer {
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&builder.x509v3_context(Some(issuer), None))?;
        builder.append_extension(aki)?;
    }
    builder.sign(signing_key, MessageDigest::sha256())?;
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::fs;
    use std::path::PathBuf;
    use std::process::{Command, Output};

    use openssl::rsa::Rsa;
    use rand::RngCore;

    use super::*;
    use crate::backend::software::Kek;

    /// 2027-01-15T08:00:00Z.
    const NOW: i64 = 1_800_000_000;

    fn keystore() -> SoftwareKeystore {
        SoftwareKeystore::new(Kek::generate(&mut rand::rng()))
    }

    fn dev_ca() -> (SoftwareKeystore, DevCaMaterial) {
        let ks = keystore();
        let material = create_dev_ca(&ks, NOW, &mut rand::rng()).unwrap();
        (ks, material)
    }

    fn serial() -> [u8; SERIAL_LEN] {
        let mut s = [0u8; SERIAL_LEN];
        rand::rng().fill_bytes(&mut s);
        s
    }

    /// A signer key generated in the keystore and its certificate.
    fn signer_certificate(
        ks: &SoftwareKeystore,
        material: &DevCaMaterial,
        kind: KeyKind,
        name: &str,
    ) -> Vec<u8> {
        let key = ks
            .generate(&format!("signer-{}", kind.name()), kind)
            .unwrap();
        issue_signer_certificate(ks, material, name, &key.public_key_der, &serial(), NOW, 365)
            .unwrap()
    }

    fn time(unix: i64) -> Asn1Time {
        Asn1Time::from_unix(unix).unwrap()
    }

    fn same_time(a: &Asn1TimeRef, b: &Asn1TimeRef) -> bool {
        a.compare(b).unwrap() == std::cmp::Ordering::Equal
    }

    /// A scratch directory for files handed to the `openssl` command line, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Self {
            let dir = std::env::temp_dir().join(format!(
                "qsign-dev-ca-{}-{:016x}",
                std::process::id(),
                rand::rng().next_u64()
            ));
            fs::create_dir(&dir).unwrap();
            Self(dir)
        }

        fn pem(&self, name: &str, der: &[u8]) -> PathBuf {
            let path = self.0.join(name);
            fs::write(&path, X509::from_der(der).unwrap().to_pem().unwrap()).unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn openssl<I: AsRef<OsStr>>(args: impl IntoIterator<Item = I>) -> Output {
        Command::new("openssl")
            .args(args)
            .output()
            .expect("the openssl command line runs")
    }

    fn x509_text(der: &[u8]) -> String {
        let dir = Scratch::new();
        let path = dir.pem("cert.pem", der);
        let out = openssl([
            OsStr::new("x509"),
            OsStr::new("-noout"),
            OsStr::new("-text"),
            OsStr::new("-nameopt"),
            OsStr::new("utf8,sep_comma_plus_space,space_eq"),
            OsStr::new("-in"),
            path.as_os_str(),
        ]);
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    }

    /// `openssl verify -x509_strict` of `leaf` against the root, with the issuing CA untrusted,
    /// at the given time.
    fn chain_verifies(material: &DevCaMaterial, leaf: &[u8], at: i64, untrusted: bool) -> bool {
        let dir = Scratch::new();
        let root = dir.pem("root.pem", &material.root_cert_der);
        let issuing = dir.pem("issuing.pem", &material.issuing_cert_der);
        let leaf = dir.pem("leaf.pem", leaf);
        let mut cmd = Command::new("openssl");
        cmd.args([
            "verify",
            "-x509_strict",
            "-attime",
            &at.to_string(),
            "-CAfile",
        ])
        .arg(root);
        if untrusted {
            cmd.arg("-untrusted").arg(issuing);
        }
        let out = cmd
            .arg(leaf)
            .output()
            .expect("the openssl command line runs");
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("leaf.pem: OK")
    }

    #[test]
    fn chain_verifies_with_openssl_for_every_signer_key_kind() {
        let (ks, material) = dev_ca();
        for kind in [
            KeyKind::EcP256,
            KeyKind::EcP384,
            KeyKind::Rsa { bits: 2048 },
            KeyKind::Ed25519,
        ] {
            let leaf = signer_certificate(&ks, &material, kind, "Alice Example");
            assert!(
                chain_verifies(&material, &leaf, NOW + 3600, true),
                "{kind:?}"
            );
            // Without the issuing CA there is no chain; before notBefore and after notAfter the
            // certificate is not valid.
            assert!(!chain_verifies(&material, &leaf, NOW + 3600, false));
            assert!(!chain_verifies(&material, &leaf, NOW - 3600, true));
            assert!(!chain_verifies(
                &material,
                &leaf,
                NOW + 366 * DAY_SECONDS,
                true
            ));
        }
    }

    #[test]
    fn openssl_text_shows_the_profiles() {
        let (ks, material) = dev_ca();
        let leaf = signer_certificate(&ks, &material, KeyKind::EcP256, "Zoë Ångström");

        let root = x509_text(&material.root_cert_der);
        for expected in [
            "Signature Algorithm: ecdsa-with-SHA256",
            "Issuer: O = qsign (NOT QUALIFIED), CN = qsign Development Root CA - NOT QUALIFIED",
            "Subject: O = qsign (NOT QUALIFIED), CN = qsign Development Root CA - NOT QUALIFIED",
            "ASN1 OID: prime256v1",
            "X509v3 Basic Constraints: critical\n                CA:TRUE\n",
            "X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign\n",
            "X509v3 Subject Key Identifier",
        ] {
            assert!(root.contains(expected), "root lacks {expected:?}:\n{root}");
        }

        let issuing = x509_text(&material.issuing_cert_der);
        for expected in [
            "Signature Algorithm: ecdsa-with-SHA256",
            "Issuer: O = qsign (NOT QUALIFIED), CN = qsign Development Root CA - NOT QUALIFIED",
            "Subject: O = qsign (NOT QUALIFIED), CN = qsign Development Issuing CA - NOT QUALIFIED",
            "X509v3 Basic Constraints: critical\n                CA:TRUE, pathlen:0\n",
            "X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign\n",
            "X509v3 Subject Key Identifier",
            "X509v3 Authority Key Identifier",
        ] {
            assert!(
                issuing.contains(expected),
                "issuing CA lacks {expected:?}:\n{issuing}"
            );
        }

        let text = x509_text(&leaf);
        for expected in [
            "Signature Algorithm: ecdsa-with-SHA256",
            "Issuer: O = qsign (NOT QUALIFIED), CN = qsign Development Issuing CA - NOT QUALIFIED",
            "Subject: O = qsign (NOT QUALIFIED), CN = Zoë Ångström",
            "X509v3 Key Usage: critical\n                Digital Signature, Non Repudiation\n",
            "X509v3 Basic Constraints: \n                CA:FALSE\n",
            "X509v3 Subject Key Identifier",
            "X509v3 Authority Key Identifier",
        ] {
            assert!(text.contains(expected), "leaf lacks {expected:?}:\n{text}");
        }
    }

    #[test]
    fn ca_material_holds_both_keys_under_their_ids() {
        let (ks, material) = dev_ca();
        assert_eq!(material.root_key_id, ROOT_KEY_ID);
        assert_eq!(material.issuing_key_id, ISSUING_KEY_ID);
        let root = X509::from_der(&material.root_cert_der).unwrap();
        let issuing = X509::from_der(&material.issuing_cert_der).unwrap();
        let root_key = ks
            .unwrap_private(ROOT_KEY_ID, CA_KEY_KIND, &material.root_key_wrapped)
            .unwrap();
        let issuing_key = ks
            .unwrap_private(ISSUING_KEY_ID, CA_KEY_KIND, &material.issuing_key_wrapped)
            .unwrap();
        assert!(root.public_key().unwrap().public_eq(&root_key));
        assert!(issuing.public_key().unwrap().public_eq(&issuing_key));
        assert!(root.verify(&root_key).unwrap());
        assert!(issuing.verify(&root_key).unwrap());

        assert!(same_time(root.not_before(), &time(NOW - BACKDATE_SECONDS)));
        assert!(same_time(
            root.not_after(),
            &time(NOW + ROOT_VALIDITY_DAYS * DAY_SECONDS)
        ));
        assert!(same_time(
            issuing.not_after(),
            &time(NOW + ISSUING_VALIDITY_DAYS * DAY_SECONDS)
        ));
        for cert in [&root, &issuing] {
            let serial = cert.serial_number().to_bn().unwrap();
            assert!(!serial.is_negative() && serial.num_bits() > 64);
        }
        assert_ne!(
            root.serial_number().to_bn().unwrap(),
            issuing.serial_number().to_bn().unwrap()
        );

        let shown = format!("{material:?}");
        assert!(shown.contains("dev-ca-root") && shown.ends_with(".. }"));
        assert!(!shown.contains('['), "no byte arrays: {shown}");
    }

    #[test]
    fn signer_certificate_validity_serial_and_signature() {
        let (ks, material) = dev_ca();
        let key = ks.generate("alice", KeyKind::EcP256).unwrap();
        let issuing = X509::from_der(&material.issuing_cert_der).unwrap();

        let der = issue_signer_certificate(
            &ks,
            &material,
            "Alice",
            &key.public_key_der,
            &[0xff; SERIAL_LEN],
            NOW,
            30,
        )
        .unwrap();
        let leaf = X509::from_der(&der).unwrap();
        assert!(leaf.verify(&issuing.public_key().unwrap()).unwrap());
        assert_eq!(
            leaf.signature_algorithm().object().nid(),
            Nid::ECDSA_WITH_SHA256
        );
        assert_eq!(
            leaf.public_key().unwrap().public_key_to_der().unwrap(),
            key.public_key_der
        );
        let mut expected = [0xff; SERIAL_LEN];
        expected[0] = 0x7f;
        assert_eq!(
            leaf.serial_number().to_bn().unwrap(),
            BigNum::from_slice(&expected).unwrap()
        );
        assert!(same_time(leaf.not_before(), &time(NOW - 300)));
        assert!(same_time(leaf.not_after(), &time(NOW + 30 * DAY_SECONDS)));

        // Never beyond the issuing CA.
        let long = issue_signer_certificate(
            &ks,
            &material,
            "Alice",
            &key.public_key_der,
            &serial(),
            NOW,
            100_000,
        )
        .unwrap();
        let long = X509::from_der(&long).unwrap();
        assert!(same_time(long.not_after(), issuing.not_after()));
    }

    #[test]
    fn names_are_validated() {
        let (ks, material) = dev_ca();
        let key = ks.generate("alice", KeyKind::EcP256).unwrap();
        let issue = |name: &str| {
            issue_signer_certificate(&ks, &material, name, &key.public_key_der, &serial(), NOW, 1)
        };
        for bad in [
            "Alice\nCN=Mallory",
            "Alice\r",
            "Ali\0ce",
            "Al\tice",
            "Alice\u{7f}",
            "Alice\u{85}",
            "\u{202e}ecilA",
            "Alice\u{2066}",
        ] {
            assert!(
                matches!(issue(bad), Err(DevCaError::ControlCharacter)),
                "{bad:?}"
            );
        }
        assert!(matches!(issue(""), Err(DevCaError::EmptyName)));
        assert!(matches!(issue("   "), Err(DevCaError::EmptyName)));
        assert!(matches!(
            issue(&"a".repeat(MAX_COMMON_NAME_CHARS + 1)),
            Err(DevCaError::NameTooLong)
        ));
        // The cap counts characters, not bytes; commas and equals signs are just characters.
        issue(&"é".repeat(MAX_COMMON_NAME_CHARS)).unwrap();
        let der = issue("Doe, John + O=Evil").unwrap();
        let leaf = X509::from_der(&der).unwrap();
        let cns: Vec<_> = leaf
            .subject_name()
            .entries_by_nid(Nid::COMMONNAME)
            .map(|e| e.data().to_string().unwrap())
            .collect();
        assert_eq!(cns, ["Doe, John + O=Evil"]);
        let orgs: Vec<_> = leaf
            .subject_name()
            .entries_by_nid(Nid::ORGANIZATIONNAME)
            .map(|e| e.data().to_string().unwrap())
            .collect();
        assert_eq!(orgs, [ORGANIZATION]);
    }

    #[test]
    fn bad_serials_times_keys_and_issuers_are_refused() {
        let (ks, material) = dev_ca();
        let key = ks.generate("alice", KeyKind::EcP256).unwrap();
        let spki = &key.public_key_der;
        let issue =
            |material: &DevCaMaterial, spki: &[u8], serial: &[u8; SERIAL_LEN], now, days| {
                issue_signer_certificate(&ks, material, "Alice", spki, serial, now, days)
            };
        assert!(matches!(
            issue(&material, spki, &[0; SERIAL_LEN], NOW, 1),
            Err(DevCaError::ZeroSerial)
        ));
        let mut top_only = [0; SERIAL_LEN];
        top_only[0] = 0x80;
        assert!(matches!(
            issue(&material, spki, &top_only, NOW, 1),
            Err(DevCaError::ZeroSerial)
        ));
        assert!(matches!(
            issue(&material, spki, &serial(), NOW, 0),
            Err(DevCaError::ZeroValidity)
        ));
        assert!(matches!(
            issue(&material, spki, &serial(), NOW - 3600, 1),
            Err(DevCaError::IssuerNotValid)
        ));
        assert!(matches!(
            issue(&material, spki, &serial(), NOW + 3654 * DAY_SECONDS, 1),
            Err(DevCaError::IssuerNotValid)
        ));
        assert!(matches!(
            issue(&material, spki, &serial(), i64::MAX, 1),
            Err(DevCaError::ValidityOutOfRange)
        ));

        assert!(matches!(
            issue(&material, b"not a key", &serial(), NOW, 1),
            Err(DevCaError::InvalidPublicKey)
        ));
        let mut trailing = spki.clone();
        trailing.push(0);
        assert!(matches!(
            issue(&material, &trailing, &serial(), NOW, 1),
            Err(DevCaError::InvalidPublicKey)
        ));
        let weak = PKey::from_rsa(Rsa::generate(1024).unwrap())
            .unwrap()
            .public_key_to_der()
            .unwrap();
        assert!(matches!(
            issue(&material, &weak, &serial(), NOW, 1),
            Err(DevCaError::UnsupportedPublicKey)
        ));

        // An issuing certificate that is not the issuing key's.
        let mut swapped = material.clone();
        swapped.issuing_cert_der = material.root_cert_der.clone();
        assert!(matches!(
            issue(&swapped, spki, &serial(), NOW, 1),
            Err(DevCaError::InvalidIssuer)
        ));
        // An issuing key under the wrong key id does not unwrap.
        let mut moved = material.clone();
        moved.issuing_key_id = ROOT_KEY_ID.to_owned();
        assert!(matches!(
            issue(&moved, spki, &serial(), NOW, 1),
            Err(DevCaError::Keystore(KeystoreError::Unwrap))
        ));
    }
}
