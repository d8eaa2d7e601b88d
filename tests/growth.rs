//! TINY growth through the tch pipeline: statistics, preview = apply, optimiser migration,
//! rollback, and whole runs that grow.
mod common;

use common::{all_idx, copy, small_config};
use grownet::data::Dataset;
use grownet::events::Summary;
use grownet::growth::site::{ConvNeuron, Site};
use grownet::growth::{amplitude, apply, proposal, statistics, GrowthConfig, Method, Selection};
use grownet::nn::{Activation, Architecture, Loss, Network};
use grownet::optim::{NewSecondMoment, Optimizer, OptimizerConfig};
use grownet::train::{read_events, Trainer, METRICS_FILE};
use rand::SeedableRng;
use tch::{Device, Kind, Tensor};

fn net(hidden: &[i64], act: Activation, seed: u64) -> Network {
    let arch = Architecture::mlp(4, hidden, 3, act);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    Network::new(&arch, &mut rng, Device::Cpu).unwrap()
}

fn data(n: i64, seed: i64) -> Dataset {
    tch::manual_seed(seed);
    let x = Tensor::randn([n, 4], (Kind::Float, Device::Cpu));
    let y = (x.narrow(1, 0, 1) * 2.0 + x.narrow(1, 1, 1).square())
        .squeeze_dim(1)
        .gt(0.5)
        .to_kind(Kind::Int64)
        + x.narrow(1, 2, 1)
            .squeeze_dim(1)
            .gt(1.0)
            .to_kind(Kind::Int64);
    Dataset { x, y }
}

fn sites(net: &Network, ks: &[usize]) -> Vec<Site> {
    ks.iter()
        .map(|&k| Site::new(net, k, ConvNeuron::Restricted).unwrap())
        .collect()
}

fn propose(net: &Network, d: &Dataset, site: usize, method: Method) -> proposal::Proposal {
    let s = sites(net, &[site]);
    let c = statistics::collect(
        net,
        Loss::CrossEntropy,
        d,
        &all_idx(d.len() as i64),
        64,
        &statistics::Plan::new(&s, 256),
    )
    .unwrap();
    proposal::closed_form(
        net,
        &s[0],
        &c.stats[0],
        c.samples[0].as_ref(),
        method,
        8,
        proposal::Numerics::new(1e-6, 1e-3),
    )
    .unwrap()
}

/// docs/tiny.md §2.16: with mirrors every closed-form unit comes with `(−α, −ω)`, at most half
/// the step's units from the closed form, and the pairs realise the linear change exactly: the
/// measured first order through the ReLU is the closed form's `d + Σλ² + C`.
#[test]
fn mirrored_units_realise_the_closed_forms_first_order() {
    let n = net(&[3, 2], Activation::Relu, 2);
    let d = data(300, 2);
    let s = sites(&n, &[0]);
    let c = statistics::collect(
        &n,
        Loss::CrossEntropy,
        &d,
        &all_idx(d.len() as i64),
        300, // one batch: the measured first order's rows are the statistics' samples
        &statistics::Plan::new(&s, 300),
    )
    .unwrap();
    let mirrors = proposal::Numerics {
        mirrors: true,
        ..proposal::Numerics::new(1e-6, 1e-3)
    };
    let form = |cap, numerics| {
        let (st, sm) = (&c.stats[0], c.samples[0].as_ref());
        proposal::closed_form(&n, &s[0], st, sm, Method::Tiny, cap, numerics).unwrap()
    };
    let plain = form(4, proposal::Numerics::new(1e-6, 1e-3));
    let p = form(8, mirrors);
    assert!(p.mirrored && !plain.mirrored);
    let k = plain.neurons();
    assert!(k > 0);
    assert_eq!(
        p.neurons(),
        2 * k,
        "each of the closed form's units and its mirror"
    );
    for i in 0..k {
        let (a, m) = (p.alpha_w.get(2 * i), p.alpha_w.get(2 * i + 1));
        assert_eq!(
            f64::try_from((&a + &m).abs().max()).unwrap(),
            0.0,
            "unit {i}'s mirror"
        );
        let (w, v) = (p.omega.select(1, 2 * i), p.omega.select(1, 2 * i + 1));
        assert_eq!(f64::try_from((&w + &v).abs().max()).unwrap(), 0.0);
    }
    let measured = p
        .info
        .fo_measured
        .expect("measured first order at a dense ReLU site");
    let linear = p.info.fo_with_cross;
    assert!(
        (measured - linear).abs() <= 1e-4 * linear.abs(),
        "measured {measured} vs linear {linear}"
    );
    // Lone ReLU units realise another change (the positive part of each): not the linear one.
    let single = plain.info.fo_measured.unwrap();
    assert!(
        (single - linear).abs() > 1e-3 * linear.abs(),
        "lone units {single}"
    );
    // With room for one unit there is no pair: the plain closed form.
    assert_eq!(form(1, mirrors).neurons(), 1);
}

#[test]
fn statistics_match_brute_force_and_are_batching_invariant() {
    let n = net(&[3, 2], Activation::Tanh, 1);
    let d = data(100, 1);
    let s = sites(&n, &[0, 1]);
    let a = statistics::collect(
        &n,
        Loss::CrossEntropy,
        &d,
        &all_idx(100),
        7,
        &statistics::Plan::new(&s, 10),
    )
    .unwrap();
    let b = statistics::collect(
        &n,
        Loss::CrossEntropy,
        &d,
        &all_idx(100),
        100,
        &statistics::Plan::new(&s, 10),
    )
    .unwrap();
    for (sa, sb) in a.stats.iter().zip(&b.stats) {
        for (ma, mb) in [
            (&sa.s, &sb.s),
            (&sa.m, &sb.m),
            (&sa.s2, &sb.s2),
            (&sa.m2, &sb.m2),
            (&sa.p, &sb.p),
        ] {
            // f64 sums of the f32 network's values: batches of 7 and of 100 may round the
            // forward and backward passes differently (MKL's AVX-512 kernels do), by f32
            // rounding at most.
            let err = (ma - mb).norm_max();
            assert!(err <= 1e-6 * ma.norm_max(), "{err:e}");
        }
    }
    // Brute force for site 0: B̃₋₂ = [x, 1], B̃₋₁ = [tanh(W₀x + b₀), 1], G = ∂ℓ/∂a₁ per sample.
    let x = d.x.to_kind(Kind::Double);
    let p: Vec<Tensor> = n
        .named_parameters()
        .iter()
        .map(|(_, t)| t.detach().to_kind(Kind::Double))
        .collect();
    let h = x.linear(&p[0], Some(&p[1])).tanh();
    let a1 = h.linear(&p[2], Some(&p[3])).set_requires_grad(true);
    let out = a1.tanh().linear(&p[4], Some(&p[5]));
    let loss = out.log_softmax(-1, Kind::Double).nll_loss_nd(
        &d.y,
        None::<Tensor>,
        tch::Reduction::Sum,
        -100,
    );
    let g = Tensor::run_backward(&[&loss], &[&a1], false, false).remove(0);
    let ones = Tensor::ones([100, 1], (Kind::Double, Device::Cpu));
    let b2 = Tensor::cat(&[&x, &ones], 1);
    let b1 = Tensor::cat(&[&h, &ones], 1);
    let check = |t: Tensor, m: &faer::Mat<f64>| {
        let t = t / 100.0;
        for i in 0..m.nrows() {
            for j in 0..m.ncols() {
                let v = t.double_value(&[i as i64, j as i64]);
                assert!(
                    (v - m[(i, j)]).abs() < 1e-6 * (1.0 + v.abs()),
                    "{v} vs {}",
                    m[(i, j)]
                );
            }
        }
    };
    let s = &a.stats[0];
    check(b1.tr().matmul(&b1), &s.s);
    check(b1.tr().matmul(&g), &s.m);
    check(b2.tr().matmul(&b2), &s.s2);
    check(b2.tr().matmul(&g), &s.m2);
    check(b2.tr().matmul(&b1), &s.p);
    assert!((a.loss - loss.double_value(&[]) / 100.0).abs() < 1e-5);
}

/// Largest relative difference between two matrices (Frobenius norm of the difference over
/// the norm of the reference).
fn rel_diff(a: &faer::Mat<f64>, b: &faer::Mat<f64>) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            num += (a[(i, j)] - b[(i, j)]).powi(2);
            den += b[(i, j)].powi(2);
        }
    }
    (num / den.max(f64::MIN_POSITIVE)).sqrt()
}

