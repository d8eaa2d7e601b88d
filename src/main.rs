//! `grownet`: the command-line shell over the library.
#![deny(clippy::unwrap_used, clippy::expect_used)]
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use serde::Serialize;

use grownet::checkpoint;
use grownet::config::{self as config, parse_device, Change, ModelKind, Override, RunConfig};
use grownet::distributed::{Backend, World};
use grownet::growth::config::{
    AutoRetry, Decompositions, MoreRounds, StatisticsPrecision, StatisticsSample,
};
use grownet::growth::site::ConvNeuron;
use grownet::growth::{AutoGain, LineSearch, Method, Selection};
use grownet::nn::{Activation, LayerSpec};
use grownet::optim::{NewSecondMoment, OptimizerKind, Schedule};
use grownet::train::{self, DirLock, Trainer, CHECKPOINT_FILE, CONFIG_FILE};

mod doctor;

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
    /// Write a run's network for PyTorch: DIR/model.py (a plain torch.nn.Module),
    /// DIR/model.safetensors (its state_dict) and DIR/README.md; with --format onnx also
    /// DIR/model.onnx (needs the onnx Python package beside torch).
    Export {
        /// A run directory (or a checkpoint file).
        run: PathBuf,
        /// The folder to write into (created; one that holds files needs --force).
        #[arg(long)]
        to: PathBuf,
        /// pytorch or onnx.
        #[arg(long, default_value = "pytorch")]
        format: grownet::export::Format,
        /// Another checkpoint file of the run directory (default checkpoint.safetensors).
        #[arg(long)]
        checkpoint: Option<String>,
        /// Write into a folder that already holds files (an earlier export's are replaced,
        /// its model.onnx removed unless --format onnx writes it again).
        #[arg(long)]
        force: bool,
    },
    /// What this binary runs on: grownet and libtorch versions, CUDA and cuDNN as libtorch
    /// sees them, and a tiny matmul and conv on the device checked against the CPU. Fails
    /// when the device asked for is not there.
    Doctor {
        /// auto, cpu, cuda or cuda:N.
        #[arg(long)]
        device: Option<String>,
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
    /// Train each run data-parallel on N processes under torchrun
    /// ($GROWNET_TORCH_ENV/bin/torchrun, else torchrun on the PATH); --threads is per process.
    #[arg(long, value_name = "N")]
    nproc_per_run: Option<usize>,
    /// Train nothing: write OUT/bench.sbatch (a Slurm job array, one task per run) and
    /// OUT/report.sbatch (the dependent runs and the report, after the array).
    #[arg(long)]
    sbatch: bool,
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

/// `grownet train`'s flags. Each flag that stands for a config key is turned into a
/// (key, value) [`Override`] by [`TrainArgs::overrides`], which also lists, in one place, the
/// few flags that are not a single key; `--set KEY=VALUE` reaches every other key.
#[derive(Args, Default)]
struct TrainArgs {
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    training: TrainingArgs,
    #[command(flatten)]
    growth: GrowthArgs,
    #[command(flatten)]
    auto: AutoArgs,
    #[command(flatten)]
    senn: SennArgs,
    #[command(flatten)]
    dist: DistArgs,
    /// Set any key of the run's config, e.g. growth.senn.tau=0.05, train.nesterov=true,
    /// model.hidden=[64,64], growth.line_search={kind="grid",scales=[0.5,1]} (repeatable).
    /// The value is TOML, or else a plain string (data.name=mnist); the keys and types are
    /// those of config.toml. Applied after --config, --resume and the other flags; a key
    /// under growth turns growth on.
    #[arg(
        long = "set",
        value_name = "KEY=VALUE",
        value_parser = Override::parse_assignment,
        help_heading = "Overrides"
    )]
    set: Vec<Override>,
}

/// Data-parallel runs: launched by torchrun (or with WORLD_SIZE, RANK, MASTER_ADDR and
/// MASTER_PORT set by hand or by Slurm); without those variables a run is one process.
#[derive(Args, Default)]
#[command(next_help_heading = "Distributed (under torchrun)")]
struct DistArgs {
    /// c10d backend: auto (NCCL on CUDA, Gloo on CPU), gloo or nccl.
    #[arg(long, value_name = "auto|gloo|nccl")]
    dist_backend: Option<String>,
    /// Seconds a rank waits for the others (rendezvous and every collective) before it stops
    /// with an error (a rank died or hangs).
    #[arg(long, value_name = "SECONDS")]
    dist_timeout: Option<f64>,
}

impl DistArgs {
    /// The run's world from the launcher's variables (one process without them).
    fn world(&self, device: Option<&str>) -> anyhow::Result<World> {
        let backend: Backend = self.dist_backend.as_deref().unwrap_or("auto").parse()?;
        let timeout = self.dist_timeout.unwrap_or(300.0);
        if !(timeout.is_finite() && timeout > 0.0) {
            bail!("--dist-timeout {timeout}: expected a positive number of seconds");
        }
        let cuda = device != Some("cpu") && tch::Cuda::is_available();
        Ok(World::from_env(backend, cuda, timeout)?)
    }
}

