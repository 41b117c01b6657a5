//! CMS SignedData from outside (a signature handed back for extension, an embedded token): parse,
//! read every part, extend it, and encode it again. Errors are fine; panics are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signer::DigestAlgorithm;
use signer::cades::{CadesSignature, ValidationData};
use signer::tsp::TimeStampToken;

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = TimeStampToken::from_der(data) {
        let _ = token.tst_info();
        let _ = token.certificates();
        let _ = token.verify(None);
    }
    let Ok(mut sig) = CadesSignature::from_der(data) else {
        return;
    };
    let _ = sig.signature_value();
    let _ = sig.signature_timestamp_imprint(DigestAlgorithm::Sha256);
    let _ = sig.signature_timestamps();
    let _ = sig.validation_data();
    let _ = sig.certificates();
    let _ = sig.econtent();
    let _ = sig.add_signature_timestamp(data);
    let _ = sig.add_validation_data(&ValidationData {
        certificates: vec![include_bytes!("../fixtures/ca.der").to_vec()],
        crls: vec![],
        ocsp_responses: vec![],
    });
    if let Ok(der) = sig.to_der() {
        let _ = CadesSignature::from_der(&der);
    }
});
