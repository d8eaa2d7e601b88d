//! 2×2 max pooling without gradient (`nn::pool::max_pool2x2`, what evaluation and growth's
//! previews use) side by side with libtorch's `max_pool2d` (with argmax indices), on the same
//! tensors, interleaved, medians of `--repeats`, at the CIFAR-10 CNN's shapes: a batch of
//! training size and the held-out sets the previews and evaluation run on.
//!
//! ```text
//! cargo run --release --example max_pool -- [--repeats 5] [--threads 2]
//! ```
mod common;

use grownet::nn::pool::max_pool2x2;
use tch::{Device, Kind, Tensor};

use common::{flag_or, median, seconds};

fn main() {
    let repeats: usize = flag_or("--repeats", 5);
    let threads: i32 = flag_or("--threads", 2);
    tch::set_num_threads(threads);
    println!("| input [N, C, H, W] | max_pool2d, s | max_pool2x2, s | ratio | equal |");
    println!("|---|---|---|---|---|");
    for (n, c, hw) in [(128, 32, 32), (600, 6, 32), (1000, 31, 32), (1000, 64, 16)] {
        tch::manual_seed(0);
        let x = Tensor::randn([n, c, hw, hw], (Kind::Float, Device::Cpu)).relu();
        let (mut old, mut new) = (Vec::new(), Vec::new());
        let mut equal = true;
        for _ in 0..repeats {
            let (t_old, a) = seconds(|| x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false));
            let (t_new, b) = seconds(|| max_pool2x2(&x));
            old.push(t_old);
            new.push(t_new);
            equal &= a.equal(&b);
        }
        let (o, m) = (median(old), median(new));
        println!(
            "| [{n}, {c}, {hw}, {hw}] | {o:.4} | {m:.4} | {:.2}× | {equal} |",
            o / m
        );
    }
}
