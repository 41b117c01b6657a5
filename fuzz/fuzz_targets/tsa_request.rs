//! A request to the built-in TSA: parse it and build (not sign) a token for it.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use signer::tsp::TsaSigner;

fuzz_target!(|data: &[u8]| {
    let Ok(req) = TsaSigner::parse_request(data) else {
        return;
    };
    let Ok(tsa) = TsaSigner::new(
        include_bytes!("../fixtures/tsa.der"),
        vec![],
        der::asn1::ObjectIdentifier::new_unwrap("1.2.3.4"),
        None,
        signer::SignatureAlgorithm::Ecdsa(signer::DigestAlgorithm::Sha256),
    ) else {
        return;
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    if let Ok(p) = tsa.prepare(&req, UNIX_EPOCH + Duration::from_secs(1_800_000_000), &mut rng) {
        let _ = p.to_be_signed();
        let _ = p.finish(&[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]);
    }
});
