//! Reports: a run's `metrics.jsonl` read back as series ([`RunSeries`]), charts written as SVG
//! and PNG ([`plots`]), the charts of one run ([`run_plots`], `grownet report RUN_DIR`) and of
//! several methods side by side ([`comparison_plots`], used by [`crate::bench`]).
//!
//! ```
//! use grownet::config::RunConfig;
//! use grownet::report::{run_plots, RunSeries};
//! use grownet::train::Trainer;
//! let dir = tempfile::tempdir().unwrap();
//! let mut cfg = RunConfig::default();
//! cfg.data.name = "moons".into();
//! cfg.data.synthetic_train = 200;
//! cfg.data.synthetic_test = 100;
//! cfg.model.hidden = vec![4];
//! cfg.train.epochs = 2;
//! cfg.device = Some("cpu".into());
//! let mut t = Trainer::new(cfg, Some(dir.path().join("run"))).unwrap();
//! t.quiet = true;
//! t.fit().unwrap();
//! let series = RunSeries::load(&dir.path().join("run")).unwrap();
//! let files = run_plots(&series, "moons", &dir.path().join("plots")).unwrap();
//! assert!(files.iter().any(|f| f.ends_with("accuracy-vs-epoch.png")));
//! ```
mod charts;
pub mod plots;
mod series;

pub use charts::{comparison_plots, run_plots, Group};
pub use series::{EndSummary, EpochPoint, GrowthPoint, RunSeries};
