//! From statistics to a concrete proposal for one site: new fan-in rows α, fan-out columns ω
//! and the update δ of the consumer's weights, as tensors ready to preview or apply.
//! TINY, its paper preset and GradMax go through the same closed form ([`super::tiny`]) with
//! different options (docs/tiny.md §2.11); random growth is the control.
use rand::Rng;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::linalg::from_mat;
use super::orient;
use super::site::{ConvNeuron, Site, SiteKind};
use super::statistics::{Layout, Samples};
use super::tiny::{propose_neurons, NeuronProposal, SiteStatistics, TinyOptions};
use crate::error::{Error, Result};
use crate::nn::{init, Activation, Network};

/// How new neurons are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// TINY with the best update δ of the existing weights (GroMo's default).
    Tiny,
    /// TINY as in the paper: δ used for the projection only, not applied.
    #[serde(alias = "tiny_paper")]
    TinyPaper,
    /// GradMax: zero fan-in, fan-out from the SVD of the gradient cross-moment, normalised.
    #[serde(alias = "gradmax")]
    GradMax,
    /// Control: random fan-in, zero fan-out.
    Random,
    /// SENN: natural expansion score, width and depth, decides when by itself
    /// ([`super::senn`]).
    Senn,
}

impl Method {
    /// The method's name as configs and metrics write it.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// The TINY options of this method (None for random growth).
    pub fn tiny_options(self) -> Option<TinyOptions> {
        match self {
            Method::Tiny => Some(TinyOptions::tiny()),
            Method::TinyPaper => Some(TinyOptions::tiny_paper()),
            Method::GradMax => Some(TinyOptions::gradmax()),
            Method::Random | Method::Senn => None,
        }
    }

    /// Whether the new neurons leave the network's function unchanged (no line search).
    pub fn function_preserving(self) -> bool {
        matches!(self, Method::GradMax | Method::Random | Method::Senn)
    }

    /// Whether growth statistics are needed.
    pub fn needs_statistics(self) -> bool {
        self != Method::Random
    }
}

/// What a proposal predicts, for logging and selection.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ProposalInfo {
    pub lambdas: Vec<f64>,
    /// Expressivity bottleneck Ψ = tr(E) − d of the site (docs/tiny.md §2.4).
    pub bottleneck: f64,
    /// First-order decrease of the δ step alone.
    pub decrease_delta: f64,
    /// Cross term C (docs/tiny.md §2.6).
    pub cross_term: f64,
    /// GroMo's estimate d + σ'(0)Σλ².
    pub fo_gromo: f64,
    /// With the cross term: d + σ'(0)(Σλ² + C).
    pub fo_with_cross: f64,
    /// First order of the existing weights' best update, d = tr(E) − Ψ (docs/tiny.md §2.3–2.4),
    /// whether or not δ is applied.
    pub decrease_existing: f64,
    /// Exact first order for a positively homogeneous activation (ReLU), measured on the
    /// statistics samples: d − E⟨g, Σ ω_k relu(α_kᵀb̃)⟩ (docs/tiny.md §9).
    pub fo_measured: Option<f64>,
    pub notes: Vec<String>,
}

impl ProposalInfo {
    /// How much the new neurons add to what the layer can already express at first order:
    /// (FO − d_applied) / d, with d the existing weights' best decrease. Large while the
    /// architecture is the bottleneck, small once the existing neurons explain the gradient
    /// (logged with every growth event; the automatic mode judges measured held-out gains).
    pub fn neuron_gain_ratio(&self) -> f64 {
        let neurons = self.fo_with_cross - self.decrease_delta;
        neurons / self.decrease_existing.max(1e-12)
    }

    /// The first-order improvement per unit of γ = s² used to rank sites and seed the line
    /// search: the measured one for ReLU, else the linearised one with the cross term.
    pub fn first_order(&self) -> f64 {
        self.fo_measured.unwrap_or(self.fo_with_cross)
    }
}

