//! Integration tests live in `src/main.rs` (one binary).
