//! [`SharedGroup`]: a handle on a data-parallel run's process group that a layer keeps, so
//! that it can run collectives inside a forward pass (synchronised BatchNorm) without knowing
//! about the trainer or the [`super::World`] that owns the run.
//!
//! A forward pass returns a tensor, not a `Result`: a collective that fails there is recorded
//! in the handle (the first failure is kept) and the caller that owns the run asks for it right
//! after the pass ([`SharedGroup::check`], [`super::World::check_shared`]).
use std::sync::{Arc, Mutex};

use tch::Tensor;

use super::ffi::ProcessGroup;
use crate::error::{Error, Result};

/// A cloneable, thread-safe handle on a process group of several ranks (one owner of the C++
/// group among others: the group lives until the last one is dropped).
#[derive(Clone)]
pub struct SharedGroup {
    inner: Arc<Inner>,
}

struct Inner {
    /// The group, used by one caller at a time.
    group: Mutex<ProcessGroup>,
    size: usize,
    /// The first collective that failed since the last [`SharedGroup::check`].
    failure: Mutex<Option<String>>,
}

impl std::fmt::Debug for SharedGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedGroup({} ranks)", self.inner.size)
    }
}

impl SharedGroup {
    pub(super) fn new(group: ProcessGroup, size: usize) -> SharedGroup {
        SharedGroup {
            inner: Arc::new(Inner {
                group: Mutex::new(group),
                size,
                failure: Mutex::new(None),
            }),
        }
    }

    /// The number of ranks.
    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// The sum of `t` over the ranks, differentiable (the backward pass sums the incoming
    /// gradient over the ranks; [`ProcessGroup::all_reduce_sum_differentiable`]).
    pub fn all_reduce_sum_differentiable(&self, t: &Tensor) -> Result<Tensor> {
        let group = self.inner.group.lock().unwrap_or_else(|e| e.into_inner());
        group.all_reduce_sum_differentiable(t)
    }

    /// Keeps `e` as the failure to report (the first one wins).
    pub fn record(&self, e: Error) {
        let mut slot = self.inner.failure.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(e.to_string());
        }
    }

    /// Whether a failure was recorded since the last check (later collectives are then
    /// skipped: a rank that waits for a dead one would wait for every layer in turn).
    pub fn failed(&self) -> bool {
        let slot = self.inner.failure.lock().unwrap_or_else(|e| e.into_inner());
        slot.is_some()
    }

    /// The first failure recorded since the last check, as an error (and forgets it).
    pub fn check(&self) -> Result<()> {
        let mut slot = self.inner.failure.lock().unwrap_or_else(|e| e.into_inner());
        match slot.take() {
            Some(m) => Err(Error::Dist(
                m.strip_prefix("distributed: ").unwrap_or(&m).to_string(),
            )),
            None => Ok(()),
        }
    }
}
