//! `cargo fuzz run body`: see `scim::fuzz::body` for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scim::fuzz::body(data));
