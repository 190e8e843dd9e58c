//! `cargo fuzz run filter`: see `scim::fuzz::filter` for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scim::fuzz::filter(data));