#[test]
fn mixed_precision_statistics_stay_within_the_bound_of_the_f64_path() {
    // docs/tiny.md §2.2 "Precision": f32 products per minibatch, f64 sums across minibatches.
    // On 4096 samples in batches of 512 through a 4-16-12-3 MLP (ReLU): every statistic and
    // the first order of both sites within 1e-6 (relative) of the all-f64 path; δ and the λ's,
    // which carry the conditioning of S and S₂, within 5e-5 (measured: 1.3e-7, 2.5e-7, 9.4e-6
    // and 1.3e-5).
    let n = net(&[16, 12], Activation::Relu, 3);
    let d = data(4096, 4);
    let s = sites(&n, &[0, 1]);
    let idx = all_idx(4096);
    let collect = |precision| {
        let mut plan = statistics::Plan::new(&s, 0);
        plan.precision = precision;
        statistics::collect(&n, Loss::CrossEntropy, &d, &idx, 512, &plan).unwrap()
    };
    let (exact, mixed) = (collect(Kind::Double), collect(Kind::Float));
    let opts = grownet::growth::tiny::TinyOptions::tiny();
    let (mut stats, mut first_order, mut solved): (f64, f64, f64) = (0.0, 0.0, 0.0);
    for (e, m) in exact.stats.iter().zip(&mixed.stats) {
        for (a, b) in [
            (&m.s, &e.s),
            (&m.m, &e.m),
            (&m.s2, &e.s2),
            (&m.m2, &e.m2),
            (&m.p, &e.p),
        ] {
            stats = stats.max(rel_diff(a, b));
        }
        let pe = grownet::growth::tiny::propose_neurons(e, 1.0, &opts);
        let pm = grownet::growth::tiny::propose_neurons(m, 1.0, &opts);
        assert!(pe.n_neurons() > 0 && pe.n_neurons() == pm.n_neurons());
        first_order = first_order.max((pm.fo_gromo - pe.fo_gromo).abs() / pe.fo_gromo.abs());
        solved = solved.max(rel_diff(&pm.delta, &pe.delta));
        for (lm, le) in pm.lambdas.iter().zip(&pe.lambdas) {
            solved = solved.max((lm - le).abs() / le);
        }
    }
    eprintln!("mixed against f64: statistics {stats:.2e}, first order {first_order:.2e}, δ and λ {solved:.2e}");
    assert!(stats > 0.0, "the mixed path must actually compute in f32");
    assert!(
        stats < 1e-6 && first_order < 1e-6,
        "{stats:.3e} {first_order:.3e}"
    );
    assert!(solved < 5e-5, "δ or a λ moved by {solved:.3e}");
}

#[test]
fn extended_forward_equals_apply_for_every_site_and_scale() {
    for act in [Activation::Tanh, Activation::Relu] {
        let base = net(&[3, 2], act, 2);
        let d = data(200, 2);
        for site in [0, 1] {
            let p = propose(&base, &d, site, Method::Tiny);
            assert!(p.neurons() > 0, "site {site} proposes nothing");
            assert!(p.delta_w.is_some());
            for s in [0.25, 1.0, 2.0] {
                let preview = tch::no_grad(|| amplitude::forward_extended(&base, &d.x, &p, s));
                let mut grown = copy(&base);
                let mut opt = Optimizer::new(OptimizerConfig::sgd(0.9));
                apply::apply(&mut grown, &mut opt, &p, s).unwrap();
                assert_eq!(
                    grown.hidden_widths()[site],
                    base.hidden_widths()[site] + p.neurons()
                );
                let out = tch::no_grad(|| grown.forward(&d.x, false));
                let diff = (out - preview).abs().max().double_value(&[]);
                assert!(diff < 1e-5, "{act} site {site} s={s}: max diff {diff}");
            }
        }
    }
}

/// At a small scale the measured decrease of the loss is the first order with the cross term
/// (docs/tiny.md §2.6), in f64: within 0.1 %, and at least five times closer than GroMo's
/// estimate without it when the cross term matters.
/// docs/tiny.md §9, "The full neuron's orientation": at a full conv neuron site whose producer
/// max-pools behind BatchNorm and ReLU, the measured first order (each channel oriented) is the
/// previewed decrease at a small scale, `(L0 − L(s))/s²`, on the statistics' own images; some
/// of these cases flip a channel.
#[test]
fn full_neuron_channels_are_oriented_by_their_measured_first_order() {
    let mut flips = 0;
    for seed in 0..6 {
        let (p, previewed) = full_neuron_case(seed);
        let measured = p
            .info
            .fo_measured
            .expect("a measured first order at a full ReLU site");
        assert!(
            (previewed - measured).abs() <= 1e-2 * measured.abs() && measured > 0.0,
            "seed {seed}: previewed {previewed} vs measured {measured}"
        );
        flips += p
            .info
            .notes
            .iter()
            .filter(|n| n.contains("flipped"))
            .count();
    }
    assert!(flips > 0, "no case flipped a channel");
}

/// A full-neuron proposal of up to 6 channels at the first site of a 3-4 VGG with BatchNorm
/// (max pooling between the convs) on random images, and its previewed decrease at scale 0.01
/// divided by the scale's square.
fn full_neuron_case(seed: u64) -> (proposal::Proposal, f64) {
    let arch = Architecture::vgg([3, 8, 8], &[3, 4], 1, 5, Activation::Relu, true);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut n = Network::new(&arch, &mut rng, Device::Cpu).unwrap();
    n.to_kind(Kind::Double);
    tch::manual_seed(seed as i64);
    let x = Tensor::randn([96, 3, 8, 8], (Kind::Double, Device::Cpu));
    let y = Tensor::randint(5, [96], (Kind::Int64, Device::Cpu));
    let d = Dataset { x, y };
    let s = vec![Site::new(&n, 0, ConvNeuron::Full).unwrap()];
    let c = statistics::collect(
        &n,
        Loss::CrossEntropy,
        &d,
        &all_idx(96),
        96, // one batch: the measured first order's images are the statistics' samples
        &statistics::Plan::new(&s, 96),
    )
    .unwrap();
    let p = proposal::closed_form(
        &n,
        &s[0],
        &c.stats[0],
        c.samples[0].as_ref(),
        Method::TinyPaper,
        6,
        proposal::Numerics::new(1e-9, 1e-6),
    )
    .unwrap();
    assert!(p.neurons() > 0);
    let scale = 0.01;
    let l0 = amplitude::loss_at(&n, Loss::CrossEntropy, &d, &p, 0.0);
    let l = amplitude::loss_at(&n, Loss::CrossEntropy, &d, &p, scale);
    (p, (l0 - l) / (scale * scale))
}

#[test]
fn preview_at_small_scale_decreases_the_loss_and_flipped_sign_increases_it() {
    let mut base = net(&[3, 2], Activation::Tanh, 3);
    base.to_kind(Kind::Double);
    let d = data(400, 3);
    let d = Dataset {
        x: d.x.to_kind(Kind::Double),
        y: d.y,
    };
    let mut p = propose(&base, &d, 0, Method::TinyPaper);
    let l0 = amplitude::loss_at(&base, Loss::CrossEntropy, &d, &p, 0.0);
    let s = 0.02;
    let l = amplitude::loss_at(&base, Loss::CrossEntropy, &d, &p, s);
    assert!(l < l0, "{l} !< {l0}");
    let measured = (l0 - l) / (s * s);
    let (with, without) = (p.info.fo_with_cross, p.info.fo_gromo);
    let (err_with, err_without) = ((measured - with).abs(), (measured - without).abs());
    // Here C is about a quarter of the first order: measured 0.0077985, with C 0.0077987,
    // without 0.0057451.
    assert!(err_with < 1e-3 * with, "measured {measured} vs {with}");
    assert!(
        err_with * 5.0 < err_without,
        "the cross term does not matter here: {err_with} vs {err_without}"
    );
    p.omega = -&p.omega;
    assert!(amplitude::loss_at(&base, Loss::CrossEntropy, &d, &p, s) > l0);
}

