//! The development CA (NOT QUALIFIED): a root and an issuing CA for the embedded default.
