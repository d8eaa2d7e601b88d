//! How, when and where the network grows: [`GrowthConfig`], the `[growth]` table of a run's
//! configuration.
//!
//! ```
//! use grownet::growth::{GrowthConfig, Method, Selection};
//! let g: GrowthConfig = toml::from_str(r#"
//!     method = "tiny-paper"
//!     selection = "round-robin"
//!     max_hidden = [64, 64]
//! "#).unwrap();
//! assert_eq!((g.method, g.selection), (Method::TinyPaper, Selection::RoundRobin));
//! assert!(g.validate().is_ok());
//! ```
use serde::{Deserialize, Serialize};

use super::amplitude::LineSearch;
use super::auto::AutoGain;
use super::proposal::{Method, Numerics};
use super::site;
use crate::error::{Error, Result};

/// Where to grow at each growth step (docs/tiny.md §2.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selection {
    /// The site with the largest first-order improvement.
    Best,
    /// Sites in turn.
    #[serde(alias = "roundrobin")]
    RoundRobin,
    /// Every site, one after the other, statistics recomputed between them.
    All,
}

/// Which training samples each growth step's statistics use (docs/tiny.md §2.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StatisticsSample {
    /// A fresh random sample at every step (GroMo's protocol).
    #[default]
    Fresh,
    /// The first step's sample at every step: the input site's `S₂` and its eigen-factor are
    /// then computed once per run (the input moment).
    Fixed,
}

/// Where a growth step's decompositions run (docs/tiny.md §8, "Decompositions").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decompositions {
    /// faer in f64 on the host's cores.
    #[default]
    Host,
    /// libtorch's f64 linear algebra on the training device (a GPU: far faster for large
    /// sites; on the CPU, libtorch's LAPACK). The host's when a device decomposition fails.
    Device,
}

/// What the automatic mode does at a site whose step it refused (docs/tiny.md §10).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AutoRetry {
    /// Judge it again in the check's next round and at every check.
    Always,
    /// Not again in this check, and after r refusals in a row not in the next 2^(r−1) − 1
    /// checks, unless the site is narrower than the output ([`super::backoff`]).
    #[default]
    Backoff,
}

/// Where the automatic mode's check takes another round after one that kept some step
/// (docs/tiny.md §10, "Rounds where the closed form ran out").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MoreRounds {
    /// At every site that may grow, while some site kept its step.
    #[default]
    Any,
    /// Only at the sites whose kept step took every unit the closed form offered, when it
    /// offered fewer than the step's cap: the closed form ran out of directions there, not the
    /// held-out gain out of reasons to grow.
    Exhausted,
}

/// Precision of the statistics' per-batch products (docs/tiny.md §2.2, "Precision").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StatisticsPrecision {
    /// Rows and products in f64.
    #[default]
    Double,
    /// Rows and per-batch products in the training precision (f32), summed across batches in
    /// f64 (a test bounds the difference to the f64 path); growth's losses and previews with
    /// the same values up to rounding, faster (padded log-softmax, stacked grid scales).
    Mixed,
}

