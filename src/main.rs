//! `grownet`: the command-line shell over the library.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};

use grownet::checkpoint;
use grownet::config::{parse_device, ModelKind, RunConfig};
use grownet::nn::{Activation, LayerSpec};
use grownet::optim::{OptimizerKind, Schedule};
use grownet::train::{self, Trainer, CHECKPOINT_FILE};

#[derive(Parser)]
#[command(
    name = "grownet",
    version,
    about = "Train neural networks that grow while they learn"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
enum Command {
    /// Train a network (with no arguments: the built-in demo, an MLP grown from 1+1 neurons on
    /// the spirals dataset).
    Train(TrainArgs),
    /// Evaluate a saved checkpoint on its dataset's test split.
    Eval {
        /// A checkpoint file or a run directory.
        checkpoint: PathBuf,
        /// Directory holding the datasets (default: $GROWNET_DATA).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        device: Option<String>,
    },
    /// Print a checkpoint's architecture and parameter count.
    Info {
        /// A checkpoint file or a run directory.
        checkpoint: PathBuf,
    },
    /// Compare methods on one task: every method of a bench file × every seed with the same
    /// budget, as parallel or sequential child runs; writes results.csv, report.md and plots.
    /// Run it again to resume: finished runs are kept, interrupted ones continue.
    Bench(BenchArgs),
    /// Plots of one run (accuracy by epoch and by wall time, parameters with growth steps,
    /// accuracy against parameters, bottleneck Ψ per site) from its metrics.jsonl.
    Report {
        /// A run directory (or its metrics.jsonl).
        run: PathBuf,
        /// Where to write the SVG and PNG files (default RUN/plots).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Args)]
struct BenchArgs {
    /// Bench file (TOML): seeds, [base] run, shared [growth], [[method]] list; see bench/*.toml.
    config: PathBuf,
    /// Output directory (default bench-runs/<file name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Runs at once (default: the file's `jobs`, else 1).
    #[arg(long)]
    jobs: Option<usize>,
    /// libtorch CPU threads per run (default: the file's `threads`, else cores / jobs).
    #[arg(long)]
    threads: Option<usize>,
    /// Seeds, e.g. 0,1,2 (default: the file's).
    #[arg(long, value_delimiter = ',')]
    seeds: Option<Vec<u64>>,
    /// Epochs of every run (default: the file's).
    #[arg(long)]
    epochs: Option<usize>,
    /// Only these methods (and those they take their widths from), e.g. senn,fixed-at-senn;
    /// the report then covers them only (rerun with --report-only for the whole bench).
    #[arg(long, value_delimiter = ',')]
    methods: Option<Vec<String>>,
    /// Directory holding the datasets (default: $GROWNET_DATA).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long)]
    device: Option<String>,
    /// Train nothing: summarise the runs already finished.
    #[arg(long)]
    report_only: bool,
    /// No progress lines.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args, Default)]
struct TrainArgs {
    /// TOML config file; flags override its values.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Continue the run in this directory from its checkpoint.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// spirals, moons, regression, teacher, mnist, cifar-10, or any IDX folder name.
    #[arg(long)]
    dataset: Option<String>,
    /// Directory holding the datasets (default: $GROWNET_DATA).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// mlp, cnn (VGG-style) or resnet18.
    #[arg(long)]
    model: Option<ModelKind>,
    /// MLP hidden widths, e.g. 256,256 (`none`: no hidden layer).
    #[arg(long, value_parser = parse_widths)]
    hidden: Option<Widths>,
    /// CNN channels per conv stage, e.g. 32,64,128.
    #[arg(long, value_delimiter = ',')]
    channels: Option<Vec<i64>>,
    /// ResNet-18: each block's starting hidden width as a fraction of its output width,
    /// e.g. 1/64 (default) or 0.25; 1 is the full network.
    #[arg(long, value_parser = parse_fraction, value_name = "F")]
    width_fraction: Option<f64>,
    /// CNN: conv stages per 2×2 max pooling (default 1; 2 gives VGG-style blocks whose
    /// conv → conv sites have no pooling in between).
    #[arg(long)]
    convs_per_pool: Option<usize>,
    /// relu, selu, tanh, gelu, identity or rational.
    #[arg(long)]
    activation: Option<Activation>,
    /// Total training epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Training minibatch size.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Base learning rate (the schedule scales it).
    #[arg(long)]
    lr: Option<f64>,
    /// sgd or adamw.
    #[arg(long)]
    optimizer: Option<OptimizerKind>,
    /// SGD momentum.
    #[arg(long)]
    momentum: Option<f64>,
    /// Nesterov momentum (SGD).
    #[arg(long)]
    nesterov: bool,
    /// L2 penalty (SGD) or decoupled weight decay (AdamW).
    #[arg(long)]
    weight_decay: Option<f64>,
    /// constant, step:EVERY:GAMMA, or cosine[:WARMUP_EPOCHS].
    #[arg(long)]
    schedule: Option<Schedule>,
    /// Seed of initialisation, data generation, shuffling, augmentation and growth.
    #[arg(long)]
    seed: Option<u64>,
    /// Fraction of the training set held out for validation.
    #[arg(long)]
    val_fraction: Option<f64>,
    /// Use only the first N training samples.
    #[arg(long)]
    limit: Option<usize>,
    /// Evaluate on the first N test samples only (reduced CPU protocols).
    #[arg(long)]
    test_limit: Option<usize>,
    /// Disable crop/flip augmentation of colour images.
    #[arg(long)]
    no_augment: bool,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long)]
    device: Option<String>,
    /// Grow the network: tiny, tiny-paper, gradmax, random or senn.
    #[arg(long, value_name = "METHOD")]
    grow: Option<grownet::growth::Method>,
    /// Grow after every N epochs.
    #[arg(long, value_name = "N")]
    grow_every: Option<usize>,
    /// Grow every N optimisation steps instead.
    #[arg(long, value_name = "N")]
    grow_every_steps: Option<usize>,
    /// Stop growing after this epoch.
    #[arg(long, value_name = "EPOCH")]
    grow_until: Option<usize>,
    /// Target hidden widths (schedule mode), e.g. 256,256.
    #[arg(long, value_delimiter = ',')]
    max_hidden: Option<Vec<i64>>,
    /// Parameter budget for growth.
    #[arg(long)]
    max_params: Option<i64>,
    /// At most N neurons per site per growth step.
    #[arg(long, value_name = "N")]
    neurons_per_step: Option<usize>,
    /// Where to grow: best, round-robin or all.
    #[arg(long, value_name = "WHERE")]
    grow_select: Option<grownet::growth::Selection>,
    /// Automatic mode: no target size; at each check grow while a step lowers the held-out
    /// loss by at least --grow-threshold (relative), stop after --grow-patience fruitless
    /// checks. Pair it with --val-fraction so the line search uses unseen data.
    #[arg(long)]
    grow_auto: bool,
    /// Automatic mode: least relative held-out gain of a growth step (0).
    #[arg(long)]
    grow_threshold: Option<f64>,
    /// Automatic mode: fruitless checks before growth stops for good (3).
    #[arg(long)]
    grow_patience: Option<usize>,
    /// Automatic mode: growth steps per check at most.
    #[arg(long)]
    grow_rounds: Option<usize>,
    /// Automatic mode: what is judged on held-out data: neurons (their gain beyond the
    /// existing weights' own best update, default) or total (the whole growth step).
    #[arg(long, value_name = "WHAT")]
    grow_gain: Option<grownet::growth::AutoGain>,
    /// Automatic mode: the held-out gain must exceed this many standard errors (2).
    #[arg(long, value_name = "Z")]
    grow_significance: Option<f64>,
    /// Automatic mode: least relative held-out gain per new neuron (1.5e-4).
    #[arg(long, value_name = "T")]
    grow_threshold_per_neuron: Option<f64>,
    /// Automatic mode: least relative held-out gain per added parameter (0).
    #[arg(long, value_name = "T")]
    grow_threshold_per_param: Option<f64>,
    /// Held-out samples for the amplitude line search.
    #[arg(long)]
    line_search_samples: Option<usize>,
    /// Samples used for the growth statistics.
    #[arg(long)]
    stats_samples: Option<usize>,
    /// Minibatch size of the statistics pass (bounds the memory of unfolded conv inputs).
    #[arg(long)]
    stats_batch_size: Option<usize>,
    /// Eigenvalue cut of S and S₂ in the TINY solves (default 1e-6).
    #[arg(long)]
    numerical_threshold: Option<f64>,
    /// Amplitude search: armijo, or grid:S1,S2,… (scales).
    #[arg(long, value_name = "SEARCH")]
    line_search: Option<String>,
    /// Adam's second moment for entries added by growth: mean (of the parameter's existing
    /// ones, default) or zero (larger first steps; helps SENN's zero-fan-out neurons).
    #[arg(long, value_name = "FILL")]
    grow_new_v: Option<grownet::optim::NewSecondMoment>,
    /// Conv → conv sites: restricted (1×1 fan-out at the kernel centre, default) or full
    /// (k×k fan-out) new channels.
    #[arg(long, value_name = "KIND")]
    conv_neuron: Option<grownet::growth::site::ConvNeuron>,
    /// New units behind a BatchNorm start at the existing units' mean norm (same effective
    /// learning rate; the function is unchanged in eval mode).
    #[arg(long)]
    grow_bn_rescale: bool,
    /// SENN: relative threshold τ (accept when Δη'/η_layer > τ; default 0.03).
    #[arg(long)]
    senn_tau: Option<f64>,
    /// SENN: absolute threshold α relative to λ = E‖∂ℓ/∂y‖² (default 2.5e-3).
    #[arg(long)]
    senn_alpha: Option<f64>,
    /// SENN: a layer's Δη' is divided by this (default 20).
    #[arg(long)]
    senn_depth_cost: Option<f64>,
    /// SENN: most hidden layers depth growth may create (default 3; 0 disables depth).
    #[arg(long)]
    senn_max_layers: Option<usize>,
    /// SENN: width cap per layer when --max-hidden is not given (default 256).
    #[arg(long)]
    senn_max_width: Option<i64>,
    /// SENN: most expansions per check (default 32).
    #[arg(long)]
    senn_max_additions: Option<usize>,
    /// SENN: width proposals per site (default 32).
    #[arg(long)]
    senn_proposals: Option<usize>,
    /// SENN: ascent steps refining the proposals (default 60).
    #[arg(long)]
    senn_refine_steps: Option<usize>,
    /// SENN: samples the proposal ascent runs on (default 1024).
    #[arg(long)]
    senn_refine_samples: Option<usize>,
    /// CPU threads for libtorch (default: 1 for small models, all cores otherwise).
    #[arg(long)]
    threads: Option<usize>,
    /// Run directory (default runs/<name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run name (default: dataset-model-timestamp).
    #[arg(long)]
    name: Option<String>,
    /// No per-epoch lines or progress bars.
    #[arg(long)]
    quiet: bool,
}

impl TrainArgs {
    /// Applies the flags that were given on top of `cfg`.
    fn apply(&self, cfg: &mut RunConfig) -> anyhow::Result<()> {
        let d = &mut cfg.data;
        set(&mut d.name, self.dataset.clone());
        if self.data_dir.is_some() {
            d.data_dir = self.data_dir.clone();
        }
        set(&mut d.val_fraction, self.val_fraction);
        if self.limit.is_some() {
            d.limit = self.limit;
        }
        if self.test_limit.is_some() {
            d.test_limit = self.test_limit;
        }
        let m = &mut cfg.model;
        set(&mut m.kind, self.model);
        set(&mut m.hidden, self.hidden.clone().map(|w| w.0));
        set(&mut m.channels, self.channels.clone());
        set(&mut m.convs_per_pool, self.convs_per_pool);
        set(&mut m.width_fraction, self.width_fraction);
        set(&mut m.activation, self.activation);
        let t = &mut cfg.train;
        set(&mut t.epochs, self.epochs);
        set(&mut t.batch_size, self.batch_size);
        set(&mut t.lr, self.lr);
        set(&mut t.optimizer, self.optimizer);
        set(&mut t.momentum, self.momentum);
        set(&mut t.weight_decay, self.weight_decay);
        set(&mut t.schedule, self.schedule.clone());
        set(&mut t.seed, self.seed);
        if let Some(seed) = self.seed {
            cfg.data.seed = seed;
        }
        t.nesterov |= self.nesterov;
        t.augment &= !self.no_augment;
        if self.device.is_some() {
            cfg.device = self.device.clone();
        }
        let growth_flag = self.grow.is_some()
            || self.grow_every.is_some()
            || self.grow_every_steps.is_some()
            || self.max_hidden.is_some()
            || self.max_params.is_some()
            || self.grow_auto;
        if growth_flag || cfg.growth.is_some() {
            let g = cfg.growth.get_or_insert_with(Default::default);
            set(&mut g.method, self.grow);
            set(&mut g.every_epochs, self.grow_every);
            if self.grow_every_steps.is_some() {
                g.every_steps = self.grow_every_steps;
            }
            if self.grow_until.is_some() {
                g.stop_epoch = self.grow_until;
            }
            if self.max_hidden.is_some() {
                g.max_hidden = self.max_hidden.clone();
            }
            if self.max_params.is_some() {
                g.max_parameters = self.max_params;
            }
            if self.neurons_per_step.is_some() {
                g.neurons_per_step = self.neurons_per_step;
            }
            set(&mut g.selection, self.grow_select);
            g.auto |= self.grow_auto;
            set(&mut g.threshold, self.grow_threshold);
            set(&mut g.patience, self.grow_patience);
            set(&mut g.stats_samples, self.stats_samples);
            set(&mut g.stats_batch_size, self.stats_batch_size);
            set(&mut g.auto_rounds, self.grow_rounds);
            set(&mut g.auto_gain, self.grow_gain);
            set(&mut g.significance, self.grow_significance);
            set(&mut g.threshold_per_neuron, self.grow_threshold_per_neuron);
            set(
                &mut g.threshold_per_parameter,
                self.grow_threshold_per_param,
            );
            set(&mut g.line_search_samples, self.line_search_samples);
            set(&mut g.numerical_threshold, self.numerical_threshold);
            if let Some(ls) = &self.line_search {
                g.line_search = parse_line_search(ls)?;
            }
            set(&mut g.new_second_moment, self.grow_new_v);
            set(&mut g.conv_neuron, self.conv_neuron);
            if self.grow_bn_rescale {
                g.bn_rescale = true;
            }
            let sn = &mut g.senn;
            set(&mut sn.tau, self.senn_tau);
            set(&mut sn.alpha, self.senn_alpha);
            set(&mut sn.depth_cost, self.senn_depth_cost);
            set(&mut sn.max_layers, self.senn_max_layers);
            set(&mut sn.max_width, self.senn_max_width);
            set(&mut sn.max_additions, self.senn_max_additions);
            set(&mut sn.proposals, self.senn_proposals);
            set(&mut sn.refine_steps, self.senn_refine_steps);
            set(&mut sn.refine_samples, self.senn_refine_samples);
        }
        if self.threads.is_some() {
            cfg.threads = self.threads;
        }
        if self.name.is_some() {
            cfg.name = self.name.clone();
        }
        Ok(())
    }
}

/// Hidden widths from the command line.
#[derive(Clone, Debug)]
struct Widths(Vec<i64>);

/// `256,256`, or `none` / an empty string for no hidden layer.
/// `0.25` or `1/64`, in [0, 1].
fn parse_fraction(s: &str) -> std::result::Result<f64, String> {
    let v = match s.split_once('/') {
        Some((a, b)) => {
            let (a, b): (f64, f64) = (
                a.trim()
                    .parse()
                    .map_err(|_| format!("bad fraction '{s}'"))?,
                b.trim()
                    .parse()
                    .map_err(|_| format!("bad fraction '{s}'"))?,
            );
            a / b
        }
        None => s
            .trim()
            .parse()
            .map_err(|_| format!("bad fraction '{s}'"))?,
    };
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("the fraction '{s}' is not in [0, 1]"))
    }
}

