//! The run directory: resolved config, `metrics.jsonl` (one [`Event`] per line) and the
//! checkpoint; and the [`Reporter`] that sends a run's events there and prints a line per
//! growth step on the terminal.
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};
use crate::events::{self, Event, EventSink, Growth};

/// File names inside a run directory.
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const CONFIG_FILE: &str = "config.toml";
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
/// The lock file of a directory a process writes to (a run or a bench output).
pub const LOCK_FILE: &str = ".grownet.lock";

/// The files that make a directory a run.
const RUN_FILES: [&str; 3] = [CHECKPOINT_FILE, METRICS_FILE, CONFIG_FILE];

/// Exclusive use of a directory by this process: an advisory lock (`flock`) on its
/// [`LOCK_FILE`], which holds the owner's process id. The operating system releases the lock
/// when the process ends, however it ends (a `kill -9` leaves at most a stale file, never a
/// stale lock); the file is removed when the lock is dropped.
#[derive(Debug)]
pub struct DirLock {
    path: PathBuf,
    _file: File,
}

impl DirLock {
    /// Locks `dir` (which must exist), or says which process holds it.
    pub fn acquire(dir: &Path) -> Result<Self> {
        let path = dir.join(LOCK_FILE);
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| Error::io(&path, e))?;
            if !try_lock(&file).map_err(|e| Error::io(&path, e))? {
                let holder = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|s| s.trim().parse::<u32>().ok())
                    .map_or_else(String::new, |pid| format!(" (process {pid})"));
                return Err(Error::RunDir(format!(
                    "{} is in use by another grownet process{holder}: a run or bench is still \
                     writing there; wait for it to end or choose another directory",
                    dir.display()
                )));
            }
            // The previous holder removes the file as it lets go: if it did so between our
            // open and our lock, we hold a lock on a file nobody else will see. Start again.
            if !same_file(&file, &path) {
                continue;
            }
            let pid = format!("{}\n", std::process::id());
            file.set_len(0)
                .and_then(|_| file.write_all(pid.as_bytes()))
                .and_then(|_| file.flush())
                .map_err(|e| Error::io(&path, e))?;
            return Ok(DirLock { path, _file: file });
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Removed while still locked (the lock goes with the file handle, right after).
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Takes `file`'s exclusive lock without waiting: `Ok(false)` when another process holds it.
#[cfg(unix)]
fn try_lock(file: &File) -> std::io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a file descriptor this function borrows; no memory is involved.
    let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.kind() == std::io::ErrorKind::WouldBlock {
        Ok(false)
    } else {
        Err(e)
    }
}

#[cfg(not(unix))]
fn try_lock(_file: &File) -> std::io::Result<bool> {
    Ok(true)
}

/// Whether the open `file` is still the file at `path`.
#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_file: &File, path: &Path) -> bool {
    path.exists()
}

/// A run directory this process owns (locked, see [`DirLock`]).
#[derive(Debug)]
pub struct RunDir {
    pub path: PathBuf,
    /// Opened at the first event, so that a run that fails before it leaves nothing behind.
    metrics: Option<File>,
    /// Events in `metrics.jsonl` (what a checkpoint records, so that a resumed run's log
    /// continues exactly after the checkpoint's last event).
    events: usize,
    lock: Option<DirLock>,
    /// This process created the directory (removed again if nothing was written).
    created: bool,
}

