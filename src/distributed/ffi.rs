//! The C ABI of `csrc/c10d_shim.cpp` and its one safe owner, [`ProcessGroup`]. C++ exceptions
//! come back as messages (never unwinding into Rust); a build without gloo's headers
//! (`grownet_no_c10d`) has the same API and refuses to create a group.
#[cfg_attr(grownet_no_c10d, allow(unused_imports))]
use std::ffi::{c_char, c_void, CStr, CString};

use tch::Tensor;

use crate::error::{Error, Result};

#[cfg(not(grownet_no_c10d))]
extern "C" {
    fn grownet_c10d_has_nccl() -> i32;
    #[allow(clippy::too_many_arguments)]
    fn grownet_c10d_new(
        backend: *const c_char,
        host: *const c_char,
        port: i32,
        rank: i32,
        size: i32,
        agent_store: i32,
        restart: i32,
        timeout_ms: i64,
        err: *mut *mut c_char,
    ) -> *mut c_void;
    fn grownet_c10d_free(pg: *mut c_void);
    fn grownet_c10d_free_message(s: *mut c_char);
    fn grownet_c10d_all_reduce_sum(pg: *mut c_void, t: *mut c_void, err: *mut *mut c_char) -> i32;
    fn grownet_c10d_broadcast(
        pg: *mut c_void,
        t: *mut c_void,
        root: i32,
        err: *mut *mut c_char,
    ) -> i32;
    fn grownet_c10d_barrier(pg: *mut c_void, err: *mut *mut c_char) -> i32;
    fn grownet_c10d_all_reduce_sum_differentiable(
        pg: *mut c_void,
        t: *mut c_void,
        err: *mut *mut c_char,
    ) -> *mut c_void;
    fn grownet_c10d_share(pg: *mut c_void) -> *mut c_void;
}

/// Where to find the group: the TCP store's address and this process's place in the group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendezvous {
    pub host: String,
    pub port: u16,
    pub rank: usize,
    pub size: usize,
    /// torchrun's agent hosts the store (`TORCHELASTIC_USE_AGENT_STORE`), under the prefix of
    /// this restart (`TORCHELASTIC_RESTART_COUNT`).
    pub agent_store: Option<u32>,
    pub timeout_ms: i64,
}

/// A c10d process group (with its store), freed on drop.
pub struct ProcessGroup {
    #[cfg_attr(grownet_no_c10d, allow(dead_code))]
    ptr: *mut c_void,
    /// Seconds a collective waits, for messages.
    #[cfg_attr(grownet_no_c10d, allow(dead_code))]
    timeout_s: f64,
}

// SAFETY: the group is used by one thread at a time (`&self` methods; `World` is not Sync);
// c10d's backends may be called from any thread.
unsafe impl Send for ProcessGroup {}

/// Whether this build has the c10d shim (gloo's headers were found at build time).
pub fn available() -> bool {
    cfg!(not(grownet_no_c10d))
}

/// Whether this build can create NCCL groups.
pub fn has_nccl() -> bool {
    #[cfg(not(grownet_no_c10d))]
    // SAFETY: no arguments, no state.
    unsafe {
        grownet_c10d_has_nccl() == 1
    }
    #[cfg(grownet_no_c10d)]
    false
}

#[cfg(not(grownet_no_c10d))]
fn message(err: *mut c_char) -> String {
    if err.is_null() {
        return "unknown error in the c10d shim".into();
    }
    // SAFETY: the shim returns a NUL-terminated malloc'd string, freed here once.
    unsafe {
        let s = CStr::from_ptr(err).to_string_lossy().into_owned();
        grownet_c10d_free_message(err);
        s
    }
}

#[cfg(not(grownet_no_c10d))]
fn check(rc: i32, err: *mut c_char, what: &str, timeout_s: f64) -> Result<()> {
    match rc {
        0 => Ok(()),
        _ => Err(Error::Dist(format!(
            "{what}: {} (another rank died, failed or hung; collectives wait {timeout_s} s, \
             --dist-timeout)",
            message(err).trim()
        ))),
    }
}

/// The shim's tensor argument: a tch tensor is a `torch::Tensor*`. Collectives need dense,
/// contiguous tensors; they work in place on the storage, so they get a detached view (no
/// autograd complaint about a leaf changed in place).
fn detached(t: &Tensor) -> Result<Tensor> {
    if !t.is_contiguous() {
        return Err(Error::Dist("collectives need contiguous tensors".into()));
    }
    Ok(t.detach())
}

fn tensor_ptr(t: &Tensor) -> *mut c_void {
    t.as_ptr() as *mut c_void
}