fn parse_widths(s: &str) -> Result<Widths, String> {
    let s = s.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("none") {
        return Ok(Widths(Vec::new()));
    }
    s.split(',')
        .map(|w| match w.trim().parse::<i64>() {
            Ok(v) if v >= 0 => Ok(v),
            _ => Err(format!(
                "'{w}' is not a width (expected e.g. 256,256 or none)"
            )),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Widths)
}

/// `armijo` or `grid:S1,S2,…`.
fn parse_line_search(s: &str) -> anyhow::Result<grownet::growth::LineSearch> {
    if s == "armijo" {
        return Ok(grownet::growth::LineSearch::default());
    }
    let Some(list) = s.strip_prefix("grid:") else {
        bail!("--line-search: expected 'armijo' or 'grid:S1,S2,…', got '{s}'");
    };
    let scales = list
        .split(',')
        .map(|v| v.trim().parse::<f64>())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("--line-search: bad scale list '{list}'"))?;
    Ok(grownet::growth::LineSearch::Grid { scales })
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

fn checkpoint_path(p: PathBuf) -> PathBuf {
    if p.is_dir() {
        p.join(CHECKPOINT_FILE)
    } else {
        p
    }
}

fn train(args: TrainArgs) -> anyhow::Result<()> {
    let mut trainer = if let Some(dir) = &args.resume {
        let mut adjust_error = None;
        let t = Trainer::resume(dir, |cfg| {
            if let Err(e) = args.apply(cfg) {
                adjust_error = Some(e);
            }
        })
        .with_context(|| format!("cannot resume the run in {}", dir.display()))?;
        if let Some(e) = adjust_error {
            return Err(e);
        }
        println!(
            "resuming {} at epoch {}/{}",
            dir.display(),
            t.epoch,
            t.config.train.epochs
        );
        t
    } else {
        let no_arguments = std::env::args_os().len() <= 2; // `grownet` or `grownet train`
        let mut cfg = match &args.config {
            Some(p) => RunConfig::from_file(p)?,
            None if no_arguments => RunConfig::demo(),
            None => RunConfig::default(),
        };
        args.apply(&mut cfg)?;
        let name = cfg.name.clone().unwrap_or_else(|| {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            format!("{}-{:?}-{secs}", cfg.data.name, cfg.model.kind).to_lowercase()
        });
        let out = args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("runs").join(&name));
        if out.join(CHECKPOINT_FILE).exists() {
            bail!(
                "{} already holds a run: continue it with --resume {0} or choose another --out",
                out.display()
            );
        }
        cfg.name = Some(name);
        let t = Trainer::new(cfg, Some(out.clone()))?;
        println!(
            "training on {} ({} train / {} test samples) on {:?}; run directory {}",
            t.data.name,
            t.data.train.len(),
            t.data.test.len(),
            t.device(),
            out.display()
        );
        t
    };
    trainer.quiet = args.quiet;
    let s = trainer.fit()?;
    println!("\nresult after {} epochs ({:.1}s):", s.epochs, s.seconds);
    let acc = |a: Option<f64>| {
        a.map(|a| format!(", accuracy {:.2}%", 100.0 * a))
            .unwrap_or_default()
    };
    println!("  train loss {:.4}{}", s.train.loss, acc(s.train.accuracy));
    if let Some(v) = s.val {
        println!("  val   loss {:.4}{}", v.loss, acc(v.accuracy));
    }
    println!("  test  loss {:.4}{}", s.test.loss, acc(s.test.accuracy));
    println!(
        "  parameters {}, hidden widths {:?}",
        s.parameters, s.hidden_widths
    );
    if s.growth_steps > 0 {
        println!(
            "  growth: {} steps, {:.1}s ({:.1}% of training time)",
            s.growth_steps,
            s.seconds_in_growth,
            100.0 * s.seconds_in_growth / s.seconds.max(1e-9)
        );
    }
    if let Some(run) = &trainer.run {
        println!("  metrics and checkpoint in {}", run.path.display());
    }
    Ok(())
}

