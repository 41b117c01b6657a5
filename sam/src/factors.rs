//! The knowledge and possession factors the SAM checks itself: PINs and passwords (argon2id) and
//! TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps, one step of drift either way).

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use openssl::pkey::PKey;
use openssl::sign::Signer;
use secrecy::{ExposeSecret, SecretString};

use crate::SamError;

/// Hashes a PIN or password with argon2id and a random salt (PHC string).
pub fn hash_secret(secret: &SecretString) -> Result<String, SamError> {
    let mut salt_bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt_bytes);
    let hash: PasswordHash = Argon2::default()
        .hash_password_with_salt(secret.expose_secret().as_bytes(), &salt_bytes)
        .map_err(|_| SamError::Backend("argon2 hashing failed".into()))?;
    Ok(hash.to_string())
}

/// Checks a PIN or password against its argon2id hash.
pub fn verify_secret(secret: &SecretString, phc: &str) -> bool {
    Argon2::default()
        .verify_password(secret.expose_secret().as_bytes(), phc)
        .is_ok()
}

/// A PIN as operators set it: 4 to 32 characters, digits or not.
pub fn check_pin_policy(pin: &SecretString) -> Result<(), SamError> {
    let n = pin.expose_secret().chars().count();
    if !(4..=32).contains(&n) || pin.expose_secret().chars().any(char::is_control) {
        return Err(SamError::InvalidRequest(
            "PIN must be 4 to 32 printable characters",
        ));
    }
    Ok(())
}

pub const TOTP_STEP_SECONDS: i64 = 30;
pub const TOTP_DIGITS: u32 = 6;

/// The TOTP code for one time step.
pub fn totp_code(secret: &[u8], step: i64) -> Result<u32, SamError> {
    let key = PKey::hmac(secret).map_err(|e| SamError::Backend(e.to_string()))?;
    let mut signer = Signer::new(openssl::hash::MessageDigest::sha1(), &key)
        .map_err(|e| SamError::Backend(e.to_string()))?;
    signer
        .update(&step.to_be_bytes())
        .map_err(|e| SamError::Backend(e.to_string()))?;
    let mac = signer
        .sign_to_vec()
        .map_err(|e| SamError::Backend(e.to_string()))?;
    let offset = usize::from(mac.last().copied().unwrap_or(0) & 0x0f);
    let word: [u8; 4] = mac
        .get(offset..offset + 4)
        .and_then(|w| w.try_into().ok())
        .ok_or_else(|| SamError::Backend("short HMAC".into()))?;
    let bin = u32::from_be_bytes(word) & 0x7fff_ffff;
    Ok(bin % 10u32.pow(TOTP_DIGITS))
}

/// Checks a TOTP code at `now_s` with one step of drift; returns the matching step, so the
/// caller can refuse its reuse.
pub fn verify_totp(
    secret: &[u8],
    code: &SecretString,
    now_s: i64,
) -> Result<Option<i64>, SamError> {
    let given = code.expose_secret().trim();
    if given.len() != TOTP_DIGITS as usize || !given.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let given: u32 = given.parse().map_err(|_| SamError::AuthenticationFailed)?;
    let current = now_s.div_euclid(TOTP_STEP_SECONDS);
    for step in [current - 1, current, current + 1] {
        if totp_code(secret, step)? == given {
            return Ok(Some(step));
        }
    }
    Ok(None)
}

/// The otpauth:// URI an authenticator app enrols from (base32 secret, no padding).
pub fn otpauth_uri(secret: &[u8], account: &str, issuer: &str) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP_SECONDS}",
        percent(issuer),
        percent(account),
        base32(secret),
        percent(issuer)
    )
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn base32(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let symbol = |v: u32| char::from(ALPHABET.get((v & 31) as usize).copied().unwrap_or(b'A'));
    let mut out = String::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in data {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(symbol(buffer >> bits));
        }
    }
    if bits > 0 {
        out.push(symbol(buffer << (5 - bits)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 Appendix B, SHA-1 seed, last 6 digits.
        let seed = b"12345678901234567890";
        for (t, code) in [
            (59, 287082),
            (1111111109, 81804),
            (1234567890, 5924),
            (2000000000, 279037),
        ] {
            assert_eq!(totp_code(seed, t / 30).unwrap(), code, "t={t}");
        }
    }

    #[test]
    fn totp_accepts_one_step_of_drift_and_reports_the_step() {
        let seed = b"12345678901234567890";
        let now = 1_234_567_890;
        let prev = totp_code(seed, now / 30 - 1).unwrap();
        let step = verify_totp(seed, &SecretString::from(format!("{prev:06}")), now).unwrap();
        assert_eq!(step, Some(now / 30 - 1));
        let old = totp_code(seed, now / 30 - 2).unwrap();
        assert_eq!(
            verify_totp(seed, &SecretString::from(format!("{old:06}")), now).unwrap(),
            None
        );
        assert_eq!(
            verify_totp(seed, &SecretString::from("12a456".to_owned()), now).unwrap(),
            None
        );
    }

    #[test]
    fn argon2_round_trip() {
        let pin = SecretString::from("123456".to_owned());
        let h = hash_secret(&pin).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_secret(&pin, &h));
        assert!(!verify_secret(&SecretString::from("123457".to_owned()), &h));
    }

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert!(
            otpauth_uri(b"12345678901234567890", "alice", "qsign")
                .contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
        );
    }
}
