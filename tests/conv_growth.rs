//! TINY growth at convolutional sites (docs/tiny.md §3, checks 9, 14, 15, 17): conv → conv with the
//! restricted and the full neuron, conv → linear through global pooling, with and without
//! bias, BatchNorm and pooling; and a CNN that grows while it trains.
mod common;

use common::{all_idx, copy, small_config};
use grownet::data::Dataset;
use grownet::growth::projection::KEPT_ROWS_BYTES;
use grownet::growth::site::{ConvNeuron, Site};
use grownet::growth::{
    amplitude, apply, proposal, statistics, GrowthConfig, LineSearch, Method, Selection,
};
use grownet::nn::{Activation, Architecture, LayerSpec, Loss, Network, Pool, StageSpec};
use grownet::optim::{Optimizer, OptimizerConfig};
use grownet::train::Trainer;
use rand::SeedableRng;
use tch::{Device, Kind, Tensor};

/// A conv stage `c_in → c_out`, 3×3, with the given stride, padding, pooling, BatchNorm.
fn conv(c_in: i64, c_out: i64, stride: i64, padding: i64, pool: Pool, bn: bool) -> StageSpec {
    StageSpec {
        layer: LayerSpec::Conv2d {
            inputs: c_in,
            outputs: c_out,
            kernel: 3,
            stride,
            padding,
            bias: !bn,
        },
        batch_norm: bn,
        activation: Activation::Identity,
        pool,
        skip: None,
    }
}

