//! A request to the development CA's OCSP responder: parse it and read its nonce.
#![no_main]

use der::Decode;
use libfuzzer_sys::fuzz_target;
use signer::ocsp::{self, OcspRequest};

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = OcspRequest::from_der(data) {
        let _ = ocsp::request_nonce(&req);
    }
});
