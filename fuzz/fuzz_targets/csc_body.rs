//! CSC request bodies from platforms: parse, then read every field the endpoints read, under
//! both the v1 and the v2 names. Errors are fine; panics are not.
#![no_main]

use csc_api::body::{Body, decode_b64};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = decode_b64(s);
    }
    let Ok(body) = Body::parse(data) else {
        return;
    };
    let _ = body.req_str(&["credentialID"]);
    let _ = body.opt_str(&["hashAlgorithmOID", "hashAlgo"]);
    let _ = body.req_int("numSignatures");
    let _ = body.opt_int("maxResults");
    let _ = body.opt_bool("rememberMe");
    let _ = body.hashes(true);
    let _ = body.hashes(false);
    let _ = body.opt_b64(&["signAlgoParams"]);
    let _ = body.opt_secret(&["SAD"]);
    let _ = body.auth_factor("PIN");
    let _ = body.auth_factor("OTP");
});
