//! Behaviour that had no test: optimiser steps by hand (Nesterov, weight decay for SGD and
//! AdamW, Adam's second-moment fill for grown entries), FLOPs per sample by hand, the
//! parameter budget, a forced rollback, SENN's refusal on CNNs, growing an inserted block, and
//! ResNet-18 training.
mod common;

use common::small_config;
use grownet::events::{self, Event, Growth};
use grownet::growth::{depth, proposal, statistics, GrowthConfig, Method, Selection};
use grownet::nn::{Activation, Architecture, Loss, Network};
use grownet::optim::{Optimizer, OptimizerConfig};
use grownet::train::Trainer;
use rand::SeedableRng;
use tch::{Device, Kind, Tensor};

fn param(v: &[f64]) -> Tensor {
    Tensor::from_slice(v).set_requires_grad(true)
}

/// Sets `p`'s gradient to `g` (by differentiating ⟨p, g⟩).
fn set_grad(p: &Tensor, g: &[f64]) {
    let mut q = p.shallow_clone();
    q.zero_grad();
    (p * Tensor::from_slice(g)).sum(Kind::Double).backward();
}

fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(&t.detach()).unwrap()
}

fn close(a: &[f64], b: &[f64]) {
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-12, "{a:?} vs {b:?}");
    }
}

#[test]
fn sgd_with_nesterov_and_weight_decay_by_hand() {
    let (lr, mu, wd) = (0.1, 0.9, 0.01);
    let p = param(&[1.0, -2.0]);
    let params = vec![("w".to_string(), p.shallow_clone())];
    let mut opt = Optimizer::new(OptimizerConfig {
        nesterov: true,
        weight_decay: wd,
        ..OptimizerConfig::sgd(mu)
    });
    // Step 1: g = ∇ + wd·p = (0.5 + 0.01, 1 − 0.02); b = g; p −= lr·(g + μ b).
    set_grad(&p, &[0.5, 1.0]);
    opt.step(&params, lr).unwrap();
    let g1 = [0.5 + wd * 1.0, 1.0 + wd * -2.0];
    let p1 = [
        1.0 - lr * (g1[0] + mu * g1[0]),
        -2.0 - lr * (g1[1] + mu * g1[1]),
    ];
    close(&values(&p), &p1);
    // Step 2: b = μ b + g.
    set_grad(&p, &[-1.0, 0.25]);
    opt.step(&params, lr).unwrap();
    let g2 = [-1.0 + wd * p1[0], 0.25 + wd * p1[1]];
    let b2 = [mu * g1[0] + g2[0], mu * g1[1] + g2[1]];
    let p2 = [
        p1[0] - lr * (g2[0] + mu * b2[0]),
        p1[1] - lr * (g2[1] + mu * b2[1]),
    ];
    close(&values(&p), &p2);
}

#[test]
fn adamw_step_and_decoupled_decay_by_hand() {
    let (lr, wd) = (0.01, 0.1);
    let p = param(&[2.0, -1.0]);
    let params = vec![("w".to_string(), p.shallow_clone())];
    let mut opt = Optimizer::new(OptimizerConfig::adamw(wd));
    let c = opt.config.clone();
    set_grad(&p, &[0.3, -0.4]);
    opt.step(&params, lr).unwrap();
    // p ← p(1 − lr·wd); m = (1−β1)g, v = (1−β2)g²; p −= lr/bc1 · m / (√(v/bc2) + ε).
    let expect: Vec<f64> = [(2.0, 0.3), (-1.0, -0.4)]
        .iter()
        .map(|&(p0, g)| {
            let decayed = p0 * (1.0 - lr * wd);
            let (m, v) = ((1.0 - c.beta1) * g, (1.0 - c.beta2) * g * g);
            let (bc1, bc2) = (1.0 - c.beta1, 1.0 - c.beta2);
            decayed - lr / bc1 * m / ((v / bc2).sqrt() + c.eps)
        })
        .collect();
    close(&values(&p), &expect);
}

