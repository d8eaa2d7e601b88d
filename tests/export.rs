//! `grownet export`: grown networks (an MLP, a VGG-style CNN with BatchNorm, a ResNet-18 with
//! an inserted block, SENN with an inserted rational layer) loaded by the set-up's torch from
//! model.py and model.safetensors give grownet's outputs on a test batch within 1e-5; and the
//! command's user errors.
mod common;

use std::path::{Path, PathBuf};

use common::{grownet, small_config, text};
use grownet::checkpoint;
use grownet::config::{ModelKind, RunConfig};
use grownet::growth::{GrowthConfig, Selection};
use grownet::nn::Activation;
use grownet::optim::{Optimizer, OptimizerConfig, OptimizerKind};
use grownet::train::{Trainer, CHECKPOINT_FILE};
use tch::{Kind, Tensor};

/// Loads the export in `argv[1]` with torch alone and prints the largest difference between
/// its outputs and grownet's, and between its normalisation and grownet's.
const CHECK: &str = r#"
import sys
import torch
torch.set_num_threads(1)
sys.path.insert(0, sys.argv[1])
from model import Net, read_safetensors
net = Net.load()
batch = read_safetensors(sys.argv[2])
with torch.no_grad():
    out = net(batch["x"])
    normalised = net.normalise(batch["raw"]).flatten(1)
assert not net.training
print("outputs", (out - batch["outputs"]).abs().max().item())
print("normalised", (normalised - batch["normalised"].flatten(1)).abs().max().item())
"#;

/// The set-up's torch Python, or `None` (the test says it skipped).
fn python() -> Option<PathBuf> {
    let p = grownet::export::torch_env::python();
    if p.is_none() {
        common::skipped(&format!(
            "no torch environment at {:?} (./grownet.sh sets it up; GROWNET_TORCH_ENV moves it)",
            grownet::export::torch_env::torch_env()
        ));
    }
    p
}

/// Trains `cfg` into `dir/run` (the checkpoint after the last epoch) and returns the trainer.
fn train(cfg: RunConfig, dir: &Path) -> Trainer {
    let mut t = Trainer::new(cfg, Some(dir.join("run"))).unwrap();
    t.quiet = true;
    t.fit().unwrap();
    t
}