#[derive(Args, Default)]
#[command(next_help_heading = "Run")]
struct RunArgs {
    /// TOML config file (the layout of a run's config.toml); flags override its values.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Continue the run in this directory from its checkpoint (flags and --set change its
    /// config).
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,
    /// Run directory (default runs/<name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run name (default: dataset-model-timestamp).
    #[arg(long)]
    name: Option<String>,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long)]
    device: Option<String>,
    /// CPU threads for libtorch (default: 1 for small models, all cores otherwise).
    #[arg(long)]
    threads: Option<usize>,
    /// No per-epoch lines or progress bars.
    #[arg(long)]
    quiet: bool,
    /// Print the resolved config (TOML, what config.toml would hold) and exit without
    /// training.
    #[arg(long)]
    print_config: bool,
}

#[derive(Args, Default)]
#[command(next_help_heading = "Data")]
struct DataArgs {
    /// spirals, moons, regression, teacher, patterns, mnist, cifar-10, cifar-100, any IDX
    /// folder name, or files of your own: csv:PATH, tsv:PATH, npy:X.npy,Y.npy, npz:PATH,
    /// safetensors:PATH, images:DIR [key: data.name].
    #[arg(long)]
    dataset: Option<String>,
    /// CSV: the column to predict.
    #[arg(long, value_name = "COLUMN")]
    target: Option<String>,
    /// Files of your own: auto, classification or regression.
    #[arg(long)]
    task: Option<grownet::data::TaskChoice>,
    /// Files of your own: the test set, in the same format (X.npy,Y.npy for npy).
    #[arg(long, value_name = "PATH")]
    test_file: Option<String>,
    /// Files of your own without a test set: the fraction drawn for testing (default 0.2).
    #[arg(long, value_name = "F")]
    test_fraction: Option<f64>,
    /// Image folders: side of the square images in pixels (default 32).
    #[arg(long, value_name = "PIXELS")]
    image_size: Option<usize>,
    /// Directory holding the datasets (default: $GROWNET_DATA).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Fraction of the training set held out for validation.
    #[arg(long)]
    val_fraction: Option<f64>,
    /// Use only the first N training samples.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Evaluate on the first N test samples only (reduced CPU protocols).
    #[arg(long, value_name = "N")]
    test_limit: Option<usize>,
    /// Seed of initialisation, data generation, shuffling, augmentation and growth
    /// [keys: train.seed and data.seed].
    #[arg(long)]
    seed: Option<u64>,
}

#[derive(Args, Default)]
#[command(next_help_heading = "Model")]
struct ModelArgs {
    /// mlp, cnn (VGG-style) or resnet18 [key: model.kind].
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
    #[arg(long, value_name = "N")]
    convs_per_pool: Option<usize>,
    /// relu, selu, tanh, gelu, identity or rational.
    #[arg(long)]
    activation: Option<Activation>,
}

#[derive(Args, Default)]
#[command(next_help_heading = "Training")]
struct TrainingArgs {
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
    /// Disable crop/flip augmentation of colour images [key: train.augment].
    #[arg(long)]
    no_augment: bool,
}