#[test]
fn optimizer_state_migrates_and_rollback_restores_everything() {
    let mut n = net(&[3, 2], Activation::Relu, 4);
    let d = data(200, 4);
    let mut opt = Optimizer::new(OptimizerConfig::adamw(0.01));
    let params = n.named_parameters();
    Loss::CrossEntropy
        .mean(&n.forward(&d.x, true), &d.y)
        .backward();
    opt.step(&params, 1e-3).unwrap();
    let before: Vec<(String, Tensor)> = opt
        .state_tensors()
        .into_iter()
        .map(|(k, t)| (k, t.copy()))
        .collect();
    let out_before = tch::no_grad(|| n.forward(&d.x, false));
    let p = propose(&n, &d, 0, Method::Tiny);
    let k = p.neurons();
    let snap = grownet::surgery::Snapshot::of_site(&n, &opt, 0);
    apply::apply(&mut n, &mut opt, &p, 0.5).unwrap();
    let after: std::collections::HashMap<String, Tensor> =
        opt.state_tensors().into_iter().collect();
    for (key, old) in &before {
        let new = &after[key];
        if key.starts_with("stages.0.layer.weight") || key.starts_with("stages.0.layer.bias") {
            assert_eq!(new.size()[0], old.size()[0] + k);
            assert!(new.narrow(0, 0, old.size()[0]).equal(old), "{key} changed");
            if key.ends_with("/0") {
                assert_eq!(
                    new.narrow(0, old.size()[0], k)
                        .abs()
                        .sum(Kind::Float)
                        .double_value(&[]),
                    0.0
                );
            }
        } else if key.starts_with("stages.1.layer.weight") {
            assert_eq!(new.size()[1], old.size()[1] + k);
            assert!(new.narrow(1, 0, old.size()[1]).equal(old), "{key} changed");
        } else {
            assert!(new.equal(old), "{key} changed");
        }
    }
    // Rolling back to the snapshot taken before growth restores shapes and values.
    snap.restore(&mut n, &mut opt);
    assert_eq!(n.hidden_widths(), vec![3, 2]);
    assert!(tch::no_grad(|| n.forward(&d.x, false)).equal(&out_before));
}

#[test]
fn gradmax_and_random_neurons_preserve_the_function_and_then_learn() {
    for method in [Method::GradMax, Method::Random] {
        let mut n = net(&[3, 2], Activation::Relu, 5);
        let d = data(200, 5);
        let out = tch::no_grad(|| n.forward(&d.x, false));
        let p = if method == Method::Random {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
            proposal::random(&n, 0, 4, 0.0, &mut rng).unwrap()
        } else {
            propose(&n, &d, 0, method)
        };
        assert!(p.function_preserving && p.neurons() > 0);
        let mut opt = Optimizer::new(OptimizerConfig::sgd(0.0));
        apply::apply(&mut n, &mut opt, &p, 1.0).unwrap();
        assert!(tch::no_grad(|| n.forward(&d.x, false)).allclose(&out, 1e-6, 1e-6, false));
        // One SGD step gives the new neurons non-zero weights on the side that was zero.
        let params = n.named_parameters();
        Loss::CrossEntropy
            .mean(&n.forward(&d.x, true), &d.y)
            .backward();
        opt.step(&params, 0.1).unwrap();
        let (side, dim) = if method == Method::GradMax {
            (&n.stages[0], 0)
        } else {
            (&n.stages[1], 1)
        };
        let w = side.layer.weight().narrow(dim, 3, p.neurons());
        assert!(
            w.abs().sum(Kind::Float).double_value(&[]) > 0.0,
            "{method:?} neurons do not learn"
        );
    }
}

fn growth_config(max: Vec<i64>) -> GrowthConfig {
    GrowthConfig {
        max_hidden: Some(max),
        stats_samples: 512,
        line_search_samples: 256,
        ..GrowthConfig::default()
    }
}

/// A width-1 MLP on the teacher task (1500 samples) grown with `g` for `epochs` epochs: the
/// test loss before training, the run's summary and its events.
fn grow_teacher(g: GrowthConfig, epochs: usize) -> (f64, Summary, Vec<serde_json::Value>) {
    let (start, _, s, events) = fit_teacher(g, epochs, None);
    (start, s, events)
}

/// [`grow_teacher`] with `val_fraction` of the training set held out (`None`: the default), also
/// returning the finished trainer.
fn fit_teacher(
    g: GrowthConfig,
    epochs: usize,
    val_fraction: Option<f64>,
) -> (f64, Trainer, Summary, Vec<serde_json::Value>) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config("teacher");
    cfg.data.synthetic_train = 1500;
    if let Some(v) = val_fraction {
        cfg.data.val_fraction = v;
    }
    cfg.model.hidden = vec![1];
    cfg.train.epochs = epochs;
    cfg.growth = Some(g);
    let mut t = Trainer::new(cfg, Some(dir.path().to_path_buf())).unwrap();
    t.quiet = true;
    let start = t.evaluate(&t.data.test).loss;
    let s = t.fit().unwrap();
    let events = read_events(&dir.path().join(METRICS_FILE)).unwrap();
    (start, t, s, events)
}

#[test]
fn tiny_grows_a_width_one_network_and_the_loss_falls() {
    let (start, s, events) = grow_teacher(growth_config(vec![32]), 8);
    assert!(s.hidden_widths[0] > 4, "widths {:?}", s.hidden_widths);
    assert!(s.test.loss < 0.7 * start, "{} -> {}", start, s.test.loss);
    let growth: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "growth" && e["accepted"] == true)
        .collect();
    assert!(!growth.is_empty());
    for e in growth {
        assert!(e["measured_decrease"].as_f64().unwrap() > 0.0, "{e}");
        for key in [
            "lambdas",
            "bottleneck",
            "fo_gromo",
            "fo_with_cross",
            "scale",
            "seconds_statistics",
        ] {
            assert!(!e[key].is_null(), "{key} missing in {e}");
        }
    }
}

/// `--new-second-moment reset`: after every growth check that changed the network the optimiser
/// starts again (its step count counts from the last such check), and growth still pays; with
/// the default fill the state lives through growth.
#[test]
fn reset_restarts_the_optimiser_after_each_check_that_grew() {
    let run = |fill: NewSecondMoment| {
        let mut g = growth_config(vec![32]);
        g.new_second_moment = fill;
        let (start, t, s, events) = fit_teacher(g, 4, None);
        assert_eq!(
            t.config.train.optimizer,
            grownet::optim::OptimizerKind::AdamW
        );
        let last = events
            .iter()
            .filter(|e| e["event"] == "growth" && e["accepted"] == true)
            .map(|e| e["step"].as_u64().unwrap())
            .max()
            .expect("growth kept a step");
        (start, s.test.loss, t.step as u64, last, t.opt.steps)
    };
    let (start, loss, steps, last, opt_steps) = run(NewSecondMoment::Reset);
    assert!(last < steps, "growth ended before the last step");
    assert_eq!(
        opt_steps,
        steps - last,
        "the optimiser counts from the last growth"
    );
    assert!(loss < 0.7 * start, "{start} -> {loss}");
    let (_, _, steps, _, opt_steps) = run(NewSecondMoment::Mean);
    assert_eq!(
        opt_steps, steps,
        "the default keeps the optimiser through growth"
    );
}

/// `--fan-in-noise`: the noisy units are what the step previews and applies (their previews
/// differ from the closed form's), the draws follow the seed, and growth still lowers the loss.
#[test]
fn fan_in_noise_changes_the_previews_reproducibly_and_growth_still_pays() {
    let run = |noise: f64| {
        let mut g = growth_config(vec![32]);
        g.fan_in_noise = noise;
        let (start, s, events) = grow_teacher(g, 4);
        let previews: Vec<f64> = events
            .iter()
            .filter(|e| e["event"] == "growth")
            .filter_map(|e| e["loss_preview"].as_f64())
            .collect();
        (start, s.test.loss, s.hidden_widths[0], previews)
    };
    let (start, plain_loss, _, plain) = run(0.0);
    let (_, noisy_loss, width, noisy) = run(1.0);
    let (_, _, _, again) = run(1.0);
    assert!(!noisy.is_empty() && width > 4, "width {width}");
    assert_eq!(noisy, again, "the noise follows the seed");
    assert_ne!(
        noisy[0], plain[0],
        "the first step previews the noisy units"
    );
    assert!(
        plain_loss < 0.7 * start && noisy_loss < 0.7 * start,
        "{start} -> {plain_loss}, {noisy_loss}"
    );
}

