//! SENN end to end: width and depth growth decided by the natural expansion score.
mod common;

use grownet::growth::senn::SennConfig;
use grownet::growth::{GrowthConfig, Method};
use grownet::nn::Activation;
use grownet::train::{read_events, Trainer, METRICS_FILE};

fn senn(senn: SennConfig, every: usize) -> GrowthConfig {
    GrowthConfig {
        method: Method::Senn,
        every_epochs: every,
        stats_samples: 256,
        line_search_samples: 256,
        senn,
        ..GrowthConfig::default()
    }
}

#[test]
fn regression_from_one_neuron_grows_and_the_loss_falls() {
    let mut cfg = common::small_config("regression");
    cfg.data.synthetic_train = 256;
    cfg.model.hidden = vec![1];
    cfg.model.activation = Activation::Rational;
    cfg.train.epochs = 120;
    cfg.train.batch_size = 64;
    cfg.train.optimizer = grownet::optim::OptimizerKind::AdamW;
    cfg.train.lr = 0.01;
    cfg.growth = Some(senn(
        SennConfig {
            tau: 1.0,
            ..SennConfig::default()
        },
        10,
    ));
    let dir = tempfile::tempdir().unwrap();
    let mut t = Trainer::new(cfg.clone(), Some(dir.path().join("run"))).unwrap();
    t.quiet = true;
    let grown = t.fit().unwrap();
    assert!(grown.hidden_widths[0] > 2, "{:?}", grown.hidden_widths);
    // The same recipe without growth stays at one neuron and fits worse.
    cfg.growth = None;
    let mut fixed = Trainer::new(cfg, None).unwrap();
    fixed.quiet = true;
    let fixed = fixed.fit().unwrap();
    assert!(
        grown.test.loss < 0.5 * fixed.test.loss,
        "grown {} {:?} vs one neuron {}",
        grown.test.loss,
        grown.hidden_widths,
        fixed.test.loss
    );
    // Every accepted event passed both thresholds, as logged.
    let events = read_events(&dir.path().join("run").join(METRICS_FILE)).unwrap();
    let accepted: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "growth" && e["accepted"] == true)
        .collect();
    assert!(!accepted.is_empty());
    for e in accepted {
        let (d, eta, lambda) = (
            e["delta_eta_bound"].as_f64().unwrap(),
            e["eta_layer"].as_f64().unwrap(),
            e["lambda"].as_f64().unwrap(),
        );
        assert!(d > eta && d > 2.5e-3 * lambda, "{e}");
        assert!(e["loss_after"].as_f64() <= Some(e["loss_before"].as_f64().unwrap() * 1.0001));
    }
}

#[test]
fn moons_without_hidden_layers_gains_depth_and_resumes() {
    let mut cfg = common::small_config("moons");
    cfg.model.hidden = vec![];
    cfg.train.epochs = 30;
    cfg.train.optimizer = grownet::optim::OptimizerKind::AdamW;
    cfg.train.lr = 0.01;
    cfg.growth = Some(senn(
        SennConfig {
            tau: 1.0,
            depth_cost: 2.0,
            max_width: 16,
            ..SennConfig::default()
        },
        5,
    ));
    let dir = tempfile::tempdir().unwrap();
    // Uninterrupted.
    let mut t = Trainer::new(cfg.clone(), Some(dir.path().join("straight"))).unwrap();
    t.quiet = true;
    t.fit_until(15).unwrap();
    let arch = t.net.architecture();
    assert!(arch.stages.len() >= 2, "no layer was inserted: {arch:?}");
    assert!(arch
        .stages
        .iter()
        .any(|s| s.activation == Activation::Rational));
    let s = t.fit().unwrap();
    assert!(s.test.accuracy.unwrap() > 0.85, "{s:?}");
    // Interrupted at epoch 15 and resumed from the checkpoint (inserted rational layer,
    // grower state included): the same result.
    let run = dir.path().join("resumed");
    let mut first = Trainer::new(cfg, Some(run.clone())).unwrap();
    first.quiet = true;
    first.fit_until(15).unwrap();
    drop(first);
    let mut resumed = Trainer::resume(&run, |_| {}).unwrap();
    resumed.quiet = true;
    let r = resumed.fit().unwrap();
    assert_eq!(resumed.net.architecture(), t.net.architecture());
    assert!((r.test.loss - s.test.loss).abs() < 1e-9, "{r:?} vs {s:?}");
}