#[derive(Args, Default)]
#[command(next_help_heading = "Growth")]
struct GrowthArgs {
    /// Grow the network: tiny, tiny-paper, gradmax, random or senn [key: growth.method].
    #[arg(long, value_name = "METHOD")]
    grow: Option<Method>,
    /// Grow after every N epochs.
    #[arg(long, visible_alias = "grow-every", value_name = "N")]
    every_epochs: Option<usize>,
    /// Grow every N optimisation steps instead.
    #[arg(long, visible_alias = "grow-every-steps", value_name = "N")]
    every_steps: Option<usize>,
    /// Stop growing after this epoch (growth ends for good: --grow-new-v reset-at-end
    /// and --end-shrink apply then).
    #[arg(long, visible_alias = "grow-until", value_name = "EPOCH")]
    stop_epoch: Option<usize>,
    /// Stop growing once this share of the run's epochs is over (epoch ⌈F·epochs⌉ starts;
    /// the earlier of this and --stop-epoch).
    #[arg(long, value_name = "F")]
    stop_fraction: Option<f64>,
    /// Target hidden widths (schedule mode), e.g. 256,256.
    #[arg(long, value_delimiter = ',')]
    max_hidden: Option<Vec<i64>>,
    /// Parameter budget for growth.
    #[arg(long, visible_alias = "max-params", value_name = "N")]
    max_parameters: Option<i64>,
    /// At most N neurons per site per growth step.
    #[arg(long, value_name = "N")]
    neurons_per_step: Option<usize>,
    /// Where to grow: best, round-robin or all.
    #[arg(long, visible_alias = "grow-select", value_name = "WHERE")]
    selection: Option<Selection>,
    /// Samples used for the growth statistics.
    #[arg(long, value_name = "N")]
    stats_samples: Option<usize>,
    /// At least R statistics samples' rows per row of each site's input moment (0: exactly
    /// --stats-samples; a dense input layer of 784 pixels at R = 4 asks for 3 140 samples).
    #[arg(long, value_name = "R")]
    stats_samples_per_row: Option<f64>,
    /// Minibatch size of the statistics pass (bounds the memory of unfolded conv inputs).
    #[arg(long, value_name = "N")]
    stats_batch_size: Option<usize>,
    /// Held-out samples for the amplitude line search.
    #[arg(long, value_name = "N")]
    line_search_samples: Option<usize>,
    /// Amplitude search: armijo, grid:S1,S2,… (the best of those scales), or descend:S1,S2,…
    /// (the same scales from the largest down, stopping once the loss rises).
    #[arg(long, value_name = "SEARCH", value_parser = parse_line_search)]
    line_search: Option<LineSearch>,
    /// Statistics sample of each growth step: fresh (a new random sample, default) or fixed
    /// (the first step's; the input layer's S₂ is then computed once per run).
    #[arg(long, value_name = "SAMPLE")]
    statistics_sample: Option<StatisticsSample>,
    /// Precision of the statistics' products: double (f64, default) or mixed (f32 products
    /// per minibatch, summed in f64; growth's losses and previews equal up to rounding, faster).
    #[arg(long, value_name = "PRECISION")]
    statistics_precision: Option<StatisticsPrecision>,
    /// Where the growth step's decompositions run: host (faer in f64, default) or device
    /// (libtorch's f64 linear algebra on the training device; on a GPU far faster for large
    /// sites).
    #[arg(long, value_name = "WHERE")]
    decompositions: Option<Decompositions>,
    /// Threads of growth's host linear algebra (faer): absent, one on a CPU run (libtorch's
    /// threads hold the cores) and every core beside a GPU.
    #[arg(long, value_name = "N")]
    linalg_threads: Option<usize>,
    /// tiny/tiny-paper at dense ReLU sites: each new unit with its mirror (−α, −ω), the pair
    /// realising the closed form's linear change exactly (docs/tiny.md §2.16).
    #[arg(long)]
    mirrors: bool,
    /// Eigenvalue cut of S and S₂ in the TINY solves (default 1e-6).
    #[arg(long)]
    numerical_threshold: Option<f64>,
    /// Adam's second moment for entries added by growth: mean (of the parameter's existing
    /// ones, default), zero (larger first steps; helps SENN's zero-fan-out neurons), reset
    /// (the whole optimiser starts again after each check that grew, as GroMo's does) or
    /// reset-at-end (mean, and the whole optimiser starts again once growth has ended).
    #[arg(long, visible_alias = "grow-new-v", value_name = "FILL")]
    new_second_moment: Option<NewSecondMoment>,
    /// Conv → conv sites: restricted (1×1 fan-out at the kernel centre, default) or full
    /// (k×k fan-out) new channels.
    #[arg(long, value_name = "KIND")]
    conv_neuron: Option<ConvNeuron>,
    /// New units behind a BatchNorm start at the existing units' mean norm (same effective
    /// learning rate; the function is unchanged in eval mode).
    #[arg(long, visible_alias = "grow-bn-rescale")]
    bn_rescale: bool,
    /// New channels behind a BatchNorm start with running statistics and β that make training
    /// mode compute what the preview showed (true, default; false: identity channels that
    /// training mode normalises to unit variance; docs/tiny.md §3.3).
    #[arg(long, value_name = "BOOL", visible_alias = "grow-bn-match")]
    bn_match: Option<bool>,
    /// Before each check, set every BatchNorm's running statistics to its training-mode
    /// statistics on N training samples (0, default: off; docs/tiny.md §3.3).
    #[arg(long, value_name = "N", visible_alias = "grow-recalibrate")]
    recalibrate_samples: Option<usize>,
    /// TINY family: add to each new unit's fan-in a uniform random part of C times the
    /// default initialisation's bound 1/√fan_in (0, default: the closed form alone).
    #[arg(long, value_name = "C")]
    fan_in_noise: Option<f64>,
    /// Closed-form methods: with every kept step of K units, round(C·K) more units with random
    /// fan-in and zero fan-out (the function is unchanged; 0, default: none).
    #[arg(long, value_name = "C")]
    companions: Option<f64>,
    /// Closed-form methods: a kept step that took every unit its proposal had, fewer than the
    /// step's cap (the desired update's rank ran out), is filled up to the cap with such units
    /// (false, default; docs/tiny.md §2.14).
    #[arg(long, value_name = "BOOL")]
    rank_fill: Option<bool>,
    /// Once growth has ended for good, multiply every parameter by F (1, default: unchanged;
    /// shrink and perturb, docs/tiny.md §2.18).
    #[arg(long, value_name = "F")]
    end_shrink: Option<f64>,
    /// Once growth has ended for good, add S times a fresh default initialisation to every
    /// weight (0, default: none).
    #[arg(long, value_name = "S")]
    end_perturb: Option<f64>,
    /// TINY: damping E of the applied δ at sites behind BatchNorm, relative to the mean
    /// eigenvalue of S (default 0.01; 0: the exact δ; docs/tiny.md §2.15).
    #[arg(long, value_name = "E")]
    delta_damping: Option<f64>,
}