/// How, when and where the network grows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrowthConfig {
    pub method: Method,
    pub selection: Selection,
    /// Grow after every `every_epochs` epochs (ignored when `every_steps` is set).
    pub every_epochs: usize,
    /// Grow every `every_steps` optimisation steps.
    pub every_steps: Option<usize>,
    /// Growth ends for good when this epoch starts (0-based: the last check is in the epoch
    /// before); what follows the end of growth (`reset-at-end`, `end_shrink`) happens then.
    pub stop_epoch: Option<usize>,
    /// Growth ends for good when the epoch `⌈stop_fraction · epochs⌉` starts (the earlier of
    /// this and `stop_epoch`): a share of the run rather than an epoch.
    pub stop_fraction: Option<f64>,
    /// Target width of each hidden layer (schedule mode); growth stops there.
    pub max_hidden: Option<Vec<i64>>,
    /// Parameter budget.
    pub max_parameters: Option<i64>,
    /// At most this many neurons per site per growth step.
    pub neurons_per_step: Option<usize>,
    /// Automatic mode (no target size). At each check, growth steps are repeated (at most
    /// `auto_rounds`) while some site keeps its step: a step is kept when, on held-out
    /// samples that took no part in choosing it, the new neurons' gain over the existing
    /// weights' own best update pays its cost (`threshold`, `threshold_per_neuron`,
    /// `threshold_per_parameter`) and exceeds `significance` standard errors ([`auto`]).
    /// Growth stops for good after `patience` checks in a row kept nothing (not while a layer
    /// that may still grow is a single unit or narrower than the output; after such a check
    /// each one-unit layer gets a unit with random fan-in and zero fan-out, and the count
    /// starts afresh). Use a validation split (`val_fraction`) so that "held-out" means unseen
    /// in training.
    pub auto: bool,
    /// Automatic mode: least relative held-out gain of a growth step.
    pub threshold: f64,
    /// Automatic mode: checks in a row that add nothing before growth stops for good (never
    /// while a layer that may still grow is a single unit or narrower than the output).
    pub patience: usize,
    /// Automatic mode: growth steps per check at most.
    pub auto_rounds: usize,
    /// Automatic mode: where a check takes its next round ([`MoreRounds`]).
    pub more_rounds: MoreRounds,
    /// Automatic mode: whether a site whose step was refused is judged again at once or
    /// rests ([`AutoRetry`]).
    pub auto_retry: AutoRetry,
    /// Automatic mode: what the held-out gain measures (the new neurons beyond the existing
    /// weights' own best update, or the whole step; see [`auto`]).
    pub auto_gain: AutoGain,
    /// Automatic mode: least relative held-out gain per new neuron.
    pub threshold_per_neuron: f64,
    /// Automatic mode: least relative held-out gain per added parameter.
    pub threshold_per_parameter: f64,
    /// Automatic mode: a new unit's cost also grows with its site's width `w` before the step:
    /// `threshold_per_neuron + threshold_per_width·w` per unit (0: the flat cost; docs/tiny.md
    /// §10 "A cost that grows with the width").
    pub threshold_per_width: f64,
    /// Automatic mode: a new unit also costs this much per floating-point operation it adds
    /// to one sample's forward pass (its fan-in and fan-out at their resolutions; 0: none;
    /// docs/tiny.md §10 "A cost in operations").
    pub threshold_per_flop: f64,
    /// Automatic mode: a new unit also costs this much per activation value it adds to one
    /// sample's forward pass (its producer's output map before pooling: `oh·ow` for a conv;
    /// 0: none; docs/tiny.md §10 "A cost in activations").
    pub threshold_per_activation: f64,
    /// Automatic mode: the held-out gain must also exceed this many standard errors (of the
    /// paired per-sample loss differences on the judging half).
    pub significance: f64,
    /// Automatic mode: the fraction of the held-out line-search samples that judges a step;
    /// the rest chooses its scale and neuron count (0.5: two halves; docs/tiny.md §10).
    pub judge_fraction: f64,
    /// Automatic mode: the judging samples are judged in this many parts, stopping once the
    /// verdict is clear (a sequential test; 1: all at once; docs/tiny.md §10).
    pub judge_parts: usize,
    /// Samples in the statistics pass and its minibatch size.
    pub stats_samples: usize,
    /// At least this many statistics samples per row of the largest producer input moment
    /// `S₂` a sample's positions fill (`fan-in / (oh·ow)` over the growth sites; 0: exactly
    /// `stats_samples`; docs/tiny.md §2.2, "How many samples").
    pub stats_samples_per_row: f64,
    pub stats_batch_size: usize,
    /// A fresh statistics sample at every step, or the first step's at every step.
    pub statistics_sample: StatisticsSample,
    /// f64 products, or products in the training precision summed in f64.
    pub statistics_precision: StatisticsPrecision,
    /// Held-out samples for the line search (the validation split when there is one).
    pub line_search_samples: usize,
    pub line_search: LineSearch,
    /// Random growth: standard deviation of the new fan-out (0: function-preserving).
    pub random_fan_out_std: f64,
    /// TINY family: the new units' fan-in gets a uniform random part of this many times
    /// PyTorch's default bound `1/√fan_in` (0: the closed form alone; docs/tiny.md §2.13).
    pub fan_in_noise: f64,
    /// Closed-form methods: with every kept step of K units, `round(companions·K)` more units
    /// at the same site with random fan-in and zero fan-out, which leave the function as it
    /// was (0: none; docs/tiny.md §2.14).
    pub companions: f64,
    /// Closed-form methods: when a kept step took every direction its proposal had and that
    /// was fewer than the step's cap (the desired update's rank or the eigenvalue cut ran out,
    /// not the verdict), the step is filled up to the cap with companions: random fan-in, zero
    /// fan-out (false: never; docs/tiny.md §2.14, "Filling a step the rank cut short").
    pub rank_fill: bool,
    /// Once growth has ended for good, every parameter is multiplied by this (1: unchanged;
    /// shrink and perturb, docs/tiny.md §2.18).
    pub end_shrink: f64,
    /// Once growth has ended for good, every weight gets this many times a fresh default
    /// initialisation (0: none; docs/tiny.md §2.18).
    pub end_perturb: f64,
    /// Eigenvalues of S and S₂ at or below this are dropped (docs/tiny.md §2.5; GroMo: 1e-6).
    pub numerical_threshold: f64,
    /// Damping ε of the applied δ at sites behind BatchNorm (the producer normalises):
    /// `δ = ((S + ε·tr(S)/n·I)⁻¹M)ᵀ`; sites without BatchNorm take the exact δ
    /// (0: the exact δ everywhere; docs/tiny.md §2.15).
    pub delta_damping: f64,
    /// Where the decompositions run: the host (faer) or the training device (libtorch).
    pub decompositions: Decompositions,
    /// Threads of growth's host linear algebra (faer), absent: automatic, see
    /// [`crate::runtime::linalg_threads`] (docs/tiny.md §8, "Threads").
    pub linalg_threads: Option<usize>,
    /// `tiny`/`tiny-paper` at dense ReLU sites: each proposed unit comes with its mirror
    /// `(−α, −ω)`, the pair realising the closed form's linear change exactly (at most half
    /// the step's units are proposed; docs/tiny.md §2.16).
    pub mirrors: bool,
    /// Keep λ_k ≥ min(statistical_threshold, λ_max) (docs/tiny.md §2.7; GroMo: 1e-3).
    pub statistical_threshold: f64,
    /// SENN's thresholds and proposal settings (method `senn`).
    pub senn: SennConfig,
    /// Adam's second moment for the entries growth adds (mean of the existing ones, or zero).
    pub new_second_moment: crate::optim::NewSecondMoment,
    /// Fan-out of new channels at conv → conv sites (docs/tiny.md §3.2).
    pub conv_neuron: site::ConvNeuron,
    /// New units behind a BatchNorm start at the existing units' mean norm (their running
    /// variance absorbs the factor: the function is unchanged in eval mode), so that they
    /// learn at the same effective rate as the old ones.
    pub bn_rescale: bool,
    /// New channels behind a BatchNorm get running statistics and β from their
    /// pre-activations on the choosing half (γ = 1, the fan-out absorbs their scale), so that
    /// training mode computes what the preview showed (docs/tiny.md §3.3; default on).
    pub bn_match: bool,
    /// Before each check, every BatchNorm's running statistics are set to its training-mode
    /// statistics on this many training samples (a sample fixed by the seed), so that the check
    /// measures the network training computes rather than statistics that lag its weights
    /// (0: off; docs/tiny.md §3.3, "Recalibrated statistics").
    pub recalibrate_samples: usize,
}

