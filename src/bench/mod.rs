//! The comparison bench: every method on one task with the same budget and several seeds,
//! run as child processes (`grownet train`), resumable, summarised in `results.csv`,
//! `report.md` and plots.
//!
//! Output layout of `OUT`: `bench.toml` (the bench as given), `configs/<method>-s<seed>.toml`
//! (each run's config), `runs/<method>-s<seed>/` (run directories), `logs/<run>.log` (the
//! runs' output), `results.csv`, `report.md` and `plots/*.svg|png`.
//!
//! ```
//! use grownet::bench::{BenchConfig, Plan};
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
//! let plan = Plan::new(&b, "out".as_ref());
//! let names: Vec<_> = plan.runs.iter().map(|r| r.name.as_str()).collect();
//! assert_eq!(names, ["tiny-s0", "fixed-final-s0", "tiny-s1", "fixed-final-s1"]);
//! assert_eq!(plan.runs[1].after.as_deref(), Some("tiny-s0"));
//! ```
mod config;
mod results;
pub mod search;
pub mod slurm;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use config::{merge, run_name, BenchConfig, MethodSpec};
pub use results::{
    csv, fmt_mean_std, grouped, mean_std, method_table, run_table, write_csv, RunResult, CSV_HEADER,
};

use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::report::{comparison_plots, Group, RunSeries};
use crate::train::{DirLock, CHECKPOINT_FILE, CONFIG_FILE};

/// One run of the bench.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedRun {
    pub method: String,
    pub seed: u64,
    /// `<method>-s<seed>`.
    pub name: String,
    pub dir: PathBuf,
    /// The run that must finish first (a `from` method's growing run).
    pub after: Option<String>,
}

/// Every run of a bench, seed by seed (so a partial bench compares all methods on the first
/// seeds), each method after the one it depends on.
#[derive(Clone, Debug)]
pub struct Plan {
    pub out: PathBuf,
    pub runs: Vec<PlannedRun>,
}

impl Plan {
    pub fn new(b: &BenchConfig, out: &Path) -> Self {
        let mut runs = Vec::new();
        for &seed in &b.seeds {
            // Methods with `from` after the others, keeping the file's order otherwise.
            let ordered = b
                .methods
                .iter()
                .filter(|m| m.from.is_none())
                .chain(b.methods.iter().filter(|m| m.from.is_some()));
            for m in ordered {
                let name = run_name(&m.name, seed);
                runs.push(PlannedRun {
                    method: m.name.clone(),
                    seed,
                    dir: out.join("runs").join(&name),
                    name,
                    after: m.from.as_ref().map(|f| run_name(f, seed)),
                });
            }
        }
        Plan {
            out: out.to_path_buf(),
            runs,
        }
    }
}

/// How to execute a bench.
#[derive(Clone, Debug)]
pub struct Options {
    /// The `grownet` executable that trains the runs (usually `std::env::current_exe()`).
    pub exe: PathBuf,
    /// Runs at once.
    pub jobs: usize,
    /// libtorch threads per run.
    pub threads: usize,
    /// Only summarise the runs already finished; train nothing.
    pub report_only: bool,
    /// No progress lines.
    pub quiet: bool,
    /// Each run data-parallel on this many processes, launched by `torchrun` (its path) with
    /// `--standalone` (a free port per run); `None`: one process per run.
    pub torchrun: Option<(PathBuf, usize)>,
}

/// What happened to the runs of a bench.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Finished runs, in plan order.
    pub results: Vec<RunResult>,
    /// Runs skipped because they had already finished.
    pub skipped: Vec<String>,
    /// Runs trained (or resumed) by this call.
    pub trained: Vec<String>,
    /// Runs that failed, with the reason.
    pub failed: Vec<(String, String)>,
    /// Runs not finished (report-only, or after a failure they depend on).
    pub missing: Vec<String>,
    /// Files written: results.csv, report.md, plots.
    pub files: Vec<PathBuf>,
}

/// The default threads per run: the machine's cores shared among `jobs`.
pub fn default_threads(jobs: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / jobs.max(1)).max(1)
}

fn is_complete(dir: &Path) -> bool {
    RunSeries::load(dir).is_ok_and(|r| r.is_complete())
}

/// Final hidden widths of a finished run.
fn final_widths(dir: &Path) -> Result<Vec<i64>> {
    let r = RunSeries::load(dir)?;
    r.end
        .map(|e| e.hidden_widths)
        .ok_or_else(|| Error::Bench(format!("{} has not finished", dir.display())))
}

/// Configs that only change how a run executes, not what it computes, are equal here.
fn same_run(a: &RunConfig, b: &RunConfig) -> bool {
    let norm = |c: &RunConfig| {
        let mut c = c.clone();
        c.threads = None;
        c.device = None;
        c.data.data_dir = None;
        c.growth = c.growth.map(|g| g.without_unused_auto_settings());
        c
    };
    norm(a) == norm(b)
}