/// A proposal for one site, as tensors on the network's device.
#[derive(Debug)]
pub struct Proposal {
    /// Producer stage index (the site).
    pub site: usize,
    /// New producer units in the producer weight's shape (`[K, d2]` rows, or `[K, C, k, k]`
    /// filters) and their biases `[K]`.
    pub alpha_w: Tensor,
    pub alpha_b: Option<Tensor>,
    /// New consumer inputs in the consumer weight's shape (`[d, K]` columns, or
    /// `[C, K, k, k]` kernels: centre tap only for the restricted conv neuron).
    pub omega: Tensor,
    /// Update of the consumer's weights (its weight's shape) and bias `[d]` (applied as −s²δ).
    pub delta_w: Option<Tensor>,
    pub delta_b: Option<Tensor>,
    pub info: ProposalInfo,
    pub function_preserving: bool,
    /// Units come in mirrored pairs (unit `2i + 1` is `(−α, −ω)` of unit `2i`; docs/tiny.md
    /// §2.16): the judge keeps pairs whole.
    pub mirrored: bool,
    /// Rational-activation parameters `[K, 3]` of the new units (a rational producer; `None`:
    /// the identity `(1, 0, 0)`).
    pub rational: Option<Tensor>,
}

impl Proposal {
    /// New neurons with the given fan-in, biases and fan-out, and no change to the existing
    /// weights (random growth, SENN); function-preserving when `omega` is zero.
    pub fn neurons_only(
        site: usize,
        alpha_w: Tensor,
        alpha_b: Option<Tensor>,
        omega: Tensor,
    ) -> Self {
        Proposal {
            site,
            alpha_w,
            alpha_b,
            omega,
            delta_w: None,
            delta_b: None,
            info: ProposalInfo::default(),
            function_preserving: true,
            mirrored: false,
            rational: None,
        }
    }

    /// The proposal with a uniform random part of `c` times the default initialisation's
    /// bound `1/√fan_in` added to each new unit's fan-in (not its bias), drawn from `rng`
    /// (docs/tiny.md §2.13). The first-order figures in `info` stay those of the closed form.
    pub fn with_fan_in_noise(mut self, c: f64, rng: &mut impl Rng) -> Proposal {
        let shape = self.alpha_w.size();
        if self.neurons() > 0 && c > 0.0 {
            let fan_in: i64 = shape[1..].iter().product();
            let bound = c * init::default_bound(fan_in);
            let noise = init::uniform(&shape, bound, rng, self.alpha_w.device());
            self.alpha_w = &self.alpha_w + noise.to_kind(self.alpha_w.kind());
        }
        self
    }

    /// The number of new units.
    pub fn neurons(&self) -> i64 {
        self.alpha_w.size()[0]
    }
}

/// New consumer inputs from the closed form's `ω` (`[d·taps, K]`, rows ordered
/// (output, tap)) in the consumer weight's shape (docs/tiny.md §3.2: the restricted neuron's 1×1
/// fan-out sits at the kernel centre, the full neuron's covers every tap).
fn omega_weight(omega: &Tensor, site: &Site) -> Tensor {
    let k = omega.size()[1];
    match (site.kind, site.consumer) {
        (SiteKind::ConvToConv(neuron), Some(conv2)) => {
            let kk = conv2.kernel;
            let d = omega.size()[0] / site.taps() as i64;
            match neuron {
                ConvNeuron::Full => omega
                    .view([d, kk * kk, k])
                    .permute([0, 2, 1])
                    .reshape([d, k, kk, kk]),
                ConvNeuron::Restricted => {
                    let w = Tensor::zeros([d, k, kk, kk], (omega.kind(), omega.device()));
                    w.narrow(2, kk / 2, 1)
                        .narrow(3, kk / 2, 1)
                        .copy_(&omega.view([d, k, 1, 1]));
                    w
                }
            }
        }
        _ => omega.shallow_clone(),
    }
}

/// Norm of each input unit's weights of a `[out, in, …]` weight: `[in]`.
fn input_norms(w: &Tensor) -> Tensor {
    w.transpose(0, 1)
        .flatten(1, -1)
        .norm_scalaropt_dim(2, [1i64].as_slice(), false)
}

