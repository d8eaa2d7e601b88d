//! Data-parallel runs (docs/distributed.md) on CPU, Gloo over loopback, 2 ranks: the tests
//! launch the ranks themselves (processes with the launcher's variables, or threads of this
//! process), and one goes through the set-up's torchrun.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use common::text;
use grownet::checkpoint;
use grownet::data::Dataset;
use grownet::distributed::{Rendezvous, World};
use grownet::events::Event;
use grownet::growth::{Clock, Context, Grower, GrowthConfig, Method, Selection};
use grownet::nn::{Activation, Architecture, Loss, Network};
use grownet::optim::{Optimizer, OptimizerConfig};
use rand::SeedableRng;
use tch::{Device, Kind, Tensor};

/// Whether this build can run distributed (else the test is counted as skipped).
fn c10d() -> bool {
    let ok = grownet::distributed::available();
    if !ok {
        common::skipped("built without c10d (gloo's headers: source scripts/env.sh, rebuild)");
    }
    ok
}

/// A port nobody listens on now (the tests run in parallel: each asks for its own).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// `grownet ARGS` as rank `rank` of `size` (a world of one: no variables at all).
fn rank(args: &[&str], rank: usize, size: usize, port: u16, env: &[(&str, &str)]) -> Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_grownet"));
    c.args(args)
        .args(["--quiet", "--threads", "1"])
        .env("GROWNET_DATA", "/nonexistent-grownet-data")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if size > 1 {
        c.env("WORLD_SIZE", size.to_string())
            .env("RANK", rank.to_string())
            .env("MASTER_ADDR", "127.0.0.1")
            .env("MASTER_PORT", port.to_string());
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.spawn().unwrap()
}

/// Runs `grownet train ARGS` on `size` ranks, rank 0 writing `out`; every rank's output.
fn train(args: &[&str], size: usize, out: &Path) -> Vec<Output> {
    let port = free_port();
    let out = out.to_str().unwrap();
    let mut all = vec!["train", "--out", out];
    all.extend(args);
    let children: Vec<Child> = (0..size).map(|r| rank(&all, r, size, port, &[])).collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for (r, o) in outputs.iter().enumerate() {
        assert!(o.status.success(), "rank {r}: {}", text(o));
    }
    outputs
}

/// A small spirals MLP: 512 samples, global batch 64 (8 steps an epoch).
const MLP: &[&str] = &[
    "--dataset",
    "spirals",
    "--set",
    "data.synthetic_train=512",
    "--set",
    "data.synthetic_test=256",
    "--batch-size",
    "64",
    "--seed",
    "3",
    "--device",
    "cpu",
];

/// A small CNN with BatchNorm after each conv on the built-in `patterns` images (256 samples
/// of 3×12×12, global batch 32: 8 steps an epoch), without augmentation (whose crops are
/// drawn per rank).
const CNN: &[&str] = &[
    "--dataset",
    "patterns",
    "--model",
    "cnn",
    "--channels",
    "4,8",
    "--set",
    "data.synthetic_train=256",
    "--set",
    "data.synthetic_test=128",
    "--batch-size",
    "32",
    "--no-augment",
    "--seed",
    "2",
    "--device",
    "cpu",
];

fn relative(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-12)
}

/// Every epoch's losses of two runs, within `tol` (relative).
fn same_losses(a: &Path, b: &Path, tol: f64) {
    let read = |d: &Path| grownet::train::read_events(&d.join("metrics.jsonl")).unwrap();
    let (x, y) = (read(a), read(b));
    assert_eq!(x.len(), y.len());
    for (p, q) in x.iter().zip(&y) {
        for key in ["train_loss", "test_loss"] {
            if let (Some(u), Some(v)) = (p[key].as_f64(), q[key].as_f64()) {
                assert!(relative(u, v) < tol, "{key}: {u} vs {v}");
            }
        }
    }
}

