//! Key backends. Private to the SAM: nothing outside this crate can reach a sign operation.

pub(crate) mod software;
