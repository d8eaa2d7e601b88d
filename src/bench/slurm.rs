//! A bench as a Slurm job array: `grownet bench FILE --sbatch` writes each independent run's
//! config and `OUT/bench.sbatch`, an array job whose task `i` trains run `i` (under torchrun with
//! `--nproc-per-run`), and `OUT/report.sbatch`, which reruns the bench itself once the array
//! is over: finished runs are kept, the runs that take a growing run's final widths (`from`)
//! train then, and the report is written. Nothing here needs Slurm: the scripts are plain bash
//! (`SLURM_ARRAY_TASK_ID` picks the run; set it by hand to run one task anywhere).
//!
//! ```
//! use grownet::bench::{slurm, BenchConfig, Options, Plan};
//! let b = BenchConfig::parse(r#"
//!     seeds = [0, 1]
//!     [base.data]
//!     name = "moons"
//!     [base.model]
//!     hidden = [1]
//!     [growth]
//!     max_hidden = [8]
//!     [[method]]
//!     name = "tiny"
//!     grow = "tiny"
//!     [[method]]
//!     name = "fixed-final"
//!     from = "tiny"
//! "#).unwrap();
//! let dir = tempfile::tempdir().unwrap();
//! let plan = Plan::new(&b, dir.path());
//! let opts = Options { exe: "/opt/grownet".into(), jobs: 1, threads: 2, report_only: false, quiet: true, torchrun: None };
//! let s = slurm::write(&b, &plan, &opts, "bench.toml".as_ref()).unwrap();
//! assert_eq!(s.tasks, 2); // tiny-s0 and tiny-s1; the fixed-final runs wait for them
//! let text = std::fs::read_to_string(&s.array).unwrap();
//! assert!(text.contains("#SBATCH --array=0-1") && text.contains("RUNS=(tiny-s0 tiny-s1)"));
//! ```
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{write as write_file, BenchConfig, Options, Plan};
use crate::error::{Error, Result};

/// The scripts written and the size of the array.
#[derive(Clone, Debug)]
pub struct Scripts {
    pub array: PathBuf,
    pub report: PathBuf,
    pub tasks: usize,
}

/// A path as a single-quoted shell word.
fn quoted(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

/// Writes the configs of the runs that depend on no other run, `bench.sbatch` and
/// `report.sbatch` under `plan.out`. `bench_file` is the bench file the report job reruns.
pub fn write(b: &BenchConfig, plan: &Plan, opts: &Options, bench_file: &Path) -> Result<Scripts> {
    let runs: Vec<_> = plan.runs.iter().filter(|r| r.after.is_none()).collect();
    if runs.is_empty() {
        return Err(Error::Bench(
            "the bench has no run to put in an array".into(),
        ));
    }
    let absolute = |p: &Path| std::path::absolute(p).map_err(|e| Error::io(p, e));
    let out = absolute(&plan.out)?;
    for r in &runs {
        let m = b
            .method(&r.method)
            .ok_or_else(|| Error::Bench(format!("no method {}", r.method)))?;
        let cfg = b.run_config(m, r.seed, None)?;
        write_file(
            &out.join("configs").join(format!("{}.toml", r.name)),
            &cfg.to_toml(),
        )?;
    }
    std::fs::create_dir_all(out.join("logs")).map_err(|e| Error::io(&out, e))?;
    let launcher = match &opts.torchrun {
        Some((t, n)) => format!(
            "{} --standalone --nproc-per-node {n} --no-python ",
            quoted(t)
        ),
        None => String::new(),
    };
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    let mut array = String::from("#!/usr/bin/env bash\n");
    writeln!(
        array,
        "# grownet bench as a Slurm job array: task i trains run i (one process each{}).",
        opts.torchrun
            .as_ref()
            .map_or(String::new(), |(_, n)| format!(
                ", or {n} under torchrun: ask for their GPUs with --gres"
            ))
    )
    .ok();
    writeln!(array, "#SBATCH --job-name=grownet-bench").ok();
    writeln!(array, "#SBATCH --array=0-{}", runs.len() - 1).ok();
    writeln!(array, "#SBATCH --cpus-per-task={}", opts.threads).ok();
    writeln!(
        array,
        "#SBATCH --output={}/logs/slurm-%A_%a.log",
        out.display()
    )
    .ok();
    writeln!(array, "set -euo pipefail\nRUNS=({})", names.join(" ")).ok();
    writeln!(
        array,
        "RUN=${{RUNS[${{SLURM_ARRAY_TASK_ID:?set SLURM_ARRAY_TASK_ID}}]}}"
    )
    .ok();
    writeln!(array, "OUT={}", quoted(&out)).ok();
    writeln!(array, "exec {launcher}{} train --config \"$OUT/configs/$RUN.toml\" --out \"$OUT/runs/$RUN\" --threads {} --quiet",
        quoted(&opts.exe), opts.threads).ok();
    let mut report = String::from("#!/usr/bin/env bash\n");
    writeln!(
        report,
        "# After the array (sbatch --dependency=afterany:ARRAY_JOB): the runs that wait for a"
    )
    .ok();
    writeln!(
        report,
        "# growing run's widths, then results.csv, report.md and the plots."
    )
    .ok();
    writeln!(report, "#SBATCH --job-name=grownet-bench-report").ok();
    writeln!(report, "#SBATCH --cpus-per-task={}", opts.threads).ok();
    writeln!(
        report,
        "#SBATCH --output={}/logs/slurm-report-%j.log",
        out.display()
    )
    .ok();
    writeln!(
        report,
        "exec {} bench {} --out {} --threads {}{}",
        quoted(&opts.exe),
        quoted(&absolute(bench_file)?),
        quoted(&out),
        opts.threads,
        opts.torchrun
            .as_ref()
            .map_or(String::new(), |(_, n)| format!(" --nproc-per-run {n}"))
    )
    .ok();
    let scripts = Scripts {
        array: out.join("bench.sbatch"),
        report: out.join("report.sbatch"),
        tasks: runs.len(),
    };
    write_file(&scripts.array, &array)?;
    write_file(&scripts.report, &report)?;
    Ok(scripts)
}