/// The checkpoints' networks: same shapes, every tensor (parameters and BatchNorm buffers)
/// within `tol` of the other relative to its largest entry.
fn same_weights(a: &Path, b: &Path, tol: f64) -> Vec<i64> {
    let load = |d: &Path| checkpoint::load_network(&d.join("checkpoint.safetensors"), Device::Cpu);
    let ((n, _), (m, _)) = (load(a).unwrap(), load(b).unwrap());
    assert_eq!(n.hidden_widths(), m.hidden_widths());
    let all = |n: &Network| {
        let mut v = n.named_parameters();
        v.extend(n.named_buffers());
        v
    };
    let (x, y) = (all(&n), all(&m));
    assert_eq!(x.len(), y.len());
    for ((name, p), (_, q)) in x.iter().zip(y) {
        let scale = p.abs().max().double_value(&[]).max(1e-12);
        let diff = (p - &q).abs().max().double_value(&[]) / scale;
        assert!(diff < tol, "{name}: relative difference {diff}");
    }
    n.hidden_widths()
}

/// `grownet train ARGS` on one rank and on two: every epoch's losses and the checkpoints'
/// weights and buffers within 1e-5 (relative). The final widths and the 2 ranks' output.
fn two_ranks_as_one(args: &[&str]) -> (Vec<i64>, Vec<Output>) {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    train(args, 1, &one);
    let outputs = train(args, 2, &two);
    same_losses(&one, &two, 1e-5);
    (same_weights(&one, &two, 1e-5), outputs)
}

#[test]
fn two_ranks_with_half_batches_train_as_one_rank() {
    if !c10d() {
        return;
    }
    let args: Vec<&str> = [MLP, &["--epochs", "2", "--hidden", "16,16"]].concat();
    let (_, outputs) = two_ranks_as_one(&args);
    // Rank 1 wrote nothing and printed nothing.
    assert!(text(&outputs[1]).trim().is_empty(), "{}", text(&outputs[1]));
}

#[test]
fn two_ranks_with_half_batches_train_a_batchnorm_cnn_as_one_rank() {
    if !c10d() {
        return;
    }
    // Synchronised BatchNorm: the 2 ranks' batch statistics are those of the global batch.
    let args: Vec<&str> = [CNN, &["--epochs", "2"]].concat();
    two_ranks_as_one(&args);
}

#[test]
fn a_tiny_growth_step_of_a_batchnorm_cnn_under_two_ranks_grows_as_one_rank() {
    if !c10d() {
        return;
    }
    // 8 steps, a TINY growth check of the conv → conv site (2 new channels behind the first
    // BatchNorm), 8 more steps through the grown channels. The conv → linear site is left at
    // its width: on this tiny sample its check (measured first order, line search) moves by
    // ~1e-2 under float rounding alone (one process on 2 threads against 1 thread, measured).
    // The statistics pass runs in eval mode (running statistics): synchronised BatchNorm
    // takes part through the training steps before and after it.
    let grow = [
        "--epochs",
        "2",
        "--grow",
        "tiny",
        "--every-steps",
        "8",
        "--max-hidden",
        "6,8",
        "--selection",
        "all",
        "--set",
        "growth.stats_batch_size=64",
        "--set",
        "growth.stats_samples=128",
    ];
    let args: Vec<&str> = [CNN, &grow].concat();
    let (widths, _) = two_ranks_as_one(&args);
    assert_eq!(widths, vec![6, 8], "the conv → conv site did not grow");
}

#[test]
fn a_tiny_growth_step_under_two_ranks_grows_as_one_rank() {
    if !c10d() {
        return;
    }
    // One epoch of 8 steps and one growth check right after its last step: the checkpoint
    // holds the grown network.
    let grow = [
        "--epochs",
        "1",
        "--hidden",
        "2,2",
        "--grow",
        "tiny",
        "--every-steps",
        "8",
        "--max-hidden",
        "8,8",
        "--selection",
        "all",
        "--set",
        "growth.stats_batch_size=128",
    ];
    let args: Vec<&str> = [MLP, &grow].concat();
    let (widths, _) = two_ranks_as_one(&args);
    assert_ne!(widths, vec![2, 2], "nothing grew");
}