/// `growth.companions`: every kept step brings `round(c·K)` random zero-fan-out units, no more
/// than the target width leaves room for; the widths add up, the draws follow the seed, the
/// target is not overshot and the grown network still learns.
#[test]
fn companions_go_with_every_kept_step_within_the_target_width() {
    let run = |companions: f64| {
        let mut g = growth_config(vec![24]);
        g.companions = companions;
        let (start, s, events) = grow_teacher(g, 4);
        let steps: Vec<(i64, i64, i64)> = events
            .iter()
            .filter(|e| e["event"] == "growth" && e["accepted"] == true)
            .map(|e| {
                let added = e["neurons_added"].as_i64().unwrap();
                let with = e["companions"].as_i64().unwrap_or(0);
                (added, with, e["hidden_widths"][0].as_i64().unwrap())
            })
            .collect();
        (start, s.test.loss, s.hidden_widths[0], steps)
    };
    let (start, loss, width, steps) = run(1.0);
    assert!(!steps.is_empty());
    let mut w = 1;
    for &(added, with, after) in &steps {
        let room = 24 - w - added;
        assert_eq!(with, added.min(room), "{steps:?}");
        w += added + with;
        assert_eq!(
            after, w,
            "the event's widths include the companions: {steps:?}"
        );
    }
    assert_eq!(width, w);
    assert!(width <= 24 && steps.iter().any(|s| s.1 > 0), "{steps:?}");
    assert_eq!(run(1.0).3, steps, "the companions follow the seed");
    assert!(loss < 0.7 * start, "{start} -> {loss}");
    let (_, _, _, none) = run(0.0);
    assert!(none.iter().all(|s| s.1 == 0), "no companions by default");
}

/// `growth.rank_fill`: on the 4-class teacher task the hidden layer's desired update has rank
/// at most 4, so a step proposes fewer units than its cap of 8; each kept step that took its
/// whole proposal is filled with zero-fan-out units up to the cap (or the target width).
#[test]
fn rank_fill_tops_each_short_kept_step_up_to_its_cap() {
    let mut g = growth_config(vec![40]);
    g.neurons_per_step = Some(8);
    g.rank_fill = true;
    let (start, s, events) = grow_teacher(g, 4);
    let mut w = 1;
    let mut filled = 0;
    for e in events
        .iter()
        .filter(|e| e["event"] == "growth" && e["accepted"] == true)
    {
        let added = e["neurons_added"].as_i64().unwrap();
        let proposed = e["neurons_proposed"].as_i64().unwrap();
        let with = e["companions"].as_i64().unwrap_or(0);
        let cap = 8.min(40 - w);
        let expected = if added == proposed {
            (cap - added).max(0)
        } else {
            0
        };
        assert_eq!(with, expected, "{e}");
        assert!(
            proposed <= 4,
            "the teacher head's rank bounds a proposal: {e}"
        );
        filled += with;
        w += added + with;
        assert_eq!(e["hidden_widths"][0].as_i64().unwrap(), w, "{e}");
    }
    assert!(filled > 0, "some step was filled");
    assert_eq!(s.hidden_widths[0], w);
    assert!(s.test.loss < 0.7 * start, "{start} -> {}", s.test.loss);
}

#[test]
fn the_input_moment_is_the_statistics_pass_s2_on_the_same_sample() {
    use grownet::growth::moment::{InputMoments, MomentRequest};
    let mlp = net(&[5, 4], Activation::Relu, 1);
    let cnn = {
        let arch = Architecture::cnn([3, 8, 8], &[4, 4], 3, Activation::Relu, true);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        Network::new(&arch, &mut rng, Device::Cpu).unwrap()
    };
    tch::manual_seed(3);
    let images = Dataset {
        x: Tensor::randn([40, 3, 8, 8], (Kind::Float, Device::Cpu)),
        y: Tensor::randint(3, [40], (Kind::Int64, Device::Cpu)),
    };
    let idx = Tensor::from_slice(&[3i64, 1, 4, 15, 9, 26, 5, 35, 8, 37, 2, 0]);
    for (n, d, neuron) in [
        (&mlp, data(40, 2), ConvNeuron::Restricted),
        (
            &cnn,
            Dataset {
                x: images.x.copy(),
                y: images.y.copy(),
            },
            ConvNeuron::Restricted,
        ),
        (
            &cnn,
            Dataset {
                x: images.x.copy(),
                y: images.y.copy(),
            },
            ConvNeuron::Full,
        ),
    ] {
        let site = [Site::new(n, 0, neuron).unwrap()];
        fn request<'a>(d: &'a Dataset, index: &'a Tensor, precision: Kind) -> MomentRequest<'a> {
            MomentRequest {
                data: d,
                index,
                batch: 5,
                threshold: 1e-6,
                precision,
            }
        }
        for precision in [Kind::Double, Kind::Float] {
            let mut plan = statistics::Plan::new(&site, 0);
            plan.precision = precision;
            let c = statistics::collect(n, Loss::CrossEntropy, &d, &idx, 5, &plan).unwrap();
            let mut moments = InputMoments::default();
            let m = moments
                .get(n, &site[0], &request(&d, &idx, precision))
                .unwrap()
                .unwrap();
            // The same products in the same precision and the same f64 sums.
            assert_eq!(m.s2, c.stats[0].s2, "{neuron:?} {precision:?}");
            assert!(m.factor.is_some());
            // Cached: the same moment again, even for another sample.
            let head = idx.narrow(0, 0, 4);
            let again = moments
                .get(n, &site[0], &request(&d, &head, precision))
                .unwrap()
                .unwrap();
            assert!(std::sync::Arc::ptr_eq(&m, &again));
            // Prefetched on its thread while the caller goes on: the same moment, bit for bit.
            let mut prefetched = InputMoments::default();
            prefetched.prefetch(n, &site[0], &request(&d, &idx, precision));
            let p = prefetched
                .get(n, &site[0], &request(&d, &idx, precision))
                .unwrap()
                .unwrap();
            assert_eq!(p.s2, m.s2, "{neuron:?}");
            // Another precision is another moment.
            let other = if precision == Kind::Double {
                Kind::Float
            } else {
                Kind::Double
            };
            let o = moments
                .get(n, &site[0], &request(&d, &idx, other))
                .unwrap()
                .unwrap();
            assert!(!std::sync::Arc::ptr_eq(&m, &o));
            assert!(
                o.s2 != m.s2,
                "{neuron:?}: f32 products must differ from f64 ones"
            );
            // A site that does not read the input has no moment to prefetch.
            let inner = Site::new(n, 1, neuron).unwrap();
            prefetched.prefetch(n, &inner, &request(&d, &idx, precision));
            assert!(prefetched
                .get(n, &inner, &request(&d, &idx, precision))
                .unwrap()
                .is_none());
        }
    }
}

#[test]
fn a_fixed_sample_with_mixed_precision_grows_as_the_fresh_f64_one() {
    use grownet::growth::config::{StatisticsPrecision, StatisticsSample};
    // Mean final test loss over three training seeds: one seed's trajectory moves with any
    // change of rounding (the optimiser's kernel, the thread count), the mean much less.
    let mut finals = Vec::new();
    for (sample, precision) in [
        (StatisticsSample::Fresh, StatisticsPrecision::Double),
        (StatisticsSample::Fixed, StatisticsPrecision::Mixed),
    ] {
        let mut total = 0.0;
        for seed in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let mut cfg = small_config("teacher");
            cfg.data.synthetic_train = 1500;
            cfg.model.hidden = vec![1, 1];
            cfg.train.epochs = 6;
            cfg.train.seed = seed;
            let mut g = growth_config(vec![16, 16]);
            g.selection = Selection::All;
            g.statistics_sample = sample;
            g.statistics_precision = precision;
            cfg.growth = Some(g);
            let mut t = Trainer::new(cfg, Some(dir.path().to_path_buf())).unwrap();
            t.quiet = true;
            let s = t.fit().unwrap();
            assert!(
                s.hidden_widths.iter().all(|&w| w > 2),
                "{sample:?}, seed {seed}: {:?}",
                s.hidden_widths
            );
            total += s.test.loss / 3.0;
        }
        finals.push(total);
    }
    assert!(
        finals[1] < 1.1 * finals[0],
        "mean test loss: fresh f64 {} against fixed mixed {}",
        finals[0],
        finals[1]
    );
}

