#![no_main]
//! Fuzz target: see `forkv::fuzzing::execute_commands`.

#[global_allocator]
static ALLOC: forkv::fuzzing::CappedAlloc = forkv::fuzzing::CappedAlloc;

libfuzzer_sys::fuzz_target!(|data: &[u8]| forkv::fuzzing::execute_commands(data));