#[test]
fn grown_entries_get_the_mean_second_moment() {
    let p = param(&[1.0, 2.0, 3.0]);
    let params = vec![("w".to_string(), p.shallow_clone())];
    let mut opt = Optimizer::new(OptimizerConfig::adamw(0.0));
    set_grad(&p, &[1.0, 2.0, 4.0]);
    opt.step(&params, 1e-3).unwrap();
    opt.grow("w", 0, 2).unwrap();
    let state: std::collections::HashMap<String, Tensor> =
        opt.state_tensors().into_iter().collect();
    let (m, v) = (values(&state["w/0"]), values(&state["w/1"]));
    let old_v = (1.0 - 0.999) * (1.0 + 4.0 + 16.0) / 3.0;
    assert_eq!(m.len(), 5);
    close(&m[3..], &[0.0, 0.0]);
    close(&v[3..], &[old_v, old_v]);
}

#[test]
fn flops_per_sample_by_hand() {
    let net = |arch: &Architecture| {
        Network::new(
            arch,
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(0),
            Device::Cpu,
        )
        .unwrap()
    };
    // MLP 4-3-2: 2·(4·3 + 3·2) multiply-adds.
    let mlp = Architecture::mlp(4, &[3], 2, Activation::Relu);
    assert_eq!(net(&mlp).flops_per_sample(), 2 * (4 * 3 + 3 * 2));
    // CNN on 3×8×8: conv 3→4 at 8×8, max-pool to 4×4, conv 4→5 at 4×4, linear 5→2.
    let cnn = Architecture::cnn([3, 8, 8], &[4, 5], 2, Activation::Relu, true);
    let macs = 4 * 3 * 9 * 64 + 5 * 4 * 9 * 16 + 5 * 2;
    assert_eq!(net(&cnn).flops_per_sample(), 2 * macs);
    // ResNet-18 at full width on 32×32: the standard 0.56 GMACs of the CIFAR variant.
    let resnet = Architecture::resnet18([3, 32, 32], 10, 1.0);
    let stem = 64 * 3 * 9 * 1024;
    let stage = |c_in: i64, c: i64, hw: i64, first_stride: i64| {
        let out = hw / first_stride;
        let first = c * c_in * 9 * out * out + c * c * 9 * out * out;
        let proj = if first_stride > 1 || c_in != c {
            c * c_in * out * out
        } else {
            0
        };
        first + proj + 2 * c * c * 9 * out * out
    };
    let blocks = stage(64, 64, 32, 1)
        + stage(64, 128, 32, 2)
        + stage(128, 256, 16, 2)
        + stage(256, 512, 8, 2);
    assert_eq!(
        net(&resnet).flops_per_sample(),
        2 * (stem + blocks + 512 * 10)
    );
}

#[test]
fn a_parameter_budget_stops_growth_within_one_unit() {
    let mut cfg = small_config("moons");
    cfg.model.hidden = vec![1, 1];
    cfg.train.epochs = 6;
    let budget = 60;
    cfg.growth = Some(GrowthConfig {
        max_parameters: Some(budget),
        selection: Selection::All,
        neurons_per_step: Some(4),
        stats_samples: 256,
        line_search_samples: 256,
        ..GrowthConfig::default()
    });
    let mut t = Trainer::new(cfg, None).unwrap();
    t.quiet = true;
    let s = t.fit().unwrap();
    // 2-1-1-2 has 12 parameters; every unit costs at most 2 + 1 + 2 + 1 more.
    assert!(s.parameters <= budget, "{}", s.parameters);
    assert!(
        s.parameters > budget - 8,
        "{} stopped far below the budget",
        s.parameters
    );
}

#[test]
fn a_step_that_raises_the_loss_is_rolled_back() {
    // Random units with a huge fan-out are applied at scale 1 (function-preserving methods
    // are not line-searched): the loss rises, the step is undone.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config("moons");
    cfg.model.hidden = vec![4];
    cfg.train.epochs = 2;
    cfg.growth = Some(GrowthConfig {
        method: Method::Random,
        random_fan_out_std: 1e3,
        max_hidden: Some(vec![12]),
        ..GrowthConfig::default()
    });
    let mut t = Trainer::new(cfg, Some(dir.path().to_path_buf())).unwrap();
    t.quiet = true;
    let s = t.fit().unwrap();
    let steps: Vec<_> = events::read(&dir.path().join("metrics.jsonl"))
        .unwrap()
        .into_iter()
        .filter_map(|e| match e {
            Event::Growth(Growth::Step(g)) => Some(g),
            _ => None,
        })
        .collect();
    assert!(!steps.is_empty());
    for g in &steps {
        let reason = g.reason.as_deref().unwrap_or("");
        assert!(reason.starts_with("rolled back: loss"), "{reason}");
        assert!(!g.accepted && g.neurons_added == 0 && g.hidden_widths == vec![4]);
    }
    assert_eq!(s.hidden_widths, vec![4]);
    assert!(s.test.loss.is_finite());
}