/// The closed form's numerical settings: the thresholds of docs/tiny.md §2.5 and §2.7 and the
/// damping of the applied δ behind BatchNorm (§2.15).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Numerics {
    pub numerical_threshold: f64,
    pub statistical_threshold: f64,
    /// Applied at sites whose producer has BatchNorm; elsewhere δ is exact.
    pub delta_damping: f64,
    /// Decompositions on the network's device (libtorch) instead of the host (faer).
    pub on_device: bool,
    /// Dense ReLU sites: each unit with its mirror (docs/tiny.md §2.16).
    pub mirrors: bool,
}

impl Numerics {
    /// The thresholds, with the exact δ everywhere.
    pub fn new(numerical_threshold: f64, statistical_threshold: f64) -> Self {
        Numerics {
            numerical_threshold,
            statistical_threshold,
            delta_damping: 0.0,
            on_device: false,
            mirrors: false,
        }
    }
}

/// The TINY-family proposal for `site` from its statistics, capped at `max_neurons`.
pub fn closed_form(
    net: &Network,
    site: &Site,
    stats: &SiteStatistics,
    samples: Option<&Samples>,
    method: Method,
    max_neurons: usize,
    numerics: Numerics,
) -> Result<Proposal> {
    let (opts, mirrored) = site_options(net, site, method, max_neurons, numerics)?;
    let producer = &net.stages[site.index];
    let consumer = &net.stages[site.index + 1];
    let p: NeuronProposal = propose_neurons(stats, producer.activation.slope_at_zero(), &opts);
    let (device, kind) = (net.device(), producer.layer.weight().kind());
    let (mut alpha, mut omega_mat) = (
        from_mat(&p.alpha, kind, device),
        from_mat(&p.omega, kind, device),
    );
    if mirrored {
        (alpha, omega_mat) = with_mirrors(&alpha, &omega_mat);
    }
    let k = alpha.size()[0];
    let pw = producer.layer.weight().size();
    let d2: i64 = pw[1..].iter().product();
    let mut alpha_shape = pw.clone();
    alpha_shape[0] = k;
    let alpha_w = alpha.narrow(1, 0, d2).reshape(alpha_shape.as_slice());
    let alpha_b = producer
        .layer
        .bias()
        .map(|_| alpha.narrow(1, d2, 1).squeeze_dim(1));
    let mut omega = omega_weight(&omega_mat, site);
    if method == Method::GradMax && k > 0 {
        omega = gradmax_normalised(&omega, consumer.layer.weight(), k);
    }
    let (delta_w, delta_b) = if opts.compute_delta && p.decrease_delta > 0.0 {
        delta_tensors(
            &from_mat(&p.delta, kind, device),
            stats,
            consumer.layer.weight(),
        )
    } else {
        (None, None)
    };
    let mut notes = p.notes.clone();
    let fo_measured = match samples {
        Some(sm)
            if sm.layout == Layout::Images
                && producer.activation == Activation::Relu
                && producer.rational.is_none()
                && !opts.alpha_zero
                && k > 0 =>
        {
            oriented(
                net,
                site,
                sm,
                (&alpha_w, alpha_b.as_ref()),
                &mut omega,
                &mut notes,
            )
            .map(|gain| p.decrease_delta + gain)
        }
        Some(sm)
            if sm.layout != Layout::Images
                && measured_rows_exact(site)
                && producer.activation == Activation::Relu
                && !opts.alpha_zero
                && k > 0 =>
        {
            let m = Measured {
                samples: sm,
                alpha: &alpha,
                omega_mat: &omega_mat,
                decrease_delta: p.decrease_delta,
            };
            Some(m.first_order(site, &mut omega, &mut notes))
        }
        _ => None,
    };
    Ok(Proposal {
        site: site.index,
        alpha_w,
        alpha_b,
        omega,
        delta_w,
        delta_b,
        info: ProposalInfo {
            lambdas: p.lambdas.clone(),
            bottleneck: p.bottleneck,
            decrease_existing: (stats.trace_e - p.bottleneck).max(0.0),
            decrease_delta: p.decrease_delta,
            cross_term: p.cross_term,
            fo_gromo: p.fo_gromo,
            fo_with_cross: p.fo_with_cross,
            fo_measured,
            notes,
        },
        function_preserving: method.function_preserving(),
        mirrored,
        rational: None,
    })
}