/// conv(2→3) → conv(3→4, `stride2`, `pad2`) → global pool → linear(4→2), on 2×7×7 images.
fn net(first_pool: Pool, stride2: i64, pad2: i64, bn: bool, act: Activation, seed: u64) -> Network {
    let mut stages = vec![
        conv(2, 3, 1, 1, first_pool, bn),
        conv(3, 4, stride2, pad2, Pool::GlobalAvg, bn),
        StageSpec::linear_head(4, 2),
    ];
    stages[0].activation = act;
    stages[1].activation = act;
    let arch = Architecture {
        input_shape: vec![2, 7, 7],
        stages,
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let net = Network::new(&arch, &mut rng, Device::Cpu).unwrap();
    if bn {
        // Non-trivial running statistics, so that eval-mode BatchNorm is not the identity.
        for (name, t) in net.named_buffers() {
            let v = if name.ends_with("var") { 1.7 } else { 0.3 };
            tch::no_grad(|| {
                let _ = t.shallow_clone().fill_(v);
            });
        }
    }
    net
}

fn regression_data(n: i64, seed: i64) -> Dataset {
    tch::manual_seed(seed);
    let x = Tensor::randn([n, 2, 7, 7], (Kind::Float, Device::Cpu));
    let y = Tensor::randn([n, 2], (Kind::Float, Device::Cpu));
    Dataset { x, y }
}

/// The same network and data in f64, for first-order checks at small scales.
fn in_f64(mut net: Network, d: &Dataset) -> (Network, Dataset) {
    net.to_kind(Kind::Double);
    let d = Dataset {
        x: d.x.to_kind(Kind::Double),
        y: d.y.to_kind(Kind::Double),
    };
    (net, d)
}

fn propose(
    net: &Network,
    d: &Dataset,
    site: usize,
    neuron: ConvNeuron,
    method: Method,
) -> proposal::Proposal {
    propose_with(
        net,
        d,
        site,
        neuron,
        method,
        proposal::Numerics::new(1e-9, 1e-6),
    )
}

fn propose_with(
    net: &Network,
    d: &Dataset,
    site: usize,
    neuron: ConvNeuron,
    method: Method,
    numerics: proposal::Numerics,
) -> proposal::Proposal {
    let s = [Site::new(net, site, neuron).unwrap()];
    let c = statistics::collect(
        net,
        Loss::Mse,
        d,
        &all_idx(d.len() as i64),
        16,
        &statistics::Plan::new(&s, 64),
    )
    .unwrap();
    proposal::closed_form(
        net,
        &s[0],
        &c.stats[0],
        c.samples[0].as_ref(),
        method,
        3,
        numerics,
    )
    .unwrap()
}

/// docs/tiny.md §8: the decompositions through libtorch on the network's device (the CPU
/// here) give the host's proposal: the same λ and δ, each unit up to its sign.
#[test]
fn decompositions_on_the_device_give_the_hosts_proposal() {
    let d = regression_data(48, 5);
    let on_device = proposal::Numerics {
        on_device: true,
        ..proposal::Numerics::new(1e-9, 1e-6)
    };
    let n = net(Pool::None, 1, 1, true, Activation::Relu, 4);
    for site in [0, 1] {
        let host = propose(&n, &d, site, ConvNeuron::Restricted, Method::Tiny);
        let dev = propose_with(
            &n,
            &d,
            site,
            ConvNeuron::Restricted,
            Method::Tiny,
            on_device,
        );
        assert_eq!(host.neurons(), dev.neurons(), "site {site}");
        for (a, b) in host.info.lambdas.iter().zip(&dev.info.lambdas) {
            assert!(
                (a - b).abs() <= 1e-9 * a.abs().max(1.0),
                "site {site}: λ {a} vs {b}"
            );
        }
        let (dh, dd) = (
            host.delta_w.as_ref().unwrap(),
            dev.delta_w.as_ref().unwrap(),
        );
        assert!(max_diff(dh, dd) < 1e-5, "site {site}: δ");
        for k in 0..host.neurons() {
            let (a, b) = (host.alpha_w.get(k), dev.alpha_w.get(k));
            let same = max_diff(&a, &b).min(max_diff(&a, &(-&b)));
            assert!(
                same < 1e-4 * a.abs().max().double_value(&[]).max(1e-6),
                "site {site} unit {k}"
            );
        }
    }
}

/// docs/tiny.md §2.15: the applied δ is damped at sites behind BatchNorm (shorter, with a
/// smaller first order) and exact elsewhere; the new neurons do not move either way.
#[test]
fn delta_is_damped_behind_batch_norm_only() {
    let d = regression_data(48, 7);
    let damped = proposal::Numerics {
        delta_damping: 0.5,
        ..proposal::Numerics::new(1e-9, 1e-6)
    };
    for bn in [true, false] {
        let n = net(Pool::None, 1, 1, bn, Activation::Relu, 3);
        for site in [0, 1] {
            let exact = propose(&n, &d, site, ConvNeuron::Restricted, Method::Tiny);
            let p = propose_with(&n, &d, site, ConvNeuron::Restricted, Method::Tiny, damped);
            let norm =
                |p: &proposal::Proposal| p.delta_w.as_ref().unwrap().norm().double_value(&[]);
            assert_eq!(
                max_diff(&p.alpha_w, &exact.alpha_w),
                0.0,
                "bn {bn} site {site}"
            );
            assert_eq!(max_diff(&p.omega, &exact.omega), 0.0, "bn {bn} site {site}");
            if bn {
                assert!(
                    norm(&p) < 0.9 * norm(&exact),
                    "bn site {site}: δ not damped"
                );
                assert!(p.info.decrease_delta < exact.info.decrease_delta);
                assert!(p.info.decrease_delta > 0.0);
            } else {
                assert_eq!(
                    norm(&p),
                    norm(&exact),
                    "site {site} without BatchNorm: δ exact"
                );
                assert_eq!(p.info.decrease_delta, exact.info.decrease_delta);
            }
        }
    }
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

#[test]
fn first_order_decrease_matches_at_every_conv_site_kind() {
    // docs/tiny.md §7 checks 9 and 17: with identity activations the consumer's pre-activation
    // changes by exactly s²(B̃₋₂Θ − B̃₋₁δᵀ), so (L0 − L(s))/s² → d + Σλ² + C, for the
    // restricted neuron (stride 1 and 2), the full neuron, and conv → linear.
    let d = regression_data(48, 1);
    let cases = [
        ("restricted, stride 1", 1, 1, ConvNeuron::Restricted, 0),
        (
            "restricted, stride 2, no padding",
            2,
            0,
            ConvNeuron::Restricted,
            0,
        ),
        ("full, stride 1", 1, 1, ConvNeuron::Full, 0),
        ("full, stride 2", 2, 1, ConvNeuron::Full, 0),
        ("conv → linear", 1, 1, ConvNeuron::Restricted, 1),
    ];
    for (name, stride, pad, neuron, site) in cases {
        let (n, d) = in_f64(
            net(Pool::None, stride, pad, false, Activation::Identity, 2),
            &d,
        );
        let p = propose(&n, &d, site, neuron, Method::Tiny);
        assert!(p.neurons() > 0, "{name}: no neuron");
        let predicted = p.info.fo_with_cross;
        let s = 1e-3;
        let l0 = amplitude::loss_at(&n, Loss::Mse, &d, &p, 0.0);
        let ls = amplitude::loss_at(&n, Loss::Mse, &d, &p, s);
        let measured = (l0 - ls) / (s * s);
        println!("{name}: measured {measured:.6}, predicted {predicted:.6}");
        assert!(
            (measured - predicted).abs() < 1e-3 * predicted.abs(),
            "{name}: measured {measured}, predicted {predicted}"
        );
    }
}

#[test]
fn restricted_neurons_explain_what_their_lambdas_say() {
    // docs/tiny.md §7 check 17 (check 5 for the restricted neuron): without δ and with N = −M₂,
    // the new channels alone lower the loss at first order by exactly Σλ² (identity σ,
    // consumer at stride 1 with "same" padding).
    let d = regression_data(40, 3);
    let (n, d) = in_f64(net(Pool::None, 1, 1, false, Activation::Identity, 4), &d);
    let p = propose(&n, &d, 0, ConvNeuron::Restricted, Method::TinyPaper);
    let sum_sq: f64 = p.info.lambdas.iter().map(|l| l * l).sum();
    let s = 1e-3;
    let l0 = amplitude::loss_at(&n, Loss::Mse, &d, &p, 0.0);
    let measured = (l0 - amplitude::loss_at(&n, Loss::Mse, &d, &p, s)) / (s * s);
    let expected = sum_sq + p.info.cross_term;
    assert!(
        (measured - expected).abs() < 0.01 * expected,
        "measured {measured}, Σλ² + C = {expected}"
    );
}

#[test]
fn extended_forward_equals_apply_for_conv_sites() {
    // docs/tiny.md §7 check 15: linear, restricted and full conv pairs, with and without bias,
    // with BatchNorm in eval mode, with max pooling between the convs, and conv → linear.
    let d = regression_data(12, 5);
    for bn in [false, true] {
        for (pool, neuron, site) in [
            (Pool::None, ConvNeuron::Restricted, 0),
            (Pool::None, ConvNeuron::Full, 0),
            (Pool::Max2, ConvNeuron::Restricted, 0),
            (Pool::Max2, ConvNeuron::Full, 0),
            (Pool::None, ConvNeuron::Restricted, 1),
        ] {
            for method in [Method::Tiny, Method::GradMax] {
                let base = net(pool, 1, 1, bn, Activation::Relu, 6);
                let p = propose(&base, &d, site, neuron, method);
                assert!(p.neurons() > 0);
                for s in [0.5, 1.5] {
                    let preview = tch::no_grad(|| amplitude::forward_extended(&base, &d.x, &p, s));
                    let mut grown = copy(&base);
                    let mut opt = Optimizer::new(OptimizerConfig::adamw(1e-3));
                    // A step first, so that the optimiser has state to grow.
                    let params = grown.named_parameters();
                    Loss::Mse.mean(&grown.forward(&d.x, true), &d.y).backward();
                    opt.step(&params, 0.0).unwrap();
                    // The step moved nothing (lr 0) but BatchNorm's running statistics:
                    // restore them.
                    let mut bufs = base.named_buffers();
                    bufs.extend(base.named_parameters());
                    grown.load_tensors(&bufs).unwrap();
                    let norm = apply::BehindNorm {
                        rescale: bn,
                        matched_on: None,
                    };
                    apply::apply_with(&mut grown, &mut opt, &p, s, norm).unwrap();
                    let after = tch::no_grad(|| grown.forward(&d.x, false));
                    let scale = preview.abs().max().double_value(&[]).max(1.0);
                    let diff = max_diff(&preview, &after) / scale;
                    assert!(
                        diff < 1e-5,
                        "bn {bn}, {pool:?}, {neuron:?}, site {site}, {method:?}, s {s}: {diff}"
                    );
                    // The grown network and its optimiser state still train together.
                    let params = grown.named_parameters();
                    Loss::Mse.mean(&grown.forward(&d.x, true), &d.y).backward();
                    opt.step(&params, 1e-3).unwrap();
                }
            }
        }
    }
}

#[test]
fn deferred_n_is_minus_m2_plus_p_times_delta() {
    // docs/tiny.md §3.2, "N without P or M₂": the full neuron's N formed after the pass from
    // the kept minibatch inputs and gradient rows equals −M₂ + Pδᵀ from M₂ and P, for any δ
    // and without δ (−M₂), and so does the cross term's Σ_k α_kᵀ M₂ ω_k (strides 1 and 2,
    // padding 0 and 1, max pooling between the stages, BatchNorm or none).
    let d = regression_data(20, 7);
    for (pool, stride2, pad2, bn) in [
        (Pool::None, 1, 1, true),
        (Pool::Max2, 1, 1, false),
        (Pool::None, 2, 1, false),
        (Pool::None, 1, 0, true),
    ] {
        let n = net(pool, stride2, pad2, bn, Activation::Relu, 8);
        let s = [Site::new(&n, 0, ConvNeuron::Full).unwrap()];
        let collect_kept = |batch, defer, kept_rows_bytes| {
            let mut plan = statistics::Plan::new(&s, 0);
            plan.defer_projection = defer;
            plan.kept_rows_bytes = kept_rows_bytes;
            statistics::collect(&n, Loss::Mse, &d, &all_idx(20), batch, &plan).unwrap()
        };
        let collect = |batch, defer| collect_kept(batch, defer, KEPT_ROWS_BYTES);
        let built = collect(20, false);
        let a = &built.stats[0];
        // In the same batch the two agree to rounding; in batches of 3, whose f32 backward
        // passes may round differently (MKL's AVX-512 kernels do), G and so M₂ agree to 1e-5.
        for (batch, tol) in [(20, 1e-10), (3, 1e-5)] {
            let deferred = collect(batch, true);
            let b = &deferred.stats[0];
            assert!(a.deferred.is_none() && b.deferred.is_some());
            assert_eq!((b.p.shape(), b.m2.shape()), ((0, 0), (0, 0)));
            b.check_shapes().unwrap();
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
            let mut random = |rows, cols| {
                faer::Mat::from_fn(rows, cols, |_, _| {
                    rand::Rng::random_range(&mut rng, -1.0..1.0)
                })
            };
            let delta = random(a.m.ncols(), a.s.nrows());
            let close = |want: &faer::Mat<f64>, got: &faer::Mat<f64>, what: &str| {
                assert_eq!(got.shape(), want.shape(), "{what}");
                let err = (got - want).norm_max() / want.norm_max();
                assert!(
                    err < tol,
                    "{what}, batch {batch}, {pool:?} stride {stride2} padding {pad2}: {err}"
                );
            };
            for delta in [Some(&delta), None] {
                let (want, pd) = a.n_matrix(delta).unwrap();
                let (got, none) = b.n_matrix(delta).unwrap();
                assert_eq!(want.shape(), (a.s2.nrows(), a.m.ncols() * 9));
                assert!(none.is_none() && pd.is_some() == delta.is_some());
                close(&want, &got, "N");
            }
            let minus_m2 = faer::Mat::from_fn(a.m2.nrows(), a.m2.ncols(), |i, j| -a.m2[(i, j)]);
            close(&minus_m2, &b.n_matrix(None).unwrap().0, "−M₂");
            let (alpha, omega) = (random(a.s2.nrows(), 3), random(a.m2.ncols(), 3));
            let (want, got) = (
                a.alpha_m2_omega(&alpha, &omega).unwrap(),
                b.alpha_m2_omega(&alpha, &omega).unwrap(),
            );
            let brute: f64 = (0..3)
                .map(|k| {
                    let mut sum = 0.0;
                    for i in 0..a.m2.nrows() {
                        for j in 0..a.m2.ncols() {
                            sum += alpha[(i, k)] * a.m2[(i, j)] * omega[(j, k)];
                        }
                    }
                    sum
                })
                .sum();
            assert!((want - brute).abs() < 1e-12 * brute.abs().max(1e-12));
            assert!(
                (got - want).abs() < tol * want.abs(),
                "α M₂ ω, batch {batch}: {got} against {want}"
            );
            // Past the budget of kept rows the inputs are kept and unfolded again: the same
            // values to the bit, with no rows kept (0) and, in batches of 3, the first
            // minibatch's only (3 images' f64 rows of `d₂ + 1` columns on the consumer's grid).
            let grid = if matches!(pool, Pool::Max2) { 9 } else { 49 };
            let first_batch = (3 * a.s2.nrows() * grid * 8) as i64;
            for budget in [0, first_batch] {
                let c = collect_kept(batch, true, budget);
                let c = &c.stats[0];
                for delta in [Some(&delta), None] {
                    let (x, y) = (b.n_matrix(delta).unwrap().0, c.n_matrix(delta).unwrap().0);
                    assert_eq!(x, y, "N, budget {budget} bytes, batch {batch}");
                }
                let again = c.alpha_m2_omega(&alpha, &omega).unwrap();
                assert_eq!(got.to_bits(), again.to_bits(), "α M₂ ω, budget {budget}");
            }
        }
    }
}

#[test]
fn conv_statistics_are_batching_invariant() {
    // docs/tiny.md §7 check 14 for conv sites: one batch or several give the same averages.
    let d = regression_data(20, 7);
    let n = net(Pool::Max2, 1, 1, true, Activation::Relu, 8);
    for neuron in [ConvNeuron::Restricted, ConvNeuron::Full] {
        let s = [
            Site::new(&n, 0, neuron).unwrap(),
            Site::new(&n, 1, neuron).unwrap(),
        ];
        let a = statistics::collect(
            &n,
            Loss::Mse,
            &d,
            &all_idx(20),
            3,
            &statistics::Plan::new(&s, 8),
        )
        .unwrap();
        let b = statistics::collect(
            &n,
            Loss::Mse,
            &d,
            &all_idx(20),
            20,
            &statistics::Plan::new(&s, 8),
        )
        .unwrap();
        assert_eq!(
            a.stats[0].taps,
            if neuron == ConvNeuron::Full { 9 } else { 1 }
        );
        for (sa, sb) in a.stats.iter().zip(&b.stats) {
            for (ma, mb) in [
                (&sa.s, &sb.s),
                (&sa.m, &sb.m),
                (&sa.s2, &sb.s2),
                (&sa.m2, &sb.m2),
                (&sa.p, &sb.p),
            ] {
                assert_eq!(ma.shape(), mb.shape());
                for i in 0..ma.nrows() {
                    for j in 0..ma.ncols() {
                        assert!((ma[(i, j)] - mb[(i, j)]).abs() < 1e-10);
                    }
                }
            }
        }
    }
}

#[test]
fn a_tiny_cnn_grows_its_channels_while_it_learns() {
    // Integration: a VGG-style CNN (two blocks of two convs) from 1 channel per conv grows
    // on the built-in texture images; the loss falls and every conv site gains channels.
    for neuron in [ConvNeuron::Restricted, ConvNeuron::Full] {
        let mut cfg = small_config("patterns");
        cfg.train.epochs = 4;
        cfg.data.synthetic_train = 400;
        cfg.data.synthetic_test = 200;
        cfg.data.noise = 0.5;
        cfg.model.kind = grownet::config::ModelKind::Cnn;
        cfg.model.channels = vec![1, 1, 1, 1];
        cfg.model.convs_per_pool = 2;
        cfg.train.augment = false;
        cfg.growth = Some(GrowthConfig {
            method: Method::Tiny,
            selection: Selection::All,
            max_hidden: Some(vec![6, 6, 8, 8]),
            every_steps: Some(5),
            neurons_per_step: Some(2),
            stats_samples: 128,
            stats_batch_size: 32,
            line_search_samples: 128,
            conv_neuron: neuron,
            ..GrowthConfig::default()
        });
        let mut t = Trainer::new(cfg, None).unwrap();
        t.quiet = true;
        let first = t.evaluate(&t.data.test).loss;
        let s = t.fit().unwrap();
        let last = s.test.loss;
        println!(
            "{neuron:?}: widths {:?}, test loss {first:.4} → {last:.4}, accuracy {:?}",
            s.hidden_widths, s.test.accuracy
        );
        assert!(last < 0.8 * first, "{neuron:?}: {first} → {last}");
        let widths = &s.hidden_widths;
        assert!(
            widths.iter().all(|&w| w > 1),
            "{neuron:?}: widths {widths:?}"
        );
    }
}

/// Stem conv(2→4) → block(4→4, hidden `h1`) → block(4→6, stride 2, hidden `h2`) → pool → linear.
fn resnet_like(h1: f64, h2: f64, seed: u64) -> Network {
    let mut stages = vec![StageSpec {
        layer: LayerSpec::Conv2d {
            inputs: 2,
            outputs: 4,
            kernel: 3,
            stride: 1,
            padding: 1,
            bias: false,
        },
        batch_norm: true,
        activation: Activation::Relu,
        pool: Pool::None,
        skip: None,
    }];
    stages.extend(Architecture::basic_block(4, 4, 1, h1));
    stages.extend(Architecture::basic_block(4, 6, 2, h2));
    stages.last_mut().unwrap().pool = Pool::GlobalAvg;
    stages.push(StageSpec::linear_head(6, 2));
    let arch = Architecture {
        input_shape: vec![2, 7, 7],
        stages,
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    Network::new(&arch, &mut rng, Device::Cpu).unwrap()
}

#[test]
fn residual_blocks_grow_their_hidden_width_only() {
    // Sites: 1 and 3 are the blocks' hidden widths; 0, 2 and 4 are the residual stream.
    let n = resnet_like(0.5, 0.0, 9);
    assert_eq!(n.hidden_widths(), vec![4, 2, 4, 0, 6]);
    for k in [0, 2, 4] {
        assert!(
            Site::new(&n, k, ConvNeuron::Restricted).is_err(),
            "site {k}"
        );
    }
    let d = regression_data(12, 10);
    for (site, neuron) in [
        (1, ConvNeuron::Restricted),
        (1, ConvNeuron::Full),
        (3, ConvNeuron::Restricted), // an empty block (stride 2 on its first conv)
    ] {
        for method in [Method::Tiny, Method::Random] {
            let base = resnet_like(0.5, 0.0, 9);
            let p = if method == Method::Random {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
                proposal::random(&base, site, 2, 0.1, &mut rng).unwrap()
            } else {
                propose(&base, &d, site, neuron, method)
            };
            assert!(p.neurons() > 0, "site {site}");
            let preview = tch::no_grad(|| amplitude::forward_extended(&base, &d.x, &p, 0.7));
            let mut grown = copy(&base);
            let mut opt = Optimizer::new(OptimizerConfig::sgd(0.9));
            apply::apply(&mut grown, &mut opt, &p, 0.7).unwrap();
            let after = tch::no_grad(|| grown.forward(&d.x, false));
            let diff = max_diff(&preview, &after);
            assert!(diff < 1e-5, "site {site}, {neuron:?}, {method:?}: {diff}");
            if method == Method::Tiny {
                let l0 = amplitude::plain_loss(&base, Loss::Mse, &d);
                assert!(
                    amplitude::loss_at(&base, Loss::Mse, &d, &p, 0.05) < l0,
                    "site {site}: a small step must lower the loss"
                );
            }
        }
    }
}

#[test]
fn every_growth_option_runs_on_a_cnn() {
    // GradMax, random, the TINY paper preset, each site selection, and the automatic mode, on
    // conv sites: each run trains, grows and stays finite.
    let cases: Vec<(Method, Selection, bool)> = vec![
        (Method::GradMax, Selection::Best, false),
        (Method::Random, Selection::RoundRobin, false),
        (Method::TinyPaper, Selection::All, false),
        (Method::Tiny, Selection::All, true),
    ];
    for (method, selection, auto) in cases {
        let mut cfg = small_config("patterns");
        cfg.train.epochs = 2;
        cfg.data.synthetic_train = 300;
        cfg.data.synthetic_test = 100;
        cfg.data.noise = 0.5;
        cfg.model.kind = grownet::config::ModelKind::Cnn;
        cfg.model.channels = vec![1, 1];
        cfg.train.augment = false;
        if auto {
            cfg.data.synthetic_train = 800;
            cfg.data.val_fraction = 0.3;
        }
        cfg.growth = Some(GrowthConfig {
            method,
            selection,
            auto,
            max_hidden: (!auto).then(|| vec![6, 6]),
            every_steps: Some(4),
            neurons_per_step: Some(2),
            stats_samples: 64,
            stats_batch_size: 32,
            line_search_samples: 240,
            line_search: LineSearch::Grid {
                scales: vec![0.25, 0.5, 1.0],
            },
            // A small held-out set: accept any measured gain of the new channels.
            threshold_per_neuron: 0.0,
            significance: 0.0,
            auto_rounds: 1,
            ..GrowthConfig::default()
        });
        let dir = tempfile::tempdir().unwrap();
        let mut t = Trainer::new(cfg, Some(dir.path().to_path_buf())).unwrap();
        t.quiet = true;
        let s = t.fit().unwrap();
        let what = format!("{method:?} {selection:?} auto {auto}");
        assert!(s.test.loss.is_finite(), "{what}");
        assert!(
            s.hidden_widths.iter().take(2).any(|&w| w > 1),
            "{what}: nothing grew"
        );
        // The log accounts for every added channel, and each kept step did what it previewed:
        // function-preserving methods left the loss unchanged, TINY lowered it.
        let events = grownet::events::read(&dir.path().join("metrics.jsonl")).unwrap();
        let mut added = [0i64; 2];
        for e in &events {
            let grownet::events::Event::Growth(grownet::events::Growth::Step(g)) = e else {
                continue;
            };
            if !g.accepted {
                assert_eq!(g.neurons_added, 0, "{what}");
                continue;
            }
            added[g.site] += g.neurons_added;
            if method.function_preserving() {
                let rel = (g.loss_preview - g.loss_before).abs() / g.loss_before;
                assert!(
                    rel < 1e-5,
                    "{what}: preview {} vs {}",
                    g.loss_preview,
                    g.loss_before
                );
            } else {
                assert!(g.measured_decrease > 0.0, "{what}: {}", g.measured_decrease);
            }
        }
        assert_eq!(
            [s.hidden_widths[0] - 1, s.hidden_widths[1] - 1],
            added,
            "{what}: widths {:?}",
            s.hidden_widths
        );
    }
}

#[test]
fn matched_batch_norm_computes_the_preview_in_training_mode() {
    // docs/tiny.md §3.3: new channels behind a BatchNorm, started from their statistics on a
    // sample, compute in training mode on that sample what they compute in eval mode.
    let d = regression_data(12, 5);
    for rescale in [false, true] {
        let base = net(Pool::None, 1, 1, true, Activation::Relu, 6);
        let p = propose(&base, &d, 0, ConvNeuron::Full, Method::Tiny);
        assert!(p.neurons() > 0);
        let mut grown = copy(&base);
        let mut opt = Optimizer::new(OptimizerConfig::adamw(1e-3));
        let h = tch::no_grad(|| amplitude::stem(&base, &d.x, 0).0);
        let norm = apply::BehindNorm {
            rescale,
            matched_on: Some(&h),
        };
        apply::apply_with(&mut grown, &mut opt, &p, 0.5, norm).unwrap();
        let preview = tch::no_grad(|| amplitude::forward_extended(&base, &d.x, &p, 0.5));
        let after = tch::no_grad(|| grown.forward(&d.x, false));
        let scale = preview.abs().max().double_value(&[]).max(1.0);
        assert!(
            max_diff(&preview, &after) / scale < 1e-5,
            "eval, rescale {rescale}"
        );
        let old = base.stages[0].layer.weight().size()[0];
        let new = |train| {
            let (out, _) = tch::no_grad(|| grown.forward_range(&h, None, 0..1, train));
            out.narrow(1, old, p.neurons())
        };
        let (eval, train) = (new(false), new(true));
        let scale = eval.abs().max().double_value(&[]).max(1e-12);
        let diff = max_diff(&eval, &train) / scale;
        assert!(diff < 1e-4, "train mode, rescale {rescale}: {diff}");
    }
}

/// docs/tiny.md §3.3, "Recalibrated statistics": with `recalibrate_samples`, a check first
/// sets every BatchNorm's running statistics to its training-mode statistics on that many
/// training samples. The first stage's existing channels, which growth leaves as they are, end
/// the check with the mean and unbiased variance of their pre-activations on the training set
/// (one batch of all of it); without it they keep their stale values.
#[test]
fn a_check_recalibrates_batch_norm_first() {
    let d = regression_data(256, 3);
    for samples in [0usize, 256] {
        let mut net = net(Pool::None, 1, 1, true, Activation::Relu, 5);
        let (mean, var) = first_stage_statistics(&net, &d.x);
        let cfg = GrowthConfig {
            method: Method::Tiny,
            selection: Selection::All,
            recalibrate_samples: samples,
            stats_batch_size: 256,
            max_hidden: Some(vec![5, 6]),
            ..GrowthConfig::default()
        };
        with_context(&mut net, &d, |ctx| {
            grownet::growth::Grower::new(cfg)
                .unwrap()
                .check(ctx)
                .unwrap()
        });
        let bn = net.stages[0].norm.as_ref().unwrap();
        let (m, v) = (
            bn.running_mean.narrow(0, 0, 3),
            bn.running_var.narrow(0, 0, 3),
        );
        if samples == 0 {
            let full = |v: f64| Tensor::full([3], v, (Kind::Float, Device::Cpu));
            assert!(m.equal(&full(0.3)) && v.equal(&full(1.7)), "{m} {v}");
        } else {
            assert!(m.allclose(&mean, 1e-4, 1e-5, false), "{m} against {mean}");
            assert!(v.allclose(&var, 1e-4, 1e-5, false), "{v} against {var}");
        }
    }
}

/// The mean and unbiased variance per channel of the first stage's pre-activations on `x`:
/// what a BatchNorm recalibrated on one batch of all of `x` holds.
fn first_stage_statistics(net: &Network, x: &Tensor) -> (Tensor, Tensor) {
    let z = tch::no_grad(|| net.stages[0].layer.forward(x));
    let dims = [0i64, 2, 3];
    (
        z.mean_dim(&dims[..], false, Kind::Float),
        z.var_dim(&dims[..], true, false),
    )
}

/// Runs `f` on a growth context over `net` and the training data `d` (MSE, seed 0, one
/// process, SGD with momentum 0.9), as a check in the middle of a run would see it.
fn with_context<R>(
    net: &mut Network,
    d: &Dataset,
    f: impl FnOnce(&mut grownet::growth::Context) -> R,
) -> R {
    use grownet::distributed::World;
    use grownet::events::Event;
    use grownet::growth::{Clock, Context};
    let mut opt = Optimizer::new(OptimizerConfig::sgd(0.9));
    let mut events: Vec<Event> = Vec::new();
    let mut ctx = Context {
        net,
        opt: &mut opt,
        train: d,
        val: None,
        loss: Loss::Mse,
        seed: 0,
        clock: Clock { epoch: 1, step: 8 },
        events: &mut events,
        world: &World::single(),
    };
    f(&mut ctx)
}

/// After the end shrink (docs/tiny.md §2.18) the grower sets every BatchNorm's running
/// statistics from `max(recalibrate_samples, stats_samples)` training samples: the first
/// stage's end with the mean and unbiased variance of the shrunk conv's outputs on the training
/// set (one batch of all of it), not the stale values it had before.
#[test]
fn the_end_shrink_is_followed_by_recalibrated_batch_norms() {
    let d = regression_data(256, 3);
    let mut net = net(Pool::None, 1, 1, true, Activation::Relu, 5);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    grownet::nn::shrink_perturb(&net, 0.5, 0.0, &mut rng);
    let (mean, var) = first_stage_statistics(&net, &d.x);
    let cfg = GrowthConfig {
        method: Method::Tiny,
        stats_samples: 256,
        stats_batch_size: 256,
        end_shrink: 0.5,
        ..GrowthConfig::default()
    };
    let bn = net.stages[0].norm.as_ref().unwrap();
    assert!(!bn.running_mean.allclose(&mean, 1e-2, 1e-2, false));
    with_context(&mut net, &d, |ctx| {
        grownet::growth::Grower::new(cfg)
            .unwrap()
            .recalibrate_after_shrink(ctx)
    });
    let bn = net.stages[0].norm.as_ref().unwrap();
    let (m, v) = (&bn.running_mean, &bn.running_var);
    assert!(m.allclose(&mean, 1e-4, 1e-5, false), "{m} against {mean}");
    assert!(v.allclose(&var, 1e-4, 1e-5, false), "{v} against {var}");
}

/// The trainer recalibrates after the end shrink: a CNN whose training set is one batch, growth
/// ended after the first epoch with `end_shrink = 0.5`, a second epoch at a learning rate too
/// small to move the weights. The first BatchNorm's running statistics then equal its batch
/// statistics on the training set (the recalibration's, moved a tenth of the way to the same
/// batch's); without the recalibration they would keep nine tenths of the pre-shrink statistics.
#[test]
fn the_trainer_recalibrates_batch_norms_after_the_end_shrink() {
    let mut cfg = small_config("patterns");
    cfg.train.epochs = 2;
    cfg.data.synthetic_train = 32;
    cfg.data.synthetic_test = 32;
    cfg.train.batch_size = 32;
    cfg.train.augment = false;
    cfg.train.optimizer = grownet::optim::OptimizerKind::Sgd;
    cfg.train.momentum = 0.0;
    cfg.train.weight_decay = 0.0;
    cfg.train.lr = 1e-12;
    cfg.model.kind = grownet::config::ModelKind::Cnn;
    cfg.model.channels = vec![2, 2];
    cfg.model.convs_per_pool = 1;
    cfg.growth = Some(GrowthConfig {
        method: Method::Tiny,
        selection: Selection::All,
        max_hidden: Some(vec![3, 3]),
        stop_epoch: Some(1),
        stats_samples: 32,
        stats_batch_size: 32,
        line_search_samples: 32,
        end_shrink: 0.5,
        ..GrowthConfig::default()
    });
    let mut t = Trainer::new(cfg, None).unwrap();
    t.quiet = true;
    t.fit().unwrap();
    let (mean, var) = first_stage_statistics(&t.net, &t.data.train.x);
    let bn = t.net.stages[0].norm.as_ref().unwrap();
    let (m, v) = (&bn.running_mean, &bn.running_var);
    assert!(m.allclose(&mean, 1e-4, 1e-5, false), "{m} against {mean}");
    assert!(v.allclose(&var, 1e-4, 1e-5, false), "{v} against {var}");
}