impl Default for GrowthConfig {
    fn default() -> Self {
        GrowthConfig {
            method: Method::Tiny,
            selection: Selection::Best,
            every_epochs: 1,
            every_steps: None,
            stop_epoch: None,
            stop_fraction: None,
            max_hidden: None,
            max_parameters: None,
            neurons_per_step: None,
            auto: false,
            threshold: 0.0,
            patience: 3,
            auto_rounds: 8,
            more_rounds: MoreRounds::Any,
            auto_retry: AutoRetry::Backoff,
            auto_gain: AutoGain::NeuronsOwnScale,
            significance: 2.0,
            judge_fraction: 0.5,
            judge_parts: 1,
            threshold_per_neuron: 1.5e-4,
            threshold_per_parameter: 0.0,
            threshold_per_width: 0.0,
            threshold_per_flop: 0.0,
            threshold_per_activation: 0.0,
            stats_samples: 2048,
            stats_samples_per_row: 0.0,
            stats_batch_size: 512,
            statistics_sample: StatisticsSample::Fresh,
            statistics_precision: StatisticsPrecision::Double,
            line_search_samples: 1024,
            line_search: LineSearch::default(),
            random_fan_out_std: 0.0,
            fan_in_noise: 0.0,
            companions: 0.0,
            rank_fill: false,
            end_shrink: 1.0,
            end_perturb: 0.0,
            numerical_threshold: 1e-6,
            delta_damping: 0.01,
            decompositions: Decompositions::Host,
            linalg_threads: None,
            mirrors: false,
            statistical_threshold: 1e-3,
            senn: SennConfig::default(),
            new_second_moment: crate::optim::NewSecondMoment::Mean,
            conv_neuron: site::ConvNeuron::Restricted,
            bn_rescale: false,
            bn_match: true,
            recalibrate_samples: 0,
        }
    }
}