/// The closed form's options at `site`: `method`'s preset with `numerics`, δ damped only behind
/// BatchNorm (docs/tiny.md §2.15), and at dense ReLU sites with mirrors half the units from the
/// closed form (§2.16). Returns them and whether the units are mirrored.
fn site_options(
    net: &Network,
    site: &Site,
    method: Method,
    max_neurons: usize,
    numerics: Numerics,
) -> Result<(TinyOptions, bool)> {
    let mut opts = method
        .tiny_options()
        .ok_or_else(|| Error::Growth("random growth has no closed form".into()))?;
    let producer = &net.stages[site.index];
    let mirrored = numerics.mirrors
        && site.kind == SiteKind::Dense
        && producer.activation == Activation::Relu
        && !opts.alpha_zero
        && max_neurons >= 2;
    opts.max_added_neurons = Some(if mirrored {
        max_neurons / 2
    } else {
        max_neurons
    });
    opts.numerical_threshold = numerics.numerical_threshold;
    opts.statistical_threshold = numerics.statistical_threshold;
    if producer.norm.is_some() {
        opts.delta_damping = numerics.delta_damping;
    }
    if numerics.on_device {
        opts.backend = super::linalg::Backend::Torch(net.device());
    }
    Ok((opts, mirrored))
}

/// Dense fan-in rows `[K, d2+1]` and fan-out columns `[d, K]` with each unit followed by its
/// mirror `(−α, −ω)`: `ω relu(αᵀb̃) − ω relu(−αᵀb̃) = ω αᵀb̃`, the closed form's linear change
/// realised exactly through the ReLU (docs/tiny.md §2.16).
fn with_mirrors(alpha: &Tensor, omega: &Tensor) -> (Tensor, Tensor) {
    let k = alpha.size()[0];
    let alpha = Tensor::stack(&[alpha, &(-alpha)], 1).reshape([2 * k, -1]);
    let omega = Tensor::stack(&[omega, &(-omega)], 2).reshape([omega.size()[0], 2 * k]);
    (alpha, omega)
}

/// GradMax's fan-out normalisation (GroMo's "gradmax_normalization"): every one of the `k`
/// new input units of the consumer gets the mean norm of its existing ones.
fn gradmax_normalised(omega: &Tensor, consumer_weight: &Tensor, k: i64) -> Tensor {
    let (kind, device) = (omega.kind(), omega.device());
    let w = consumer_weight.detach();
    let target = if w.size()[1] > 0 {
        input_norms(&w).mean(kind)
    } else {
        Tensor::from(1.0f32).to_kind(kind).to_device(device)
    };
    let norms = input_norms(omega).clamp_min(1e-12);
    let mut shape = vec![1i64; omega.dim()];
    shape[1] = k;
    omega / norms.view(shape.as_slice()) * target
}

/// δ (`d×(d1+1)`, last column the bias when the consumer has one) as the consumer weight's
/// shape and its bias.
fn delta_tensors(
    delta: &Tensor,
    stats: &SiteStatistics,
    consumer_weight: &Tensor,
) -> (Option<Tensor>, Option<Tensor>) {
    let d1 = delta.size()[1] - i64::from(stats.consumer_bias);
    (
        Some(
            delta
                .narrow(1, 0, d1)
                .reshape(consumer_weight.size().as_slice()),
        ),
        stats
            .consumer_bias
            .then(|| delta.narrow(1, d1, 1).squeeze_dim(1)),
    )
}

/// Whether a site's rows give the exact first order for a positively homogeneous activation
/// (docs/tiny.md §9): dense sites, restricted conv neurons without pooling in between, and conv →
/// linear through global pooling (the mean of the activations).
fn measured_rows_exact(site: &Site) -> bool {
    match site.kind {
        SiteKind::Dense | SiteKind::ConvToDense => true,
        SiteKind::ConvToConv(ConvNeuron::Restricted) => site.pool == crate::nn::Pool::None,
        _ => false,
    }
}

