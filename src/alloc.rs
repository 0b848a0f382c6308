//! Memory accounting: a global allocator wrapper that counts the bytes the
//! system allocator actually hands out (its usable size, slack included),
//! which INFO reports as `used_memory`, and readers for RSS.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

static USED: AtomicUsize = AtomicUsize::new(0);

/// The counting allocator. Install it with `#[global_allocator]` in a binary.
pub struct Counting;

#[inline]
fn usable(p: *mut u8) -> usize {
    // SAFETY: `p` was returned by the system allocator (malloc family).
    unsafe { libc::malloc_usable_size(p as *mut libc::c_void) }
}

// SAFETY: delegates to `System` and only keeps a counter on the side.
// Only layouts malloc can serve directly (alignment <= 16) are measured with
// malloc_usable_size; others are counted by their requested size.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            USED.fetch_add(size_of_block(p, layout), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            USED.fetch_add(size_of_block(p, layout), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        USED.fetch_sub(size_of_block(ptr, layout), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = size_of_block(ptr, layout);
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            USED.fetch_sub(old, Ordering::Relaxed);
            let nl = Layout::from_size_align(new_size, layout.align()).unwrap_or(layout);
            USED.fetch_add(size_of_block(p, nl), Ordering::Relaxed);
        }
        p
    }
}

#[inline]
fn size_of_block(p: *mut u8, layout: Layout) -> usize {
    if layout.align() <= 16 && layout.size() >= layout.align() {
        usable(p)
    } else {
        layout.size()
    }
}

/// Bytes currently allocated through the counting allocator (0 if it is
/// not installed).
pub fn used_memory() -> usize {
    USED.load(Ordering::Relaxed)
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