#[derive(Args, Default)]
#[command(next_help_heading = "Automatic growth")]
struct AutoArgs {
    /// Automatic mode: no target size; at each check grow while a step lowers the held-out
    /// loss by at least --grow-threshold (relative), stop after --grow-patience fruitless
    /// checks. Pair it with --val-fraction so the line search uses unseen data. A new run
    /// takes the automatic mode's defaults (src/config/grow_auto.toml, the same for every
    /// dataset; --print-config shows them) for the growth keys that neither --config nor a
    /// flag sets; the defaults the other growth flags name in parentheses are those without
    /// it. `--set growth.auto=true` is the mode without them [key: growth.auto].
    #[arg(long)]
    grow_auto: bool,
    /// Least relative held-out gain of a growth step (0) [key: growth.threshold].
    #[arg(long, value_name = "T")]
    grow_threshold: Option<f64>,
    /// Fruitless checks before growth stops for good (3; not while a growable layer is one unit or narrower than the output) [key: growth.patience].
    #[arg(long, value_name = "N")]
    grow_patience: Option<usize>,
    /// Growth steps per check at most (8).
    #[arg(long, visible_alias = "grow-rounds", value_name = "N")]
    auto_rounds: Option<usize>,
    /// Where a check takes its next round: any (every site, while some site kept its step;
    /// default) or exhausted (only the sites whose kept step took every unit the closed form
    /// offered, fewer than --neurons-per-step).
    #[arg(long, value_name = "RULE")]
    more_rounds: Option<MoreRounds>,
    /// At a site whose step was refused: backoff (not again this check, then rest 1, 3, 7
    /// checks after 2, 3, 4 refusals in a row, but never beyond its check while it is narrower
    /// than the output; default) or always (judge it again at once).
    #[arg(long, value_name = "RULE")]
    auto_retry: Option<AutoRetry>,
    /// What is judged on held-out data: neurons-own-scale (the new neurons' gain beyond the
    /// existing weights' own best update, the neurons at a scale of their own on top of that
    /// update; default), neurons (the same, both parts at one scale) or total (the whole
    /// growth step).
    #[arg(long, visible_alias = "grow-gain", value_name = "WHAT")]
    auto_gain: Option<AutoGain>,
    /// The held-out gain must exceed this many standard errors (2)
    /// [key: growth.significance].
    #[arg(long, value_name = "Z")]
    grow_significance: Option<f64>,
    /// The fraction of the held-out samples that judges a step; the rest chooses its scale
    /// and neuron count (0.5) [key: growth.judge_fraction].
    #[arg(long, value_name = "F")]
    judge_fraction: Option<f64>,
    /// Judge in this many parts, stopping once the verdict is clear (1)
    /// [key: growth.judge_parts].
    #[arg(long, value_name = "N")]
    judge_parts: Option<usize>,
    /// Least relative held-out gain per new neuron (1.5e-4)
    /// [key: growth.threshold_per_neuron].
    #[arg(long, value_name = "T")]
    grow_threshold_per_neuron: Option<f64>,
    /// Least relative held-out gain per added parameter (0)
    /// [key: growth.threshold_per_parameter].
    #[arg(long, visible_alias = "grow-threshold-per-param", value_name = "T")]
    grow_threshold_per_parameter: Option<f64>,
    /// More cost per new neuron for every unit its site already has (0)
    /// [key: growth.threshold_per_width].
    #[arg(long, value_name = "T")]
    grow_threshold_per_width: Option<f64>,
    /// More cost per new neuron for every operation it adds to a sample's forward pass (0)
    /// [key: growth.threshold_per_flop].
    #[arg(long, value_name = "T")]
    grow_threshold_per_flop: Option<f64>,
    /// More cost per new neuron for every activation value it adds to a sample's forward pass
    /// (its output map: 1024 at 32×32; 0) [key: growth.threshold_per_activation].
    #[arg(long, value_name = "T")]
    grow_threshold_per_activation: Option<f64>,
}

/// SENN's settings: `--senn-X` is the key growth.senn.X.
#[derive(Args, Default)]
#[command(next_help_heading = "SENN (--grow senn)")]
struct SennArgs {
    /// Relative threshold τ (accept when Δη'/η_layer > τ; default 0.03).
    #[arg(long, value_name = "T")]
    senn_tau: Option<f64>,
    /// Absolute threshold α relative to λ = E‖∂ℓ/∂y‖² (default 2.5e-3).
    #[arg(long, value_name = "A")]
    senn_alpha: Option<f64>,
    /// A layer's Δη' is divided by this (default 20).
    #[arg(long, value_name = "C")]
    senn_depth_cost: Option<f64>,
    /// Most hidden layers depth growth may create (default 3; 0 disables depth).
    #[arg(long, value_name = "N")]
    senn_max_layers: Option<usize>,
    /// Width cap per layer when --max-hidden is not given (default 256).
    #[arg(long, value_name = "N")]
    senn_max_width: Option<i64>,
    /// Most expansions per check (default 32).
    #[arg(long, value_name = "N")]
    senn_max_additions: Option<usize>,
    /// Width proposals per site (default 32).
    #[arg(long, value_name = "N")]
    senn_proposals: Option<usize>,
    /// Ascent steps refining the proposals (default 60).
    #[arg(long, value_name = "N")]
    senn_refine_steps: Option<usize>,
    /// Samples the proposal ascent runs on (default 1024).
    #[arg(long, value_name = "N")]
    senn_refine_samples: Option<usize>,
}