/// The full conv neuron's channels oriented by their measured first order ([`orient`],
/// docs/tiny.md §9): `omega`'s fan-outs flipped where a channel raises the loss, with a note;
/// returns the channels' summed first-order decrease (`None` when it could not be measured).
fn oriented(
    net: &Network,
    site: &Site,
    sm: &Samples,
    (alpha_w, alpha_b): (&Tensor, Option<&Tensor>),
    omega: &mut Tensor,
    notes: &mut Vec<String>,
) -> Option<f64> {
    let shares = orient::shares(net, site.index, (&sm.b2, &sm.g), (alpha_w, alpha_b, omega));
    let k = omega.size()[1];
    if shares.len() as i64 != k || shares.iter().any(|c| !c.is_finite()) {
        return None;
    }
    Some(oriented_by(&shares, omega, notes))
}

/// `omega`'s fan-outs flipped where a unit's first-order share is negative ([`orient::flip`]),
/// with a note; returns the summed first-order decrease of the oriented units, `Σ_k |share_k|`.
fn oriented_by(shares: &[f64], omega: &mut Tensor, notes: &mut Vec<String>) -> f64 {
    let (o, flipped) = orient::flip(omega, shares);
    *omega = o;
    if flipped > 0 {
        notes.push(format!(
            "{flipped} of {} fan-outs flipped (ReLU first order, docs/tiny.md §9)",
            shares.len()
        ));
    }
    shares.iter().map(|c| c.abs()).sum()
}

/// What the measured first order of ReLU neurons needs (docs/tiny.md §9).
struct Measured<'a> {
    samples: &'a Samples,
    /// Fan-in rows `[K, d2(+1)]` and fan-out `[d·taps, K]` as from the closed form.
    alpha: &'a Tensor,
    omega_mat: &'a Tensor,
    decrease_delta: f64,
}

impl Measured<'_> {
    /// The exact first order `d − E⟨g, Σ ω_k relu(α_kᵀb̃)⟩` measured on the statistics
    /// samples. At conv sites each neuron's fan-out in `omega` is flipped where its own
    /// first-order effect is negative (through ReLU the linearised sign can be wrong), with a
    /// note.
    fn first_order(&self, site: &Site, omega: &mut Tensor, notes: &mut Vec<String>) -> f64 {
        let sm = self.samples;
        let mut ext = sm.b2.matmul(&self.alpha.tr()).clamp_min(0.0); // relu(α b̃)
        if site.kind == SiteKind::Dense {
            // The whole first order at once (no per-neuron orientation for dense sites):
            // the summation order of the measured MLP results, kept bit for bit.
            let change = ext.matmul(&self.omega_mat.tr()); // Σ ω_k relu(α_kᵀ b̃)
            let inner = (&sm.g * change).sum(Kind::Double).double_value(&[]) / sm.images as f64;
            return self.decrease_delta - inner;
        }
        let k = self.alpha.size()[0];
        if sm.layout == Layout::Pooled {
            ext = ext.view([sm.images, -1, k]).mean_dim(1, false, ext.kind());
        }
        // Each neuron's first-order decrease: −E⟨g, ω_k relu(α_kᵀ b̃)⟩.
        let per_neuron = -(ext.tr().matmul(&sm.g) * self.omega_mat.tr()).sum_dim_intlist(
            [1i64].as_slice(),
            false,
            Kind::Double,
        ) / sm.images as f64;
        let gains = Vec::<f64>::try_from(&per_neuron).unwrap_or_default();
        // Flipping a neuron's fan-out flips its first-order effect exactly, so every conv
        // neuron is oriented to lower the loss.
        self.decrease_delta + oriented_by(&gains, omega, notes)
    }
}

