//! The PDF path on untrusted bytes: parse, prepare a signature, fill it, and read the result
//! back for a DSS. Anything may fail with an error; nothing may panic, and a prepared update
//! must leave the input as an exact prefix.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pades::inspect(data);
    let _ = pades::signature_contents(data);
    let mut options = pades::SignatureOptions::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    options.contents_capacity = 64;
    options.visible = Some(pades::Visible { page: 0, rect: [10.0, 10.0, 110.0, 60.0] });
    let Ok(prepared) = pades::prepare(data, &options) else {
        return;
    };
    let Ok(signed) = prepared.finish(&[0x30, 0x03, 0x02, 0x01, 0x00]) else {
        return;
    };
    let mut whole = data.to_vec();
    assert!(signed.append_to(&mut whole).is_ok());
    assert!(whole.starts_with(data));
    // The signed file must read back, with one more signature than before.
    let before = pades::signature_contents(data).map(|s| s.len()).unwrap_or(0);
    let after = pades::signature_contents(&whole).map(|s| s.len());
    assert_eq!(after.ok(), Some(before + 1));
    let _ = pades::add_dss(&whole, &pades::ValidationData { vri: true, ..Default::default() });
});