/// The flag → key table's rows: `field => "key"` pushes an [`Override`] of `key` with the
/// flag's value when the flag was given, `field => "key" = value` (boolean flags) pushes
/// `value` when the flag is present. The flag's name is the field's (`stop_epoch`:
/// `--stop-epoch`); an `Option` flag's value is written as the config writes the key's.
macro_rules! keys {
    ($args:expr, $out:expr; $($field:ident => $key:literal $(= $value:expr)?),* $(,)?) => {$(
        keys!(@row $args, $out, $field, $key $(, $value)?);
    )*};
    (@row $args:expr, $out:expr, $field:ident, $key:literal) => {
        if let Some(value) = &$args.$field {
            keys!(@push $out, $field, $key, value);
        }
    };
    (@row $args:expr, $out:expr, $field:ident, $key:literal, $value:expr) => {
        if $args.$field {
            keys!(@push $out, $field, $key, &$value);
        }
    };
    (@push $out:expr, $field:ident, $key:literal, $value:expr) => {
        let flag = concat!("--", stringify!($field)).replace('_', "-");
        $out.push(Override::typed(&flag, $key, $value).map_err(anyhow::Error::msg)?);
    };
}

impl TrainArgs {
    /// Whether a flag turns growth on: --grow, --every-epochs, --every-steps, --max-hidden,
    /// --max-parameters, --grow-auto, or `--set growth…`. The other growth flags change a
    /// run that grows (by its --config, its checkpoint or these) and are ignored otherwise.
    fn turns_growth_on(&self) -> bool {
        let g = &self.growth;
        g.grow.is_some()
            || g.every_epochs.is_some()
            || g.every_steps.is_some()
            || g.max_hidden.is_some()
            || g.max_parameters.is_some()
            || self.auto.grow_auto
            || self.set.iter().any(|o| o.touches("growth"))
    }

    /// The flags as config changes, in the order they apply: the flags that stand for a key,
    /// then `--set`. Not a single key: `--seed` sets train.seed and data.seed; `--nesterov`,
    /// `--bn-rescale` and `--grow-auto` set their key to true and `--no-augment` sets
    /// train.augment to false (absent, they change nothing); `--hidden none` is
    /// model.hidden = []; `--schedule` and `--line-search` read a short form of their table
    /// (step:10:0.1, grid:0.5,1). `growing`: whether the run grows (see
    /// [`Self::turns_growth_on`]).
    fn overrides(&self, growing: bool) -> anyhow::Result<Vec<Override>> {
        let mut out = Vec::new();
        let (r, d, m, t) = (&self.run, &self.data, &self.model, &self.training);
        keys!(r, out; device => "device", threads => "threads", name => "name");
        keys!(d, out;
            dataset => "data.name",
            target => "data.target",
            task => "data.task",
            test_file => "data.test_file",
            test_fraction => "data.test_fraction",
            image_size => "data.image_size",
            data_dir => "data.data_dir",
            val_fraction => "data.val_fraction",
            limit => "data.limit",
            test_limit => "data.test_limit",
            seed => "train.seed",
            seed => "data.seed",
        );
        keys!(m, out;
            model => "model.kind",
            hidden => "model.hidden",
            channels => "model.channels",
            width_fraction => "model.width_fraction",
            convs_per_pool => "model.convs_per_pool",
            activation => "model.activation",
        );
        keys!(t, out;
            epochs => "train.epochs",
            batch_size => "train.batch_size",
            lr => "train.lr",
            optimizer => "train.optimizer",
            momentum => "train.momentum",
            weight_decay => "train.weight_decay",
            schedule => "train.schedule",
            nesterov => "train.nesterov" = true,
            no_augment => "train.augment" = false,
        );
        let (g, a, s) = (&self.growth, &self.auto, &self.senn);
        keys!(g, out;
            grow => "growth.method",
            every_epochs => "growth.every_epochs",
            every_steps => "growth.every_steps",
            max_hidden => "growth.max_hidden",
            max_parameters => "growth.max_parameters",
        );
        keys!(a, out; grow_auto => "growth.auto" = true);
        let mut when_growing = Vec::new();
        keys!(g, when_growing;
            stop_epoch => "growth.stop_epoch",
            stop_fraction => "growth.stop_fraction",
            neurons_per_step => "growth.neurons_per_step",
            selection => "growth.selection",
            stats_samples => "growth.stats_samples",
            stats_samples_per_row => "growth.stats_samples_per_row",
            stats_batch_size => "growth.stats_batch_size",
            statistics_sample => "growth.statistics_sample",
            statistics_precision => "growth.statistics_precision",
            decompositions => "growth.decompositions",
            linalg_threads => "growth.linalg_threads",
            mirrors => "growth.mirrors" = true,
            line_search_samples => "growth.line_search_samples",
            line_search => "growth.line_search",
            numerical_threshold => "growth.numerical_threshold",
            new_second_moment => "growth.new_second_moment",
            conv_neuron => "growth.conv_neuron",
            bn_rescale => "growth.bn_rescale" = true,
            bn_match => "growth.bn_match",
            recalibrate_samples => "growth.recalibrate_samples",
            fan_in_noise => "growth.fan_in_noise",
            companions => "growth.companions",
            rank_fill => "growth.rank_fill",
            end_shrink => "growth.end_shrink",
            end_perturb => "growth.end_perturb",
            delta_damping => "growth.delta_damping",
        );
        keys!(a, when_growing;
            grow_threshold => "growth.threshold",
            grow_patience => "growth.patience",
            auto_rounds => "growth.auto_rounds",
            more_rounds => "growth.more_rounds",
            auto_retry => "growth.auto_retry",
            auto_gain => "growth.auto_gain",
            grow_significance => "growth.significance",
            judge_fraction => "growth.judge_fraction",
            judge_parts => "growth.judge_parts",
            grow_threshold_per_neuron => "growth.threshold_per_neuron",
            grow_threshold_per_parameter => "growth.threshold_per_parameter",
            grow_threshold_per_width => "growth.threshold_per_width",
            grow_threshold_per_flop => "growth.threshold_per_flop",
            grow_threshold_per_activation => "growth.threshold_per_activation",
        );
        keys!(s, when_growing;
            senn_tau => "growth.senn.tau",
            senn_alpha => "growth.senn.alpha",
            senn_depth_cost => "growth.senn.depth_cost",
            senn_max_layers => "growth.senn.max_layers",
            senn_max_width => "growth.senn.max_width",
            senn_max_additions => "growth.senn.max_additions",
            senn_proposals => "growth.senn.proposals",
            senn_refine_steps => "growth.senn.refine_steps",
            senn_refine_samples => "growth.senn.refine_samples",
        );
        if growing {
            out.append(&mut when_growing);
        } else if !when_growing.is_empty() {
            let flags: Vec<&str> = when_growing.iter().map(|o| o.source.as_str()).collect();
            eprintln!(
                "warning: {} ignored: this run does not grow (turn growth on with --grow METHOD)",
                flags.join(", ")
            );
        }
        out.extend(self.set.iter().cloned());
        Ok(out)
    }

