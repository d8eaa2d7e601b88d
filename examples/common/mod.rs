//! Shared helpers for the examples: command-line flags, the median of timings and a timer.
#![allow(dead_code)]

/// The value after `name` on the command line, if present.
pub fn flag(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}

/// The median of `v` (the upper one of an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The value after `name` parsed as `T`, or `default` when absent or unparsable.
pub fn flag_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    flag(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Seconds `f` takes, its result forced (summed) before the clock stops, and the result.
pub fn seconds(f: impl FnOnce() -> tch::Tensor) -> (f64, tch::Tensor) {
    let start = std::time::Instant::now();
    let t = f();
    let _ = t.sum(tch::Kind::Double).double_value(&[]);
    (start.elapsed().as_secs_f64(), t)
}