impl RunDir {
    /// Takes `path` for a new run: creates it if needed, locks it, and refuses a directory
    /// that already holds a run (its checkpoint, metrics or config) or a path that is a file.
    /// Nothing is written until the first event or [`RunDir::write_config`].
    pub fn create(path: &Path) -> Result<Self> {
        if path.exists() && !path.is_dir() {
            return Err(Error::RunDir(format!(
                "{} is a file, not a directory: choose a directory for the run (--out)",
                path.display()
            )));
        }
        let created = !path.exists();
        std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))?;
        let lock = DirLock::acquire(path)?;
        let mut dir = RunDir {
            path: path.to_path_buf(),
            metrics: None,
            events: 0,
            lock: Some(lock),
            created,
        };
        let held: Vec<&str> = RUN_FILES
            .into_iter()
            .filter(|f| path.join(f).exists())
            .collect();
        if !held.is_empty() {
            dir.created = false;
            return Err(Error::RunDir(format!(
                "{} already holds {}: a run there continues with --resume {0}; choose another \
                 --out for a new run (a run writes {CONFIG_FILE}, {METRICS_FILE} and \
                 {CHECKPOINT_FILE} there)",
                path.display(),
                held.join(", ")
            )));
        }
        Ok(dir)
    }

    /// Reopens the run in `path` (locked by `lock`) to continue it from a checkpoint that was
    /// written after `events` events, at `epoch` epochs and `step` steps: the events logged
    /// after it (those of an interrupted epoch, which the resumed run logs again, or an error)
    /// are dropped, so that the resumed run's log is the uninterrupted run's. Checkpoints
    /// that do not record `events` (older ones) drop the events after `epoch` and `step`.
    pub fn reopen(
        path: &Path,
        lock: DirLock,
        events: Option<usize>,
        epoch: usize,
        step: usize,
    ) -> Result<Self> {
        let mpath = path.join(METRICS_FILE);
        let text = match std::fs::read_to_string(&mpath) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::io(&mpath, e)),
        };
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let keep: Vec<&str> = match events {
            Some(n) => {
                if lines.len() < n {
                    tracing::warn!(
                        "{}: {} events, but the checkpoint was written after {n}: events were lost",
                        mpath.display(),
                        lines.len()
                    );
                }
                lines.into_iter().take(n).collect()
            }
            None => lines
                .into_iter()
                .enumerate()
                .map_while(|(i, l)| events::parse_line(l, i + 1).ok().map(|e| (l, e)))
                .filter(|(_, e)| {
                    e.epoch() <= epoch
                        && e.step().is_none_or(|s| s <= step)
                        && !matches!(e, Event::End(_) | Event::Error(_))
                })
                .map(|(l, _)| l)
                .collect(),
        };
        for (i, l) in keep.iter().enumerate() {
            events::parse_line(l, i + 1).map_err(|e| match e {
                Error::Metrics(m) => Error::Metrics(format!("{}: {m}", mpath.display())),
                e => e,
            })?;
        }
        let mut out = String::new();
        for l in &keep {
            out.push_str(l);
            out.push('\n');
        }
        if out != text {
            crate::checkpoint::write_atomic(&mpath, out.as_bytes())?;
        }
        Ok(RunDir {
            path: path.to_path_buf(),
            metrics: None,
            events: keep.len(),
            lock: Some(lock),
            created: false,
        })
    }

    /// Appends one event (flushed at once, so a crash loses nothing logged).
    pub fn log(&mut self, event: &Event) -> Result<()> {
        let path = self.path.join(METRICS_FILE);
        let line = serde_json::to_string(event)?;
        let metrics = match &mut self.metrics {
            Some(f) => f,
            None => self.metrics.insert(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|e| Error::io(&path, e))?,
            ),
        };
        writeln!(metrics, "{line}")
            .and_then(|_| metrics.flush())
            .map_err(|e| Error::io(path, e))?;
        self.events += 1;
        Ok(())
    }

    /// Events in `metrics.jsonl` so far.
    pub fn events(&self) -> usize {
        self.events
    }

    pub fn checkpoint_path(&self) -> PathBuf {
        self.path.join(CHECKPOINT_FILE)
    }

    /// Writes the resolved configuration.
    pub fn write_config(&self, toml: &str) -> Result<()> {
        crate::checkpoint::write_atomic(&self.path.join(CONFIG_FILE), toml.as_bytes())
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        drop(self.lock.take());
        if self.created {
            // Only succeeds when the directory is empty: a run that wrote nothing.
            let _ = std::fs::remove_dir(&self.path);
        }
    }
}

/// Sends a run's events to its directory (if any) and prints a line per growth step unless
/// quiet.
pub struct Reporter<'a> {
    pub run: Option<&'a mut RunDir>,
    pub quiet: bool,
}

impl EventSink for Reporter<'_> {
    fn emit(&mut self, event: Event) -> Result<()> {
        if !self.quiet {
            if let Some(line) = summary_line(&event) {
                println!("{line}");
            }
        }
        match self.run.as_mut() {
            Some(r) => r.log(&event),
            None => Ok(()),
        }
    }
}