    /// `cfg` (from --config, the demo, the defaults or a run's config) changed by the flags,
    /// and the changes the flags made.
    fn resolve(&self, cfg: &RunConfig) -> anyhow::Result<(RunConfig, Vec<Override>)> {
        let growing = cfg.growth.is_some() || self.turns_growth_on();
        let overrides = self.overrides(growing)?;
        Ok((cfg.with_overrides(&overrides)?, overrides))
    }
}

/// The flag (or `--set`) that changed `key`, the last one when several did.
fn flag_of<'a>(overrides: &'a [Override], key: &str) -> Option<&'a str> {
    overrides
        .iter()
        .rev()
        .find(|o| o.touches(key) || key.starts_with(&format!("{}.", o.key)))
        .map(|o| o.source.as_str())
}

/// `cfg.validate()`, an out-of-range value's error naming the flag that set it.
fn validate(cfg: &RunConfig, overrides: &[Override]) -> anyhow::Result<()> {
    cfg.validate().map_err(|e| {
        let by = match &e {
            grownet::Error::Invalid { key, .. } => flag_of(overrides, key),
            _ => None,
        };
        match by {
            Some(flag) => anyhow::anyhow!("{e} (set by {flag})"),
            None => e.into(),
        }
    })
}

/// Hidden widths from the command line.
#[derive(Clone, Debug, Serialize)]
#[serde(transparent)]
struct Widths(Vec<i64>);

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

/// `256,256`, or `none` / an empty string for no hidden layer.
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