impl ProcessGroup {
    /// Joins (rank 0: hosts) the store and creates the `backend` group.
    #[cfg(not(grownet_no_c10d))]
    pub fn new(backend: &str, r: &Rendezvous) -> Result<Self> {
        let cstr = |s: &str| CString::new(s).map_err(|e| Error::Dist(e.to_string()));
        let (backend, host) = (cstr(backend)?, cstr(&r.host)?);
        let mut err = std::ptr::null_mut();
        // SAFETY: valid C strings for the call's duration; `err` is written on failure only.
        let ptr = unsafe {
            grownet_c10d_new(
                backend.as_ptr(),
                host.as_ptr(),
                i32::from(r.port),
                r.rank as i32,
                r.size as i32,
                i32::from(r.agent_store.is_some()),
                r.agent_store.unwrap_or(0) as i32,
                r.timeout_ms,
                &mut err,
            )
        };
        if ptr.is_null() {
            let what = format!(
                "rank {} of {} could not join the group at {}:{}",
                r.rank, r.size, r.host, r.port
            );
            return Err(Error::Dist(format!("{what}: {}", message(err).trim())));
        }
        Ok(ProcessGroup {
            ptr,
            timeout_s: r.timeout_ms as f64 / 1000.0,
        })
    }

    #[cfg(grownet_no_c10d)]
    pub fn new(_backend: &str, _r: &Rendezvous) -> Result<Self> {
        Err(Error::Dist(
            "this grownet was built without c10d (gloo's headers were missing at build time: \
             source scripts/env.sh and rebuild)"
                .into(),
        ))
    }

    /// Sums `t` over the ranks, in place.
    pub fn all_reduce_sum(&self, t: &Tensor) -> Result<()> {
        let _d = detached(t)?;
        #[cfg(not(grownet_no_c10d))]
        {
            let mut err = std::ptr::null_mut();
            // SAFETY: a live group and a live tensor; the shim catches every exception.
            let rc = unsafe { grownet_c10d_all_reduce_sum(self.ptr, tensor_ptr(&_d), &mut err) };
            check(rc, err, "all-reduce", self.timeout_s)?;
        }
        Ok(())
    }

    /// The sum of `t` over the ranks as a new tensor that keeps the autograd graph: its
    /// backward pass sums the incoming gradient over the ranks (every rank must run the
    /// backward pass through it too, in the same order as the others).
    pub fn all_reduce_sum_differentiable(&self, t: &Tensor) -> Result<Tensor> {
        if !t.is_contiguous() {
            return Err(Error::Dist("collectives need contiguous tensors".into()));
        }
        #[cfg(not(grownet_no_c10d))]
        {
            let mut err = std::ptr::null_mut();
            // SAFETY: a live group and a live tensor; the shim catches every exception and
            // returns a new `torch::Tensor*` (tch's own convention), owned by the `Tensor`
            // made from it here, or null.
            let out = unsafe {
                grownet_c10d_all_reduce_sum_differentiable(self.ptr, tensor_ptr(t), &mut err)
            };
            if out.is_null() {
                check(1, err, "all-reduce", self.timeout_s)?;
            }
            // SAFETY: a tensor the shim allocated for us alone.
            Ok(unsafe { Tensor::from_ptr(out as *mut _) })
        }
        #[cfg(grownet_no_c10d)]
        Ok(t.shallow_clone())
    }

    /// A second owner of the same group (the C++ group lives until both are dropped), for a
    /// layer that runs collectives of its own ([`super::SharedGroup`]).
    pub fn share(&self) -> ProcessGroup {
        #[cfg(not(grownet_no_c10d))]
        // SAFETY: a live group; the copy holds its own references to the store and backend.
        let ptr = unsafe { grownet_c10d_share(self.ptr) };
        #[cfg(grownet_no_c10d)]
        let ptr = self.ptr;
        ProcessGroup {
            ptr,
            timeout_s: self.timeout_s,
        }
    }

    /// Gives `t` on every rank the value it has on `root`, in place.
    pub fn broadcast(&self, t: &Tensor, root: usize) -> Result<()> {
        let _d = detached(t)?;
        #[cfg(not(grownet_no_c10d))]
        {
            let mut err = std::ptr::null_mut();
            // SAFETY: as in `all_reduce_sum`.
            let rc =
                unsafe { grownet_c10d_broadcast(self.ptr, tensor_ptr(&_d), root as i32, &mut err) };
            check(rc, err, "broadcast", self.timeout_s)?;
        }
        let _ = root;
        Ok(())
    }

    /// Waits for every rank.
    pub fn barrier(&self) -> Result<()> {
        #[cfg(not(grownet_no_c10d))]
        {
            let mut err = std::ptr::null_mut();
            // SAFETY: a live group.
            let rc = unsafe { grownet_c10d_barrier(self.ptr, &mut err) };
            check(rc, err, "barrier", self.timeout_s)?;
        }
        Ok(())
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        #[cfg(not(grownet_no_c10d))]
        // SAFETY: created by `grownet_c10d_new`, freed once.
        unsafe {
            grownet_c10d_free(self.ptr)
        }
    }
}
