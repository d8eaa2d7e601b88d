//! One result row per finished run, `results.csv`, and the per-method table of `report.md`.
use std::fmt::Write as _;
use std::path::Path;

use crate::error::{Error, Result};
use crate::report::RunSeries;
use crate::train::CHECKPOINT_FILE;

/// The final numbers of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunResult {
    pub method: String,
    pub seed: u64,
    /// Run directory name (`<method>-s<seed>`).
    pub run: String,
    pub epochs: usize,
    pub widths: Vec<i64>,
    pub parameters: i64,
    pub flops_per_sample: Option<i64>,
    pub train_accuracy: Option<f64>,
    pub train_loss: f64,
    pub test_accuracy: Option<f64>,
    pub test_loss: f64,
    /// Training wall time (seconds, growth included).
    pub wall_seconds: f64,
    pub growth_seconds: f64,
    pub growth_steps: usize,
}

/// The columns of `results.csv`.
pub const CSV_HEADER: &str = "method,seed,run,epochs,widths,parameters,flops_per_sample,\
train_accuracy,train_loss,test_accuracy,test_loss,wall_seconds,growth_seconds,growth_steps";

impl RunResult {
    /// The result of the finished run in `dir` (None while it is incomplete). FLOPs per sample
    /// come from the final checkpoint's network.
    pub fn from_run(method: &str, seed: u64, dir: &Path) -> Result<Option<Self>> {
        let series = RunSeries::load(dir)?;
        let Some(end) = series.end else {
            return Ok(None);
        };
        let ckpt = dir.join(CHECKPOINT_FILE);
        let flops = match crate::checkpoint::load_network(&ckpt, tch::Device::Cpu) {
            Ok((net, _)) => Some(net.flops_per_sample()),
            Err(e) => {
                tracing::warn!("{}: no FLOPs count ({e})", dir.display());
                None
            }
        };
        Ok(Some(RunResult {
            method: method.to_string(),
            seed,
            run: dir
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            epochs: end.epochs,
            widths: end.hidden_widths,
            parameters: end.parameters,
            flops_per_sample: flops,
            train_accuracy: end.train_accuracy,
            train_loss: end.train_loss,
            test_accuracy: end.test_accuracy,
            test_loss: end.test_loss,
            wall_seconds: end.seconds,
            growth_seconds: end.seconds_in_growth,
            growth_steps: end.growth_steps,
        }))
    }

    /// The row of `results.csv` (numbers in full precision, empty when absent).
    pub fn csv_row(&self) -> String {
        let opt = |v: Option<f64>| v.map_or_else(String::new, |v| v.to_string());
        [
            csv_field(&self.method),
            self.seed.to_string(),
            csv_field(&self.run),
            self.epochs.to_string(),
            self.widths
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join("+"),
            self.parameters.to_string(),
            self.flops_per_sample
                .map_or_else(String::new, |v| v.to_string()),
            opt(self.train_accuracy),
            self.train_loss.to_string(),
            opt(self.test_accuracy),
            self.test_loss.to_string(),
            self.wall_seconds.to_string(),
            self.growth_seconds.to_string(),
            self.growth_steps.to_string(),
        ]
        .join(",")
    }
}

/// Hidden widths as `256+256`.
pub fn widths(w: &[i64]) -> String {
    if w.is_empty() {
        return "–".into();
    }
    w.iter().map(i64::to_string).collect::<Vec<_>>().join("+")
}

/// A CSV field, quoted when it needs to be.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `results.csv`: the header and one row per run.
pub fn csv(rows: &[RunResult]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for r in rows {
        out.push_str(&r.csv_row());
        out.push('\n');
    }
    out
}

/// Writes `results.csv` into `dir`.
pub fn write_csv(rows: &[RunResult], dir: &Path) -> Result<()> {
    let path = dir.join("results.csv");
    std::fs::write(&path, csv(rows)).map_err(|e| Error::io(path, e))
}