/// Every selection mode grows, and each does what its name says (docs/tiny.md §2.10): `all`
/// tries every site at a check, `round-robin` one site per check in turn (measuring only it),
/// `best` one site per check chosen among every site's proposal.
#[test]
fn growth_from_zero_width_and_every_selection_mode() {
    for (hidden, selection, method) in [
        (vec![0], Selection::Best, Method::Tiny),
        (vec![0], Selection::Best, Method::GradMax),
        (vec![2, 2], Selection::All, Method::Tiny),
        (vec![2, 2], Selection::RoundRobin, Method::TinyPaper),
        (vec![2, 2], Selection::Best, Method::Tiny),
        (vec![2, 2], Selection::Best, Method::Random),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = small_config("moons");
        let start: i64 = hidden.iter().sum();
        let sites = hidden.len();
        let mut g = growth_config(vec![6; hidden.len()]);
        cfg.model.hidden = hidden;
        cfg.train.epochs = 4;
        g.selection = selection;
        g.method = method;
        g.neurons_per_step = Some(2);
        cfg.growth = Some(g);
        let mut t = Trainer::new(cfg, Some(dir.path().to_path_buf())).unwrap();
        t.quiet = true;
        let s = t.fit().unwrap();
        let what = format!("{selection:?}/{method:?}");
        assert!(
            s.hidden_widths.iter().sum::<i64>() > start,
            "{what}: {:?}",
            s.hidden_widths
        );
        assert!(s.hidden_widths.iter().all(|&w| w <= 6));
        assert!(s.test.loss.is_finite());
        // Growth events grouped by check (the step they were logged at).
        let events = read_events(&dir.path().join(METRICS_FILE)).unwrap();
        let mut checks: std::collections::BTreeMap<u64, Vec<&serde_json::Value>> =
            Default::default();
        for e in events.iter().filter(|e| e["event"] == "growth") {
            checks
                .entry(e["step"].as_u64().unwrap())
                .or_default()
                .push(e);
        }
        assert!(!checks.is_empty(), "{what}: no growth event");
        let site = |e: &serde_json::Value| e["site"].as_u64().unwrap();
        let measured = |e: &serde_json::Value| e["bottlenecks"].as_object().unwrap().len();
        match selection {
            Selection::All if sites == 2 => {
                let first = &checks.values().next().unwrap();
                let tried: Vec<u64> = first.iter().map(|e| site(e)).collect();
                assert_eq!(tried, vec![0, 1], "{what}: the first check tried {tried:?}");
            }
            Selection::RoundRobin => {
                let order: Vec<u64> = checks.values().map(|c| site(c[0])).collect();
                assert!(checks.values().all(|c| c.len() == 1), "{what}");
                assert!(checks.values().all(|c| measured(c[0]) == 1), "{what}");
                assert_eq!(&order[..2], &[0, 1], "{what}: {order:?}");
            }
            Selection::Best if method != Method::Random => {
                assert!(checks.values().all(|c| c.len() == 1), "{what}");
                assert!(checks.values().all(|c| measured(c[0]) == sites), "{what}");
            }
            _ => {}
        }
    }
}

#[test]
fn grown_checkpoints_load_and_resume_identically() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config("spirals");
    cfg.model.hidden = vec![1, 1];
    cfg.train.epochs = 4;
    let mut g = growth_config(vec![16, 16]);
    g.selection = Selection::All;
    cfg.growth = Some(g);
    let run = |name: &str, epochs: usize| {
        let mut c = cfg.clone();
        c.train.epochs = epochs;
        let mut t = Trainer::new(c, Some(dir.path().join(name))).unwrap();
        t.quiet = true;
        t.fit().unwrap()
    };
    let full = run("full", 4);
    // A run interrupted after epoch 2 (same configuration), then resumed.
    let mut t = Trainer::new(cfg.clone(), Some(dir.path().join("part"))).unwrap();
    t.quiet = true;
    t.fit_until(2).unwrap();
    drop(t);
    let mut t = Trainer::resume(&dir.path().join("part"), |c| c.train.epochs = 4).unwrap();
    t.quiet = true;
    let resumed = t.fit().unwrap();
    assert_eq!(full.hidden_widths, resumed.hidden_widths);
    assert!(full.hidden_widths.iter().sum::<i64>() > 2);
    assert_eq!(full.test.loss, resumed.test.loss);
    let (netw, meta) = grownet::checkpoint::load_network(
        &dir.path().join("part/checkpoint.safetensors"),
        Device::Cpu,
    )
    .unwrap();
    assert_eq!(netw.hidden_widths(), full.hidden_widths);
    assert_eq!(meta.growth.steps_done, 3);
    let _ = run;
}

#[test]
fn automatic_mode_grows_then_stops_by_itself() {
    // Default acceptance rule: the new neurons' held-out gain over the existing weights' own
    // update must pay its per-neuron cost and be significant.
    let g = GrowthConfig {
        auto: true,
        stats_samples: 512,
        line_search_samples: 450,
        ..GrowthConfig::default()
    };
    let (_, _, s, events) = fit_teacher(g, 12, Some(0.3));
    assert!(s.hidden_widths[0] > 1, "{:?}", s.hidden_widths);
    let growth: Vec<_> = events.iter().filter(|e| e["event"] == "growth").collect();
    let refused = growth.iter().any(|e| {
        e["reason"]
            .as_str()
            .is_some_and(|r| r.contains("the new neurons' gain over the existing weights"))
    });
    assert!(refused, "no growth step was refused for its neurons' gain");
    for e in &growth {
        // Every step was judged on the held-out half that did not choose its scale.
        let j = &e["judgement"];
        assert!(
            j["gain"].is_number() && j["standard_error"].is_number(),
            "{e}"
        );
        if e["accepted"] == true {
            assert_eq!(e["neurons_added"], j["neurons"]);
            let z = GrowthConfig::default().significance;
            assert!(j["gain"].as_f64().unwrap() > z * j["standard_error"].as_f64().unwrap());
        }
    }
    let finished = events
        .iter()
        .position(|e| e["event"] == "growth_finished")
        .unwrap_or_else(|| {
            panic!(
                "automatic growth did not stop (widths {:?})",
                s.hidden_widths
            )
        });
    assert!(
        events[finished..].iter().all(|e| e["event"] != "growth"),
        "growth after it finished"
    );
}

/// `--new-second-moment reset-at-end`: the optimiser keeps its state while the automatic mode
/// grows and starts again once, at the check where growth finished.
#[test]
fn reset_at_end_restarts_the_optimiser_when_automatic_growth_finishes() {
    let g = GrowthConfig {
        auto: true,
        stats_samples: 512,
        line_search_samples: 450,
        new_second_moment: NewSecondMoment::ResetAtEnd,
        ..GrowthConfig::default()
    };
    let (_, t, s, events) = fit_teacher(g, 12, Some(0.3));
    assert_eq!(
        t.config.train.optimizer,
        grownet::optim::OptimizerKind::AdamW
    );
    let grew = events
        .iter()
        .any(|e| e["event"] == "growth" && e["accepted"] == true);
    let end = events
        .iter()
        .find(|e| e["event"] == "growth_finished")
        .and_then(|e| e["step"].as_u64())
        .expect("automatic growth finished");
    assert!(grew && s.hidden_widths[0] > 1, "{:?}", s.hidden_widths);
    assert!(end < t.step as u64);
    assert_eq!(
        t.opt.steps,
        t.step as u64 - end,
        "one reset, when growth finished"
    );
}

/// `growth.end_shrink` (shrink and perturb, docs/tiny.md §2.18): the run is the same as
/// without it until growth has ended for good; the evaluation right after the check that ended
/// it sees the shrunk network. `end_shrink = 1` is no shrink at all.
#[test]
fn end_shrink_leaves_growth_alone_and_shrinks_once_growth_has_ended() {
    let g = |shrink: f64| GrowthConfig {
        auto: true,
        stats_samples: 512,
        line_search_samples: 450,
        new_second_moment: NewSecondMoment::ResetAtEnd,
        end_shrink: shrink,
        ..GrowthConfig::default()
    };
    let runs: Vec<_> = [1.0, 0.5]
        .into_iter()
        .map(|f| fit_teacher(g(f), 12, Some(0.3)).3)
        .collect();
    let ended = |ev: &[serde_json::Value]| {
        ev.iter()
            .position(|e| e["event"] == "growth_finished")
            .expect("automatic growth finished")
    };
    let end = ended(&runs[0]);
    assert_eq!(ended(&runs[1]), end);
    // Timings aside, every number of every event up to the end of growth.
    if let Err(e) = common::same_events(&runs[0][..=end], &runs[1][..=end]) {
        panic!("the runs differ before growth ended: {e}");
    }
    let after = |ev: &[serde_json::Value]| {
        ev[end..]
            .iter()
            .find(|e| e["event"] == "epoch")
            .map(|e| e["val_loss"].as_f64().unwrap())
            .unwrap()
    };
    let (plain, shrunk) = (after(&runs[0]), after(&runs[1]));
    assert!(
        (plain - shrunk).abs() > 1e-6 * plain.abs(),
        "{plain} {shrunk}"
    );
}

