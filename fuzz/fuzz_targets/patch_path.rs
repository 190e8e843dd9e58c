//! `cargo fuzz run patch_path`: see `scim::fuzz::patch_path` for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scim::fuzz::patch_path(data));
