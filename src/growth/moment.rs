//! The input moment (docs/tiny.md §2.2, "The input moment"): the `S₂` of a site whose producer
//! reads the network's input is a second moment of the data alone. Growth changes the
//! producer's outputs, never its inputs, so `S₂` and its truncated eigen-factor are computed
//! once per run and reused by every step, when every step uses the same statistics sample
//! (`growth.statistics_sample = "fixed"`: the first step's, which depends on the seed only, so a
//! resumed run recomputes the same moment). With a fresh sample per step the moment is not
//! reused: `S₂` from one sample and `M₂`, `P` from another inflate the whitened directions the
//! first sample barely covers (measured: λ's twice as large and steps the line search rejects).
//!
//! ```
//! use grownet::data::Dataset;
//! use grownet::growth::moment::InputMoments;
//! use grownet::growth::site::{ConvNeuron, Site};
//! use grownet::nn::{Activation, Architecture, Network};
//! use rand::SeedableRng;
//! use tch::{Device, Kind, Tensor};
//! let arch = Architecture::mlp(3, &[2, 2], 2, Activation::Relu);
//! let net = Network::new(&arch, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0), Device::Cpu).unwrap();
//! let x = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 0.0, 2.0, 0.0]).reshape([2, 3]);
//! let data = Dataset { x, y: Tensor::from_slice(&[0i64, 1]) };
//! let site = Site::new(&net, 0, ConvNeuron::Restricted).unwrap();
//! let mut moments = InputMoments::default();
//! let m = moments.get(&net, &site, &data, &Tensor::from_slice(&[0i64, 1]), 512, 1e-6).unwrap();
//! let s2 = &m.unwrap().s2; // E[x̃ x̃ᵀ] of the augmented inputs (1, 0, 0, 1) and (0, 2, 0, 1)
//! assert_eq!((s2[(0, 0)], s2[(1, 1)], s2[(3, 3)], s2[(1, 3)]), (0.5, 2.0, 1.0, 1.0));
//! // The second site reads the hidden layer: no input moment.
//! let inner = Site::new(&net, 1, ConvNeuron::Restricted).unwrap();
//! let none = moments.get(&net, &inner, &data, &Tensor::from_slice(&[0i64, 1]), 512, 1e-6);
//! assert!(none.unwrap().is_none());
//! ```
use std::sync::Arc;

use faer::Mat;
use tch::{Kind, Tensor};

use super::linalg::{self, to_mat};
use super::site::{self, Site, SiteKind};
use super::tiny::S2Factor;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::nn::{ConvGeometry, Network, Pool};

/// A site's `S₂` and its truncated eigen-factor, computed once.
#[derive(Debug)]
pub struct InputMoment {
    /// `S₂ = E[b̃₋₂ b̃₋₂ᵀ]` over the moment sample.
    pub s2: Mat<f64>,
    /// Its eigen-factor at the configured threshold (`None` if the decomposition failed:
    /// each step then tries again and notes the failure).
    pub factor: Option<Arc<S2Factor>>,
}

/// What an input moment depends on: the site's geometry, the input layer's fan-in and bias,
/// the sample and the threshold. Growth changes none of them; a change invalidates the cache.
#[derive(Clone, Debug, PartialEq)]
struct MomentKey {
    kind: SiteKind,
    producer: Option<ConvGeometry>,
    consumer: Option<ConvGeometry>,
    pool: Pool,
    fan_in: Vec<i64>,
    bias: bool,
    batch: usize,
    threshold: f64,
}

impl MomentKey {
    fn of(net: &Network, site: &Site, batch: usize, threshold: f64) -> MomentKey {
        let layer = &net.stages[site.index].layer;
        MomentKey {
            kind: site.kind,
            producer: site.producer,
            consumer: site.consumer,
            pool: site.pool,
            fan_in: layer.weight().size()[1..].to_vec(),
            bias: layer.bias().is_some(),
            batch,
            threshold,
        }
    }
}

/// The input moments a growth method has computed (in practice one: site 0).
#[derive(Debug, Default)]
pub struct InputMoments {
    cached: Option<(MomentKey, Arc<InputMoment>)>,
}

impl InputMoments {
    /// The input moment of `site` (`None` unless its producer reads the network's input),
    /// computed on the samples `index` of `data` in minibatches of `batch` on first use.
    pub fn get(
        &mut self,
        net: &Network,
        site: &Site,
        data: &Dataset,
        index: &Tensor,
        batch: usize,
        threshold: f64,
    ) -> Result<Option<Arc<InputMoment>>> {
        if site.index != 0 {
            return Ok(None);
        }
        let key = MomentKey::of(net, site, batch, threshold);
        if let Some((k, m)) = &self.cached {
            if *k == key {
                return Ok(Some(m.clone()));
            }
        }
        let s2 = producer_moment(net, site, data, index, batch)?;
        let factor = linalg::psd_factor(s2.as_ref(), threshold)
            .map(|factor| Arc::new(S2Factor { threshold, factor }));
        let moment = Arc::new(InputMoment { s2, factor });
        self.cached = Some((key, moment.clone()));
        Ok(Some(moment))
    }
}

/// `S₂` of `site` over the samples `index` of `data`: the same rows and the same f64
/// summation as `statistics::collect`, without the network beyond the producer's input.
fn producer_moment(
    net: &Network,
    site: &Site,
    data: &Dataset,
    index: &Tensor,
    batch: usize,
) -> Result<Mat<f64>> {
    let n = index.size()[0];
    let stage = &net.stages[site.index];
    let mut sum: Option<Tensor> = None;
    let mut start = 0;
    while start < n {
        let len = (batch as i64).min(n - start);
        let (x, _) = data.select(&index.narrow(0, start, len));
        start += len;
        let hw = match x.dim() {
            4 => (x.size()[2], x.size()[3]),
            _ => (1, 1),
        };
        let rows = site.producer_rows(&site::features(stage, &x, Kind::Double), hw);
        let s2 = rows.moment();
        sum = Some(match sum {
            None => s2,
            Some(acc) => acc + s2,
        });
    }
    let sum = sum.ok_or_else(|| Error::Growth("empty statistics sample".into()))?;
    to_mat(&(sum.to_kind(Kind::Double) * (1.0 / n.max(1) as f64)))
}
