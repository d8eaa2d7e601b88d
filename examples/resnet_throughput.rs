//! Training throughput of grownet's CIFAR ResNet-18 (issue 15): images per second of the
//! training step (forward, backward, SGD with Nesterov momentum 0.9 and weight decay 5e-4) on
//! random 32×32 images, in two loops:
//!
//! * `async`: steps enqueued back to back, the device synchronised only around the timing;
//! * `trainer`: as `grownet train` does it, the loss and the correct count read back after
//!   every step (two host–device synchronisations per step).
//!
//! Prints one `RESULT` line per loop (what bench/gpu/run.sh collects), next to PyTorch's own
//! step of the same network (bench/gpu/torch_resnet.py).
//!
//! ```text
//! cargo run --release --example resnet_throughput -- [--device cuda] [--batch 128] [--steps 30]
//!     [--warmup 5] [--width-fraction 1] [--cudnn-benchmark] [--threads N]
//! ```
use std::time::Instant;

use anyhow::Result;
use grownet::nn::{Architecture, Loss, Network};
use grownet::optim::{Optimizer, OptimizerConfig};
use rand::SeedableRng;
use tch::{Device, Kind, Tensor};

fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

fn main() -> Result<()> {
    grownet::runtime::tune_allocator();
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let device = grownet::config::parse_device(flag("--device").as_deref().unwrap_or("auto"))?;
    let batch: i64 = flag("--batch").map_or(Ok(128), |v| v.parse())?;
    let steps: usize = flag("--steps").map_or(Ok(30), |v| v.parse())?;
    let warmup: usize = flag("--warmup").map_or(Ok(5), |v| v.parse())?;
    let fraction: f64 = flag("--width-fraction").map_or(Ok(1.0), |v| v.parse())?;
    if let Some(t) = flag("--threads") {
        tch::set_num_threads(t.parse()?);
    }
    let benchmark = args.iter().any(|a| a == "--cudnn-benchmark");
    if benchmark && device.is_cuda() {
        tch::Cuda::cudnn_set_benchmark(true);
    }
    let arch = Architecture::resnet18([3, 32, 32], 10, fraction);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let net = Network::new(&arch, &mut rng, device)?;
    let mut opt = Optimizer::new(OptimizerConfig {
        nesterov: true,
        weight_decay: 5e-4,
        ..OptimizerConfig::sgd(0.9)
    });
    let params = net.named_parameters();
    tch::manual_seed(0);
    let x = Tensor::randn([batch, 3, 32, 32], (Kind::Float, device));
    let y = Tensor::randint(10, [batch], (Kind::Int64, device));
    // One training step; `read_back` reads the loss and the correct count as the trainer does.
    let mut step = |read_back: bool| {
        Optimizer::zero_grad(&params);
        let out = net.forward(&x, true);
        let loss = Loss::CrossEntropy.mean(&out, &y);
        if read_back {
            let _ = loss.double_value(&[]);
        }
        loss.backward();
        opt.step(&params, 0.01).unwrap();
        if read_back {
            let _ = out
                .argmax(-1, false)
                .eq_tensor(&y)
                .sum(Kind::Int64)
                .int64_value(&[]);
        }
    };
    println!(
        "ResNet-18 (width fraction {fraction}), {} parameters, {:.2} GFLOP per image forward, \
         batch {batch}, {device:?}{}",
        net.parameter_count(),
        net.flops_per_sample() as f64 / 1e9,
        if benchmark { ", cuDNN benchmark" } else { "" }
    );
    for (name, read_back) in [("async", false), ("trainer", true)] {
        for _ in 0..warmup {
            step(read_back);
        }
        sync(device);
        let t = Instant::now();
        for _ in 0..steps {
            step(read_back);
        }
        sync(device);
        let s = t.elapsed().as_secs_f64();
        let ips = (steps as i64 * batch) as f64 / s;
        println!(
            "RESULT impl=grownet precision=fp32 loop={name} cudnn_benchmark={benchmark} \
             batch={batch} steps={steps} ms_per_step={:.2} images_per_s={ips:.0}",
            1e3 * s / steps as f64
        );
    }
    Ok(())
}
