//! Fuzzes the event parser; the invariants are `tabhub_fuzz::check_event`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tabhub_fuzz::check_event(data));
