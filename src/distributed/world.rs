//! [`World`]: this process's rank among the processes of a data-parallel run, and the
//! collectives grownet needs (sum, broadcast, barrier). A single process is a world of one,
//! where every collective is a no-op.
use std::ops::Range;

use tch::{Kind, Tensor};

use super::ffi::{has_nccl, ProcessGroup, Rendezvous};
use super::shared::SharedGroup;
use crate::error::{Error, Result};

/// The processes of a run (one: no group, nothing to communicate).
pub struct World {
    rank: usize,
    size: usize,
    /// The group's backend (`gloo`, `nccl`; `single` for a world of one).
    backend: &'static str,
    group: Option<ProcessGroup>,
    /// The same group, for layers that run collectives in their forward pass.
    shared: Option<SharedGroup>,
}

/// Which c10d backend a distributed run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// NCCL when training on CUDA, Gloo otherwise.
    Auto,
    Gloo,
    Nccl,
}

impl std::str::FromStr for Backend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Backend::Auto),
            "gloo" => Ok(Backend::Gloo),
            "nccl" => Ok(Backend::Nccl),
            _ => Err(Error::Config(format!(
                "--dist-backend {s}: expected auto, gloo or nccl"
            ))),
        }
    }
}

impl Backend {
    /// The backend's c10d name; `auto` is NCCL on CUDA, Gloo otherwise.
    pub fn resolve(self, cuda: bool) -> &'static str {
        match self {
            Backend::Gloo => "gloo",
            Backend::Nccl => "nccl",
            Backend::Auto if cuda && has_nccl() => "nccl",
            Backend::Auto => "gloo",
        }
    }
}

/// The launcher's variables (torchrun's, or set by hand / Slurm): `None` when `WORLD_SIZE` is
/// absent or 1, i.e. a plain single-process run.
pub fn rendezvous_from_env(timeout_ms: i64) -> Result<Option<Rendezvous>> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let Some(size) = var("WORLD_SIZE") else {
        return Ok(None);
    };
    let num = |k: &str, v: Option<String>| -> Result<usize> {
        let v = v.ok_or_else(|| Error::Dist(format!("WORLD_SIZE is set but {k} is not")))?;
        v.parse()
            .map_err(|_| Error::Dist(format!("{k}={v}: expected a number")))
    };
    let size = num("WORLD_SIZE", Some(size))?;
    if size <= 1 {
        return Ok(None);
    }
    let rank = num("RANK", var("RANK"))?;
    if rank >= size {
        return Err(Error::Dist(format!("RANK={rank} but WORLD_SIZE={size}")));
    }
    let port = num("MASTER_PORT", var("MASTER_PORT"))?;
    let agent = var("TORCHELASTIC_USE_AGENT_STORE").is_some_and(|v| v == "True");
    let restart = var("TORCHELASTIC_RESTART_COUNT").and_then(|v| v.parse().ok());
    Ok(Some(Rendezvous {
        host: var("MASTER_ADDR").unwrap_or_else(|| "127.0.0.1".into()),
        port: u16::try_from(port)
            .map_err(|_| Error::Dist(format!("MASTER_PORT={port} is not a port")))?,
        rank,
        size,
        agent_store: agent.then(|| restart.unwrap_or(0)),
        timeout_ms,
    }))
}

impl World {
    /// A world of one process.
    pub fn single() -> World {
        World {
            rank: 0,
            size: 1,
            backend: "single",
            group: None,
            shared: None,
        }
    }

    /// The world the launcher's variables describe (a single process when there are none),
    /// collectives failing after `timeout_s` seconds without an answer.
    pub fn from_env(backend: Backend, cuda: bool, timeout_s: f64) -> Result<World> {
        let Some(r) = rendezvous_from_env((timeout_s * 1000.0) as i64)? else {
            return Ok(World::single());
        };
        Self::join(backend.resolve(cuda), &r)
    }

