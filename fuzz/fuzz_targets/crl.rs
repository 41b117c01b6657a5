//! A CRL fetched from a distribution point: parse it and run the whole check for the fixture
//! certificate.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use signer::crl;
use signer::ocsp::Freshness;

fuzz_target!(|data: &[u8]| {
    let _ = crl::parse(data);
    let fresh = Freshness::at(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let _ = crl::check_crl(
        data,
        include_bytes!("../fixtures/leaf.der"),
        include_bytes!("../fixtures/ca.der"),
        &fresh,
    );
});
