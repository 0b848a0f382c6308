//! Bucket arrays for [`Dict`](super::dict::Dict): arrays of empty links that
//! cost nothing to create, and that can be handed back to the OS a slice at
//! a time.
//!
//! Small arrays come from the allocator. Large ones come from their own
//! anonymous mapping: the allocator would hand out memory it has used
//! before and so must clear with `memset` — for the 2 MiB array of a table
//! growing past 131,072 keys that stopped the loop for 1.6 ms, mostly in
//! page faults taken all at once. Fresh pages are zero already, and each is
//! faulted in only when a bucket on it is first written, spread over the
//! incremental migration. Mapped bytes are counted in `used_memory`.
//!
//! Arrays sized up front by the snapshot loader may use huge pages (when
//! [`crate::alloc::huge_tables`] allows): lookups then hit the TLB (a
//! 128 MiB array spans 64 huge pages instead of 32,768 small ones, far
//! beyond the TLB's reach) and fork copies one entry per 2 MiB. In a
//! 10M-key load that took 15% off the time; fork at 5M keys under writes
//! went from 18 ms to 12 ms (medians of six saves; single forks vary by
//! ±40% on this VM). Arrays allocated while clients are served do
//! not: each huge page fault zeroes 2 MiB at once, and on a VM's fresh
//! memory one took 5 ms (a table growing past 1M keys stalled SETs for 5 ms
//! each, 6 in a row), where small pages spread the same cost thinly.

use std::ptr::NonNull;

/// Arrays of at least this many bytes get their own mapping.
const MAP_MIN_BYTES: usize = 128 * 1024;
const PAGE: usize = 4096;
/// Huge page size (x86-64 and arm64 with 4 KiB base pages).
const HUGE: usize = 2 << 20;

/// A fixed-size array of `Option<Box<N>>`, created all `None`.
///
/// Dropping it frees the memory without dropping the elements: the owner
/// empties every link first (a leak otherwise, never a double free).
pub(super) struct Buckets<N> {
    ptr: NonNull<Option<Box<N>>>,
    /// Live elements: `[0, len)`.
    len: usize,
    /// Elements the memory was allocated for.
    cap: usize,
    /// True when the memory is a private anonymous mapping of its own.
    mapped: bool,
}

impl<N> Buckets<N> {
    /// An empty array; allocates nothing.
    pub(super) const fn new() -> Self {
        Buckets {
            ptr: NonNull::dangling(),
            len: 0,
            cap: 0,
            mapped: false,
        }
    }

    /// `n` empty links; `huge_ok` lets an array of 2 MiB or more use huge
    /// pages.
    pub(super) fn zeroed(n: usize, huge_ok: bool) -> Self {
        if n == 0 {
            return Self::new();
        }
        let layout = std::alloc::Layout::array::<Option<Box<N>>>(n).expect("bucket array size");
        let bytes = layout.size();
        let (raw, mapped) = if bytes >= MAP_MIN_BYTES {
            let p = map_zeroed(
                bytes,
                huge_ok && bytes >= HUGE && crate::alloc::huge_tables(),
            );
            if p.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            crate::alloc::add_mapped(bytes);
            (p as *mut Option<Box<N>>, true)
        } else {
            // SAFETY: `layout` has a non-zero size.
            let p = unsafe { std::alloc::alloc_zeroed(layout) } as *mut Option<Box<N>>;
            (p, false)
        };
        let Some(ptr) = NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout);
        };
        // `Option<Box<N>>` is guaranteed to use the null pointer for `None`,
        // so all-zero memory holds `n` valid `None`s.
        Buckets {
            ptr,
            len: n,
            cap: n,
            mapped,
        }
    }

    /// Bytes of memory the array was created with.
    pub(super) fn bytes(&self) -> usize {
        self.cap * std::mem::size_of::<Option<Box<N>>>()
    }

    /// Forgets the last element, which must be `None`; its memory stays
    /// until the array is dropped.
    pub(super) fn pop_empty(&mut self) {
        debug_assert!(self.last().is_some_and(|l| l.is_none()));
        self.len = self.len.saturating_sub(1);
    }

    /// Forgets every element, which must all be `None` (an empty table's),
    /// so [`Buckets::release`] may give the memory back.
    pub(super) fn clear_empty(&mut self) {
        self.len = 0;
    }

    /// Returns the whole pages inside bytes `[from, from + len)` of the
    /// array's memory to the OS. Only once the array holds no elements
    /// (after [`Buckets::clear_empty`]): the pages read back as zero.
    pub(super) fn release(&mut self, from: usize, len: usize) {
        debug_assert_eq!(self.len, 0);
        let start = self.ptr.as_ptr() as usize + from;
        let a = (start + PAGE - 1) & !(PAGE - 1);
        let b = (start + len.min(self.bytes().saturating_sub(from))) & !(PAGE - 1);
        if self.len == 0 && b > a {
            // SAFETY: [a, b) lies inside this array's memory, which holds
            // no live element; MADV_DONTNEED only replaces those pages with
            // zero pages.
            unsafe {
                libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_DONTNEED);
            }
        }
    }
}

