//! Shared helpers for the integration tests.
#![allow(dead_code)]
use std::path::PathBuf;

use grownet::config::RunConfig;
use grownet::nn::Network;
use rand::SeedableRng;
use tch::{Device, Kind, Tensor};

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
            skipped("GROWNET_DATA is not set or has no mnist/ folder (the real datasets)");
            None
        }
    }
}

/// Reports a test that could not run (visibly, and into `$GROWNET_SKIP_LOG` when set, which
/// `./grownet.sh test` counts and lists at the end).
pub fn skipped(why: &str) {
    let test = std::thread::current().name().unwrap_or("?").to_string();
    eprintln!("SKIPPED {test}: {why}");
    if let Some(log) = std::env::var_os("GROWNET_SKIP_LOG") {
        use std::io::Write;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log);
        if let Ok(mut f) = file {
            let _ = writeln!(f, "{test}: {why}");
        }
    }
}

/// Runs the `grownet` binary with `args` (no real data directory).
pub fn grownet(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_grownet"))
        .args(args)
        .env("GROWNET_DATA", "/nonexistent-grownet-data")
        .output()
        .unwrap()
}

/// Standard output and error together.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Each command fails with a message containing its expected text, and never panics.
pub fn assert_fail_with_messages(cases: &[(Vec<&str>, &str)]) {
    for (args, expected) in cases {
        let o = grownet(args);
        let t = text(&o);
        assert!(!o.status.success(), "{args:?} succeeded: {t}");
        assert!(!t.contains("panicked"), "{args:?} panicked: {t}");
        assert!(
            t.contains(expected),
            "{args:?}: expected '{expected}' in: {t}"
        );
    }
}

/// An independent copy of `net` (same architecture, parameters and buffers), on the CPU.
pub fn copy(net: &Network) -> Network {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut other = Network::new(&net.architecture(), &mut rng, Device::Cpu).unwrap();
    let mut all = net.named_parameters();
    all.extend(net.named_buffers());
    other.load_tensors(&all).unwrap();
    other
}

/// The indices `0..n` of a dataset, as a statistics sample.
pub fn all_idx(n: i64) -> Tensor {
    Tensor::arange(n, (Kind::Int64, Device::Cpu))
}
