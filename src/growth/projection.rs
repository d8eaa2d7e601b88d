//! The full conv neuron's `N = −M₂ + Pδᵀ` without `P` or `M₂` (docs/tiny.md §3.2, "`N`
//! without `P` or `M₂`").
//!
//! `P = Σ B̃₋₂,eᵀ B̃₋₁` has `d₁ + 1` columns for each of the consumer's `k²` taps, and `N`
//! reads only `Pδᵀ`, with `d_out` columns per tap. Once δ is known, `B̃₋₁δᵀ` is the consumer's
//! convolution with δ as its kernel (bias column included), so the statistics pass keeps each
//! minibatch's producer rows (the unfolded image it summed `S₂` from, up to a budget of
//! [`KEPT_ROWS_BYTES`] by default), the consumer's input and the gradient rows `G`, and
//! [`deferred`] forms `N = Σ B̃₋₂,eᵀ (B̃₋₁δᵀ − G)` with one convolution and one product per
//! minibatch ([`ProducerRows::products`]): `M₂ = Σ B̃₋₂,eᵀ G` is never formed on its own. The cross
//! term's `Σ_k α_kᵀ M₂ ω_k` comes from the producer's rows projected on the `K` new neurons'
//! fan-ins, `K` columns instead of `d₂ + 1`.
//!
//! ```
//! use grownet::growth::projection::Kept;
//! let kept = Kept::default();
//! assert!(kept.batches.is_empty());
//! ```
use std::rc::Rc;

use faer::Mat;
use tch::{Kind, Tensor};

use super::linalg::{from_mat, to_mat};
use super::site::{FeatureMap, ProducerRows, Site};
use super::tiny::DeferredN;
use super::unfold;

/// One site's minibatches as the statistics pass saw them: the producer's side, the
/// consumer's input (detached) and the gradient rows `G` at the consumer's pre-activation
/// (`[N·L, d_out]`).
#[derive(Default)]
pub struct Kept {
    pub batches: Vec<KeptBatch>,
    /// Bytes of the producer rows kept as rows so far (within the budget [`Kept::push`] is
    /// given).
    rows_bytes: i64,
}

/// Most bytes of producer rows one site keeps between the pass and the proposal by default
/// (`statistics::Plan::kept_rows_bytes`; the rows are about 9× the producer's input at a 3×3
/// producer); beyond them the input is kept and unfolded again.
pub const KEPT_ROWS_BYTES: i64 = 512 << 20;

/// One minibatch of [`Kept`].
pub struct KeptBatch {
    pub producer: KeptProducer,
    pub consumer_input: Tensor,
    pub g: Tensor,
}

/// A kept minibatch's producer side: the rows `B̃₋₂` the pass summed `S₂` from (read as they
/// are), or, past the budget, the producer's input and its spatial size (unfolded
/// again, to the same values, when `N` needs them).
pub enum KeptProducer {
    Rows(ProducerRows),
    Input { x: Tensor, hw: (i64, i64) },
}

impl Kept {
    /// Keeps one minibatch: its producer `rows` while the site's kept rows stay within
    /// `budget` bytes, else the producer's `input` of spatial size `hw`; `(consumer input, G)`.
    pub fn push(
        &mut self,
        rows: ProducerRows,
        (input, hw): (&Tensor, (i64, i64)),
        mid: (&Tensor, &Tensor),
        budget: i64,
    ) {
        let bytes = rows.bytes();
        let producer = if self.rows_bytes + bytes <= budget {
            self.rows_bytes += bytes;
            KeptProducer::Rows(rows)
        } else {
            KeptProducer::Input {
                x: input.shallow_clone(),
                hw,
            }
        };
        self.batches.push(KeptBatch {
            producer,
            consumer_input: mid.0.shallow_clone(),
            g: mid.1.shallow_clone(),
        });
    }
}