/// Grows on the teacher task for 4 epochs under `g` and checks that growth ended once, at the
/// start of epoch `epoch`, with growth steps before and none after; returns the trainer and
/// the `growth_finished` event.
fn one_end_of_growth_at(g: GrowthConfig, epoch: u64) -> (Trainer, serde_json::Value) {
    let (_, t, _, events) = fit_teacher(g, 4, Some(0.3));
    let finished: Vec<_> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e["event"] == "growth_finished")
        .collect();
    assert_eq!(finished.len(), 1, "one end of growth");
    let (at, end) = finished[0];
    assert_eq!(end["epoch"], epoch);
    assert!(events[..at].iter().any(|e| e["event"] == "growth"));
    assert!(events[at..].iter().all(|e| e["event"] != "growth"));
    (t, end.clone())
}

/// The automatic mode checking every 5 steps and never stopping by patience: the growth the
/// two stop tests below end.
fn auto_checks_every_5_steps() -> GrowthConfig {
    GrowthConfig {
        auto: true,
        stats_samples: 512,
        line_search_samples: 450,
        every_steps: Some(5),
        patience: 1000,
        ..GrowthConfig::default()
    }
}

/// `growth.stop_epoch` ends growth for good: a `growth_finished` event at the start of that
/// epoch, no check after it, and what follows the end of growth happens there (the optimiser's
/// reset under `reset-at-end`).
#[test]
fn stop_epoch_ends_growth_for_good_and_resets_at_end() {
    let g = GrowthConfig {
        stop_epoch: Some(2),
        new_second_moment: NewSecondMoment::ResetAtEnd,
        ..auto_checks_every_5_steps()
    };
    let (t, end) = one_end_of_growth_at(g, 2);
    assert!(end["reason"]
        .as_str()
        .unwrap()
        .contains("growth.stop_epoch 2"));
    let step = end["step"].as_u64().unwrap();
    assert_eq!(
        t.opt.steps,
        t.step as u64 - step,
        "one reset, when growth ended"
    );
}

/// `growth.stop_fraction`: growth ends for good when epoch `⌈f · epochs⌉` starts, as
/// `stop_epoch` at that epoch would end it.
#[test]
fn stop_fraction_ends_growth_at_its_share_of_the_run() {
    let g = GrowthConfig {
        stop_fraction: Some(0.3), // ⌈0.3 · 4⌉ = 2
        ..auto_checks_every_5_steps()
    };
    let (_, end) = one_end_of_growth_at(g, 2);
    assert!(end["reason"].as_str().unwrap().contains("stop_fraction"));
}

/// With both set, the earlier ends growth, and the `growth_finished` reason names that key:
/// `stop_epoch` 1 before the fraction's epoch 2.
#[test]
fn the_earlier_stop_names_itself() {
    let g = GrowthConfig {
        stop_epoch: Some(1),
        stop_fraction: Some(0.3), // ⌈0.3 · 4⌉ = 2
        ..auto_checks_every_5_steps()
    };
    let (_, end) = one_end_of_growth_at(g, 1);
    let reason = end["reason"].as_str().unwrap();
    assert!(reason.contains("growth.stop_epoch 1"), "{reason}");
    assert!(!reason.contains("stop_fraction"), "{reason}");
}

/// One round of a check: each judged site with whether its kept step took every unit the
/// closed form offered, fewer than the cap.
type Round = Vec<(u64, bool)>;

/// The growth steps of one run's checks, round by round (a check: a training step; a round: a
/// growth step number).
fn rounds_of_checks(events: &[serde_json::Value], cap: i64) -> Vec<Vec<Round>> {
    let mut checks: Vec<(u64, Vec<(u64, Round)>)> = Vec::new();
    for e in events.iter().filter(|e| e["event"] == "growth") {
        let (step, round) = (
            e["step"].as_u64().unwrap(),
            e["growth_step"].as_u64().unwrap(),
        );
        let offered = e["neurons_proposed"].as_i64().unwrap();
        let exhausted =
            e["accepted"] == true && e["neurons_added"].as_i64() == Some(offered) && offered < cap;
        if checks.last().is_none_or(|c| c.0 != step) {
            checks.push((step, Vec::new()));
        }
        let rounds = &mut checks.last_mut().unwrap().1;
        if rounds.last().is_none_or(|r| r.0 != round) {
            rounds.push((round, Vec::new()));
        }
        rounds
            .last_mut()
            .unwrap()
            .1
            .push((e["site"].as_u64().unwrap(), exhausted));
    }
    checks
        .into_iter()
        .map(|(_, rounds)| rounds.into_iter().map(|(_, sites)| sites).collect())
        .collect()
}

/// `growth.more_rounds = "exhausted"`: a check's next round judges only the sites whose kept
/// step took every unit the closed form offered, fewer than the cap; `any` judges every site
/// that kept its step (docs/tiny.md §10, "Rounds where the closed form ran out").
#[test]
fn exhausted_rounds_go_on_only_where_the_closed_form_ran_out() {
    use grownet::growth::config::MoreRounds;
    let cap = 3;
    let run = |more_rounds| {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = small_config("teacher");
        cfg.data.synthetic_train = 1500;
        cfg.data.val_fraction = 0.3;
        cfg.model.hidden = vec![4, 2];
        cfg.train.epochs = 3;
        cfg.growth = Some(GrowthConfig {
            auto: true,
            selection: Selection::All,
            every_steps: Some(10),
            neurons_per_step: Some(cap as usize),
            stats_samples: 512,
            line_search_samples: 450,
            threshold_per_neuron: 0.0,
            significance: 0.0,
            more_rounds,
            ..GrowthConfig::default()
        });
        let mut t = Trainer::new(cfg, Some(dir.path().to_path_buf())).unwrap();
        t.quiet = true;
        t.fit().unwrap();
        rounds_of_checks(&read_events(&dir.path().join(METRICS_FILE)).unwrap(), cap)
    };
    // Whether some round judged a site the round before did not leave exhausted.
    let beyond = |checks: &[Vec<Round>]| {
        checks.iter().any(|rounds| {
            rounds.windows(2).any(|w| {
                let ran_out: Vec<u64> = w[0].iter().filter(|s| s.1).map(|s| s.0).collect();
                w[1].iter().any(|s| !ran_out.contains(&s.0))
            })
        })
    };
    let exhausted = run(MoreRounds::Exhausted);
    assert!(!beyond(&exhausted), "{exhausted:?}");
    assert!(
        exhausted.iter().any(|rounds| rounds.len() > 1),
        "no check took a second round: {exhausted:?}"
    );
    let any = run(MoreRounds::Any);
    assert!(beyond(&any), "{any:?}");
}

#[test]
fn automatic_mode_can_judge_whole_steps() {
    // `total` with no significance or costs (the rule before neurons were judged on their
    // own): a step is kept when it lowers the held-out loss by the relative threshold,
    // whatever part of that gain the δ step gives.
    let g = GrowthConfig {
        auto: true,
        auto_gain: grownet::growth::AutoGain::Total,
        threshold: 0.02,
        threshold_per_neuron: 0.0,
        significance: 0.0,
        stats_samples: 512,
        line_search_samples: 450,
        ..GrowthConfig::default()
    };
    let (_, _, _, events) = fit_teacher(g, 4, Some(0.3));
    let growth: Vec<_> = events.iter().filter(|e| e["event"] == "growth").collect();
    assert!(!growth.is_empty(), "no growth step was judged");
    let mut judged = 0;
    for e in growth {
        let j = &e["judgement"];
        assert!(j.is_object(), "{e}");
        assert!(j["existing"].is_null(), "{e}");
        assert_eq!(j["gain"], j["total"]);
        if e["neurons_proposed"].as_i64().unwrap() > 0 && e["scale"].as_f64().unwrap() > 0.0 {
            judged += 1;
            assert_eq!(
                e["accepted"] == true,
                j["gain"].as_f64().unwrap() >= 0.02,
                "{e}"
            );
        }
    }
    assert!(judged > 0, "no step reached the verdict");
}

