//! Process-level settings: allocator tuning (stack.md, "Allocator").

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

/// Applies [`auto_threads`] to libtorch (CPU only; CUDA kernels are unaffected).
pub fn set_threads(requested: Option<usize>, flops_per_sample: i64, batch_size: usize) {
    let n = auto_threads(requested, flops_per_sample, batch_size) as i32;
    if tch::get_num_threads() != n {
        tch::set_num_threads(n);
    }
}