fn eval(path: PathBuf, data_dir: Option<PathBuf>, device: Option<String>) -> anyhow::Result<()> {
    let path = checkpoint_path(path);
    let device = parse_device(device.as_deref().unwrap_or("auto"))?;
    let (net, meta) = checkpoint::load_network(&path, device)?;
    let mut data_cfg = meta.config.data.clone();
    if data_dir.is_some() {
        data_cfg.data_dir = data_dir;
    }
    let data = grownet::data::load(&data_cfg, device)?;
    let e = train::evaluate(
        &net,
        data.task.loss(),
        &data.test,
        meta.config.train.eval_batch_size,
    );
    println!(
        "{}: {} test samples of {}: loss {:.4}{}",
        path.display(),
        data.test.len(),
        data.name,
        e.loss,
        e.accuracy
            .map(|a| format!(", accuracy {:.2}%", 100.0 * a))
            .unwrap_or_default()
    );
    Ok(())
}

fn info(path: PathBuf) -> anyhow::Result<()> {
    let path = checkpoint_path(path);
    let (net, meta) = checkpoint::load_network(&path, tch::Device::Cpu)?;
    println!("checkpoint   {}", path.display());
    println!("dataset      {}", meta.config.data.name);
    println!(
        "trained      {} epochs, {} steps, {:.1}s, {} growth steps",
        meta.epoch, meta.step, meta.elapsed, meta.growth_steps
    );
    println!("input shape  {:?}", net.input_shape());
    for (i, s) in meta.architecture.stages.iter().enumerate() {
        let layer = match &s.layer {
            LayerSpec::Linear {
                inputs, outputs, ..
            } => format!("linear {inputs} → {outputs}"),
            LayerSpec::Conv2d {
                inputs,
                outputs,
                kernel,
                stride,
                ..
            } => format!("conv{kernel}x{kernel}/{stride} {inputs} → {outputs}"),
        };
        let skip = match s.skip {
            None => "",
            Some(grownet::nn::Skip::Identity) => " +skip",
            Some(grownet::nn::Skip::Projection { .. }) => " +skip(1x1 conv, bn)",
        };
        println!(
            "stage {i:<3}    {layer:<24} {}{}{skip}{}",
            s.activation,
            if s.batch_norm { " +bn" } else { "" },
            match s.pool {
                grownet::nn::Pool::None => "",
                grownet::nn::Pool::Max2 => " +maxpool2",
                grownet::nn::Pool::GlobalAvg => " +globalavg",
            }
        );
    }
    println!("parameters   {}", net.parameter_count());
    println!("hidden       {:?}", net.hidden_widths());
    println!("flops/sample {}", net.flops_per_sample());
    Ok(())
}

