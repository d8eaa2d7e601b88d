//! Data-parallel runs on PyTorch's distributed engine (c10d): a process per rank, launched by
//! `torchrun` (or anything that sets `WORLD_SIZE`, `RANK`, `MASTER_ADDR`, `MASTER_PORT`), a
//! TCP store for the rendezvous and a Gloo (CPU) or NCCL (CUDA) process group for the
//! collectives. The group comes from a small C++ shim (`csrc/c10d_shim.cpp`, compiled by
//! build.rs against the libtorch wheel's c10d headers); this module is its safe face.
//!
//! Without the launcher's variables a run is a [`World`] of one process, where every
//! collective does nothing, so the single-process code path is unchanged.
//!
//! ```
//! use grownet::distributed::World;
//! use tch::Tensor;
//! let world = World::single();
//! assert_eq!((world.rank(), world.size()), (0, 1));
//! let t = Tensor::from_slice(&[1.0f64, 2.0]);
//! world.all_reduce_sum(&t).unwrap(); // a world of one: unchanged
//! assert_eq!(Vec::<f64>::try_from(&t).unwrap(), vec![1.0, 2.0]);
//! assert_eq!(world.shard(10), 0..10);
//! ```
mod ffi;
mod shared;
mod world;

pub use ffi::{available, has_nccl, ProcessGroup, Rendezvous};
pub use shared::SharedGroup;
pub use world::{rendezvous_from_env, Backend, World};
