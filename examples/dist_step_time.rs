//! Step time of data-parallel training (docs/distributed.md, "Measured"): each rank runs the
//! training step of `grownet train` under the launcher's variables (forward and backward on
//! its share of the global batch, one all-reduce of the flattened gradients, the optimiser
//! step) and rank 0 prints the median step time, the median all-reduce time and its share, and
//! the bytes all-reduced per step. Without the variables it is one process.
//!
//! ```sh
//! cargo build --release --example dist_step_time
//! target/release/examples/dist_step_time --model cnn --threads 2            # 1 rank x 2 threads
//! $GROWNET_TORCH_ENV/bin/torchrun --nproc-per-node 2 --no-python \
//!     target/release/examples/dist_step_time --model cnn --threads 1        # 2 ranks x 1 thread
//! target/release/examples/dist_step_time --model resnet18 --params-only     # the plan's sizes
//! ```
mod common;

use std::time::Instant;

use grownet::distributed::{Backend, World};
use grownet::nn::{Activation, Architecture, Loss, Network};
use grownet::optim::{Optimizer, OptimizerConfig};
use grownet::train::shard;
use rand::SeedableRng;
use tch::{Device, Kind, Tensor};

use common::median;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let model = flag("--model").unwrap_or_else(|| "cnn".into());
    let threads: i32 = flag("--threads").map_or(Ok(1), |v| v.parse())?;
    let steps: usize = flag("--steps").map_or(Ok(30), |v| v.parse())?;
    tch::set_num_threads(threads);
    let (arch, shape, batch) = match model.as_str() {
        "mlp" => (
            Architecture::mlp(784, &[512, 512], 10, Activation::Relu),
            vec![784],
            256,
        ),
        "resnet18" => (
            Architecture::resnet18([3, 32, 32], 10, 1.0),
            vec![3, 32, 32],
            128,
        ),
        _ => {
            let a = Architecture::cnn([3, 32, 32], &[32, 64, 128], 10, Activation::Relu, false);
            (a, vec![3, 32, 32], 128)
        }
    };
    let batch: i64 = flag("--batch").map_or(Ok(batch), |v| v.parse())?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let net = Network::new(&arch, &mut rng, Device::Cpu)?;
    let params = net.named_parameters();
    let bytes = 4 * net.parameter_count();
    if args.iter().any(|a| a == "--params-only") {
        println!(
            "{model}: {} parameters, {bytes} bytes of f32 gradients",
            net.parameter_count()
        );
        return Ok(());
    }
    let world = World::from_env(Backend::Gloo, false, 60.0)?;
    let global: Vec<i64> = [batch].into_iter().chain(shape).collect();
    let idx = Tensor::arange(batch, (Kind::Int64, Device::Cpu));
    let local = shard::local(&world, &idx).size()[0];
    let x = Tensor::randn(
        [local]
            .iter()
            .chain(&global[1..])
            .copied()
            .collect::<Vec<_>>(),
        (Kind::Float, Device::Cpu),
    );
    let y = Tensor::randint(10, [local], (Kind::Int64, Device::Cpu));
    let mut opt = Optimizer::new(OptimizerConfig::sgd(0.9));
    let (mut step_ms, mut comm_ms) = (Vec::new(), Vec::new());
    for s in 0..steps + 3 {
        world.barrier()?;
        let t0 = Instant::now();
        Optimizer::zero_grad(&params);
        let out = net.forward(&x, true);
        let loss = shard::batch_loss(&world, Loss::CrossEntropy, &out, &y, batch);
        loss.backward();
        let t1 = Instant::now();
        if world.size() > 1 {
            shard::reduce_gradients(&world, &params, loss.double_value(&[]))?;
        }
        let comm = t1.elapsed().as_secs_f64() * 1e3;
        opt.step(&params, 0.01).unwrap();
        if s >= 3 {
            step_ms.push(t0.elapsed().as_secs_f64() * 1e3);
            comm_ms.push(comm);
        }
    }
    if world.is_root() {
        let (st, cm) = (median(step_ms), median(comm_ms));
        println!(
            "{model}: {} rank(s) x {threads} thread(s), global batch {batch}: step {st:.2} ms, \
             all-reduce {cm:.2} ms ({:.0}% of the step), {bytes} bytes all-reduced per step",
            world.size(),
            100.0 * cm / st
        );
    }
    Ok(())
}