fn bench(args: BenchArgs) -> anyhow::Result<()> {
    use grownet::bench::{self, BenchConfig};
    let mut b = BenchConfig::from_file(&args.config)?;
    if let Some(seeds) = args.seeds {
        b.seeds = seeds;
    }
    if let Some(names) = &args.methods {
        b.select_methods(names)
            .with_context(|| format!("{}", args.config.display()))?;
    }
    if let Some(e) = args.epochs {
        b.set_base("train.epochs", toml::Value::Integer(e as i64))?;
    }
    if let Some(d) = &args.data_dir {
        b.set_base(
            "data.data_dir",
            toml::Value::String(d.to_string_lossy().into_owned()),
        )?;
    }
    if let Some(d) = args.device {
        b.set_base("device", toml::Value::String(d))?;
    }
    b.validate()
        .with_context(|| format!("{}", args.config.display()))?;
    let jobs = args.jobs.or(b.jobs).unwrap_or(1);
    if jobs == 0 || args.threads == Some(0) {
        bail!("--jobs and --threads must be at least 1");
    }
    let out = args.out.unwrap_or_else(|| {
        let stem = args
            .config
            .file_stem()
            .map_or_else(|| "bench".into(), |s| s.to_string_lossy().into_owned());
        PathBuf::from("bench-runs").join(stem)
    });
    let opts = bench::Options {
        exe: std::env::current_exe().context("cannot find the grownet executable")?,
        jobs,
        threads: args
            .threads
            .or(b.threads)
            .unwrap_or_else(|| bench::default_threads(jobs)),
        report_only: args.report_only,
        quiet: args.quiet,
    };
    if !args.quiet {
        println!(
            "bench {}: {} methods × {} seeds, {} at a time, {} thread(s) each; output in {}",
            args.config.display(),
            b.methods.len(),
            b.seeds.len(),
            opts.jobs,
            opts.threads,
            out.display()
        );
    }
    let o = bench::run(&b, &out, &opts)?;
    if !args.quiet {
        println!(
            "\n{} runs finished ({} trained now, {} already done); report in {}",
            o.results.len(),
            o.trained.len(),
            o.skipped.len(),
            out.join("report.md").display()
        );
        let methods: Vec<String> = b.methods.iter().map(|m| m.name.clone()).collect();
        println!("\n{}", bench::method_table(&o.results, &methods));
    }
    if !o.failed.is_empty() {
        let list: Vec<String> = o.failed.iter().map(|(n, w)| format!("{n}: {w}")).collect();
        bail!(
            "{} run(s) failed (the others are in the report):\n  {}",
            o.failed.len(),
            list.join("\n  ")
        );
    }
    Ok(())
}

