//! A cheap monotonic tick counter for per-command timing (INFO
//! commandstats). Reading the clock through the vDSO twice per command cost
//! several percent of a pipelined workload; the CPU's time-stamp counter is
//! a single instruction. Ticks are converted to microseconds with a factor
//! measured once against `Instant`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Current tick count.
#[inline]
pub fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC has no preconditions on x86-64.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

/// Ticks per microsecond, measured on first use (about 10 ms).
fn ticks_per_us() -> f64 {
    static F: OnceLock<f64> = OnceLock::new();
    *F.get_or_init(|| {
        let (t0, i0) = (ticks(), Instant::now());
        while i0.elapsed() < Duration::from_millis(10) {
            std::hint::spin_loop();
        }
        let dt = ticks().wrapping_sub(t0) as f64;
        let us = i0.elapsed().as_secs_f64() * 1e6;
        if dt > 0.0 && us > 0.0 {
            dt / us
        } else {
            1000.0
        }
    })
}

/// Calibrates the tick rate now, so no command pays for it later.
pub fn calibrate() {
    ticks_per_us();
}

/// Microseconds between two tick readings.
#[inline]
pub fn micros(start: u64, end: u64) -> u64 {
    (end.wrapping_sub(start) as f64 / ticks_per_us()) as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn measures_roughly_right() {
        super::calibrate();
        let t0 = super::ticks();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let us = super::micros(t0, super::ticks());
        assert!((15_000..200_000).contains(&us), "{us}");
    }
}
