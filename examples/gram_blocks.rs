//! `XᵀX` from the blocks on and above its diagonal (`growth::gram`, docs/tiny.md §2.2) against
//! the full product, in f32 on two threads, at the statistics' consumer moments of the CIFAR-10
//! bench's grown CNNs (`bench/cifar10-search-6k-12ep.toml`: one minibatch of 128 images, the
//! consumer's unfolded input `9·C + 1` columns over its grid): medians of `--repeats`,
//! interleaved, for every block count up to 6, and the count `gram::blocks` picks. Then
//! `statistics::collect` (512 random images, minibatches of 128, f32 products summed in f64)
//! at the conv → conv sites of a grown network, medians of `--repeats`: run it on a build whose
//! `Sums::of_rows` takes the full product (`gram::in_blocks(b1, 1)`) for the comparison.
//!
//! ```text
//! cargo run --release --example gram_blocks -- [--repeats 7] [--threads 2]
//! ```
mod common;

use std::time::Instant;

use grownet::data::Dataset;
use grownet::growth::gram;
use grownet::growth::site::{ConvNeuron, Site};
use grownet::growth::statistics::{self, Plan};
use grownet::nn::{Activation, Architecture, Loss, Network};
use rand::SeedableRng;
use tch::{Device, Kind, Tensor};

use common::{flag_or, median, seconds};

fn main() {
    let repeats: usize = flag_or("--repeats", 7);
    tch::set_num_threads(flag_or("--threads", 2));
    tch::manual_seed(0);
    println!(
        "| rows × columns | p = 1 (full), s | p = 2 | 3 | 4 | 5 | 6 | `blocks` | its time ÷ full |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    // (grid, channels): 16×16 and 8×8 grids, the widths of session 40's grown networks.
    for (grid, c) in [(256, 50), (64, 106), (64, 152), (64, 206), (64, 300)] {
        let (rows, d) = (128 * grid, 9 * c + 1);
        let x = Tensor::randn([rows, d], (Kind::Float, Device::Cpu));
        let chosen = gram::blocks(d);
        // Block counts 1–6, then the chosen count.
        let counts: Vec<i64> = (1..=6).chain([chosen]).collect();
        let mut times = vec![Vec::new(); counts.len()];
        for _ in 0..repeats {
            for (p, t) in counts.iter().zip(times.iter_mut()) {
                t.push(seconds(|| gram::in_blocks(&x, *p)).0);
            }
        }
        let m: Vec<f64> = times.into_iter().map(median).collect();
        let cells: Vec<String> = m[..6].iter().map(|t| format!("{t:.4}")).collect();
        println!(
            "| {rows} × {d} | {} | {chosen} | {:.2} |",
            cells.join(" | "),
            m[6] / m[0]
        );
    }
    collect_times(repeats);
}

/// Medians of `statistics::collect` at sites 2–4 of the CNN at widths 16+16+50+152+106+154.
fn collect_times(repeats: usize) {
    let data = Dataset {
        x: Tensor::randn([512, 3, 32, 32], (Kind::Float, Device::Cpu)),
        y: Tensor::randint(10, [512], (Kind::Int64, Device::Cpu)),
    };
    let channels = [16, 16, 50, 152, 106, 154];
    let arch = Architecture::vgg([3, 32, 32], &channels, 2, 10, Activation::Relu, true);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let net = Network::new(&arch, &mut rng, Device::Cpu).expect("network");
    let index = Tensor::arange(512, (Kind::Int64, Device::Cpu));
    println!();
    println!("| site of {channels:?} | statistics::collect, s |");
    println!("|---|---|");
    for i in 2..5 {
        let sites = [Site::new(&net, i, ConvNeuron::Full).expect("site")];
        let mut plan = Plan::new(&sites, 0);
        plan.precision = Kind::Float;
        plan.defer_projection = true;
        let times = (0..repeats)
            .map(|_| {
                let start = Instant::now();
                statistics::collect(&net, Loss::CrossEntropy, &data, &index, 128, &plan)
                    .expect("statistics");
                start.elapsed().as_secs_f64()
            })
            .collect();
        println!("| {i} | {:.3} |", median(times));
    }
}
