//! What conv growth costs (issue 5's performance targets), measured in one run:
//!
//! 1. the statistics pass of each site of a VGG-style CNN on N images, next to two training
//!    steps (forward, backward, SGD update) on the same N images;
//! 2. the growth decompositions of a 512-channel 3×3 site (S and S₂ of size (512·9+1)²,
//!    512 outputs) in f64 with faer on the host, and with torch's linalg on `--device`
//!    when it is a GPU (or on the host with `--torch-linalg`).
//!
//! Medians of `--repeats` runs.
//!
//! ```text
//! cargo run --release --example conv_growth_cost -- [--images 128] [--channels 32,32,64,64,128,128]
//!     [--repeats 3] [--threads N] [--skip-decomposition] [--device cpu|cuda|cuda:N] [--torch-linalg]
//! ```
mod common;

use std::time::Instant;

use faer::Mat;
use grownet::data::Dataset;
use grownet::growth::site::{ConvNeuron, Site};
use grownet::growth::tiny::{best_update, propose_neurons, SiteStatistics, TinyOptions};
use grownet::growth::{linalg, statistics};
use grownet::nn::{Activation, Architecture, Loss, Network};
use grownet::optim::{Optimizer, OptimizerConfig};
use rand::{Rng, SeedableRng};
use tch::{Device, Kind, Tensor};

use common::median;

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Waits for the device's queued work (CUDA runs asynchronously: a timer around enqueued
/// kernels alone would measure their launch, not their work).
fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

fn time(device: Device, repeats: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    sync(device);
    median(
        (0..repeats)
            .map(|_| {
                let t = Instant::now();
                f();
                sync(device);
                t.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

fn main() {
    let images: i64 = arg("--images", 128);
    let repeats: usize = arg("--repeats", 3);
    let threads: i32 = arg("--threads", 0);
    if threads > 0 {
        tch::set_num_threads(threads);
    }
    let channels: Vec<i64> = arg("--channels", "32,32,64,64,128,128".to_string())
        .split(',')
        .filter_map(|c| c.parse().ok())
        .collect();
    let device = grownet::config::parse_device(&arg("--device", "cpu".to_string()))
        .unwrap_or_else(|e| panic!("{e}"));
    println!("conv growth cost: {images} images, channels {channels:?}, {device:?}, medians of {repeats}");

    // 1. Statistics per site against two training steps on the same images.
    let arch = Architecture::vgg([3, 32, 32], &channels, 2, 10, Activation::Relu, true);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let net = Network::new(&arch, &mut rng, device).unwrap();
    tch::manual_seed(0);
    let data = Dataset {
        x: Tensor::randn([images, 3, 32, 32], (Kind::Float, device)),
        y: Tensor::randint(10, [images], (Kind::Int64, device)),
    };
    let idx = Tensor::arange(images, (Kind::Int64, device));
    let mut opt = Optimizer::new(OptimizerConfig::sgd(0.9));
    let params = net.named_parameters();
    let steps = time(device, repeats, || {
        for _ in 0..2 {
            let l = Loss::CrossEntropy.mean(&net.forward(&data.x, true), &data.y);
            for (_, p) in &params {
                let mut g = p.grad();
                if g.defined() {
                    let _ = g.zero_();
                }
            }
            l.backward();
            opt.step(&params, 1e-3).unwrap();
        }
    });
    println!("two training steps: {steps:.3} s");
    println!(
        "{:>6} {:>22} {:>12} {:>10}",
        "site", "kind", "statistics", "÷ 2 steps"
    );
    for k in 0..channels.len() {
        for neuron in [ConvNeuron::Restricted, ConvNeuron::Full] {
            let site = Site::new(&net, k, neuron).unwrap();
            if neuron == ConvNeuron::Full && site.taps() == 1 {
                continue;
            }
            let s = time(device, repeats, || {
                statistics::collect(
                    &net,
                    Loss::CrossEntropy,
                    &data,
                    &idx,
                    images as usize,
                    &statistics::Plan::new(&[site], 64),
                )
                .unwrap();
            });
            println!(
                "{k:>6} {:>22} {s:>10.3} s {:>10.2}",
                format!("{:?}", site.kind),
                s / steps
            );
        }
    }

    if std::env::args().any(|a| a == "--skip-decomposition") {
        return;
    }
    // 2. Decompositions of a 512-channel 3×3 site: (512·9+1)² statistics, 512 outputs.
    let (c, d, r) = (512 * 9 + 1, 512, 256);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut rand_mat = |r: usize, c: usize, scale: f64| {
        Mat::from_fn(r, c, |_, _| scale * rng.random_range(-1.0..1.0))
    };
    let low = rand_mat(c, r, 1.0);
    let mut s = &low * low.transpose();
    for i in 0..c {
        s[(i, i)] += 0.5;
    }
    let stats = SiteStatistics {
        s: s.clone(),
        m: rand_mat(c, d, 1.0),
        s2: s,
        m2: rand_mat(c, d, 1.0),
        p: rand_mat(c, c, 0.1),
        e: None,
        trace_e: 1e4,
        n: 10_000,
        s2_factor: None,
        in_basis: false,
        consumer_bias: true,
        taps: 1,
        deferred: None,
    };
    let opts = TinyOptions::tiny();
    let t = Instant::now();
    let bu = best_update(&stats, &opts);
    let t_delta = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let p = propose_neurons(&stats, 1.0, &opts);
    let t_neurons = t.elapsed().as_secs_f64();
    println!(
        "512-channel site, faer f64 on the host: δ {t_delta:.2} s ({:?}), δ + neurons {t_neurons:.2} s (K = {})",
        bu.solver,
        p.n_neurons()
    );
    if device.is_cuda() || std::env::args().any(|a| a == "--torch-linalg") {
        let to_t = |m: &Mat<f64>| linalg::from_mat(m, Kind::Double, device);
        let (s_t, m_t) = (to_t(&stats.s), to_t(&stats.m));
        let gpu = time(device, repeats, || {
            // δ by a Cholesky solve and the eigendecomposition of S₂, then the SVD of the
            // whitened N: the same work as propose_neurons.
            let delta = Tensor::linalg_solve(&s_t, &m_t, true);
            let (evals, evecs) = s_t.linalg_eigh("L");
            let whiten = evecs / evals.clamp_min(1e-6).sqrt().unsqueeze(0);
            let (_u, sv, _v) = whiten.tr().matmul(&m_t).svd(true, true);
            let _ = (
                delta.sum(Kind::Double).double_value(&[]),
                sv.double_value(&[0]),
            );
        });
        println!("512-channel site, torch linalg f64 on {device:?}: {gpu:.2} s (ratio host/device {:.1})", t_neurons / gpu);
    }
}
