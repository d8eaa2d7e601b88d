//! End-to-end training: learning, reproducibility, resume, NaN handling, real data.
mod common;

use common::{real_data, small_config};
use grownet::error::Error;
use grownet::train::{read_events, Trainer, METRICS_FILE};

#[test]
fn training_lowers_loss_and_reaches_accuracy() {
    let mut cfg = small_config("moons");
    cfg.model.hidden = vec![16, 16];
    cfg.train.epochs = 15;
    let mut t = Trainer::new(cfg, None).unwrap();
    t.quiet = true;
    let before = t.evaluate(&t.data.test);
    let s = t.fit().unwrap();
    assert!(
        s.test.loss < 0.5 * before.loss,
        "{} -> {}",
        before.loss,
        s.test.loss
    );
    assert!(s.test.accuracy.unwrap() > 0.95, "{:?}", s.test);
}

#[test]
fn regression_fits_the_curve() {
    let mut cfg = small_config("regression");
    cfg.data.synthetic_train = 2000;
    cfg.model.hidden = vec![32, 32];
    cfg.model.activation = grownet::nn::Activation::Tanh;
    cfg.train.epochs = 60;
    let mut t = Trainer::new(cfg, None).unwrap();
    t.quiet = true;
    let s = t.fit().unwrap();
    // Noise variance is 0.05² = 0.0025; the curve's own variance is ~0.2.
    assert!(s.test.loss < 0.02, "test mse {}", s.test.loss);
}

fn epoch_metrics(dir: &std::path::Path) -> Vec<(u64, f64, f64)> {
    read_events(&dir.join(METRICS_FILE))
        .unwrap()
        .into_iter()
        .filter(|e| e["event"] == "epoch")
        .map(|e| {
            (
                e["epoch"].as_u64().unwrap(),
                e["train_loss"].as_f64().unwrap(),
                e["test_loss"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn same_seed_same_metrics_and_resume_is_equivalent() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config("spirals");
    cfg.train.epochs = 4;
    cfg.train.optimizer = grownet::optim::OptimizerKind::Sgd;
    cfg.train.lr = 0.05;
    let run = |name: &str, cfg: grownet::config::RunConfig| {
        let mut t = Trainer::new(cfg, Some(dir.path().join(name))).unwrap();
        t.quiet = true;
        t.fit().unwrap();
    };
    run("a", cfg.clone());
    run("b", cfg.clone());
    let a = epoch_metrics(&dir.path().join("a"));
    assert_eq!(a.len(), 4);
    assert_eq!(a, epoch_metrics(&dir.path().join("b")));

    // Stop after 2 epochs, then resume to 4.
    let mut short = cfg.clone();
    short.train.epochs = 2;
    run("c", short);
    let mut t = Trainer::resume(&dir.path().join("c"), |c| c.train.epochs = 4).unwrap();
    t.quiet = true;
    assert_eq!(t.epoch, 2);
    t.fit().unwrap();
    assert_eq!(a, epoch_metrics(&dir.path().join("c")));
}

#[test]
fn non_finite_loss_stops_with_epoch_step_and_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config("regression");
    cfg.train.optimizer = grownet::optim::OptimizerKind::Sgd;
    cfg.train.lr = 1e30;
    cfg.train.epochs = 3;
    let mut t = Trainer::new(cfg, Some(dir.path().to_path_buf())).unwrap();
    t.quiet = true;
    match t.fit() {
        Err(Error::NonFiniteLoss {
            epoch, checkpoint, ..
        }) => {
            assert_eq!(epoch, 1);
            assert!(std::path::Path::new(&checkpoint).exists());
            // The checkpoint left behind is the last good state and loads.
            grownet::checkpoint::load_network(std::path::Path::new(&checkpoint), tch::Device::Cpu)
                .unwrap();
        }
        other => panic!(
            "expected a non-finite loss error, got {:?}",
            other.map(|s| s.test)
        ),
    }
}

#[test]
fn mnist_mlp_learns_on_real_data() {
    let Some(dir) = real_data() else { return };
    let mut cfg = small_config("mnist");
    cfg.data.data_dir = Some(dir);
    cfg.data.limit = Some(5000);
    cfg.model.hidden = vec![64];
    cfg.train.epochs = 2;
    cfg.train.batch_size = 64;
    cfg.train.lr = 1e-3;
    cfg.threads = None;
    let mut t = Trainer::new(cfg, None).unwrap();
    t.quiet = true;
    assert_eq!(t.data.input_shape, vec![784]);
    assert_eq!(t.data.test.len(), 10_000);
    let s = t.fit().unwrap();
    assert!(s.test.accuracy.unwrap() > 0.85, "{:?}", s.test);
}

#[test]
fn cnn_trains_on_real_cifar_subset() {
    let Some(dir) = real_data() else { return };
    let mut cfg = small_config("cifar-10");
    cfg.data.data_dir = Some(dir);
    cfg.data.limit = Some(2000);
    cfg.model.kind = grownet::config::ModelKind::Cnn;
    cfg.model.channels = vec![8, 16];
    cfg.train.epochs = 2;
    cfg.train.lr = 3e-3;
    cfg.threads = None;
    let mut t = Trainer::new(cfg, None).unwrap();
    t.quiet = true;
    assert_eq!(t.data.input_shape, vec![3, 32, 32]);
    let before = t.evaluate(&t.data.test.head(1000));
    t.fit().unwrap();
    let after = t.evaluate(&t.data.test.head(1000));
    assert!(after.loss < before.loss, "{before:?} -> {after:?}");
    assert!(after.accuracy.unwrap() > 0.2, "{after:?}");
}