/// `armijo`, `grid:S1,S2,…` or `descend:S1,S2,…`.
fn parse_line_search(s: &str) -> Result<LineSearch, String> {
    if s == "armijo" {
        return Ok(LineSearch::default());
    }
    let (list, descend) = match (s.strip_prefix("grid:"), s.strip_prefix("descend:")) {
        (Some(list), _) => (list, false),
        (_, Some(list)) => (list, true),
        _ => {
            return Err(format!(
                "expected 'armijo', 'grid:S1,S2,…' or 'descend:S1,S2,…', got '{s}'"
            ))
        }
    };
    let scales = list
        .split(',')
        .map(|v| v.trim().parse::<f64>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad scale list '{list}': {e}"))?;
    Ok(if descend {
        LineSearch::Descend { scales }
    } else {
        LineSearch::Grid { scales }
    })
}

fn checkpoint_path(p: PathBuf) -> PathBuf {
    if p.is_dir() {
        p.join(CHECKPOINT_FILE)
    } else {
        p
    }
}

/// The run directory `--resume` names: a directory, or its checkpoint file.
fn resume_dir(p: &std::path::Path) -> anyhow::Result<PathBuf> {
    if p.is_dir() {
        return Ok(p.to_path_buf());
    }
    if p.is_file() {
        if p.file_name().is_some_and(|n| n == CHECKPOINT_FILE) {
            let dir = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            return Ok(dir.to_path_buf());
        }
        bail!(
            "cannot resume {}: it is a file; --resume takes a run directory (the one holding {CHECKPOINT_FILE})",
            p.display()
        );
    }
    bail!(
        "cannot resume the run in {}: no such directory",
        p.display()
    )
}

/// `list` of changes, each with where it came from.
fn describe(list: &[Change], from: impl Fn(&Change) -> String) -> String {
    list.iter()
        .map(|c| format!("{c} ({})", from(c)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Refuses the changes of `list` a resumed run cannot take, naming where each came from.
fn refuse(list: &[Change], from: impl Fn(&Change) -> String) -> anyhow::Result<()> {
    let refused: Vec<String> = list
        .iter()
        .filter_map(|c| c.refusal().map(|why| format!("{c} ({}): {why}", from(c))))
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    bail!(
        "a resumed run cannot change {}; start a new run (another --out) for that",
        refused.join("; ")
    )
}

/// The resumed run in `dir`: its config.toml (which may have been edited) changed by the
/// flags; what the checkpoint fixes cannot change. `None` for --print-config.
/// Ranks other than 0 (`root` false) of a data-parallel run take no lock and write nothing.
fn resume(args: &TrainArgs, dir: &std::path::Path, root: bool) -> anyhow::Result<Option<Trainer>> {
    let dir = resume_dir(dir)?;
    let cannot = || format!("cannot resume the run in {}", dir.display());
    if args.run.config.is_some() {
        bail!(
            "--config starts a new run; to change the run in {} edit its {CONFIG_FILE} or use --set",
            dir.display()
        );
    }
    if args.run.out.is_some() {
        bail!(
            "--out names a new run's directory; a resumed run continues in {}",
            dir.display()
        );
    }
    let stored = checkpoint::load(&dir.join(CHECKPOINT_FILE), tch::Device::Cpu)
        .with_context(cannot)?
        .meta
        .config;
    let file = dir.join(CONFIG_FILE);
    let base = if file.is_file() {
        RunConfig::from_file(&file).with_context(|| {
            format!(
                "{}: fix it, or remove it to resume with the checkpoint's configuration",
                cannot()
            )
        })?
    } else {
        stored.clone()
    };
    let edited = config::changes(&stored, &base)?;
    let in_file = |_: &Change| format!("edited in {}", file.display());
    refuse(&edited, in_file).with_context(cannot)?;
    let (cfg, overrides) = args.resolve(&base).with_context(cannot)?;
    let flagged = config::changes(&base, &cfg)?;
    let by_flag = |c: &Change| {
        format!(
            "from {}",
            flag_of(&overrides, &c.key).unwrap_or("the flags")
        )
    };
    refuse(&flagged, by_flag).with_context(cannot)?;
    validate(&cfg, &overrides).with_context(cannot)?;
    if args.run.print_config {
        print!("{}", cfg.to_toml());
        return Ok(None);
    }
    if !root {
        let t = Trainer::resume_replica(&dir, |c| *c = cfg).with_context(cannot)?;
        return Ok(Some(t));
    }
    let lock = DirLock::acquire(&dir).with_context(cannot)?;
    if !edited.is_empty() {
        println!(
            "{} differs from the checkpoint: {}; the resumed run uses the file's values",
            file.display(),
            edited
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !flagged.is_empty() {
        println!(
            "changed for the resumed run: {}",
            describe(&flagged, by_flag)
        );
    }
    let t = Trainer::resume_locked(lock, &dir, |c| *c = cfg).with_context(cannot)?;
    println!(
        "resuming {} at epoch {}/{}",
        dir.display(),
        t.epoch,
        t.config.train.epochs
    );
    Ok(Some(t))
}

/// The set-up's torchrun (`$GROWNET_TORCH_ENV/bin/torchrun`), else the one on the PATH.
fn torchrun() -> anyhow::Result<PathBuf> {
    let env = std::env::var_os("GROWNET_TORCH_ENV").map(|e| PathBuf::from(e).join("bin/torchrun"));
    let path = std::env::var_os("PATH").unwrap_or_default();
    env.into_iter()
        .chain(std::env::split_paths(&path).map(|d| d.join("torchrun")))
        .find(|p| p.is_file())
        .context("--nproc-per-run: no torchrun ($GROWNET_TORCH_ENV/bin/torchrun or on the PATH; source scripts/env.sh)")
}

/// `GROWNET_CRASH_AFTER_STEP=N`: stop after optimisation step N as a crash would (testing
/// resume; see [`Trainer::crash_after_step`]).
fn crash_after_step() -> anyhow::Result<Option<usize>> {
    match std::env::var("GROWNET_CRASH_AFTER_STEP") {
        Ok(v) => Ok(Some(v.trim().parse().with_context(|| {
            format!("GROWNET_CRASH_AFTER_STEP={v}: expected a step number")
        })?)),
        Err(_) => Ok(None),
    }
}

fn train(args: TrainArgs) -> anyhow::Result<()> {
    let world = args.dist.world(args.run.device.as_deref())?;
    let root = world.is_root();
    let trainer = if let Some(dir) = &args.run.resume {
        resume(&args, dir, root)?
    } else {
        start(&args, root)?
    };
    let Some(mut trainer) = trainer else {
        return Ok(());
    };
    trainer.quiet = args.run.quiet;
    trainer.join(world)?;
    trainer.crash_after_step = crash_after_step()?;
    let s = match trainer.fit() {
        Ok(s) => s,
        Err(grownet::Error::Interrupted { step }) => {
            // As abrupt as a kill: no destructor runs (the lock file stays, its lock goes).
            eprintln!("grownet: stopped after step {step} (GROWNET_CRASH_AFTER_STEP)");
            std::process::exit(137);
        }
        Err(e) => return Err(e.into()),
    };
    if root {
        print_summary(&s, &trainer);
    }
    Ok(())
}

/// A new run from --config (or the demo, or the defaults) and the flags. `None` for
/// --print-config. Only rank 0 (`root`) of a data-parallel run has a run directory.
fn start(args: &TrainArgs, root: bool) -> anyhow::Result<Option<Trainer>> {
    // `grownet` or `grownet train` (and `--print-config`) run the demo.
    let no_arguments = std::env::args_os()
        .filter(|a| a != "--print-config")
        .count()
        <= 2;
    // --grow-auto: the automatic mode's defaults under the file and the flags.
    let preset = (args.auto.grow_auto)
        .then(grownet::config::presets::grow_auto)
        .transpose()?;
    let base = match &args.run.config {
        None if no_arguments => RunConfig::demo(),
        file => grownet::config::presets::layered(file.as_deref(), preset.as_ref())?,
    };
    let (mut cfg, overrides) = args.resolve(&base)?;
    let name = cfg.name.clone().unwrap_or_else(|| {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        format!("{}-{:?}-{secs}", cfg.data.name, cfg.model.kind).to_lowercase()
    });
    cfg.name = Some(name);
    validate(&cfg, &overrides)?;
    if args.run.print_config {
        print!("{}", cfg.to_toml());
        return Ok(None);
    }
    let out = args
        .run
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(cfg.name.as_deref().unwrap_or("run")));
    let t = Trainer::new(cfg, root.then(|| out.clone()))?;
    if !root {
        return Ok(Some(t));
    }
    println!("{}", t.data.summary());
    println!(
        "training on {} ({} train / {} test samples) on {:?}; run directory {}",
        t.data.name,
        t.data.train.len(),
        t.data.test.len(),
        t.device(),
        out.display()
    );
    Ok(Some(t))
}

fn print_summary(s: &train::Summary, trainer: &Trainer) {
    println!("\nresult after {} epochs ({:.1}s):", s.epochs, s.seconds);
    let acc = |a: Option<f64>| {
        a.map(|a| format!(", accuracy {:.2}%", 100.0 * a))
            .unwrap_or_default()
    };
    println!("  train loss {:.4}{}", s.train.loss, acc(s.train.accuracy));
    if let Some(v) = &s.val {
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
}

fn eval(path: PathBuf, data_dir: Option<PathBuf>, device: Option<String>) -> anyhow::Result<()> {
    let path = checkpoint_path(path);
    let device = parse_device(device.as_deref().unwrap_or("auto"))?;
    let (net, meta) = checkpoint::load_network(&path, device)?;
    let mut data_cfg = meta.config.data.clone();
    if data_dir.is_some() {
        data_cfg.data_dir = data_dir;
    }
    // With the normalisation in the checkpoint, only the test files are read.
    let outputs = meta
        .architecture
        .stages
        .last()
        .map_or(0, |s| s.layer.outputs());
    let data = match &meta.normalisation {
        Some(n) => grownet::data::load_test(&data_cfg, n, outputs, device)?,
        None => grownet::data::load(&data_cfg, device)?.into(),
    };
    train::check_fits(&net, &data.name, &data.input_shape, data.task)
        .with_context(|| format!("cannot evaluate {}", path.display()))?;
    let e = train::evaluate(
        &net,
        data.task.loss(),
        &data.test,
        meta.config.train.eval_batch_size,
    );
    if !e.loss.is_finite() {
        bail!(
            "{}: the test loss is {} (not finite): the network's outputs overflow on these data",
            path.display(),
            e.loss
        );
    }
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
        meta.epoch, meta.step, meta.elapsed, meta.growth.steps_done
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
        torchrun: match args.nproc_per_run {
            None | Some(1) => None,
            Some(0) => bail!("--nproc-per-run must be at least 1"),
            Some(n) => Some((torchrun()?, n)),
        },
    };
    if args.sbatch {
        let plan = bench::Plan::new(&b, &out);
        let s = bench::slurm::write(&b, &plan, &opts, &args.config)?;
        println!(
            "{} runs in a Slurm array; submit with\n  jid=$(sbatch --parsable {})\n  sbatch --dependency=afterany:$jid {}",
            s.tasks,
            s.array.display(),
            s.report.display()
        );
        return Ok(());
    }
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

fn export(
    run: PathBuf,
    to: PathBuf,
    format: grownet::export::Format,
    checkpoint: Option<String>,
    force: bool,
) -> anyhow::Result<()> {
    let path = grownet::export::checkpoint_in(&run, checkpoint.as_deref())?;
    let done = grownet::export::export(&path, &to, &grownet::export::Options { format, force })?;
    println!(
        "exported {} ({} parameters):",
        path.display(),
        done.parameters
    );
    for f in &done.files {
        println!("  {}", f.display());
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

/// The parsed command line. Values that look like negative numbers (`--lr -0.1`) are taken as
/// values, so that the value's own check answers.
fn cli() -> Cli {
    let command = Cli::command().mut_subcommands(|sub| {
        sub.mut_args(|arg| {
            let takes_value = arg.get_action().takes_values();
            arg.allow_negative_numbers(takes_value)
        })
    });
    Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit())
}

fn main() -> ExitCode {
    grownet::runtime::tune_allocator();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = cli();
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
        Command::Export {
            run,
            to,
            format,
            checkpoint,
            force,
        } => export(run, to, format, checkpoint, force),
        Command::Doctor { device } => doctor::run(device.as_deref()),
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