/// `N(δ) = (1/n)·Σ_batches Σ_rows B̃₋₂,eᵀ (B̃₋₁δᵀ − G)` and `(α, ω) ↦ Σ_k α_kᵀ M₂ ω_k` at a
/// full-neuron conv → conv `site`, in [`super::tiny::SiteStatistics::n_matrix`]'s layout.
/// The products run in `precision` and are summed in f64, as the statistics pass sums its
/// own. δ is `[d_out, C₋₁·k² (+1)]` in the columns' order of the consumer's unfolded input
/// (channel, kernel row, kernel column, then the bias); `None` gives `−M₂`.
pub fn deferred(
    site: Site,
    producer: FeatureMap,
    (precision, consumer_bias): (Kind, bool),
    kept: Kept,
    inv_n: f64,
) -> DeferredN {
    let kept = Rc::new(kept);
    let rows = move |b: &KeptBatch| match &b.producer {
        KeptProducer::Rows(rows) => rows.shallow_clone(),
        KeptProducer::Input { x, hw } => site.producer_rows(&producer.apply(x, precision), *hw),
    };
    let (for_n, for_pairs) = (kept.clone(), kept);
    let n = move |delta: Option<&Mat<f64>>| {
        let sum = for_n.batches.iter().fold(None::<Tensor>, |acc, b| {
            let y = match delta {
                Some(delta) => {
                    consumer_response(site, &b.consumer_input, delta, (precision, consumer_bias))
                        - &b.g
                }
                None => -&b.g,
            };
            let t = rows(b).products(&y).to_kind(Kind::Double);
            Some(acc.map_or_else(|| t.shallow_clone(), |a| a + &t))
        });
        to_mat(&(sum? * inv_n)).ok()
    };
    let pairs = move |alpha_cols: &Mat<f64>, omega: &Mat<f64>| {
        let sum = for_pairs.batches.iter().fold(None::<Tensor>, |acc, b| {
            let t = alpha_m2_omega(&rows(b), &b.g, alpha_cols, omega);
            Some(acc.map_or_else(|| t.shallow_clone(), |a| a + &t))
        });
        let v = sum?.double_value(&[]) * inv_n;
        v.is_finite().then_some(v)
    };
    DeferredN {
        n: Rc::new(n),
        m2_pairs: Rc::new(pairs),
    }
}

/// One minibatch's `Σ_k α_kᵀ (Σ_rows B̃₋₂,eᵀ G) ω_k` as an f64 scalar: the rows `B̃₋₂,e α` of
/// the producer's image projected on the fan-ins (`K` channels), their tap products with `G`
/// (`[k², K, d_out]`), contracted with ω read as `[d_out, k², K]` (its rows are (output, tap)).
fn alpha_m2_omega(
    rows: &ProducerRows,
    g: &Tensor,
    alpha_cols: &Mat<f64>,
    omega: &Mat<f64>,
) -> Tensor {
    // Only full-neuron conv → conv sites keep rows; their producer rows are taps.
    let ProducerRows::Taps { image, conv2 } = rows else {
        unreachable!("deferred statistics are a full conv neuron's")
    };
    let (kind, device) = (image.kind(), image.device());
    let k = alpha_cols.ncols() as i64;
    let alpha = from_mat(alpha_cols, kind, device); // [D, K]
    let z = image
        .permute([0, 2, 3, 1])
        .matmul(&alpha)
        .permute([0, 3, 1, 2]); // [N, K, H, W]
    let t = unfold::tap_products(&z, g, *conv2).to_kind(Kind::Double); // [k², K, d]
    let taps = t.size()[0];
    let w = from_mat(omega, Kind::Double, device)
        .reshape([-1, taps, k])
        .permute([1, 2, 0]); // [k², K, d]
    (t * w).sum(Kind::Double)
}

/// `B̃₋₁δᵀ` as rows `[N·L, d_out]` (image-major, as the consumer's rows): the consumer's
/// convolution of its input `x_mid` with δ as the kernel and bias.
fn consumer_response(
    site: Site,
    x_mid: &Tensor,
    delta: &Mat<f64>,
    (precision, bias): (Kind, bool),
) -> Tensor {
    // Only full-neuron conv → conv sites keep rows; their consumer is a conv.
    #[allow(clippy::expect_used)]
    let conv2 = site.consumer.expect("conv consumer");
    let (d, k) = (delta.nrows() as i64, conv2.kernel);
    let x = x_mid.to_kind(precision);
    let c_mid = x.size()[1];
    let dt = from_mat(delta, precision, x.device());
    let w = dt.narrow(1, 0, c_mid * k * k).reshape([d, c_mid, k, k]);
    let b = bias.then(|| dt.select(1, c_mid * k * k));
    let (st, pad) = (conv2.stride, conv2.padding);
    x.conv2d(&w, b.as_ref(), [st, st], [pad, pad], [1, 1], 1)
        .flatten(2, 3)
        .transpose(1, 2)
        .flatten(0, 1)
}
