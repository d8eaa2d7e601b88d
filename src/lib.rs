//! # grownet: neural networks that grow while they learn
//!
//! Start from a tiny network and let the training signal decide where it lacks capacity:
//! grownet measures each hidden layer's *expressivity bottleneck* and adds the neurons that
//! reduce it best (TINY, Verbockhaven et al. 2024), or grows width and depth by a
//! natural-gradient expansion score (SENN, Mitchell et al.).
//!
//! The crate reads like the pipeline it implements:
//! [`data`] → [`nn`] (growable layers, growth sites) → [`train`] (loop, metrics, checkpoints)
//! → [`growth`] (statistics → proposal → line search → apply) → [`checkpoint`], with the
//! `grownet` binary a thin shell over it.
//!
//! ```
//! use grownet::config::RunConfig;
//! use grownet::train::Trainer;
//! let mut cfg = RunConfig::default();           // spirals, MLP 32-32
//! cfg.data.synthetic_train = 300;
//! cfg.data.synthetic_test = 100;
//! cfg.train.epochs = 2;
//! cfg.device = Some("cpu".into());
//! let mut trainer = Trainer::new(cfg, None).unwrap();
//! trainer.quiet = true;
//! let summary = trainer.fit().unwrap();
//! assert_eq!(summary.epochs, 2);
//! ```
// No `unwrap()`/`expect()` outside tests: user input (files, flags, configs) must end in an
// error that says what is wrong, never in a panic. Where a value cannot be absent, say why in
// an `#[allow]` next to it.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod error;
pub mod events;
pub mod export;
pub mod growth;
pub mod nn;
pub mod optim;
pub mod report;
pub mod runtime;
pub mod surgery;
pub mod train;

pub use error::{Error, Result};
