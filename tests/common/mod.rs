//! Shared helpers for the integration tests.
#![allow(dead_code)]
use std::path::PathBuf;

use grownet::config::RunConfig;
use grownet::growth::senn::SennConfig;
use grownet::growth::{GrowthConfig, Method};
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

/// SENN on a small problem: a check every epoch on 128 samples, eager thresholds (`tau` 1,
/// depth cost 2), at most 8 units per layer, 4 proposals refined 10 steps: it grows width and
/// depth within a few epochs.
pub fn small_senn() -> GrowthConfig {
    GrowthConfig {
        method: Method::Senn,
        every_epochs: 1,
        stats_samples: 128,
        line_search_samples: 128,
        senn: SennConfig {
            tau: 1.0,
            depth_cost: 2.0,
            max_width: 8,
            proposals: 4,
            refine_steps: 10,
            refine_samples: 128,
            ..SennConfig::default()
        },
        ..GrowthConfig::default()
    }
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

/// Whether a key of a metrics event measures time (left out when runs are compared): the rule
/// of scripts/diff-runs.py.
fn is_timing(key: &str) -> bool {
    matches!(key, "seconds" | "wall_time")
        || key.starts_with("seconds_")
        || key.ends_with("_seconds")
}

fn same_json(a: &serde_json::Value, b: &serde_json::Value, at: &str) -> Result<(), String> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys.into_iter().filter(|k| !is_timing(k)) {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => same_json(p, q, &format!("{at}.{k}"))?,
                    _ => return Err(format!("{at}.{k}: present in one run only")),
                }
            }
            Ok(())
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .try_for_each(|(i, (p, q))| same_json(p, q, &format!("{at}[{i}]"))),
        _ if a == b => Ok(()),
        _ => Err(format!("{at}: {a} vs {b}")),
    }
}

/// Compares two runs' metrics.jsonl event by event, apart from timing fields (numbers to the
/// bit); `Err` says where they differ.
pub fn same_metrics(a: &std::path::Path, b: &std::path::Path) -> Result<usize, String> {
    let read = |d: &std::path::Path| {
        grownet::train::read_events(&d.join(grownet::train::METRICS_FILE))
            .map_err(|e| e.to_string())
    };
    same_events(&read(a)?, &read(b)?)
}

/// Compares two lists of metrics events one by one, apart from timing fields (numbers to the
/// bit); `Ok` with how many, `Err` says where they differ.
pub fn same_events(x: &[serde_json::Value], y: &[serde_json::Value]) -> Result<usize, String> {
    if x.len() != y.len() {
        return Err(format!("{} events vs {}", x.len(), y.len()));
    }
    for (i, (p, q)) in x.iter().zip(y).enumerate() {
        same_json(p, q, &format!("line {} ({})", i + 1, p["event"]))?;
    }
    Ok(x.len())
}

/// A step in `1..steps`, different from run to run (`GROWNET_TEST_STEP` fixes it, within
/// that range, to reproduce a failure).
pub fn random_step(steps: usize) -> usize {
    if let Some(s) = std::env::var("GROWNET_TEST_STEP")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        return s.clamp(1, steps.saturating_sub(1).max(1));
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as usize);
    1 + nanos % (steps - 1).max(1)
}

/// An IDX image file of `n` images of `rows × cols` (pixel `i` = `i % 251`).
pub fn idx_images(n: u32, rows: u32, cols: u32) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 3];
    for d in [n, rows, cols] {
        b.extend(d.to_be_bytes());
    }
    b.extend((0..(n * rows * cols) as usize).map(|i| (i % 251) as u8));
    b
}

/// An IDX label file holding `labels`.
pub fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 1];
    b.extend((labels.len() as u32).to_be_bytes());
    b.extend_from_slice(labels);
    b
}

/// A small MNIST-like dataset `root/name/` of `side × side` images (labels cycle through
/// 0..10): 40 training and 20 test samples.
pub fn write_idx_set(root: &std::path::Path, name: &str, side: u32) {
    let d = root.join(name);
    std::fs::create_dir_all(&d).unwrap();
    let labels = |n: usize| (0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>();
    std::fs::write(
        d.join("train-images-idx3-ubyte"),
        idx_images(40, side, side),
    )
    .unwrap();
    std::fs::write(d.join("train-labels-idx1-ubyte"), idx_labels(&labels(40))).unwrap();
    std::fs::write(d.join("t10k-images-idx3-ubyte"), idx_images(20, side, side)).unwrap();
    std::fs::write(d.join("t10k-labels-idx1-ubyte"), idx_labels(&labels(20))).unwrap();
}
