//! The full conv neuron's statistics and proposal with `N = −M₂ + Pδᵀ` formed after the pass
//! from the kept minibatch inputs and gradient rows (`Plan::defer_projection`, what growth
//! uses; docs/tiny.md §3.2, "`N` without `P` or `M₂`") side by side with building `M₂` and `P`
//! (`d₁ + 1` columns per tap), on the same
//! network and sample, interleaved, medians of `--repeats`: `statistics::collect` and
//! `tiny::propose_neurons` at every conv → conv site of the CIFAR-10 bench's CNN
//! (`bench/cifar10-search-6k.toml`: 3×32×32 inputs, BatchNorm, two convs per pooling, f32
//! products summed in f64, 512 samples in minibatches of 128), at two sets of widths: a
//! network early in growth and a grown one. Random weights and inputs (the cost does not
//! depend on the values); the largest relative difference of the proposals' λ.
//!
//! ```text
//! cargo run --release --example deferred_projection -- [--repeats 3] [--threads 2]
//! ```
mod common;

use std::time::Instant;

use grownet::data::Dataset;
use grownet::growth::site::{ConvNeuron, Site};
use grownet::growth::statistics::{self, Plan};
use grownet::growth::tiny::{propose_neurons, TinyOptions};
use grownet::nn::{Activation, Architecture, Loss, Network};
use rand::SeedableRng;
use tch::{Device, Kind, Tensor};

use common::{flag_or, median};

/// Seconds for the statistics and the proposal at `site`, and the proposal's λ.
fn grow_once(net: &Network, data: &Dataset, site: Site, defer: bool) -> (f64, Vec<f64>) {
    let start = Instant::now();
    let sites = [site];
    let mut plan = Plan::new(&sites, 0);
    plan.precision = Kind::Float;
    plan.defer_projection = defer;
    let index = Tensor::arange(data.x.size()[0], (Kind::Int64, Device::Cpu));
    let collected =
        statistics::collect(net, Loss::CrossEntropy, data, &index, 128, &plan).expect("statistics");
    let proposal = propose_neurons(&collected.stats[0], 1.0, &TinyOptions::tiny());
    (start.elapsed().as_secs_f64(), proposal.lambdas)
}

fn main() {
    let repeats: usize = flag_or("--repeats", 3);
    let threads: i32 = flag_or("--threads", 2);
    tch::set_num_threads(threads);
    tch::manual_seed(0);
    let data = Dataset {
        x: Tensor::randn([512, 3, 32, 32], (Kind::Float, Device::Cpu)),
        y: Tensor::randint(10, [512], (Kind::Int64, Device::Cpu)),
    };
    println!(
        "| widths | site | building M₂ and P, s | N after the pass, s | ratio | max rel. diff of λ |"
    );
    println!("|---|---|---|---|---|---|");
    for channels in [[6, 11, 11, 17, 19, 33], [8, 30, 36, 56, 58, 185]] {
        let arch = Architecture::vgg([3, 32, 32], &channels, 2, 10, Activation::Relu, true);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let net = Network::new(&arch, &mut rng, Device::Cpu).expect("network");
        for index in 0..channels.len() - 1 {
            let site = Site::new(&net, index, ConvNeuron::Full).expect("site");
            let (mut built, mut deferred) = (Vec::new(), Vec::new());
            let mut diff = 0.0f64;
            for _ in 0..repeats {
                let (t_built, a) = grow_once(&net, &data, site, false);
                let (t_deferred, b) = grow_once(&net, &data, site, true);
                built.push(t_built);
                deferred.push(t_deferred);
                for (x, y) in a.iter().zip(&b) {
                    diff = diff.max((x - y).abs() / x.abs().max(f64::MIN_POSITIVE));
                }
            }
            let (o, n) = (median(built), median(deferred));
            println!(
                "| {channels:?} | {index} | {o:.3} | {n:.3} | {:.2}× | {diff:.1e} |",
                o / n
            );
        }
    }
}
