//! Memory: the allocator (mimalloc) wrapped to count the bytes it actually
//! hands out (usable size, slack included), which INFO reports as
//! `used_memory`, and readers for RSS.
//!
//! mimalloc rather than the system allocator because its size classes carry
//! no per-allocation header: a 64-byte keyspace entry takes 64 bytes, not
//! glibc's 80, which is 16 bytes less per key. It is built without its own
//! transparent-huge-page advice (feature `no_thp`): which memory gets huge
//! pages is decided here, in [`setup_huge_pages`].

use mimalloc::MiMalloc;
use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static USED: AtomicUsize = AtomicUsize::new(0);

/// The counting allocator. Install it with `#[global_allocator]` in a binary.
pub struct Counting;

/// The allocator being counted.
static INNER: MiMalloc = MiMalloc;

#[inline]
fn usable(p: *mut u8) -> usize {
    // SAFETY: `p` was returned by mimalloc and is still allocated.
    unsafe { libmimalloc_sys::mi_usable_size(p as *const std::ffi::c_void) }
}

// SAFETY: delegates every call to mimalloc and only keeps a counter on the
// side, measured with mi_usable_size on live pointers.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { INNER.alloc(layout) };
        if !p.is_null() {
            USED.fetch_add(size_of_block(p, layout), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { INNER.alloc_zeroed(layout) };
        if !p.is_null() {
            USED.fetch_add(size_of_block(p, layout), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        USED.fetch_sub(size_of_block(ptr, layout), Ordering::Relaxed);
        unsafe { INNER.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = size_of_block(ptr, layout);
        let p = unsafe { INNER.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            USED.fetch_sub(old, Ordering::Relaxed);
            let nl = Layout::from_size_align(new_size, layout.align()).unwrap_or(layout);
            USED.fetch_add(size_of_block(p, nl), Ordering::Relaxed);
        }
        p
    }
}

#[inline]
fn size_of_block(p: *mut u8, _layout: Layout) -> usize {
    usable(p)
}

/// Bytes currently allocated through the counting allocator (0 if it is
/// not installed).
pub fn used_memory() -> usize {
    USED.load(Ordering::Relaxed)
}

/// Counts `bytes` of memory mapped outside the allocator (large hash table
/// bucket arrays) in `used_memory`.
pub fn add_mapped(bytes: usize) {
    USED.fetch_add(bytes, Ordering::Relaxed);
}

/// Stops counting `bytes` given to [`add_mapped`] once they are unmapped.
pub fn sub_mapped(bytes: usize) {
    USED.fetch_sub(bytes, Ordering::Relaxed);
}

static HUGE_TABLES: AtomicBool = AtomicBool::new(false);

/// `prctl` flag (Linux 6.18): disable THP except where `madvise` asks.
const PR_THP_DISABLE_EXCEPT_ADVISED: libc::c_ulong = 1 << 1;

/// Decides, once at startup, which memory may use transparent huge pages.
///
/// The heap never asks for them. Since Linux 5.8 a write to a huge page
/// shared with a fork child splits the mapping and copies 4 KiB, not 2 MiB,
/// so huge pages no longer multiply copy-on-write; they still make each
/// page fault zero 2 MiB and keep partly used memory resident, which is why
/// the heap keeps small pages. Large bucket arrays sized by the snapshot
/// loader do use them (see [`huge_tables`] and `db/buckets.rs`): every
/// lookup reads one random bucket, and with 4 KiB pages that is a TLB miss
/// per lookup and one page-table entry per 512 buckets for `fork()` to
/// copy.
///
/// `disable_thp` (Redis's `disable-thp`, default yes) turns huge pages off
/// for the rest of the process: with the kernel's "except advised" mode
/// when it has one, else completely when the system mode is `always`.
pub fn setup_huge_pages(disable_thp: bool) {
    let mode = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        .ok()
        .and_then(|s| {
            let start = s.find('[')? + 1;
            let end = s[start..].find(']')? + start;
            Some(s[start..end].to_string())
        })
        .unwrap_or_else(|| "never".into());
    let splits_on_cow = kernel_at_least(5, 8);
    let tables = if disable_thp {
        // SAFETY: prctl with integer arguments only.
        let except_advised = unsafe {
            libc::prctl(
                libc::PR_SET_THP_DISABLE,
                1 as libc::c_ulong,
                PR_THP_DISABLE_EXCEPT_ADVISED,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            )
        } == 0;
        if except_advised {
            splits_on_cow
        } else if mode == "always" {
            // SAFETY: as above.
            if unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) } != 0 {
                tracing::warn!("Failed to disable transparent huge pages for this process");
            }
            false
        } else {
            splits_on_cow && mode == "madvise"
        }
    } else {
        splits_on_cow && mode != "never"
    };
    HUGE_TABLES.store(tables, Ordering::Relaxed);
}

/// True when large hash table bucket arrays should ask for huge pages.
pub fn huge_tables() -> bool {
    HUGE_TABLES.load(Ordering::Relaxed)
}

fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (a, b) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

/// Resident set size of this process in bytes.
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    pages * page
}

/// Physical memory of the machine in bytes.
pub fn total_system_memory() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    (pages.max(0) as u64) * (size.max(0) as u64)
}

/// Bytes this process can still allocate before the system says no, as
/// far as it can tell: the least of the address space left under
/// `RLIMIT_AS`, the cgroup's `memory.max` headroom (cgroup v2) and the
/// machine's `MemAvailable` plus free swap. `None` when none is known.
/// A guess for refusing obviously impossible requests up front (DEBUG
/// POPULATE), not a promise that smaller ones succeed.
pub fn headroom() -> Option<u64> {
    let mut least: Option<u64> = None;
    let mut bound = |v: u64| least = Some(least.map_or(v, |l| l.min(v)));
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) } == 0
        && lim.rlim_cur != libc::RLIM_INFINITY
    {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let vm = kib_field(&status, "VmSize:").unwrap_or(0);
        bound(lim.rlim_cur.saturating_sub(vm));
    }
    let read = |p: &str| std::fs::read_to_string(p).ok();
    if let (Some(max), Some(cur)) = (
        read("/sys/fs/cgroup/memory.max"),
        read("/sys/fs/cgroup/memory.current"),
    ) && let (Ok(max), Ok(cur)) = (max.trim().parse::<u64>(), cur.trim().parse::<u64>())
    {
        bound(max.saturating_sub(cur));
    }
    if let Some(info) = read("/proc/meminfo")
        && let Some(avail) = kib_field(&info, "MemAvailable:")
    {
        bound(avail.saturating_add(kib_field(&info, "SwapFree:").unwrap_or(0)));
    }
    least
}

/// A `Name:   123 kB` field of a /proc file, in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line[name.len()..].split_whitespace().next()?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}