/// Exports `dir/run` with the binary, then runs the export in PyTorch on the first test
/// samples of `t` and returns the largest |output difference| (and checks the normalisation).
fn exported_difference(python: &Path, t: &Trainer, dir: &Path) -> f64 {
    let to = dir.join("export");
    let run = dir.join("run");
    let o = grownet(&[
        "export",
        run.to_str().unwrap(),
        "--to",
        to.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let (net, _) = checkpoint::load_network(&run.join(CHECKPOINT_FILE), tch::Device::Cpu).unwrap();
    let x = t.data.test.x.narrow(0, 0, 16.min(t.data.test.len() as i64));
    let outputs = net.forward(&x, false);
    let mut raw_shape = vec![5];
    raw_shape.extend(t.data.input_mean.size()[1..].iter());
    let raw = Tensor::rand(raw_shape.as_slice(), (Kind::Float, tch::Device::Cpu));
    let normalised = t.data.normalise(&raw);
    let batch = dir.join("batch.safetensors");
    Tensor::write_safetensors(
        &[
            ("x", &x),
            ("outputs", &outputs),
            ("raw", &raw),
            ("normalised", &normalised),
        ],
        &batch,
    )
    .unwrap();
    let script = dir.join("check.py");
    std::fs::write(&script, CHECK).unwrap();
    let o = std::process::Command::new(python)
        .arg(&script)
        .arg(&to)
        .arg(&batch)
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let value = |key: &str| -> f64 {
        let line = out.lines().find(|l| l.starts_with(key)).unwrap();
        line[key.len()..].trim().parse().unwrap()
    };
    assert!(value("normalised ") < 1e-6, "{out}");
    let d = value("outputs ");
    println!("{}: max |output difference| {d:e}", dir.display());
    d
}

fn check(cfg: RunConfig, edit: impl FnOnce(&Path)) {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let t = train(cfg, dir.path());
    edit(&dir.path().join("run").join(CHECKPOINT_FILE));
    let d = exported_difference(&python, &t, dir.path());
    assert!(d <= 1e-5, "max |output difference| {d}");
}

#[test]
fn an_mlp_grown_by_tiny_gives_grownets_outputs() {
    let mut cfg = small_config("spirals");
    cfg.model.hidden = vec![1, 1];
    cfg.train.epochs = 2;
    cfg.growth = Some(GrowthConfig {
        selection: Selection::All,
        every_steps: Some(4),
        max_hidden: Some(vec![8, 8]),
        neurons_per_step: Some(2),
        stats_samples: 128,
        line_search_samples: 128,
        ..GrowthConfig::default()
    });
    check(cfg, |_| {});
}

#[test]
fn a_grown_vgg_cnn_with_batchnorm_gives_grownets_outputs() {
    let mut cfg = small_config("patterns");
    cfg.data.synthetic_train = 256;
    cfg.data.synthetic_test = 64;
    cfg.model.kind = ModelKind::Cnn;
    cfg.model.channels = vec![1, 1, 1];
    cfg.model.convs_per_pool = 2;
    cfg.train.epochs = 2;
    cfg.train.augment = false;
    cfg.growth = Some(GrowthConfig {
        selection: Selection::All,
        every_steps: Some(3),
        max_hidden: Some(vec![4, 4, 4]),
        neurons_per_step: Some(1),
        stats_samples: 64,
        stats_batch_size: 32,
        line_search_samples: 64,
        ..GrowthConfig::default()
    });
    check(cfg, |_| {});
}

#[test]
fn a_grown_resnet18_with_an_inserted_block_gives_grownets_outputs() {
    let mut cfg = small_config("patterns");
    cfg.data.synthetic_train = 96;
    cfg.data.synthetic_test = 32;
    cfg.model.kind = ModelKind::Resnet18;
    cfg.model.width_fraction = 1.0 / 64.0;
    cfg.train.epochs = 1;
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
    // An empty block (hidden width 0, the identity) inserted after the first block, as depth
    // growth does: its convolutions have no channels, which nn.Conv2d cannot run.
    check(cfg, |ckpt| {
        let loaded = checkpoint::load(ckpt, tch::Device::Cpu).unwrap();
        let mut net = checkpoint::network_from(&loaded, ckpt, tch::Device::Cpu).unwrap();
        let mut opt = Optimizer::new(OptimizerConfig::sgd(0.9));
        grownet::growth::depth::insert_block(&mut net, &mut opt, 2).unwrap();
        let mut meta = loaded.meta;
        meta.architecture = net.architecture();
        checkpoint::save(ckpt, &net, &opt, &meta).unwrap();
    });
}

#[test]
fn senn_with_an_inserted_rational_layer_gives_grownets_outputs() {
    let mut cfg = small_config("moons");
    cfg.data.synthetic_train = 300;
    cfg.model.hidden = vec![];
    cfg.train.epochs = 4;
    cfg.train.optimizer = OptimizerKind::AdamW;
    cfg.train.lr = 0.01;
    cfg.growth = Some(common::small_senn());
    check(cfg, |ckpt| {
        let (net, _) = checkpoint::load_network(ckpt, tch::Device::Cpu).unwrap();
        let arch = net.architecture();
        assert!(
            arch.stages
                .iter()
                .any(|s| s.activation == Activation::Rational),
            "no rational layer was inserted: {arch:?}"
        );
    });
}

#[test]
fn user_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p).to_str().unwrap().to_string();
    std::fs::create_dir_all(dir.path().join("empty-run")).unwrap();
    std::fs::create_dir_all(dir.path().join("full")).unwrap();
    std::fs::write(dir.path().join("full").join("notes.txt"), "mine").unwrap();
    let mut cfg = small_config("moons");
    cfg.train.epochs = 1;
    cfg.model.hidden = vec![4];
    train(cfg, dir.path());
    common::assert_fail_with_messages(&[
        (
            vec!["export", &d("missing"), "--to", &d("out")],
            "no such run directory",
        ),
        (
            vec!["export", &d("empty-run"), "--to", &d("out")],
            "no checkpoint checkpoint.safetensors",
        ),
        (
            vec![
                "export",
                &d("run"),
                "--to",
                &d("out"),
                "--checkpoint",
                "other",
            ],
            "no checkpoint other",
        ),
        (
            vec!["export", &d("run"), "--to", &d("full")],
            "is not empty",
        ),
        (
            vec![
                "export",
                &d("run/checkpoint.safetensors"),
                "--to",
                &d("out"),
                "--checkpoint",
                "x",
            ],
            "is a file",
        ),
        (
            vec!["export", &d("run"), "--to", &d("out"), "--format", "keras"],
            "unknown format 'keras'",
        ),
    ]);
    // ONNX without a torch environment, or (the set-up's) without the onnx package: an error
    // that says so and gives the one-line call, before anything is written.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_grownet"))
        .args(["export", &d("run"), "--to", &d("out"), "--format", "onnx"])
        .env("GROWNET_TORCH_ENV", dir.path().join("no-torch"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o).contains("torch.onnx.export(Net.load()"),
        "{}",
        text(&o)
    );
    if let Some(python) = python() {
        let has_onnx = std::process::Command::new(python)
            .args(["-c", "import onnx"])
            .output()
            .is_ok_and(|o| o.status.success());
        let o = grownet(&["export", &d("run"), "--to", &d("onnx"), "--format", "onnx"]);
        if has_onnx {
            assert!(o.status.success(), "{}", text(&o));
            assert!(dir.path().join("onnx").join("model.onnx").is_file());
        } else {
            assert!(!o.status.success());
            assert!(
                text(&o).contains("needs the Python package onnx"),
                "{}",
                text(&o)
            );
            assert!(!dir.path().join("onnx").exists());
        }
    }
    // Nothing was written by the refused commands; --force writes beside the user's file.
    assert!(!dir.path().join("out").exists());
    std::fs::write(dir.path().join("full").join("model.onnx"), "stale").unwrap();
    let o = grownet(&["export", &d("run"), "--to", &d("full"), "--force"]);
    assert!(!dir.path().join("full").join("model.onnx").exists());
    assert!(o.status.success(), "{}", text(&o));
    for f in ["notes.txt", "model.py", "model.safetensors", "README.md"] {
        assert!(dir.path().join("full").join(f).is_file(), "{f}");
    }
}
