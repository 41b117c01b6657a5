//! A TSA's answer: parse the TimeStampResp and run every check the client makes against the
//! fixture request (status, token, imprint, nonce, TSA certificate, signature).
#![no_main]

use der::Decode;
use libfuzzer_sys::fuzz_target;
use signer::tsp::{self, TimeStampReq};

fuzz_target!(|data: &[u8]| {
    let Ok(req) = TimeStampReq::from_der(include_bytes!("../fixtures/tsa-query.der")) else {
        return;
    };
    let _ = tsp::check_response(&req, data);
});
