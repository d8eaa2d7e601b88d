//! Resume after a crash: the resumed run's log is the uninterrupted run's (timings aside) for
//! a fixed network, scheduled TINY, the automatic mode, SENN, and a CNN and a ResNet-18 that
//! grow, whatever step the crash hits;
//! NaN never reaches a checkpoint; every fatal error ends the log with an `error` event.
mod common;

use std::path::Path;

use common::{random_step, same_metrics, small_config};
use grownet::config::RunConfig;
use grownet::error::Error;
use grownet::events::{self, Event};
use grownet::growth::config::{StatisticsPrecision, StatisticsSample};
use grownet::growth::{GrowthConfig, Selection};
use grownet::optim::OptimizerKind;
use grownet::train::{Trainer, CHECKPOINT_FILE, METRICS_FILE};

/// Moons, 300 training samples in batches of 32: 10 steps per epoch.
fn base(hidden: Vec<i64>, epochs: usize) -> RunConfig {
    let mut cfg = small_config("moons");
    cfg.data.synthetic_train = 300;
    cfg.data.synthetic_test = 200;
    cfg.model.hidden = hidden;
    cfg.train.epochs = epochs;
    cfg.train.optimizer = OptimizerKind::AdamW;
    cfg.train.lr = 0.01;
    cfg
}

fn fixed() -> RunConfig {
    base(vec![8], 3)
}

fn scheduled_tiny() -> RunConfig {
    let mut cfg = base(vec![1, 1], 3);
    cfg.growth = Some(GrowthConfig {
        selection: Selection::All,
        every_steps: Some(4),
        max_hidden: Some(vec![8, 8]),
        neurons_per_step: Some(2),
        stats_samples: 128,
        line_search_samples: 128,
        ..GrowthConfig::default()
    });
    cfg
}

/// Scheduled TINY with a fixed statistics sample (the input moment computed once) and mixed
/// precision: the resumed run recomputes the same sample and moment.
fn fixed_sample() -> RunConfig {
    let mut cfg = scheduled_tiny();
    if let Some(g) = cfg.growth.as_mut() {
        g.statistics_sample = StatisticsSample::Fixed;
        g.statistics_precision = StatisticsPrecision::Mixed;
    }
    cfg
}

fn automatic() -> RunConfig {
    let mut cfg = base(vec![1], 3);
    cfg.data.val_fraction = 0.3;
    cfg.growth = Some(GrowthConfig {
        auto: true,
        every_steps: Some(5),
        patience: 2,
        auto_rounds: 2,
        stats_samples: 128,
        line_search_samples: 90,
        ..GrowthConfig::default()
    });
    cfg
}

fn senn() -> RunConfig {
    let mut cfg = base(vec![], 4);
    cfg.growth = Some(common::small_senn());
    cfg
}

/// A VGG-style CNN (BatchNorm, conv → conv and conv → linear sites) grown by TINY on the
/// built-in image set.
fn grown_cnn() -> RunConfig {
    let mut cfg = small_config("patterns");
    cfg.data.synthetic_train = 256;
    cfg.data.synthetic_test = 64;
    cfg.model.kind = grownet::config::ModelKind::Cnn;
    cfg.model.channels = vec![1, 1];
    cfg.model.convs_per_pool = 2;
    cfg.train.epochs = 2;
    cfg.train.augment = false;
    cfg.growth = Some(GrowthConfig {
        selection: Selection::All,
        every_steps: Some(3),
        max_hidden: Some(vec![4, 4]),
        neurons_per_step: Some(1),
        stats_samples: 64,
        stats_batch_size: 32,
        line_search_samples: 64,
        ..GrowthConfig::default()
    });
    cfg
}

/// ResNet-18 from 1/64 width whose blocks grow in turn (round-robin), on the image set.
fn grown_resnet() -> RunConfig {
    let mut cfg = small_config("patterns");
    cfg.data.synthetic_train = 96;
    cfg.data.synthetic_test = 32;
    cfg.model.kind = grownet::config::ModelKind::Resnet18;
    cfg.model.width_fraction = 1.0 / 64.0;
    cfg.train.epochs = 2;
    cfg.train.augment = false;
    cfg.growth = Some(GrowthConfig {
        selection: Selection::RoundRobin,
        every_steps: Some(2),
        neurons_per_step: Some(1),
        stats_samples: 32,
        stats_batch_size: 16,
        line_search_samples: 32,
        ..GrowthConfig::default()
    });
    cfg
}