/// The terminal line of a growth event (`None` for other events).
fn summary_line(event: &Event) -> Option<String> {
    match event {
        Event::Growth(Growth::Step(g)) => Some(match &g.reason {
            None => {
                let lam = g
                    .lambdas
                    .first()
                    .map_or(String::new(), |l| format!(" λ₁={l:.3}"));
                let with = g
                    .companions
                    .map_or(String::new(), |c| format!(" (+{c} companions)"));
                format!(
                    "  growth {}: site {} +{} neurons{with}{lam} s={:.3} loss {:.4}→{:.4} (predicted −{:.4}) widths {:?}",
                    g.growth_step, g.site, g.neurons_added, g.scale, g.loss_before,
                    g.loss_before - g.measured_decrease, g.predicted_decrease, g.hidden_widths
                )
            }
            Some(r) => format!("  growth {}: site {} skipped ({r})", g.growth_step, g.site),
        }),
        Event::Growth(Growth::SennExpansion(e)) => Some(match &e.reason {
            None => format!(
                "  senn {}: {} at {} (Δη'={:.3e}, η_l={:.3e}, λ={:.3e}) widths {:?}",
                e.scores.growth_step,
                e.kind,
                e.site,
                e.delta_eta_bound,
                e.eta_layer,
                e.scores.lambda,
                e.hidden_widths
            ),
            Some(r) => format!("  senn {}: {r}", e.scores.growth_step),
        }),
        Event::GrowthFinished(f) => Some(format!("growth finished: {}", f.reason)),
        Event::Widened(w) => Some(format!(
            "  widened sites {:?} by a random unit with zero fan-out ({}): widths {:?}",
            w.sites, w.reason, w.hidden_widths
        )),
        _ => None,
    }
}

/// Reads every line of a metrics file as untyped JSON (blank lines skipped; a bad line is an
/// error naming it): for tests and tools; [`crate::events::read`] reads them typed.
pub fn read_events(path: &Path) -> Result<Vec<Value>> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let v = serde_json::from_str(&line).map_err(|e| {
            Error::Config(format!(
                "{}: line {}: invalid JSON ({e})",
                path.display(),
                i + 1
            ))
        })?;
        out.push(v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(event: &str, epoch: usize, step: usize) -> String {
        match event {
            "finished" => format!(
                r#"{{"event":"growth_finished","epoch":{epoch},"step":{step},"reason":"r"}}"#
            ),
            _ => format!(
                r#"{{"event":"error","epoch":{epoch},"step":{step},"during":"training","message":"m","checkpoint":null}}"#
            ),
        }
    }

    #[test]
    fn reopening_keeps_exactly_the_checkpoints_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(METRICS_FILE);
        let lines = [
            line("finished", 1, 10),
            line("finished", 1, 20), // logged during epoch 2, after the checkpoint at step 20
            line("finished", 1, 25),
            line("error", 1, 25),
        ];
        let text = format!("{}\n{{\"event\":\"gro", lines.join("\n")); // a cut last line
        std::fs::write(&path, &text).unwrap();
        // With the count the checkpoint recorded: the first two events.
        let run = RunDir::reopen(
            dir.path(),
            DirLock::acquire(dir.path()).unwrap(),
            Some(2),
            2,
            20,
        )
        .unwrap();
        assert_eq!(run.events(), 2);
        drop(run);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n{}\n", lines[0], lines[1])
        );
        // Older checkpoints (no count): by position, errors and anything later dropped.
        std::fs::write(&path, &text).unwrap();
        let run = RunDir::reopen(
            dir.path(),
            DirLock::acquire(dir.path()).unwrap(),
            None,
            1,
            20,
        )
        .unwrap();
        assert_eq!(run.events(), 2);
    }

    #[test]
    fn a_locked_directory_names_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let lock = DirLock::acquire(dir.path()).unwrap();
        let e = DirLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains(&format!("(process {})", std::process::id())),
            "{e}"
        );
        drop(lock);
        assert!(!dir.path().join(LOCK_FILE).exists());
        // A stale file left by a killed process holds no lock.
        std::fs::write(dir.path().join(LOCK_FILE), "999999999\n").unwrap();
        assert!(DirLock::acquire(dir.path()).is_ok());
    }

    #[test]
    fn a_new_run_refuses_files_and_existing_runs() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let e = RunDir::create(&file).unwrap_err().to_string();
        assert!(e.contains("is a file, not a directory"), "{e}");
        std::fs::write(dir.path().join(CONFIG_FILE), "# mine").unwrap();
        let e = RunDir::create(dir.path()).unwrap_err().to_string();
        assert!(e.contains("already holds config.toml"), "{e}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join(CONFIG_FILE)).unwrap(),
            "# mine"
        );
    }
}
