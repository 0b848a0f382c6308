#![no_main]
//! Fuzz target: see `forkv::fuzzing::decode_requests`.

#[global_allocator]
static ALLOC: forkv::fuzzing::CappedAlloc = forkv::fuzzing::CappedAlloc;

libfuzzer_sys::fuzz_target!(|data: &[u8]| forkv::fuzzing::decode_requests(data));