#[test]
fn senn_refuses_a_cnn_with_a_clear_error() {
    let mut cfg = small_config("patterns");
    cfg.model.kind = grownet::config::ModelKind::Cnn;
    cfg.model.channels = vec![2];
    cfg.train.epochs = 2;
    cfg.growth = Some(GrowthConfig {
        method: Method::Senn,
        ..GrowthConfig::default()
    });
    // Refused before anything is trained, with what to do instead.
    let Err(err) = Trainer::new(cfg, None) else {
        panic!("SENN accepted a CNN");
    };
    let err = err.to_string();
    assert!(
        err.contains("fully connected") && err.contains("--model mlp"),
        "{err}"
    );
}

#[test]
fn an_inserted_block_grows_from_nothing() {
    let arch = Architecture::resnet18([3, 8, 8], 3, 1.0 / 64.0);
    let mut net = Network::new(
        &arch,
        &mut rand_chacha::ChaCha8Rng::seed_from_u64(2),
        Device::Cpu,
    )
    .unwrap();
    let mut opt = Optimizer::new(OptimizerConfig::sgd(0.9));
    let site = depth::insert_block(&mut net, &mut opt, 2).unwrap();
    assert_eq!(net.hidden_widths()[site], 0);
    tch::manual_seed(5);
    let d = grownet::data::Dataset {
        x: Tensor::randn([64, 3, 8, 8], (Kind::Float, Device::Cpu)),
        y: Tensor::randint(3, [64], (Kind::Int64, Device::Cpu)),
    };
    let sites = [grownet::growth::site::Site::new(&net, site, Default::default()).unwrap()];
    let idx = Tensor::arange(64, (Kind::Int64, Device::Cpu));
    let c = statistics::collect(
        &net,
        Loss::CrossEntropy,
        &d,
        &idx,
        32,
        &statistics::Plan::new(&sites, 64),
    )
    .unwrap();
    let p = proposal::closed_form(
        &net,
        &sites[0],
        &c.stats[0],
        c.samples[0].as_ref(),
        Method::Tiny,
        4,
        proposal::Numerics::new(1e-6, 1e-3),
    )
    .unwrap();
    assert!(p.neurons() > 0, "{:?}", p.info.notes);
    assert!(
        p.delta_w.is_none(),
        "an empty block has no weights to update"
    );
    let before = grownet::growth::amplitude::plain_loss(&net, Loss::CrossEntropy, &d);
    let s = 0.5;
    let preview = grownet::growth::amplitude::loss_at(&net, Loss::CrossEntropy, &d, &p, s);
    grownet::growth::apply::apply(&mut net, &mut opt, &p, s).unwrap();
    assert_eq!(net.hidden_widths()[site], p.neurons());
    let after = grownet::growth::amplitude::plain_loss(&net, Loss::CrossEntropy, &d);
    assert!(
        (after - preview).abs() < 1e-5,
        "{after} vs preview {preview}"
    );
    assert!(after < before, "{after} !< {before}");
}

#[test]
fn resnet18_trains() {
    let mut cfg = small_config("patterns");
    cfg.model.kind = grownet::config::ModelKind::Resnet18;
    cfg.model.width_fraction = 1.0 / 64.0;
    cfg.data.synthetic_train = 256;
    cfg.data.synthetic_test = 128;
    cfg.train.epochs = 3;
    cfg.train.batch_size = 32;
    cfg.train.augment = false;
    let mut t = Trainer::new(cfg, None).unwrap();
    t.quiet = true;
    let before = t.evaluate(&t.data.train);
    let s = t.fit().unwrap();
    assert!(
        s.train.loss < 0.8 * before.loss,
        "{} → {}",
        before.loss,
        s.train.loss
    );
}