/// Mean and sample standard deviation (n − 1; 0 for a single value). None when empty.
pub fn mean_std(values: &[f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() == 1 {
        return Some((mean, 0.0));
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Some((mean, var.sqrt()))
}

/// `mean ± std` with `decimals` decimals (`–` when there are no values).
pub fn fmt_mean_std(values: &[f64], decimals: usize) -> String {
    match mean_std(values) {
        Some((m, s)) => format!("{m:.decimals$} ± {s:.decimals$}"),
        None => "–".into(),
    }
}

/// An integer with thin groups of three digits: `269 322`.
pub fn grouped(v: i64) -> String {
    let digits = v.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    if v < 0 {
        format!("-{out}")
    } else {
        out
    }
}

fn mean_i64(values: impl Iterator<Item = i64>) -> Option<i64> {
    let v: Vec<i64> = values.collect();
    (!v.is_empty()).then(|| (v.iter().sum::<i64>() as f64 / v.len() as f64).round() as i64)
}

/// The per-method table (mean ± std over seeds), methods in the order given.
pub fn method_table(rows: &[RunResult], methods: &[String]) -> String {
    let classify = rows.iter().any(|r| r.test_accuracy.is_some());
    let mut t = String::new();
    if classify {
        t.push_str(
            "| method | runs | final widths | parameters | FLOPs/sample | test accuracy % | \
             test loss | train accuracy % | wall time s | time in growth |\n\
             |---|---|---|---|---|---|---|---|---|---|\n",
        );
    } else {
        t.push_str(
            "| method | runs | final widths | parameters | FLOPs/sample | test loss | \
             train loss | wall time s | time in growth |\n|---|---|---|---|---|---|---|---|---|\n",
        );
    }
    for m in methods {
        let rs: Vec<&RunResult> = rows.iter().filter(|r| &r.method == m).collect();
        if rs.is_empty() {
            continue;
        }
        let mut ws: Vec<String> = rs.iter().map(|r| widths(&r.widths)).collect();
        ws.dedup();
        let ws = if ws.iter().all(|w| *w == ws[0]) {
            ws[0].clone()
        } else {
            rs.iter()
                .map(|r| widths(&r.widths))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let params = mean_i64(rs.iter().map(|r| r.parameters)).map_or("–".into(), grouped);
        let flops =
            mean_i64(rs.iter().filter_map(|r| r.flops_per_sample)).map_or("–".into(), grouped);
        let pct = |f: fn(&RunResult) -> Option<f64>| {
            let v: Vec<f64> = rs.iter().filter_map(|r| f(r)).map(|a| 100.0 * a).collect();
            fmt_mean_std(&v, 2)
        };
        let test_loss: Vec<f64> = rs.iter().map(|r| r.test_loss).collect();
        let train_loss: Vec<f64> = rs.iter().map(|r| r.train_loss).collect();
        let wall: Vec<f64> = rs.iter().map(|r| r.wall_seconds).collect();
        let growth_s: f64 = rs.iter().map(|r| r.growth_seconds).sum();
        let total_s: f64 = wall.iter().sum();
        let growth = if rs.iter().all(|r| r.growth_steps == 0) {
            "–".to_string()
        } else {
            format!(
                "{:.1} s ({:.1} %)",
                growth_s / rs.len() as f64,
                100.0 * growth_s / total_s.max(1e-12)
            )
        };
        let wall = fmt_mean_std(&wall, 1);
        if classify {
            writeln!(
                t,
                "| {m} | {} | {ws} | {params} | {flops} | {} | {} | {} | {wall} | {growth} |",
                rs.len(),
                pct(|r| r.test_accuracy),
                fmt_mean_std(&test_loss, 4),
                pct(|r| r.train_accuracy),
            )
        } else {
            writeln!(
                t,
                "| {m} | {} | {ws} | {params} | {flops} | {} | {} | {wall} | {growth} |",
                rs.len(),
                fmt_mean_std(&test_loss, 4),
                fmt_mean_std(&train_loss, 4),
            )
        }
        .ok(); // writing to a String cannot fail
    }
    t
}

/// The per-run table.
pub fn run_table(rows: &[RunResult]) -> String {
    let mut t = String::from(
        "| run | final widths | parameters | test accuracy % | test loss | wall time s | growth s |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        writeln!(
            t,
            "| {} | {} | {} | {} | {:.4} | {:.1} | {:.1} |",
            r.run,
            widths(&r.widths),
            grouped(r.parameters),
            r.test_accuracy
                .map_or("–".into(), |a| format!("{:.2}", 100.0 * a)),
            r.test_loss,
            r.wall_seconds,
            r.growth_seconds
        )
        .ok(); // writing to a String cannot fail
    }
    t
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A finished run of `method` on `seed` at test (and train) accuracy `acc`, 2 s of wall time.
    pub(in crate::bench) fn row(method: &str, seed: u64, acc: f64) -> RunResult {
        RunResult {
            method: method.into(),
            seed,
            run: format!("{method}-s{seed}"),
            epochs: 3,
            widths: vec![8, 4],
            parameters: 1234,
            flops_per_sample: Some(2000),
            train_accuracy: Some(acc),
            train_loss: 0.5,
            test_accuracy: Some(acc),
            test_loss: 0.25,
            wall_seconds: 2.0,
            growth_seconds: 0.5,
            growth_steps: 2,
        }
    }

    #[test]
    fn mean_and_std() {
        assert_eq!(mean_std(&[]), None);
        assert_eq!(mean_std(&[3.0]), Some((3.0, 0.0)));
        let (m, s) = mean_std(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!((m, s), (2.0, 1.0));
        assert_eq!(fmt_mean_std(&[98.38, 98.44, 98.44], 2), "98.42 ± 0.03");
        assert_eq!(fmt_mean_std(&[], 2), "–");
        assert_eq!(grouped(269322), "269 322");
        assert_eq!(grouped(-1000), "-1 000");
        assert_eq!(grouped(12), "12");
    }

    #[test]
    fn csv_rows_and_tables() {
        let rows = vec![row("a", 0, 0.9), row("a", 1, 0.8), row("b,c", 0, 0.5)];
        let text = csv(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(
            lines[1],
            "a,0,a-s0,3,8+4,1234,2000,0.9,0.5,0.9,0.25,2,0.5,2"
        );
        assert!(lines[3].starts_with("\"b,c\",0,"));
        assert_eq!(lines[1].split(',').count(), CSV_HEADER.split(',').count());
        let t = method_table(&rows, &["a".into(), "missing".into()]);
        assert!(
            t.contains("| a | 2 | 8+4 | 1 234 | 2 000 | 85.00 ± 7.07 |"),
            "{t}"
        );
        assert!(t.contains("0.5 s (25.0 %)"), "{t}");
        assert!(!t.contains("missing"));
        assert!(run_table(&rows).contains("| a-s1 | 8+4 | 1 234 | 80.00 |"));
    }
}