fn report(run: PathBuf, out: Option<PathBuf>) -> anyhow::Result<()> {
    let series = grownet::report::RunSeries::load(&run)?;
    if series.epochs.is_empty() {
        bail!("{}: no epoch has been logged yet", run.display());
    }
    let dir = if run.is_dir() {
        run.clone()
    } else {
        run.parent().map(PathBuf::from).unwrap_or_default()
    };
    let out = out.unwrap_or_else(|| dir.join("plots"));
    let label = dir
        .file_name()
        .map_or_else(|| "run".into(), |n| n.to_string_lossy().into_owned());
    let files = grownet::report::run_plots(&series, &label, &out)?;
    println!("{} plots written to {}:", files.len() / 2, out.display());
    for f in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "svg"))
    {
        println!("  {} (+ .png)", f.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    grownet::runtime::tune_allocator();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Train(TrainArgs::default())) {
        Command::Train(args) => train(args),
        Command::Eval {
            checkpoint,
            data_dir,
            device,
        } => eval(checkpoint, data_dir, device),
        Command::Info { checkpoint } => info(checkpoint),
        Command::Bench(args) => bench(args),
        Command::Report { run, out } => report(run, out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The chain, skipping causes whose text a message already includes.
            let mut msg = e.to_string();
            for cause in e.chain().skip(1) {
                let c = cause.to_string();
                if !msg.contains(&c) {
                    msg = format!("{msg}: {c}");
                }
            }
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}
