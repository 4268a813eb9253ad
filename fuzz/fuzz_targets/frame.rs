//! Fuzzes the frame parser; the invariants are `tabhub_fuzz::check_frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tabhub_fuzz::check_frame(data));
