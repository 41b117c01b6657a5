//! Declares the `fuzzing` cfg that cargo-fuzz sets, so `cfg(fuzzing)` is a known name.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(fuzzing)");
}
