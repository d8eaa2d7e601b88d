//! Shared helpers for the integration tests.
#![allow(dead_code)]
use std::path::PathBuf;

use grownet::config::RunConfig;

/// A small, fast CPU config on a synthetic dataset.
pub fn small_config(dataset: &str) -> RunConfig {
    let mut cfg = RunConfig::default();
    cfg.data.name = dataset.into();
    cfg.data.synthetic_train = 600;
    cfg.data.synthetic_test = 300;
    cfg.device = Some("cpu".into());
    cfg.threads = Some(1);
    cfg.train.batch_size = 32;
    cfg
}

/// The real-data directory, or `None` (with a printed reason) when it is not available.
pub fn real_data() -> Option<PathBuf> {
    match std::env::var_os("GROWNET_DATA").map(PathBuf::from) {
        Some(p) if p.join("mnist").is_dir() => Some(p),
        _ => {
            eprintln!("skipping: GROWNET_DATA is not set or has no mnist/ folder");
            None
        }
    }
}