/// `f(world)` on each of `size` ranks, as threads of this process with a group each (a world
/// of one: no group); every rank's result.
fn in_threads<T, F>(size: usize, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(&World) -> T + Send + Clone + 'static,
{
    let port = free_port();
    let ranks: Vec<_> = (0..size)
        .map(|r| {
            let f = f.clone();
            std::thread::spawn(move || {
                let world = match size {
                    1 => World::single(),
                    _ => {
                        let rdv = Rendezvous {
                            host: "127.0.0.1".into(),
                            port,
                            rank: r,
                            size,
                            agent_store: None,
                            timeout_ms: 30_000,
                        };
                        World::join("gloo", &rdv).unwrap()
                    }
                };
                f(&world)
            })
        })
        .collect();
    ranks.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn the_differentiable_sum_sums_values_forward_and_gradients_backward() {
    if !c10d() {
        return;
    }
    // Rank r: x = [r+1, 10(r+1)], loss = Σ y·w with w = [1, r+2]. y = Σ_r x on both ranks;
    // each rank's ∂(Σ_r loss_r)/∂x = Σ_r w_r = [2, 5] once the backward pass sums it.
    let out = in_threads(2, |world| {
        let r = world.rank() as f64;
        let x = Tensor::from_slice(&[r + 1.0, 10.0 * (r + 1.0)]).set_requires_grad(true);
        let y = world.all_reduce_sum_differentiable(&x).unwrap();
        (&y * Tensor::from_slice(&[1.0, r + 2.0]))
            .sum(Kind::Double)
            .backward();
        let v = |t: &Tensor| Vec::<f64>::try_from(t).unwrap();
        (v(&y.detach()), v(&x.grad()), v(&x.detach()))
    });
    for (r, (y, grad, x)) in out.into_iter().enumerate() {
        assert_eq!(y, vec![3.0, 30.0], "rank {r}");
        assert_eq!(grad, vec![2.0, 5.0], "rank {r}");
        assert_eq!(x[0], r as f64 + 1.0, "rank {r}: the input was changed");
    }
}

/// A growth check by `method` in each of `size` threads, one rank each (a world of one: no group), on the
/// same data and network; every rank's parameters after it.
fn grow_in_threads_with(size: usize, method: Method) -> Vec<Vec<Tensor>> {
    in_threads(size, move |world| grow_once(world, method))
}

fn grow_once(world: &World, method: Method) -> Vec<Tensor> {
    // Deterministic data, the same in every thread (no global RNG).
    let x = Tensor::arange(512 * 3, (Kind::Float, Device::Cpu))
        .view([512, 3])
        .sin();
    let y = (x.select(1, 0) * x.select(1, 1))
        .gt(0.0)
        .to_kind(Kind::Int64);
    let train = Dataset { x, y };
    let arch = Architecture::mlp(3, &[2, 2], 2, Activation::Relu);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let mut net = Network::new(&arch, &mut rng, Device::Cpu).unwrap();
    let mut opt = Optimizer::new(OptimizerConfig::sgd(0.9));
    let mut config = GrowthConfig {
        method,
        selection: Selection::All,
        max_hidden: Some(vec![8, 8]),
        stats_samples: 512,
        stats_batch_size: 64,
        ..GrowthConfig::default()
    };
    if method == Method::Senn {
        // Thresholds low enough that one check adds a neuron.
        config.max_hidden = None;
        config.senn.tau = 1e-6;
        config.senn.alpha = 1e-9;
    }
    let mut grower = Grower::new(config).unwrap();
    let mut events: Vec<Event> = Vec::new();
    let mut ctx = Context {
        net: &mut net,
        opt: &mut opt,
        train: &train,
        val: None,
        loss: Loss::CrossEntropy,
        seed: 7,
        clock: Clock { epoch: 1, step: 8 },
        events: &mut events,
        world,
    };
    grower.check(&mut ctx).unwrap();
    assert_ne!(net.hidden_widths(), vec![2, 2], "nothing grew");
    net.named_parameters()
        .into_iter()
        .map(|(_, p)| p.detach().copy())
        .collect()
}

#[test]
fn ranks_grow_identically_and_as_one_rank() {
    if !c10d() {
        return;
    }
    for method in [Method::Tiny, Method::Senn] {
        same_growth_on_two_ranks(method);
    }
}

fn same_growth_on_two_ranks(method: Method) {
    let one = grow_in_threads_with(1, method).remove(0);
    let two = grow_in_threads_with(2, method);
    for (a, b) in two[0].iter().zip(&two[1]) {
        assert!(a.equal(b), "{method:?}: ranks differ after growth");
    }
    assert_eq!(one.len(), two[0].len());
    for (a, b) in one.iter().zip(&two[0]) {
        assert_eq!(a.size(), b.size());
        let scale = a.abs().max().double_value(&[]).max(1e-12);
        let diff = (a - b).abs().max().double_value(&[]) / scale;
        assert!(
            diff < 1e-6,
            "{method:?}: relative difference {diff} to one rank"
        );
    }
}

#[test]
fn a_dead_rank_stops_the_other_and_the_run_resumes_on_one() {
    if !c10d() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let port = free_port();
    let d = dir.to_str().unwrap();
    let args: Vec<&str> = [
        &["train", "--out", d, "--dist-timeout", "20"],
        MLP,
        &["--epochs", "3"],
    ]
    .concat();
    let start = std::time::Instant::now();
    let survivor = rank(&args, 0, 2, port, &[]);
    let dying = rank(&args, 1, 2, port, &[("GROWNET_CRASH_AFTER_STEP", "11")]);
    let dead = dying.wait_with_output().unwrap();
    assert!(!dead.status.success());
    let o = survivor.wait_with_output().unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    assert!(start.elapsed().as_secs() < 40, "{:?}", start.elapsed());
    assert!(text(&o).contains("distributed"), "{}", text(&o));
    // Epoch 1 was checkpointed; world size 1 continues from it.
    let resumed = common::grownet(&["train", "--resume", d, "--quiet"]);
    assert!(resumed.status.success(), "{}", text(&resumed));
    let events = grownet::train::read_events(&dir.join("metrics.jsonl")).unwrap();
    assert!(events.iter().any(|e| e["event"] == "end"));
}

/// The set-up's torchrun (`$GROWNET_TORCH_ENV/bin/torchrun`), when there is one.
fn torchrun() -> Option<PathBuf> {
    let env = std::env::var_os("GROWNET_TORCH_ENV").map(PathBuf::from)?;
    Some(env.join("bin/torchrun")).filter(|p| p.exists())
}

#[test]
fn torchrun_launches_two_ranks() {
    if !c10d() {
        return;
    }
    let Some(torchrun) = torchrun() else {
        common::skipped("no torchrun in $GROWNET_TORCH_ENV (source scripts/env.sh)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    let args: Vec<&str> = [MLP, &["--epochs", "1", "--hidden", "8"]].concat();
    train(&args, 1, &one);
    let port = free_port().to_string();
    let o = Command::new(torchrun)
        .args([
            "--nproc-per-node",
            "2",
            "--master-port",
            &port,
            "--no-python",
        ])
        .arg(env!("CARGO_BIN_EXE_grownet"))
        .args([
            "train",
            "--out",
            two.to_str().unwrap(),
            "--quiet",
            "--threads",
            "1",
        ])
        .args(&args)
        .env("GROWNET_DATA", "/nonexistent-grownet-data")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    same_losses(&one, &two, 1e-5);
    same_weights(&one, &two, 1e-5);
}

#[test]
fn bench_trains_each_run_under_torchrun() {
    if !c10d() || torchrun().is_none() {
        return common::skipped("no c10d or no torchrun in $GROWNET_TORCH_ENV");
    }
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bench.toml");
    let bench = r#"
name = "dist bench"
seeds = [0]
[base]
device = "cpu"
threads = 1
[base.data]
name = "moons"
synthetic_train = 256
synthetic_test = 128
[base.model]
hidden = [2]
[base.train]
epochs = 2
batch_size = 32
[growth]
selection = "all"
max_hidden = [6]
neurons_per_step = 2
stats_samples = 128
line_search_samples = 64
[[method]]
name = "fixed"
set = { model = { hidden = [6] } }
[[method]]
name = "tiny"
grow = "tiny"
"#;
    std::fs::write(&file, bench).unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    let run = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "bench",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        let o = common::grownet(&args);
        assert!(o.status.success(), "{}", text(&o));
    };
    run(&one, &["--quiet"]);
    run(&two, &["--quiet", "--nproc-per-run", "2"]);
    for method in ["fixed", "tiny"] {
        let name = grownet::bench::run_name(method, 0);
        let (a, b) = (one.join("runs").join(&name), two.join("runs").join(&name));
        same_losses(&a, &b, 1e-5);
    }
}