fn train(cfg: &RunConfig, dir: &Path, crash_after: Option<usize>) -> grownet::Result<()> {
    let mut t = Trainer::new(cfg.clone(), Some(dir.to_path_buf()))?;
    t.quiet = true;
    t.crash_after_step = crash_after;
    t.fit().map(|_| ())
}

fn growth_events(dir: &Path) -> usize {
    events::read(&dir.join(METRICS_FILE))
        .unwrap()
        .iter()
        .filter(|e| matches!(e, Event::Growth(_)))
        .count()
}

/// Seconds in growth of the end event, and the sum over the epoch events.
fn growth_seconds(dir: &Path) -> (f64, f64) {
    let all = events::read(&dir.join(METRICS_FILE)).unwrap();
    let per_epoch = all
        .iter()
        .filter_map(|e| match e {
            Event::Epoch(e) => Some(e.growth_seconds),
            _ => None,
        })
        .sum();
    let end = all
        .iter()
        .find_map(|e| match e {
            Event::End(e) => Some(e.summary.seconds_in_growth),
            _ => None,
        })
        .unwrap();
    (end, per_epoch)
}

#[test]
fn a_resumed_run_logs_what_the_uninterrupted_run_logs() {
    let modes: [(&str, RunConfig); 7] = [
        ("fixed", fixed()),
        ("scheduled-tiny", scheduled_tiny()),
        ("fixed-sample", fixed_sample()),
        ("automatic", automatic()),
        ("senn", senn()),
        ("grown-cnn", grown_cnn()),
        ("grown-resnet", grown_resnet()),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, cfg) in modes {
        let straight = dir.path().join(format!("{name}-straight"));
        train(&cfg, &straight, None).unwrap();
        let total = events::read(&straight.join(METRICS_FILE))
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                Event::Epoch(e) => Some(e.step),
                _ => None,
            })
            .max()
            .unwrap();
        let step = random_step(total);
        let run = dir.path().join(format!("{name}-crashed"));
        match train(&cfg, &run, Some(step)) {
            Err(Error::Interrupted { step: s }) => assert_eq!(s, step),
            other => panic!("{name}: expected the simulated crash, got {other:?}"),
        }
        let mut t = Trainer::resume(&run, |_| {}).unwrap();
        t.quiet = true;
        t.fit().unwrap();
        drop(t);
        if let Err(e) = same_metrics(&straight, &run) {
            panic!("{name}, crash after step {step} of {total}: {e}");
        }
        assert_eq!(growth_events(&straight), growth_events(&run), "{name}");
        // Every second in growth is counted once, across the resumption.
        let (end, per_epoch) = growth_seconds(&run);
        assert!(
            (end - per_epoch).abs() <= 1e-9 * end.max(1.0),
            "{name}: {end} s in growth at the end, {per_epoch} s over the epochs"
        );
        if name != "fixed" {
            assert!(growth_events(&run) > 0, "{name}: no growth event");
            assert!(end > 0.0, "{name}: no time in growth");
        }
    }
}

#[test]
fn growth_seconds_survive_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = scheduled_tiny();
    let mut t = Trainer::new(cfg, Some(dir.path().to_path_buf())).unwrap();
    t.quiet = true;
    t.fit_until(2).unwrap();
    let before = t.grower.as_ref().unwrap().state.clone();
    assert!(before.seconds > 0.0 && before.steps_done > 0);
    drop(t);
    let (_, meta) =
        grownet::checkpoint::load_network(&dir.path().join(CHECKPOINT_FILE), tch::Device::Cpu)
            .unwrap();
    assert_eq!(meta.growth, before);
    let t = Trainer::resume(dir.path(), |_| {}).unwrap();
    assert_eq!(t.grower.as_ref().unwrap().state, before);
}

