//! Process-level settings: allocator tuning ([`tune_allocator`], [`HeapOnly`] during growth),
//! libtorch's CPU threads and the threads of growth's host linear algebra (docs/tiny.md §8,
//! "Threads", "The allocator").
//!
//! ```
//! use grownet::runtime::linalg_threads;
//! assert_eq!(linalg_threads(None, true), 1); // a CPU run: faer on the calling thread
//! assert_eq!(linalg_threads(Some(4), true), 4); // as asked
//! assert!(linalg_threads(None, false) >= 1); // beside a GPU: every core
//! ```
use std::sync::atomic::{AtomicBool, Ordering};

/// Raises glibc's mmap threshold and disables trimming, so large tensor buffers are reused
/// instead of being mapped and unmapped every step, and lets [`HeapOnly`] act. Equivalent to
/// `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967295`.
/// Set `GROWNET_NO_MALLOPT=1` to compare without it.
pub fn tune_allocator() -> bool {
    if std::env::var_os("GROWNET_NO_MALLOPT").is_some() {
        return false;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called once at start-up.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        // The guard leaves a user's MALLOC_MMAP_MAX_ alone.
        let user_set = std::env::var_os("MALLOC_MMAP_MAX_").is_some();
        HEAP_GUARD.store(!user_set, Ordering::Relaxed);
        return true;
    }
    #[allow(unreachable_code)]
    false
}

/// Whether a [`HeapOnly`] guard changes the allocator's setting: [`tune_allocator`] ran and
/// `MALLOC_MMAP_MAX_` is not set in the environment (read once, at start-up).
static HEAP_GUARD: AtomicBool = AtomicBool::new(false);

/// glibc's default for `M_MMAP_MAX` (the most buffers mapped at once).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const DEFAULT_MMAP_MAX: i32 = 65_536;

/// While alive, glibc serves every allocation from its heap (`M_MMAP_MAX = 0`) instead of
/// mapping each buffer above the mmap threshold afresh, with pages the kernel clears; when
/// dropped, large buffers are mapped again. Growth's previews of a conv site allocate
/// activations of 100 MiB and more many times a check (docs/tiny.md §8, "The allocator"):
/// scoped to a growth check they reuse the same memory, and training keeps glibc's behaviour.
/// The heap keeps what it grew to (trimming is off, [`tune_allocator`]): returning it after
/// every check made the next one clear its pages again. It covers the main thread's
/// allocations (glibc's other arenas map a buffer larger than their 64 MiB heaps whatever the
/// setting), where growth allocates its tensors. Inactive unless [`tune_allocator`] ran, and
/// when `MALLOC_MMAP_MAX_` is set in the environment (the user's choice stands). Guards do not
/// nest: the first one dropped maps large buffers again.
pub struct HeapOnly {
    active: bool,
}

impl HeapOnly {
    /// Serves large buffers from the heap until the guard is dropped (when active).
    pub fn new() -> Self {
        let active = HEAP_GUARD.load(Ordering::Relaxed);
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        if active {
            // SAFETY: mallopt only changes an allocator parameter.
            unsafe {
                libc::mallopt(libc::M_MMAP_MAX, 0);
            }
        }
        HeapOnly { active }
    }

    /// Whether this guard changed the allocator's setting.
    pub fn is_active(&self) -> bool {
        self.active
    }
}

impl Default for HeapOnly {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for HeapOnly {
    fn drop(&mut self) {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        if self.active {
            // SAFETY: mallopt only changes an allocator parameter.
            unsafe {
                libc::mallopt(libc::M_MMAP_MAX, DEFAULT_MMAP_MAX);
            }
        }
    }
}

/// Threads for libtorch's CPU kernels: `requested`, or automatically one thread when a batch
/// is too small to split profitably (fewer than ~2·10⁷ multiply-adds), else every core.
/// Small models on several threads spend their time synchronising: the built-in spirals run
/// is ~50× faster on one thread than on two busy cores.
pub fn auto_threads(requested: Option<usize>, flops_per_sample: i64, batch_size: usize) -> usize {
    if let Some(n) = requested {
        return n.max(1);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if (flops_per_sample / 2).saturating_mul(batch_size as i64) < 20_000_000 {
        1
    } else {
        cores
    }
}

/// Threads for growth's host linear algebra (faer): `requested`, or automatically one when
/// libtorch computes on the CPU and every core beside a GPU. On the CPU libtorch's OpenMP
/// threads hold the cores, busy-waiting between operations, and a second pool of threads
/// mostly waits for them: on the 2-core machine the automatic MNIST recipe's decompositions
/// take half the time on one thread (docs/tiny.md §8, "Threads").
pub fn linalg_threads(requested: Option<usize>, on_cpu: bool) -> usize {
    match requested {
        Some(n) => n.max(1),
        None if on_cpu => 1,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

/// Sets faer's global parallelism to `n` threads (1: on the calling thread). faer's results
/// round differently with another number of threads.
pub fn set_linalg_threads(n: usize) {
    let par = match std::num::NonZeroUsize::new(n) {
        Some(n) if n.get() > 1 => faer::Par::Rayon(n),
        _ => faer::Par::Seq,
    };
    if faer::get_global_parallelism() != par {
        faer::set_global_parallelism(par);
    }
}

/// Applies [`auto_threads`] to libtorch (CPU only; CUDA kernels are unaffected).
pub fn set_threads(requested: Option<usize>, flops_per_sample: i64, batch_size: usize) {
    let n = auto_threads(requested, flops_per_sample, batch_size) as i32;
    if tch::get_num_threads() != n {
        tch::set_num_threads(n);
    }
}