    /// Joins the group `r` describes.
    pub fn join(backend: &'static str, r: &Rendezvous) -> Result<World> {
        if backend == "nccl" && !has_nccl() {
            return Err(Error::Dist(
                "--dist-backend nccl: this grownet was built without NCCL (build.rs found no \
                 CUDA toolkit headers beside the wheel's nccl.h: set CUDA_HOME and rebuild), \
                 use --dist-backend gloo"
                    .into(),
            ));
        }
        let group = ProcessGroup::new(backend, r)?;
        let shared = SharedGroup::new(group.share(), r.size);
        Ok(World {
            rank: r.rank,
            size: r.size,
            backend,
            group: Some(group),
            shared: Some(shared),
        })
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Rank 0: the one that writes the run directory and prints.
    pub fn is_root(&self) -> bool {
        self.rank == 0
    }

    /// This rank's contiguous share of `n` items (the first `n mod size` ranks get one more).
    pub fn shard(&self, n: usize) -> Range<usize> {
        let (base, extra) = (n / self.size, n % self.size);
        let start = self.rank * base + self.rank.min(extra);
        start..start + base + usize::from(self.rank < extra)
    }

    /// This rank's contiguous share of `n` items when rank 0 must hold the first `first`
    /// (at least its even share, from item 0) and the others split the rest evenly; `None`
    /// when some rank would get nothing.
    pub fn shard_keeping_first(&self, n: usize, first: usize) -> Option<Range<usize>> {
        let head = first.max(n.div_ceil(self.size)).min(n);
        let others = self.size - 1;
        if others == 0 {
            return Some(0..n);
        }
        if n - head < others {
            return None;
        }
        if self.rank == 0 {
            return Some(0..head);
        }
        let rest = n - head;
        let (base, extra) = (rest / others, rest % others);
        let r = self.rank - 1;
        let start = head + r * base + r.min(extra);
        Some(start..start + base + usize::from(r < extra))
    }

    /// Sums `t` over the ranks, in place.
    pub fn all_reduce_sum(&self, t: &Tensor) -> Result<()> {
        match &self.group {
            Some(g) => g.all_reduce_sum(t),
            None => Ok(()),
        }
    }

    /// The sum of `t` over the ranks as a new tensor that keeps the autograd graph (the
    /// backward pass sums the incoming gradient over the ranks, as
    /// `torch.distributed.nn.functional.all_reduce`); in a world of one, `t` itself.
    pub fn all_reduce_sum_differentiable(&self, t: &Tensor) -> Result<Tensor> {
        match &self.group {
            Some(g) => g.all_reduce_sum_differentiable(t),
            None => Ok(t.shallow_clone()),
        }
    }

    /// A handle on the group for layers that run collectives in their forward pass
    /// (synchronised BatchNorm, `Network::sync_batch_norm`); `None` in a world of one.
    pub fn shared(&self) -> Option<SharedGroup> {
        self.shared.clone()
    }

    /// The first collective that failed inside a forward pass through [`World::shared`] since
    /// the last check, as an error.
    pub fn check_shared(&self) -> Result<()> {
        self.shared.as_ref().map_or(Ok(()), SharedGroup::check)
    }

    /// Sums a few numbers over the ranks (in f64).
    pub fn sum_f64(&self, values: &[f64]) -> Result<Vec<f64>> {
        if self.group.is_none() {
            return Ok(values.to_vec());
        }
        let t = Tensor::from_slice(values);
        self.all_reduce_sum(&t)?;
        Ok(Vec::<f64>::try_from(&t)?)
    }

    /// Gives `t` everywhere its value on rank `root`, in place (same shape on every rank).
    pub fn broadcast(&self, t: &Tensor, root: usize) -> Result<()> {
        match &self.group {
            Some(g) => g.broadcast(t, root),
            None => Ok(()),
        }
    }

    /// Rank 0's `t`, whatever its shape on the other ranks (shape, then values; the kind must
    /// agree). A tensor that is not contiguous is copied first.
    pub fn broadcast_from_root(&self, t: &Tensor) -> Result<Tensor> {
        if self.group.is_none() {
            return Ok(t.shallow_clone());
        }
        let dims = Tensor::zeros([8], (Kind::Int64, tch::Device::Cpu));
        let size = t.size();
        if size.len() > 7 {
            return Err(Error::Dist("tensors of more than 7 dimensions".into()));
        }
        if self.is_root() {
            let mut v = vec![size.len() as i64];
            v.extend(&size);
            dims.narrow(0, 0, v.len() as i64)
                .copy_(&Tensor::from_slice(&v));
        }
        self.broadcast(&dims, 0)?;
        let d = Vec::<i64>::try_from(&dims)?;
        let shape = &d[1..1 + d[0] as usize];
        let out = if self.is_root() {
            t.contiguous()
        } else {
            Tensor::zeros(shape, (t.kind(), t.device()))
        };
        self.broadcast(&out, 0)?;
        Ok(out)
    }

    /// Waits for every rank.
    pub fn barrier(&self) -> Result<()> {
        match &self.group {
            Some(g) => g.barrier(),
            None => Ok(()),
        }
    }
}