/// A fresh private anonymous mapping of `bytes` (zero-filled), aligned to
/// and advised to use huge pages when `huge`; null on failure.
fn map_zeroed(bytes: usize, huge: bool) -> *mut libc::c_void {
    let extra = if huge { HUGE } else { 0 };
    // SAFETY: a fresh private anonymous mapping; no address hint.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes + extra,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return std::ptr::null_mut();
    }
    if !huge {
        return p;
    }
    // Trim the mapping to a 2 MiB-aligned range of `bytes` so every huge
    // page of the array can be mapped whole.
    let start = p as usize;
    let aligned = (start + HUGE - 1) & !(HUGE - 1);
    let head = aligned - start;
    let tail = extra - head;
    // SAFETY: both ranges lie inside the mapping just created and are not
    // used; the array keeps `[aligned, aligned + bytes)`.
    unsafe {
        if head > 0 {
            libc::munmap(p, head);
        }
        if tail > 0 {
            libc::munmap((aligned + bytes) as *mut libc::c_void, tail);
        }
        libc::madvise(aligned as *mut libc::c_void, bytes, libc::MADV_HUGEPAGE);
    }
    aligned as *mut libc::c_void
}

impl<N> std::ops::Deref for Buckets<N> {
    type Target = [Option<Box<N>>];
    fn deref(&self) -> &Self::Target {
        // SAFETY: `[0, len)` are initialized elements of this allocation
        // (or `len` is 0 and `ptr` is dangling but aligned).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<N> std::ops::DerefMut for Buckets<N> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        // SAFETY: as in `deref`, and `&mut self` makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<N> Drop for Buckets<N> {
    fn drop(&mut self) {
        if self.cap == 0 {
            return;
        }
        let bytes = self.bytes();
        if self.mapped {
            // SAFETY: the mapping was created in `zeroed` with this size and
            // nothing refers to it any more.
            unsafe { libc::munmap(self.ptr.as_ptr() as *mut libc::c_void, bytes) };
            crate::alloc::sub_mapped(bytes);
        } else {
            let layout = std::alloc::Layout::array::<Option<Box<N>>>(self.cap)
                .expect("layout was valid at allocation");
            // SAFETY: allocated in `zeroed` with this layout.
            unsafe { std::alloc::dealloc(self.ptr.as_ptr() as *mut u8, layout) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_mapped_arrays_start_empty_and_account_their_bytes() {
        for n in [1usize, 1000, MAP_MIN_BYTES / 8, 1 << 20] {
            let mut b: Buckets<u64> = Buckets::zeroed(n, n > 1000);
            assert_eq!(b.len(), n);
            assert!(b.iter().all(|l| l.is_none()));
            b[n - 1] = Some(Box::new(7));
            assert_eq!(b[n - 1].as_deref(), Some(&7));
            b[n - 1] = None;
            assert_eq!(b.mapped, n * 8 >= MAP_MIN_BYTES);
            b.pop_empty();
            assert_eq!(b.len(), n - 1);
            b.clear_empty();
            b.release(0, b.bytes());
        }
    }
}