#[test]
fn nan_after_an_epoch_keeps_the_last_good_checkpoint_and_logs_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config("moons");
    cfg.data.limit = Some(64);
    cfg.train.batch_size = 64;
    cfg.train.optimizer = OptimizerKind::Sgd;
    cfg.train.lr = 1e30;
    cfg.train.epochs = 5;
    let e = match train(&cfg, dir.path(), None) {
        Err(e) => e,
        Ok(()) => panic!("a diverging run finished"),
    };
    let Error::NonFiniteLoss {
        what, checkpoint, ..
    } = &e
    else {
        panic!("{e}")
    };
    assert!(what.contains("loss"), "{e}");
    // The checkpoint left is the last finite state: it loads and evaluates to a number.
    let (net, meta) =
        grownet::checkpoint::load_network(Path::new(checkpoint), tch::Device::Cpu).unwrap();
    for (_, t) in net.named_parameters() {
        assert!(t.isfinite().all().int64_value(&[]) == 1);
    }
    let all = events::read(&dir.path().join(METRICS_FILE)).unwrap();
    let Some(Event::Error(err)) = all.last() else {
        panic!("no error event at the end: {all:?}")
    };
    assert_eq!(err.checkpoint.as_deref(), Some(checkpoint.as_str()));
    assert!(err.message.contains("non-finite"), "{err:?}");
    // The log holds no epoch after the checkpoint's.
    let last_epoch = all
        .iter()
        .filter_map(|e| match e {
            Event::Epoch(e) => Some(e.epoch),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    assert_eq!(last_epoch, meta.epoch);
    // And the run resumes from it (the error event is dropped: it is past the checkpoint).
    let mut t = Trainer::resume(dir.path(), |c| c.train.lr = 1e-3).unwrap();
    t.quiet = true;
    assert_eq!(t.epoch, meta.epoch);
    drop(t);
    let all = events::read(&dir.path().join(METRICS_FILE)).unwrap();
    assert!(!all.iter().any(|e| matches!(e, Event::Error(_))));
}

#[test]
fn nan_during_growth_names_where_and_ends_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config("moons");
    cfg.model.hidden = vec![2];
    cfg.train.optimizer = OptimizerKind::Sgd;
    cfg.train.lr = 1e30;
    cfg.growth = Some(GrowthConfig {
        every_steps: Some(1),
        max_hidden: Some(vec![8]),
        stats_samples: 64,
        line_search_samples: 64,
        ..GrowthConfig::default()
    });
    let e = train(&cfg, dir.path(), None).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("non-finite"), "{msg}");
    assert!(msg.contains("during growth"), "{msg}");
    assert!(msg.contains("after 0 epoch(s) and 1 step(s)"), "{msg}");
    assert!(msg.contains(CHECKPOINT_FILE), "{msg}");
    let all = events::read(&dir.path().join(METRICS_FILE)).unwrap();
    let Some(Event::Error(err)) = all.last() else {
        panic!("no error event at the end: {all:?}")
    };
    assert_eq!((err.during.as_str(), err.epoch, err.step), ("growth", 0, 1));
}

#[test]
fn a_run_directory_is_locked_while_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = fixed();
    let mut t = Trainer::new(cfg.clone(), Some(dir.path().join("run"))).unwrap();
    t.quiet = true;
    // A second run into the same directory and a resume of the running one are refused.
    let e = Trainer::new(cfg.clone(), Some(dir.path().join("run")))
        .err()
        .unwrap();
    assert!(
        e.to_string().contains("in use by another grownet process"),
        "{e}"
    );
    let e = Trainer::resume(&dir.path().join("run"), |_| {})
        .err()
        .unwrap();
    assert!(e.to_string().contains("in use"), "{e}");
    t.fit().unwrap();
    drop(t);
    // Released (and its file gone) once the run is over; the finished run is not overwritten.
    assert!(!dir
        .path()
        .join("run")
        .join(grownet::train::LOCK_FILE)
        .exists());
    let e = Trainer::new(cfg.clone(), Some(dir.path().join("run")))
        .err()
        .unwrap();
    assert!(e.to_string().contains("already holds"), "{e}");
    assert!(Trainer::resume(&dir.path().join("run"), |_| {}).is_ok());
    // A run that fails before writing anything leaves no directory behind.
    let mut bad = cfg;
    bad.data.name = "no-such-idx-folder".into();
    bad.data.data_dir = Some(dir.path().to_path_buf());
    assert!(Trainer::new(bad, Some(dir.path().join("never"))).is_err());
    assert!(!dir.path().join("never").exists());
}
