//! The full conv neuron's projection term `Pδᵀ` without `P` (docs/tiny.md §3.2, "`Pδᵀ`
//! without `P`").
//!
//! `P = Σ B̃₋₂,eᵀ B̃₋₁` has `d₁ + 1` columns for each of the consumer's `k²` taps, and `N`
//! reads only `Pδᵀ`, with `d_out` columns per tap. Once δ is known, `B̃₋₁δᵀ` is the consumer's
//! convolution with δ as its kernel (bias column included), so the statistics pass keeps each
//! minibatch's producer and consumer inputs and [`deferred`] forms
//! `Σ B̃₋₂,eᵀ (B̃₋₁δᵀ)` with one convolution per minibatch ([`ProducerRows::products`]).
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
use super::site::{FeatureMap, Site};
use super::tiny::DeferredProjection;

/// One site's minibatches as the statistics pass saw them: the producer's input and the
/// consumer's input (detached), and the producer input's spatial size.
#[derive(Default)]
pub struct Kept {
    pub batches: Vec<(Tensor, Tensor)>,
    pub hw: (i64, i64),
}

/// `δ ↦ (1/n)·Σ_batches Σ_rows B̃₋₂,eᵀ (B̃₋₁δᵀ)` at a full-neuron conv → conv `site`, in
/// [`super::tiny::SiteStatistics::project`]'s layout. The products run in `precision` and are
/// summed in f64, as the statistics pass sums its own. δ is `[d_out, C₋₁·k² (+1)]` in the
/// columns' order of the consumer's unfolded input (channel, kernel row, kernel column, then
/// the bias).
pub fn deferred(
    site: Site,
    producer: FeatureMap,
    (precision, consumer_bias): (Kind, bool),
    kept: Kept,
    inv_n: f64,
) -> DeferredProjection {
    DeferredProjection(Rc::new(move |delta: &Mat<f64>| {
        let sum = kept
            .batches
            .iter()
            .fold(None::<Tensor>, |acc, (x_prod, x_mid)| {
                let v = consumer_response(site, x_mid, delta, (precision, consumer_bias));
                let rows = site.producer_rows(&producer.apply(x_prod, precision), kept.hw);
                let t = rows.products(&v).to_kind(Kind::Double);
                Some(acc.map_or_else(|| t.shallow_clone(), |a| a + &t))
            });
        to_mat(&(sum? * inv_n)).ok()
    }))
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
