#![no_main]
//! Fuzz target: see `forkv::fuzzing::load_snapshot`.

#[global_allocator]
static ALLOC: forkv::fuzzing::CappedAlloc = forkv::fuzzing::CappedAlloc;

libfuzzer_sys::fuzz_target!(|data: &[u8]| forkv::fuzzing::load_snapshot(data));
