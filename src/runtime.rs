//! Process-level settings: allocator tuning ([`tune_allocator`]), libtorch's CPU threads
//! and the threads of growth's host linear algebra (docs/tiny.md §8, "Threads").
//!
//! ```
//! use grownet::runtime::linalg_threads;
//! assert_eq!(linalg_threads(None, true), 1); // a CPU run: faer on the calling thread
//! assert_eq!(linalg_threads(Some(4), true), 4); // as asked
//! assert!(linalg_threads(None, false) >= 1); // beside a GPU: every core
//! ```

/// Raises glibc's mmap threshold and disables trimming, so large tensor buffers are reused
/// instead of being mapped and unmapped every step. Equivalent to
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
        return true;
    }
    #[allow(unreachable_code)]
    false
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
