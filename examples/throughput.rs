//! Training throughput against the machine: GFLOP/s of the MLP training step (forward,
//! backward, optimiser) next to the GFLOP/s of a plain large matmul, measured in the same run.
//!
//! `cargo run --release --example throughput -- [--device cpu|cuda] [--hidden 256,256] [--batch 128]`
mod common;

use std::time::Instant;

use grownet::nn::{Activation, Architecture, Loss, Network};
use grownet::optim::{Optimizer, OptimizerConfig};
use rand::SeedableRng;
use tch::{Device, Kind, Tensor};

use common::median;

fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

fn main() -> anyhow::Result<()> {
    grownet::runtime::tune_allocator();
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let device = grownet::config::parse_device(flag("--device").as_deref().unwrap_or("auto"))?;
    let hidden: Vec<i64> = flag("--hidden")
        .unwrap_or_else(|| "256,256".into())
        .split(',')
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    let batch: i64 = flag("--batch").unwrap_or_else(|| "128".into()).parse()?;
    let opts = (Kind::Float, device);

    // Reference: a large square matmul, 2n³ FLOPs.
    let n = if device == Device::Cpu { 2048 } else { 8192 };
    let a = Tensor::randn([n, n], opts);
    let b = Tensor::randn([n, n], opts);
    let mut mm = Vec::new();
    for _ in 0..7 {
        sync(device);
        let t = Instant::now();
        let _c = a.matmul(&b);
        sync(device);
        mm.push(t.elapsed().as_secs_f64());
    }
    let mm_gflops = 2.0 * (n as f64).powi(3) / median(mm) / 1e9;

    // The MLP training step: 3× the forward multiply-adds ×2 FLOPs (forward, two backward
    // products), the optimiser's element-wise work not counted.
    let arch = Architecture::mlp(784, &hidden, 10, Activation::Relu);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let net = Network::new(&arch, &mut rng, device)?;
    let mut opt = Optimizer::new(OptimizerConfig::sgd(0.9));
    let params = net.named_parameters();
    let x = Tensor::randn([batch, 784], opts);
    let y = Tensor::randint(10, [batch], (Kind::Int64, device));
    let step = |opt: &mut Optimizer| {
        Optimizer::zero_grad(&params);
        Loss::CrossEntropy
            .mean(&net.forward(&x, true), &y)
            .backward();
        opt.step(&params, 0.01).unwrap();
    };
    for _ in 0..20 {
        step(&mut opt);
    }
    let mut times = Vec::new();
    for _ in 0..15 {
        sync(device);
        let t = Instant::now();
        for _ in 0..20 {
            step(&mut opt);
        }
        sync(device);
        times.push(t.elapsed().as_secs_f64() / 20.0);
    }
    let step_s = median(times);
    let flops = 3.0 * net.flops_per_sample() as f64 * batch as f64;
    let step_gflops = flops / step_s / 1e9;
    println!(
        "device                 {device:?}, libtorch threads {}",
        tch::get_num_threads()
    );
    println!("matmul {n}x{n} f32      {mm_gflops:.1} GFLOP/s (median of 7)");
    println!(
        "MLP 784-{}-10 step   {:.3} ms, {step_gflops:.1} GFLOP/s, {:.0} samples/s (batch {batch}, median of 15×20)",
        hidden.iter().map(|h| h.to_string()).collect::<Vec<_>>().join("-"),
        step_s * 1e3,
        batch as f64 / step_s
    );
    println!(
        "ratio                  {:.0}% of the matmul rate",
        100.0 * step_gflops / mm_gflops
    );
    Ok(())
}
