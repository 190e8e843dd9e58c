//! `cargo fuzz run patch_apply`: see `scim::fuzz::patch_apply` for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scim::fuzz::patch_apply(data));
