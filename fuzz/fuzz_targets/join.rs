//! Fuzzes the join parser; the invariants are `tabhub_fuzz::check_join`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tabhub_fuzz::check_join(data));