#[test]
fn automatic_settings_do_not_distinguish_scheduled_runs() {
    let scheduled = GrowthConfig {
        max_hidden: Some(vec![8]),
        ..GrowthConfig::default()
    };
    let old_defaults = GrowthConfig {
        threshold: 0.005,
        patience: 2,
        ..scheduled.clone()
    };
    assert_eq!(
        old_defaults.without_unused_auto_settings(),
        scheduled.without_unused_auto_settings()
    );
    let auto = GrowthConfig {
        auto: true,
        ..old_defaults.clone()
    };
    assert_eq!(auto.without_unused_auto_settings(), auto);
    assert_ne!(
        auto.without_unused_auto_settings(),
        GrowthConfig {
            auto: true,
            ..scheduled
        }
    );
}

#[test]
fn automatic_mode_rejects_negative_or_non_finite_thresholds() {
    let auto = GrowthConfig {
        auto: true,
        ..GrowthConfig::default()
    };
    assert!(auto.validate().is_ok());
    for bad in [
        GrowthConfig {
            significance: -1.0,
            ..auto.clone()
        },
        GrowthConfig {
            threshold_per_neuron: f64::NAN,
            ..auto.clone()
        },
        GrowthConfig {
            threshold_per_parameter: f64::INFINITY,
            ..auto.clone()
        },
    ] {
        assert!(bad.validate().is_err(), "{bad:?}");
    }
}

/// The statistics pass of `n` over the samples `idx` of `d` in minibatches of 32, keeping stems
/// in `stems` if given (the stems tests).
fn collect_kept(
    n: &Network,
    d: &Dataset,
    idx: &Tensor,
    s: &[Site],
    stems: Option<&std::cell::RefCell<grownet::growth::stem::Stems>>,
) -> statistics::Collected {
    let mut plan = statistics::Plan::new(s, 16);
    plan.stems = stems;
    statistics::collect(n, Loss::CrossEntropy, d, idx, 32, &plan).unwrap()
}

/// Whether two passes gave the first site the same statistics and loss, bit for bit.
fn same_statistics(a: &statistics::Collected, b: &statistics::Collected) -> bool {
    let (x, y) = (&a.stats[0], &b.stats[0]);
    x.s == y.s && x.m == y.m && x.s2 == y.s2 && x.m2 == y.m2 && x.p == y.p && a.loss == b.loss
}

/// Stems (docs/tiny.md §10): a statistics pass that starts from the kept activations of the
/// stages before the site gives the same statistics, bit for bit, as the whole forward; a step
/// at that site keeps them, one before it drops them.
#[test]
fn statistics_from_kept_stems_are_those_of_the_whole_forward() {
    use grownet::growth::stem::Stems;
    use std::cell::RefCell;
    let n = net(&[6, 5, 4], Activation::Relu, 3);
    let d = data(96, 7);
    let idx = all_idx(96);
    let collect = |s: &[Site], stems: Option<&RefCell<Stems>>| collect_kept(&n, &d, &idx, s, stems);
    let s = sites(&n, &[1]);
    let plain = collect(&s, None);
    let stems = RefCell::new(Stems::default());
    for pass in 0..2 {
        let c = collect(&s, Some(&stems));
        assert!(same_statistics(&plain, &c), "pass {pass}");
        // The site's stems (stage 1) and its consumer's (stage 2), kept on the way.
        assert_eq!(stems.borrow().len(), 2);
        let (h2, _) = n.forward_range(&d.x.narrow(0, 32, 32), None, 0..2, false);
        let kept = stems.borrow();
        assert!(kept.peek(&[&idx, &d.x], 2, 32).unwrap()[1].0.equal(&h2));
    }
    stems.borrow_mut().changed(1);
    assert_eq!(stems.borrow().len(), 1);
    stems.borrow_mut().changed(0);
    assert!(stems.borrow().is_empty());
    // A site whose consumer's stem is kept starts the pass at the consumer: site 0 (whose
    // producer reads the input) and site 1, each after the next site's pass kept its stem.
    for k in [0, 1] {
        let (here, next) = (sites(&n, &[k]), sites(&n, &[k + 1]));
        let whole = collect(&here, None);
        let stems = RefCell::new(Stems::default());
        collect(&next, Some(&stems));
        assert!(stems.borrow().peek(&[&idx, &d.x], k + 1, 32).is_some());
        let c = collect(&here, Some(&stems));
        assert!(same_statistics(&whole, &c), "site {k}");
        let (ra, rb) = (
            whole.samples[0].as_ref().unwrap(),
            c.samples[0].as_ref().unwrap(),
        );
        assert!(ra.b2.equal(&rb.b2) && ra.g.equal(&rb.g), "site {k}");
    }
}

/// A fixed statistics sample's inputs (stage-0 stems) are kept across checks
/// (`Stems::clear_except_inputs_of`): they depend on the data alone, so the passes of a
/// trained (here: another) network that start from them give the statistics of the whole
/// forward, bit for bit, at the input site and past it; other stems are forgotten.
#[test]
fn a_fixed_samples_kept_inputs_give_the_statistics_of_the_whole_forward() {
    use grownet::growth::stem::Stems;
    use std::cell::RefCell;
    let d = data(96, 7);
    let idx = all_idx(96);
    let collect = |n: &Network, s: &[Site], stems: Option<&RefCell<Stems>>| {
        collect_kept(n, &d, &idx, s, stems)
    };
    let before = net(&[6, 5], Activation::Relu, 3);
    let stems = RefCell::new(Stems::default());
    collect(&before, &sites(&before, &[0]), Some(&stems));
    assert_eq!(
        stems.borrow().len(),
        2,
        "the inputs and the consumer's stems"
    );
    stems.borrow_mut().clear_except_inputs_of(&idx);
    assert_eq!(stems.borrow().len(), 1);
    let inputs = stems.borrow().peek(&[&idx, &d.x], 0, 32).unwrap()[2]
        .0
        .shallow_clone();
    assert!(inputs.equal(&d.x.narrow(0, 64, 32)));
    let after = net(&[6, 5], Activation::Relu, 4);
    for k in [0, 1] {
        let s = sites(&after, &[k]);
        let whole = collect(&after, &s, None);
        stems.borrow_mut().clear_except_inputs_of(&idx);
        let kept = collect(&after, &s, Some(&stems));
        assert!(same_statistics(&whole, &kept), "site {k}");
    }
    // Another sample's inputs are not kept.
    stems.borrow_mut().clear_except_inputs_of(&all_idx(96));
    assert!(stems.borrow().is_empty());
}

/// A preview at a plain linear site keeps the producer's output on its data as the next
/// stage's stem: the activations of the whole forward, bit for bit.
#[test]
fn previews_keep_the_producers_output_as_a_stem() {
    use grownet::growth::preview::Previews;
    use grownet::growth::stem::Stems;
    use std::cell::RefCell;
    let n = net(&[6, 5], Activation::Relu, 3);
    let d = data(200, 9);
    let p = propose(&n, &d, 0, Method::Tiny);
    let stems = RefCell::new(Stems::default());
    let previews = Previews::with_stems(&n, &p, &d, Some(&stems));
    assert!(previews.is_cached());
    let (h1, _) = n.forward_range(&d.x, None, 0..1, false);
    let kept = stems.borrow();
    let stem = kept
        .peek(&[&d.x], 1, 200)
        .expect("the producer's output kept");
    assert!(stem[0].0.equal(&h1));
}

/// Mixed-precision checks grow the stems of a step's producer outputs instead of computing
/// them again (docs/tiny.md §10, "Stems"): the grown stems equal a fresh forward up to the
/// product's rounding, later stages' stems are forgotten, and a stem without its producer's
/// stem is not grown.
#[test]
fn grown_stems_are_the_grown_networks_activations() {
    use grownet::growth::stem::Stems;
    let mut n = net(&[5, 4], Activation::Relu, 7);
    let d = data(300, 8);
    let p = propose(&n, &d, 0, Method::Tiny);
    assert!(p.neurons() > 0);
    let mut stems = Stems::default();
    let other = d.x.narrow(0, 0, 100).copy();
    for stage in [0, 1, 2] {
        stems.of(&n, &d.x, stage, 64);
    }
    stems.of(&n, &other, 1, 100); // no stage-0 stem beside it: forgotten
    let old = n.hidden_widths()[0];
    let mut opt = Optimizer::new(OptimizerConfig::sgd(0.9));
    apply::apply(&mut n, &mut opt, &p, 0.5).unwrap();
    stems.grown(&n, 0, old);
    assert_eq!(stems.len(), 2, "stages 0 and 1 of the data");
    assert!(stems.peek(&[&other], 1, 100).is_none());
    assert!(stems.peek(&[&d.x], 2, 64).is_none());
    let grown = stems.peek(&[&d.x], 1, 64).unwrap();
    assert_eq!(grown.len(), 5);
    for (b, (h, _)) in grown.iter().enumerate() {
        let start = 64 * b as i64;
        let x = d.x.narrow(0, start, 64.min(300 - start));
        let (want, _) = tch::no_grad(|| n.forward_range(&x, None, 0..1, false));
        assert_eq!(h.size(), want.size());
        let diff = (h - &want).abs().max().double_value(&[]);
        let scale = want.abs().max().double_value(&[]);
        assert!(diff <= 1e-6 * scale.max(1.0), "minibatch {b}: {diff:e}");
    }
}

