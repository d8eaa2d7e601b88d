//! The full conv neuron's `M₂` and `P` products (docs/tiny.md §3.2): one convolution for every
//! tap (`unfold::tap_products`, what the statistics pass uses) side by side with the `k²` tap
//! rows and two matrix products per tap that it replaced (`unfold::tap`), on the same tensors,
//! interleaved, medians of `--repeats`, with the largest relative difference.
//!
//! The shapes are those of one statistics minibatch (128 images) at the CIFAR-10 bench's sites
//! (`bench/cifar10-search-6k.toml` with `growth.conv_neuron = "full"`): the producer's patches
//! `D = C₋₂·9 + 1` over the consumer's input grid, and `C + D₁` consumer columns (its output
//! channels and its unfolded input `C₋₁·9 + 1`), in the training precision (f32).
//!
//! ```text
//! cargo run --release --example full_neuron_products -- [--repeats 5] [--threads 2]
//! ```
mod common;

use grownet::growth::unfold::{tap, tap_products, Conv};
use tch::{Device, Kind, Tensor};

use common::{flag_or, median, seconds};

/// Σ_rows tap_e(image)ᵀ y for every tap, one tap at a time: `[k², D, C]`.
fn by_taps(image: &Tensor, y: &Tensor, conv2: Conv) -> Tensor {
    let k = conv2.kernel;
    let blocks: Vec<Tensor> = (0..k * k)
        .map(|e| tap(image, conv2, e / k, e % k).flatten(0, 1).tr().matmul(y))
        .collect();
    Tensor::stack(&blocks, 0)
}

fn main() {
    let repeats: usize = flag_or("--repeats", 5);
    let threads: i32 = flag_or("--threads", 2);
    tch::set_num_threads(threads);
    let conv2 = Conv {
        kernel: 3,
        stride: 1,
        padding: 1,
    };
    // (site, producer input channels, grid, consumer input channels, consumer outputs)
    let shapes = [
        ("site 0 (3 → 8 → 30 channels, 32×32)", 3, 32, 8, 30),
        ("site 1 (8 → 30 → 36 channels, 16×16)", 8, 16, 30, 36),
        ("site 2 (30 → 36 → 56 channels, 16×16)", 30, 16, 36, 56),
        ("site 4 (46 → 58 → 185 channels, 8×8)", 46, 8, 58, 185),
    ];
    println!("| site | D | C + D₁ | tap rows, s | one convolution, s | ratio | max rel. diff |");
    println!("|---|---|---|---|---|---|---|");
    for (name, c_in, hw, c_mid, c_out) in shapes {
        tch::manual_seed(0);
        let d = c_in * 9 + 1;
        let cols = c_out + c_mid * 9 + 1;
        let image = Tensor::randn([128, d, hw, hw], (Kind::Float, Device::Cpu));
        let y = Tensor::randn([128 * hw * hw, cols], (Kind::Float, Device::Cpu));
        let (mut old, mut new) = (Vec::new(), Vec::new());
        let mut diff = 0.0f64;
        for _ in 0..repeats {
            let (t_old, a) = seconds(|| by_taps(&image, &y, conv2));
            let (t_new, b) = seconds(|| tap_products(&image, &y, conv2));
            old.push(t_old);
            new.push(t_new);
            let scale = a.abs().max().double_value(&[]);
            diff = diff.max((a - b).abs().max().double_value(&[]) / scale);
        }
        let (o, n) = (median(old), median(new));
        println!(
            "| {name} | {d} | {cols} | {o:.3} | {n:.3} | {:.2}× | {diff:.1e} |",
            o / n
        );
    }
}