impl GrowthConfig {
    /// The closed form's thresholds and damping.
    pub fn numerics(&self) -> Numerics {
        Numerics {
            delta_damping: self.delta_damping,
            on_device: self.decompositions == Decompositions::Device,
            mirrors: self.mirrors,
            ..Numerics::new(self.numerical_threshold, self.statistical_threshold)
        }
    }

    /// The config of a run of `epochs` epochs: `stop_epoch` the earlier of itself and
    /// `⌈stop_fraction · epochs⌉`.
    ///
    /// ```
    /// use grownet::growth::GrowthConfig;
    /// let g = GrowthConfig { stop_fraction: Some(0.25), ..GrowthConfig::default() };
    /// assert_eq!(g.for_epochs(15).stop_epoch, Some(4));
    /// let g = GrowthConfig { stop_epoch: Some(2), ..g };
    /// assert_eq!(g.for_epochs(12).stop_epoch, Some(2));
    /// ```
    pub fn for_epochs(&self, epochs: usize) -> GrowthConfig {
        let stop_epoch = match (self.stop_epoch, self.fraction_stop_epoch(epochs)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        GrowthConfig {
            stop_epoch,
            ..self.clone()
        }
    }

    /// The epoch `⌈stop_fraction · epochs⌉` at whose start `stop_fraction` ends growth in a run
    /// of `epochs` epochs (`None` without it).
    pub fn fraction_stop_epoch(&self, epochs: usize) -> Option<usize> {
        self.stop_fraction
            .map(|f| (f * epochs as f64 - 1e-9).ceil().max(0.0) as usize)
    }

    /// The same config with the automatic mode's settings at their defaults when the
    /// automatic mode is off, where they change nothing (runs compare equal across a
    /// change of those defaults).
    pub fn without_unused_auto_settings(&self) -> GrowthConfig {
        if self.auto {
            return self.clone();
        }
        let d = GrowthConfig::default();
        GrowthConfig {
            threshold: d.threshold,
            patience: d.patience,
            auto_rounds: d.auto_rounds,
            more_rounds: d.more_rounds,
            auto_retry: d.auto_retry,
            auto_gain: d.auto_gain,
            threshold_per_neuron: d.threshold_per_neuron,
            threshold_per_parameter: d.threshold_per_parameter,
            threshold_per_width: d.threshold_per_width,
            threshold_per_flop: d.threshold_per_flop,
            threshold_per_activation: d.threshold_per_activation,
            significance: d.significance,
            judge_fraction: d.judge_fraction,
            judge_parts: d.judge_parts,
            ..self.clone()
        }
    }

    /// Checks every value of the section (keys as in config.toml); how the target widths fit
    /// the network is [`GrowthConfig::check_widths`].
    pub fn validate(&self) -> Result<()> {
        use crate::error::check;
        check::at_least("growth.every_epochs", self.every_epochs, 1)?;
        check::opt_at_least(
            "growth.every_steps",
            self.every_steps,
            1,
            "grow every `every_epochs` epochs",
        )?;
        if let Some(max) = &self.max_hidden {
            check::widths("growth.max_hidden", max, None)?;
        }
        check::opt_at_least("growth.max_parameters", self.max_parameters, 1, "no budget")?;
        check::opt_at_least(
            "growth.neurons_per_step",
            self.neurons_per_step,
            1,
            "as many as the target allows",
        )?;
        check::at_least("growth.stats_samples", self.stats_samples, 1)?;
        check::non_negative("growth.stats_samples_per_row", self.stats_samples_per_row)?;
        if let Some(f) = self.stop_fraction {
            check::in_open_unit("growth.stop_fraction", f, ": a share of the run")?;
        }
        check::at_least("growth.stats_batch_size", self.stats_batch_size, 1)?;
        check::opt_at_least("growth.linalg_threads", self.linalg_threads, 1, "automatic")?;
        check::at_least("growth.line_search_samples", self.line_search_samples, 1)?;
        self.line_search.validate()?;
        check::non_negative("growth.random_fan_out_std", self.random_fan_out_std)?;
        check::non_negative("growth.fan_in_noise", self.fan_in_noise)?;
        if self.fan_in_noise > 0.0 && !matches!(self.method, Method::Tiny | Method::TinyPaper) {
            return Err(Error::invalid(
                "growth.fan_in_noise",
                self.fan_in_noise,
                "0 unless growth.method is tiny or tiny-paper (the random part is added to the \
                 closed form's fan-ins)",
            ));
        }
        if self.mirrors && !matches!(self.method, Method::Tiny | Method::TinyPaper) {
            return Err(Error::invalid(
                "growth.mirrors",
                true,
                "false unless growth.method is tiny or tiny-paper (the mirrors of the closed \
                 form's units)",
            ));
        }
        check::non_negative("growth.companions", self.companions)?;
        check::positive("growth.end_shrink", self.end_shrink)?;
        check::non_negative("growth.end_perturb", self.end_perturb)?;
        check::non_negative("growth.delta_damping", self.delta_damping)?;
        if self.companions > 0.0 && matches!(self.method, Method::Random | Method::Senn) {
            return Err(Error::invalid(
                "growth.companions",
                self.companions,
                "0 unless growth.method is tiny, tiny-paper or gradmax (companions go with the \
                 closed form's units)",
            ));
        }
        if self.rank_fill && matches!(self.method, Method::Random | Method::Senn) {
            return Err(Error::invalid(
                "growth.rank_fill",
                true,
                "false unless growth.method is tiny, tiny-paper or gradmax (the fill goes with \
                 the closed form's units)",
            ));
        }
        check::non_negative("growth.numerical_threshold", self.numerical_threshold)?;
        check::non_negative("growth.statistical_threshold", self.statistical_threshold)?;
        check::non_negative("growth.threshold", self.threshold)?;
        check::non_negative("growth.threshold_per_neuron", self.threshold_per_neuron)?;
        check::non_negative(
            "growth.threshold_per_parameter",
            self.threshold_per_parameter,
        )?;
        check::non_negative("growth.threshold_per_width", self.threshold_per_width)?;
        check::non_negative("growth.threshold_per_flop", self.threshold_per_flop)?;
        check::non_negative(
            "growth.threshold_per_activation",
            self.threshold_per_activation,
        )?;
        check::non_negative("growth.significance", self.significance)?;
        check::at_least("growth.judge_parts", self.judge_parts, 1)?;
        check::in_open_unit(
            "growth.judge_fraction",
            self.judge_fraction,
            ": both the choosing and the judging samples need some",
        )?;
        check::at_least("growth.patience", self.patience, 1)?;
        check::at_least("growth.auto_rounds", self.auto_rounds, 1)?;
        if self.auto && self.method == Method::Random {
            return Err(Error::Config(
                "automatic growth needs a method with a growth signal (tiny, tiny-paper, gradmax)"
                    .into(),
            ));
        }
        if self.method == Method::Senn {
            self.senn.validate()?;
        }
        Ok(())
    }

    /// Whether the target widths fit a network whose hidden widths are `widths` (`when`:
    /// `at the start` or `now`, for the message): one per hidden layer and none below it. For
    /// SENN, which adds layers, a shorter list gives its last width to the later layers.
    pub fn check_widths(&self, widths: &[i64], when: &str) -> Result<()> {
        let Some(max) = &self.max_hidden else {
            return Ok(());
        };
        if self.method != Method::Senn && max.len() != widths.len() {
            return Err(Error::invalid(
                "growth.max_hidden",
                max,
                format!(
                    "{} width(s), one per hidden layer of the network (its widths {when}: {widths:?})",
                    widths.len()
                ),
            ));
        }
        let cap = |k: usize| max.get(k).or(max.last()).copied().unwrap_or(0);
        if let Some(k) = (0..widths.len()).find(|&k| cap(k) < widths[k]) {
            return Err(Error::invalid(
                "growth.max_hidden",
                max,
                format!(
                    "targets no smaller than the network's widths {when} ({widths:?}; layer {} \
                     has {})",
                    k + 1,
                    widths[k]
                ),
            ));
        }
        Ok(())
    }

    /// How the targets fit the built network `net` ([`GrowthConfig::check_widths`], and a
    /// parameter budget no smaller than the network at the start; `resumed`: the network has
    /// been training, a budget it has reached simply stops growth).
    pub fn check_network(&self, net: &crate::nn::Network, resumed: bool) -> Result<()> {
        let when = if resumed { "now" } else { "at the start" };
        self.check_widths(&net.hidden_widths(), when)?;
        if let (Some(budget), false) = (self.max_parameters, resumed) {
            let n = net.parameter_count();
            if budget < n {
                return Err(Error::invalid(
                    "growth.max_parameters",
                    budget,
                    format!("a budget no smaller than the network's {n} parameters at the start"),
                ));
            }
        }
        Ok(())
    }

    /// Whether scheduled growth has a target: widths, a parameter budget, or (for a
    /// ResNet, `blocks_have_targets`) each block's output width.
    pub fn check_target(&self, blocks_have_targets: bool) -> Result<()> {
        let scheduled = !self.auto && self.method != Method::Senn;
        if scheduled
            && self.max_hidden.is_none()
            && self.max_parameters.is_none()
            && !blocks_have_targets
        {
            return Err(Error::Config(
                "scheduled growth needs a target (--max-hidden or --max-params), or use --grow-auto"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Damping of SENN's output-side factor `S` relative to its mean diagonal (the official
/// code's 0.1; docs/senn.md §1.3).
pub const DEFAULT_DAMPING: f64 = 0.1;

/// SENN's hyper-parameters (defaults: the official MNIST-subset config, docs/senn.md §1.5 table).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SennConfig {
    /// Relative threshold τ: accept when `Δη'/η_l > τ`.
    pub tau: f64,
    /// Absolute threshold α relative to λ = E‖∂ℓ/∂y‖²: accept when `Δη'/λ > α`.
    pub alpha: f64,
    /// Depth candidates' `Δη'` is divided by this.
    pub depth_cost: f64,
    /// Most hidden layers depth growth may create (0: no depth growth).
    pub max_layers: usize,
    /// Checks to wait after inserting a layer before inserting another.
    pub depth_cooldown: usize,
    /// Width cap per hidden layer when `max_hidden` is not given.
    pub max_width: i64,
    /// Layers are only inserted where the hidden dimension is at most this wide.
    pub max_depth_width: i64,
    /// Most expansions in one check.
    pub max_additions: usize,
    /// Build proposals on one half of the statistics sample and judge them (thresholds and
    /// choice) on the other, so that chance correlations do not count as gains.
    pub held_out: bool,
    /// Damping of the output-side factor relative to its mean diagonal.
    pub damping: f64,
    /// Width proposals per site, depth proposals per gap, ascent steps and step size.
    pub proposals: usize,
    pub depth_proposals: usize,
    pub refine_steps: usize,
    pub step_size: f64,
    /// Samples the ascent runs on (from the half that builds proposals).
    pub refine_samples: usize,
}

impl SennConfig {
    /// Checks every value of the section (keys as in config.toml).
    pub fn validate(&self) -> Result<()> {
        use crate::error::check;
        check::non_negative("growth.senn.tau", self.tau)?;
        check::non_negative("growth.senn.alpha", self.alpha)?;
        check::non_negative("growth.senn.depth_cost", self.depth_cost)?;
        check::non_negative("growth.senn.damping", self.damping)?;
        check::positive("growth.senn.step_size", self.step_size)?;
        check::at_least("growth.senn.max_width", self.max_width, 1)?;
        check::at_least("growth.senn.max_depth_width", self.max_depth_width, 1)?;
        check::at_least("growth.senn.max_additions", self.max_additions, 1)?;
        check::at_least("growth.senn.proposals", self.proposals, 1)?;
        check::at_least("growth.senn.refine_samples", self.refine_samples, 1)?;
        Ok(())
    }
}

impl Default for SennConfig {
    fn default() -> Self {
        SennConfig {
            tau: 0.03,
            alpha: 2.5e-3,
            depth_cost: 20.0,
            max_layers: 3,
            depth_cooldown: 3,
            max_width: 256,
            max_depth_width: 64,
            max_additions: 32,
            held_out: true,
            damping: DEFAULT_DAMPING,
            proposals: 32,
            depth_proposals: 4,
            refine_steps: 60,
            step_size: 0.05,
            refine_samples: 1024,
        }
    }
}