/// Under mixed precision the statistics pass sums `M₂` and `P` at the input site through the
/// moment's rows in the basis of `S₂`'s kept eigenvectors, `B̃₋₂Q_r` (docs/tiny.md §2.2, "The
/// input moment"): the part of `M₂` and `P` the whitened solve reads, and so its proposal, as
/// from the rows themselves up to f32 rounding (λ's within 5e-5, as the mixed path's bound:
/// they carry the conditioning of `S₂`), with directions of `S₂` cut.
#[test]
fn statistics_in_the_input_moments_basis_propose_the_same_neurons() {
    use grownet::growth::moment::{InputMoment, InputMoments, MomentRequest};
    use grownet::growth::tiny::{propose_neurons, TinyOptions};
    let n = {
        let arch = Architecture::mlp(8, &[5, 4], 3, Activation::Relu);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        Network::new(&arch, &mut rng, Device::Cpu).unwrap()
    };
    // Eight inputs made of two: with the bias S₂ keeps 3 of 9 directions (the rows are taken in
    // the basis only where the cut keeps at most half of them).
    let mut d = data(400, 4);
    let (a, b) = (d.x.narrow(1, 0, 1), d.x.narrow(1, 1, 1));
    d.x = Tensor::cat(
        &[
            a.shallow_clone(),
            b.shallow_clone(),
            &a + &b,
            &a - &b,
            &a * 2.0,
            &b * 2.0,
            &a + &b * 2.0,
            &a * 3.0 - &b,
        ],
        1,
    );
    let idx = all_idx(300);
    let site = [Site::new(&n, 0, ConvNeuron::Restricted).unwrap()];
    let request = |precision| MomentRequest {
        data: &d,
        index: &idx,
        batch: 64,
        threshold: 1e-4,
        precision,
    };
    let exact = InputMoments::default().get(&n, &site[0], &request(Kind::Double));
    assert!(
        exact.unwrap().unwrap().basis_rows.is_none(),
        "only under mixed precision"
    );
    let m = InputMoments::default()
        .get(&n, &site[0], &request(Kind::Float))
        .unwrap()
        .unwrap();
    let factor = &m.factor.as_ref().unwrap().factor;
    let rows = m.rows_in_basis(0, 300).expect("the rows in the basis");
    assert_eq!((factor.rank(), factor.dim()), (3, 9));
    assert_eq!(rows.size(), vec![300, 3]);
    let without = std::sync::Arc::new(InputMoment {
        s2: m.s2.clone(),
        factor: m.factor.clone(),
        basis_rows: None,
    });
    let stats = |known| {
        let mut plan = statistics::Plan::new(&site, 50);
        plan.precision = Kind::Float;
        plan.known = vec![Some(known)];
        let c = statistics::collect(&n, Loss::CrossEntropy, &d, &idx, 64, &plan).unwrap();
        let sm = c.samples.into_iter().next().unwrap().unwrap();
        (c.stats.into_iter().next().unwrap(), sm)
    };
    let ((a, sa), (b, sb)) = (stats(m.clone()), stats(without));
    // The raw rows (first samples' producer rows, for the measured first order) are the
    // same: in the basis only the producer's first rows are formed.
    assert_eq!((sa.images, sb.images), (50, 50));
    assert_eq!(sa.b2.size(), vec![50, 9]);
    assert!(sa.b2.equal(&sb.b2) && sa.g.equal(&sb.g));
    assert_eq!(
        (&a.s, &a.m),
        (&b.s, &b.m),
        "the consumer's sums do not change"
    );
    // The basis pass keeps `Q_rᵀM₂` and `Q_rᵀP` (r rows), the full one `M₂` and `P`.
    let q = factor.basis.transpose();
    assert!(
        a.in_basis && !b.in_basis,
        "the pass must actually sum in the basis"
    );
    assert!(a.check_shapes().is_ok() && a.m2.nrows() == factor.rank());
    for (x, y) in [(&a.m2, &b.m2), (&a.p, &b.p)] {
        let err = rel_diff(x, &(q * y));
        assert!(err < 1e-5, "{err:.2e}");
    }
    let opts = TinyOptions {
        numerical_threshold: 1e-4,
        ..TinyOptions::tiny()
    };
    let (pa, pb) = (
        propose_neurons(&a, 1.0, &opts),
        propose_neurons(&b, 1.0, &opts),
    );
    assert!(pa.n_neurons() > 0 && pa.n_neurons() == pb.n_neurons());
    for (la, lb) in pa.lambdas.iter().zip(&pb.lambdas) {
        assert!((la - lb).abs() < 5e-5 * lb, "{la} {lb}");
    }
    // The neurons up to their sign: α_k ω_kᵀ.
    let outer = |p: &grownet::growth::tiny::NeuronProposal| &p.omega * &p.alpha;
    assert!(rel_diff(&outer(&pa), &outer(&pb)) < 1e-4);
    assert!((pa.fo_with_cross - pb.fo_with_cross).abs() < 5e-5 * pb.fo_with_cross.abs());
}

/// The automatic mode after a check that kept nothing while a layer that may still grow is a
/// single unit: that layer gets one unit with random fan-in and zero fan-out (the function is
/// unchanged) and the patience starts afresh; while a layer is narrower than the output the
/// patience does not end growth; once none is, it ends growth as before (docs/tiny.md §10,
/// "Rounds and patience", "A layer of one unit").
#[test]
fn a_fruitless_check_widens_one_unit_layers_without_changing_the_function() {
    use grownet::distributed::World;
    use grownet::events::Event;
    use grownet::growth::{Clock, Context, Grower};
    let d = data(600, 3); // three classes
    let g = GrowthConfig {
        auto: true,
        selection: Selection::All,
        patience: 1,
        // No step can pay this: every check keeps nothing.
        threshold_per_neuron: 1e9,
        stats_samples: 256,
        line_search_samples: 256,
        ..GrowthConfig::default()
    };
    // Runs fruitless checks on a network of `hidden` widths: after each, (idle checks,
    // finished, widths); and the events.
    let checks = |hidden: &[i64], n: usize| {
        let mut net = net(hidden, Activation::Relu, 5);
        let mut opt = Optimizer::new(OptimizerConfig::sgd(0.9));
        let mut grower = Grower::new(g.clone()).unwrap();
        let mut events: Vec<Event> = Vec::new();
        let before = net.forward(&d.x, false);
        let mut states = Vec::new();
        for step in 1..=n {
            let mut ctx = Context {
                net: &mut net,
                opt: &mut opt,
                train: &d,
                val: None,
                loss: Loss::CrossEntropy,
                seed: 0,
                clock: Clock {
                    epoch: 0,
                    step: 10 * step,
                },
                events: &mut events,
                world: &World::single(),
            };
            grower.check(&mut ctx).unwrap();
            let s = &grower.state;
            states.push((s.idle_checks, s.finished, net.hidden_widths()));
        }
        let after = net.forward(&d.x, false);
        assert!(
            after.allclose(&before, 1e-6, 1e-6, false),
            "the function changed"
        );
        (states, events)
    };
    let (states, events) = checks(&[1, 4], 2);
    let widened: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Widened(w) => Some(w),
            _ => None,
        })
        .collect();
    assert_eq!(widened.len(), 1, "{events:?}");
    assert_eq!(widened[0].sites, vec![0], "only the one-unit layer");
    assert_eq!(widened[0].hidden_widths, vec![2, 4]);
    // The first check widened and started the count afresh; the second counts, but two units
    // are fewer than the three outputs: growth goes on, nothing more is added.
    assert_eq!(states[0], (0, false, vec![2, 4]));
    assert_eq!(states[1], (1, false, vec![2, 4]));
    // No layer narrower than the output: the first fruitless check ends growth (patience 1).
    let (states, events) = checks(&[3, 4], 1);
    assert_eq!(states[0], (1, true, vec![3, 4]));
    assert!(!events.iter().any(|e| matches!(e, Event::Widened(_))));
}