/// Random growth (the control): `k` neurons with uniform fan-in (PyTorch's default bound),
/// zero bias and fan-out `fan_out_std · N(0, 1)` (0: exactly function-preserving).
pub fn random(
    net: &Network,
    site: usize,
    k: i64,
    fan_out_std: f64,
    rng: &mut impl Rng,
) -> Result<Proposal> {
    let device = net.device();
    if site + 1 >= net.stages.len() {
        return Err(Error::Growth(format!("site {site} has no consumer layer")));
    }
    let pw = net.stages[site].layer.weight().size();
    let fan_in: i64 = pw[1..].iter().product();
    let mut alpha_shape = pw.clone();
    alpha_shape[0] = k;
    let alpha_w = init::uniform(&alpha_shape, init::default_bound(fan_in), rng, device);
    let alpha_b = net.stages[site]
        .layer
        .bias()
        .map(|_| Tensor::zeros([k], (Kind::Float, device)));
    let mut omega_shape = net.stages[site + 1].layer.weight().size();
    omega_shape[1] = k;
    let omega = if fan_out_std > 0.0 {
        // Uniform with the requested standard deviation, drawn from the run's generator.
        init::uniform(&omega_shape, fan_out_std * 3f64.sqrt(), rng, device)
    } else {
        Tensor::zeros(omega_shape.as_slice(), (Kind::Float, device))
    };
    Ok(Proposal::neurons_only(site, alpha_w, alpha_b, omega))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn proposal(alpha_shape: &[i64]) -> Proposal {
        let opts = (Kind::Float, tch::Device::Cpu);
        let n: i64 = alpha_shape.iter().product();
        let k = alpha_shape[0];
        let alpha = (Tensor::arange(n, opts) / n as f64).view(alpha_shape);
        Proposal::neurons_only(
            0,
            alpha,
            Some(Tensor::ones([k], opts)),
            Tensor::ones([3, k], opts),
        )
    }

    fn noise_of(alpha_shape: &[i64], c: f64, seed: u64) -> (Proposal, Tensor) {
        let base = proposal(alpha_shape);
        let noisy =
            proposal(alpha_shape).with_fan_in_noise(c, &mut ChaCha8Rng::seed_from_u64(seed));
        let r = &noisy.alpha_w - &base.alpha_w;
        (noisy, r)
    }

    #[test]
    fn fan_in_noise_is_uniform_within_the_default_bound() {
        // Dense [64, 100] and conv [64, 4, 5, 5] fan-ins: 100 inputs each, bound c/√100.
        for shape in [vec![64i64, 100], vec![64, 4, 5, 5]] {
            let (noisy, r) = noise_of(&shape, 2.0, 1);
            let bound = 2.0 / 10.0;
            assert!(r.abs().max().double_value(&[]) <= bound * (1.0 + 1e-6));
            // Uniform(±b) over 6400 draws: mean 0 (standard error b/√3/80 ≈ 0.0014), standard
            // deviation b/√3 ≈ 0.115.
            assert!(r.mean(Kind::Double).double_value(&[]).abs() < 0.006);
            let std = r.to_kind(Kind::Double).std(true).double_value(&[]);
            assert!(
                (std / (bound / 3f64.sqrt()) - 1.0).abs() < 0.05,
                "std {std}"
            );
            // Bias and fan-out untouched.
            assert!(noisy
                .alpha_b
                .unwrap()
                .equal(&Tensor::ones([64], (Kind::Float, tch::Device::Cpu))));
            assert_eq!(noisy.omega.sum(Kind::Double).double_value(&[]), 3.0 * 64.0);
        }
    }

    #[test]
    fn fan_in_noise_follows_the_seed_and_zero_is_no_noise() {
        let (_, a) = noise_of(&[8, 10], 1.0, 7);
        let (_, b) = noise_of(&[8, 10], 1.0, 7);
        let (_, c) = noise_of(&[8, 10], 1.0, 8);
        assert!(a.equal(&b));
        assert!(!a.equal(&c));
        let (_, none) = noise_of(&[8, 10], 0.0, 7);
        assert_eq!(none.abs().max().double_value(&[]), 0.0);
        let (_, empty) = noise_of(&[0, 10], 1.0, 7);
        assert_eq!(empty.numel(), 0);
    }
}