struct Running {
    index: usize,
    child: Child,
    started: Instant,
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

/// The error a run's log reports (its last `error` line), or a plain note.
fn log_reason(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .rev()
        .find(|l| l.starts_with("error"))
        .unwrap_or("stopped before the end")
        .to_string()
}

/// How far an unfinished run got: ` (at epoch 3 of 15, widths 2249+167)`.
fn progress_note(plan: &Plan, name: &str) -> String {
    let Some(r) = plan.runs.iter().find(|r| r.name == name) else {
        return String::new();
    };
    let epochs = RunConfig::from_file(&r.dir.join(CONFIG_FILE)).map(|c| c.train.epochs);
    match RunSeries::load(&r.dir)
        .ok()
        .and_then(|s| s.epochs.last().cloned())
    {
        Some(e) => format!(
            " (at epoch {} of {}, widths {})",
            e.epoch,
            epochs.map_or_else(|_| "?".into(), |n| n.to_string()),
            results::widths(&e.hidden_widths)
        ),
        None => String::new(),
    }
}

/// Runs the bench `b` into `out` (skipping finished runs, resuming interrupted ones), then
/// writes `results.csv`, `report.md` and the plots. Failed runs are listed in the outcome;
/// the other runs still run and are reported. `out` is locked meanwhile ([`DirLock`]): a
/// second bench on the same directory is refused.
pub fn run(b: &BenchConfig, out: &Path, opts: &Options) -> Result<Outcome> {
    let plan = Plan::new(b, out);
    if out.exists() && !out.is_dir() {
        return Err(Error::RunDir(format!(
            "{} is a file, not a directory: choose a directory for the bench (--out)",
            out.display()
        )));
    }
    std::fs::create_dir_all(out.join("runs")).map_err(|e| Error::io(out, e))?;
    let _lock = DirLock::acquire(out)?;
    write(&out.join("bench.toml"), &b.to_toml())?;
    let mut outcome = Outcome::default();
    let log = |msg: String| {
        if !opts.quiet {
            println!("{msg}");
        }
    };
    // Status of each planned run: None = to do, Some(Ok) = finished, Some(Err) = failed.
    let mut status: HashMap<String, std::result::Result<(), String>> = HashMap::new();
    for r in &plan.runs {
        if is_complete(&r.dir) {
            // A finished run made with another configuration would silently mix recipes.
            let m = b.methods.iter().find(|m| m.name == r.method);
            let widths = match &r.after {
                Some(dep) => final_widths(&out.join("runs").join(dep)).ok(),
                None => None,
            };
            if let (Some(m), Ok(done)) = (m, RunConfig::from_file(&r.dir.join(CONFIG_FILE))) {
                if let Ok(planned) = b.run_config(m, r.seed, widths.as_deref()) {
                    if !same_run(&planned, &done) {
                        return Err(Error::Bench(format!(
                            "{} was trained with a different configuration than the bench now \
                             gives: remove it to retrain, or choose another output directory",
                            r.dir.display()
                        )));
                    }
                }
            }
            status.insert(r.name.clone(), Ok(()));
            outcome.skipped.push(r.name.clone());
        }
    }
    if !outcome.skipped.is_empty() {
        log(format!(
            "{} of {} runs already finished: {}",
            outcome.skipped.len(),
            plan.runs.len(),
            outcome.skipped.join(", ")
        ));
    }
    if !opts.report_only {
        execute(b, &plan, opts, &mut status, &mut outcome, &log)?;
    }
    for r in &plan.runs {
        match status.get(&r.name) {
            Some(Ok(())) => {
                if let Some(res) = RunResult::from_run(&r.method, r.seed, &r.dir)? {
                    outcome.results.push(res);
                }
            }
            Some(Err(e)) => outcome.failed.push((r.name.clone(), e.clone())),
            None => outcome.missing.push(r.name.clone()),
        }
    }
    outcome.files = write_report(b, &plan, &outcome, Some(opts))?;
    Ok(outcome)
}

fn execute(
    b: &BenchConfig,
    plan: &Plan,
    opts: &Options,
    status: &mut HashMap<String, std::result::Result<(), String>>,
    outcome: &mut Outcome,
    log: &dyn Fn(String),
) -> Result<()> {
    let total = plan.runs.len();
    let mut running: Vec<Running> = Vec::new();
    let jobs = opts.jobs.max(1);
    loop {
        // Collect the runs that ended.
        let mut i = 0;
        while i < running.len() {
            let exited = running[i]
                .child
                .try_wait()
                .map_err(|e| Error::Bench(format!("waiting for a run: {e}")))?;
            let Some(exit) = exited else {
                i += 1;
                continue;
            };
            let done = running.swap_remove(i);
            let r = &plan.runs[done.index];
            let secs = done.started.elapsed().as_secs_f64();
            let logfile = plan.out.join("logs").join(format!("{}.log", r.name));
            if exit.success() && is_complete(&r.dir) {
                let acc = RunSeries::load(&r.dir)
                    .ok()
                    .and_then(|s| s.end)
                    .map(|e| match e.test_accuracy {
                        Some(a) => format!("test accuracy {:.2}%", 100.0 * a),
                        None => format!("test loss {:.4}", e.test_loss),
                    })
                    .unwrap_or_default();
                log(format!("finished {} in {secs:.0}s: {acc}", r.name));
                status.insert(r.name.clone(), Ok(()));
                outcome.trained.push(r.name.clone());
            } else {
                let why = format!(
                    "{} ({exit}; log {})",
                    log_reason(&logfile),
                    logfile.display()
                );
                log(format!("FAILED {}: {why}", r.name));
                status.insert(r.name.clone(), Err(why));
            }
        }
        // Start what can start.
        let mut waiting = false;
        for (index, r) in plan.runs.iter().enumerate() {
            if running.len() >= jobs {
                break;
            }
            if status.contains_key(&r.name) || running.iter().any(|x| x.index == index) {
                continue;
            }
            let widths = match &r.after {
                None => None,
                Some(dep) => match status.get(dep) {
                    None => {
                        waiting = true;
                        continue;
                    }
                    Some(Err(_)) => {
                        status.insert(r.name.clone(), Err(format!("{dep} failed")));
                        continue;
                    }
                    Some(Ok(())) => Some(final_widths(&plan.out.join("runs").join(dep))?),
                },
            };
            let m = b
                .methods
                .iter()
                .find(|m| m.name == r.method)
                .ok_or_else(|| Error::Bench(format!("no method {}", r.method)))?;
            let cfg = b.run_config(m, r.seed, widths.as_deref())?;
            match start(plan, r, &cfg, opts) {
                Ok((child, resumed)) => {
                    let n = status.len() + running.len() + 1;
                    log(format!(
                        "[{n}/{total}] {} {}",
                        if resumed { "resuming" } else { "starting" },
                        r.name
                    ));
                    running.push(Running {
                        index,
                        child,
                        started: Instant::now(),
                    });
                }
                Err(e) => {
                    log(format!("FAILED {}: {e}", r.name));
                    status.insert(r.name.clone(), Err(e.to_string()));
                }
            }
        }
        if running.is_empty() && !waiting {
            // Nothing runs and nothing waits on a running dependency: all done.
            if plan.runs.iter().all(|r| status.contains_key(&r.name)) {
                return Ok(());
            }
            // Remaining runs wait on runs that will never start: mark them.
            for r in &plan.runs {
                status
                    .entry(r.name.clone())
                    .or_insert_with(|| Err("its dependency did not run".into()));
            }
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts (or resumes) one run as a child process; returns it and whether it resumes.
fn start(plan: &Plan, r: &PlannedRun, cfg: &RunConfig, opts: &Options) -> Result<(Child, bool)> {
    let cfg_path = plan.out.join("configs").join(format!("{}.toml", r.name));
    write(&cfg_path, &cfg.to_toml())?;
    let logs = plan.out.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| Error::io(&logs, e))?;
    let log_path = logs.join(format!("{}.log", r.name));
    let resume = r.dir.join(CHECKPOINT_FILE).exists();
    if resume {
        if let Ok(done) = RunConfig::from_file(&r.dir.join(CONFIG_FILE)) {
            if !same_run(cfg, &done) {
                return Err(Error::Bench(format!(
                    "{} holds an unfinished run with a different configuration: remove it",
                    r.dir.display()
                )));
            }
        }
    } else if r.dir.exists() {
        // Started but without a checkpoint: nothing worth keeping.
        std::fs::remove_dir_all(&r.dir).map_err(|e| Error::io(&r.dir, e))?;
    }
    let log_file: File = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| Error::io(&log_path, e))?;
    let err_file = log_file.try_clone().map_err(|e| Error::io(&log_path, e))?;
    let mut cmd = match &opts.torchrun {
        Some((torchrun, n)) => {
            let mut c = Command::new(torchrun);
            c.args([
                "--standalone",
                "--nproc-per-node",
                &n.to_string(),
                "--no-python",
            ])
            .arg(&opts.exe);
            c
        }
        None => Command::new(&opts.exe),
    };
    cmd.arg("train");
    if resume {
        cmd.arg("--resume").arg(&r.dir);
    } else {
        cmd.arg("--config").arg(&cfg_path).arg("--out").arg(&r.dir);
    }
    cmd.arg("--threads")
        .arg(cfg.threads.unwrap_or(opts.threads).to_string())
        .arg("--quiet")
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(err_file);
    let child = cmd
        .spawn()
        .map_err(|e| Error::Bench(format!("cannot start {}: {e}", opts.exe.display())))?;
    Ok((child, resume))
}

/// Writes `results.csv`, the plots and `report.md`; returns the files written. `opts` (how the
/// runs were executed) is noted in the report.
pub fn write_report(
    b: &BenchConfig,
    plan: &Plan,
    outcome: &Outcome,
    opts: Option<&Options>,
) -> Result<Vec<PathBuf>> {
    let out = &plan.out;
    write_csv(&outcome.results, out)?;
    let mut files = vec![out.join("results.csv")];
    let methods: Vec<String> = b.methods.iter().map(|m| m.name.clone()).collect();
    // Series of every finished run, grouped by method (unfinished runs would bend the means
    // by epoch and put mid-training sizes among the final ones).
    let mut series: Vec<(String, RunSeries)> = Vec::new();
    for r in &plan.runs {
        if let Ok(s) = RunSeries::load(&r.dir) {
            if s.is_complete() {
                series.push((r.method.clone(), s));
            }
        }
    }
    let groups: Vec<Group> = methods
        .iter()
        .map(|m| Group {
            label: m.clone(),
            runs: series
                .iter()
                .filter(|(sm, _)| sm == m)
                .map(|(_, s)| s)
                .collect(),
        })
        .filter(|g| !g.runs.is_empty())
        .collect();
    let plots = comparison_plots(&groups, &out.join("plots"))?;
    let mut files_extra = Vec::new();
    let mut md = String::new();
    let title = b.name.clone().unwrap_or_else(|| "grownet bench".into());
    writeln!(md, "# {title}\n").ok();
    let base = plan
        .runs
        .first()
        .and_then(|r| b.methods.iter().find(|m| m.name == r.method))
        .and_then(|m| b.run_config(m, plan.runs[0].seed, Some(&[1])).ok());
    if let Some(c) = base {
        let t = &c.train;
        let schedule = match &t.schedule {
            crate::optim::Schedule::Constant => "constant".to_string(),
            crate::optim::Schedule::Step { every, gamma } => {
                format!("×{gamma} every {every} epochs")
            }
            crate::optim::Schedule::Cosine { warmup, .. } if *warmup > 0.0 => {
                format!("cosine after {warmup} warm-up epochs")
            }
            crate::optim::Schedule::Cosine { .. } => "cosine".to_string(),
        };
        writeln!(
            md,
            "Dataset **{}**, {} epochs, {:?} lr {} ({schedule} schedule), batch {}, seeds \
             {:?}: the same data and recipe for every method. Mean ± standard deviation over \
             seeds (n − 1).\n",
            c.data.name, t.epochs, t.optimizer, t.lr, t.batch_size, b.seeds
        )
        .ok();
    }
    if let Some(o) = opts.filter(|o| !o.report_only) {
        writeln!(
            md,
            "Runs executed {} at a time with {} libtorch thread(s) each: wall times include \
             whatever else the machine was doing.\n",
            o.jobs, o.threads
        )
        .ok();
    }
    md.push_str(&method_table(&outcome.results, &methods));
    let grown: Vec<String> = b
        .methods
        .iter()
        .filter_map(|m| {
            m.from.as_ref().map(|f| {
                format!(
                    "`{}` uses the final widths of `{f}` (same seed), trained from scratch",
                    m.name
                )
            })
        })
        .collect();
    if !grown.is_empty() {
        writeln!(md, "\n{}.", grown.join("; ")).ok();
    }
    if !outcome.failed.is_empty() || !outcome.missing.is_empty() {
        writeln!(md, "\n**Incomplete.**").ok();
        for (n, why) in &outcome.failed {
            writeln!(md, "- {n} failed{}: {why}", progress_note(plan, n)).ok();
        }
        for n in &outcome.missing {
            writeln!(md, "- {n} not finished{}", progress_note(plan, n)).ok();
        }
    }
    if let Some(spec) = &b.search {
        if let Some(summary) = search::Summary::of(spec, &outcome.results) {
            md.push_str(&summary.markdown());
            let stem = out.join("plots").join("grow-vs-search");
            let files = search::plot(spec, &outcome.results, &series, &stem)?;
            writeln!(md, "\n![grow versus search](plots/grow-vs-search.png)").ok();
            files_extra.extend(files);
        }
    }
    writeln!(md, "\n## Runs\n\n{}", run_table(&outcome.results)).ok();
    writeln!(md, "## Plots\n").ok();
    for p in plots
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
    {
        let name = p
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        writeln!(md, "![{name}](plots/{name}.png)\n").ok();
    }
    let report = out.join("report.md");
    write(&report, &md)?;
    files.push(report);
    files.extend(plots);
    files.extend(files_extra);
    Ok(files)
}
