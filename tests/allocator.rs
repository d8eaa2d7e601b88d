//! `runtime::HeapOnly` in a process of its own and on its main thread (`harness = false`): the
//! setting and the count of mapped bytes it is checked against are process-wide, and glibc's
//! other arenas map a buffer larger than their 64 MiB heaps whatever the setting. A buffer
//! above glibc's mmap threshold gets its own mapping, except while a guard is alive; after the
//! guard, mapping comes back for buffers the heap cannot hold.

use grownet::runtime::{tune_allocator, HeapOnly};

/// Bytes glibc has mapped for buffers of their own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn mapped() -> usize {
    // SAFETY: mallinfo2 only reads the allocator's counters.
    unsafe { libc::mallinfo2().hblkhd }
}

/// Allocates and touches `bytes`, and returns how much the mapped bytes rose meanwhile.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn mapped_by(bytes: usize) -> usize {
    let before = mapped();
    let v = std::hint::black_box(vec![1u8; bytes]);
    let rose = mapped().saturating_sub(before);
    drop(v);
    rose
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn main() {
    large_buffers_come_from_the_heap_only_while_a_guard_is_alive();
    println!("allocator: large buffers come from the heap only while a guard is alive: ok");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn main() {
    println!("allocator: glibc only; nothing to check here");
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn large_buffers_come_from_the_heap_only_while_a_guard_is_alive() {
    let tuned = tune_allocator();
    let user_set = std::env::var_os("MALLOC_MMAP_MAX_").is_some();
    let big = 96 << 20; // above the 32 MiB threshold tune_allocator sets
    if !user_set {
        assert!(mapped_by(big) >= big, "mapped without a guard");
    }
    {
        let guard = HeapOnly::new();
        assert_eq!(guard.is_active(), tuned && !user_set);
        if guard.is_active() {
            assert_eq!(mapped_by(big), 0, "mapped under the guard");
        }
    }
    // The heap keeps what it grew to under the guard (trimming is off) and serves buffers
    // that fit in it; a larger one is mapped again.
    if !user_set {
        assert!(
            mapped_by(3 * big) >= 3 * big,
            "mapped again after the guard"
        );
    }
}
