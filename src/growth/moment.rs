//! The input moment (docs/tiny.md §2.2, "The input moment"): the `S₂` of a site whose producer
//! reads the network's input is a second moment of the data alone. Growth changes the
//! producer's outputs, never its inputs, so `S₂` and its truncated eigen-factor are computed
//! once per run and reused by every step, when every step uses the same statistics sample
//! (`growth.statistics_sample = "fixed"`: the first step's, which depends on the seed only, so a
//! resumed run recomputes the same moment). With a fresh sample per step the moment is not
//! reused: `S₂` from one sample and `M₂`, `P` from another inflate the whitened directions the
//! first sample barely covers (measured: λ's twice as large and steps the line search rejects).
//!
//! The moment is always computed on a thread of its own ([`InputMoments::prefetch`] starts it
//! when training starts, so that it runs while the small network trains; [`InputMoments::get`]
//! joins it, or starts and joins it when nothing was prefetched), with the caller's number of
//! intra-op threads: the same code either way, so the same numbers whenever it finishes. Its
//! per-minibatch products are taken in the statistics' precision and summed in f64, as
//! `statistics::collect` computes `S₂` (docs/tiny.md §2.2 "Precision"): with mixed-precision
//! statistics, f32 products at half the f64 cost.
//!
//! ```
//! use grownet::data::Dataset;
//! use grownet::growth::moment::{InputMoments, MomentRequest};
//! use grownet::growth::site::{ConvNeuron, Site};
//! use grownet::nn::{Activation, Architecture, Network};
//! use rand::SeedableRng;
//! use tch::{Device, Kind, Tensor};
//! let arch = Architecture::mlp(3, &[2, 2], 2, Activation::Relu);
//! let net = Network::new(&arch, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0), Device::Cpu).unwrap();
//! let x = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 0.0, 2.0, 0.0]).reshape([2, 3]);
//! let data = Dataset { x, y: Tensor::from_slice(&[0i64, 1]) };
//! let site = Site::new(&net, 0, ConvNeuron::Restricted).unwrap();
//! let index = Tensor::from_slice(&[0i64, 1]);
//! let request = MomentRequest { data: &data, index: &index, batch: 512, threshold: 1e-6, precision: Kind::Double };
//! let mut moments = InputMoments::default();
//! let m = moments.get(&net, &site, &request).unwrap();
//! let s2 = &m.unwrap().s2; // E[x̃ x̃ᵀ] of the augmented inputs (1, 0, 0, 1) and (0, 2, 0, 1)
//! assert_eq!((s2[(0, 0)], s2[(1, 1)], s2[(3, 3)], s2[(1, 3)]), (0.5, 2.0, 1.0, 1.0));
//! // The second site reads the hidden layer: no input moment.
//! let inner = Site::new(&net, 1, ConvNeuron::Restricted).unwrap();
//! assert!(moments.get(&net, &inner, &request).unwrap().is_none());
//! ```
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use faer::Mat;
use tch::{Kind, Tensor};

use super::linalg::{self, to_mat, PsdFactor};
use super::site::{FeatureMap, Site, SiteKind};
use super::tiny::S2Factor;
use crate::data::{consecutive_batches, Dataset};
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
    /// Under mixed precision at a dense site whose cut keeps at most half of `S₂`'s
    /// directions: the sample's producer rows in the factor's basis, `B̃₋₂Q_r` (`n × r`, in
    /// the sample's order and the statistics' precision). The
    /// statistics pass takes `Q_rᵀM₂` and `Q_rᵀP` from them instead of `M₂` and `P`, with
    /// `r/(d₂+1)` of the multiply-adds (docs/tiny.md §2.2, "The input moment"). Behind a
    /// mutex because the moment is shared (`Arc`) and a `Tensor` is not `Sync`.
    pub basis_rows: Option<Mutex<Tensor>>,
}

impl InputMoment {
    /// Rows `offset..offset + len` of [`InputMoment::basis_rows`] (a view), if it has them.
    pub fn rows_in_basis(&self, offset: i64, len: i64) -> Option<Tensor> {
        let rows = self.basis_rows.as_ref()?;
        let rows = rows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Some(rows.narrow(0, offset, len))
    }
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
    precision: Kind,
}

/// What an input moment is computed on (the samples `index` of `data` in minibatches of
/// `batch`) and how (the eigenvalue threshold of its factor, the products' precision).
#[derive(Clone, Copy, Debug)]
pub struct MomentRequest<'a> {
    pub data: &'a Dataset,
    pub index: &'a Tensor,
    pub batch: usize,
    pub threshold: f64,
    /// `Kind::Double`, or the training precision with f64 sums across minibatches.
    pub precision: Kind,
}

impl MomentKey {
    fn of(net: &Network, site: &Site, r: &MomentRequest) -> MomentKey {
        let layer = &net.stages[site.index].layer;
        MomentKey {
            kind: site.kind,
            producer: site.producer,
            consumer: site.consumer,
            pool: site.pool,
            fan_in: layer.weight().size()[1..].to_vec(),
            bias: layer.bias().is_some(),
            batch: r.batch,
            threshold: r.threshold,
            precision: r.precision,
        }
    }
}

/// The input moments a growth method has computed (in practice one: site 0).
#[derive(Debug, Default)]
pub struct InputMoments {
    cached: Option<(MomentKey, Arc<InputMoment>)>,
    pending: Option<Pending>,
}

/// A moment being computed on another thread.
#[derive(Debug)]
struct Pending {
    key: MomentKey,
    handle: JoinHandle<Result<InputMoment>>,
}

impl InputMoments {
    /// Starts computing the input moment of `site` on another thread (nothing unless its
    /// producer reads the network's input). [`InputMoments::get`] with the same arguments
    /// then waits for it instead of starting over.
    pub fn prefetch(&mut self, net: &Network, site: &Site, r: &MomentRequest) {
        if site.index != 0 {
            return;
        }
        let key = MomentKey::of(net, site, r);
        let started = self.pending.as_ref().map(|p| &p.key) == Some(&key);
        let cached = self.cached.as_ref().map(|c| &c.0) == Some(&key);
        if !started && !cached {
            let map = FeatureMap::of(&net.stages[site.index]);
            let (x, _) = r.data.select(r.index);
            let handle = spawn(*site, map, x, r);
            self.pending = Some(Pending { key, handle });
        }
    }

    /// The input moment of `site` (`None` unless its producer reads the network's input),
    /// computed as `r` says on first use.
    pub fn get(
        &mut self,
        net: &Network,
        site: &Site,
        r: &MomentRequest,
    ) -> Result<Option<Arc<InputMoment>>> {
        if site.index != 0 {
            return Ok(None);
        }
        let key = MomentKey::of(net, site, r);
        if let Some((k, m)) = &self.cached {
            if *k == key {
                return Ok(Some(m.clone()));
            }
        }
        self.prefetch(net, site, r);
        // prefetch left a pending computation with this key (the cache did not match).
        let Some(pending) = self.pending.take() else {
            return Err(Error::Growth("input moment: nothing computed".into()));
        };
        let moment = pending
            .handle
            .join()
            .map_err(|_| Error::Growth("input moment: its thread panicked".into()))??;
        let moment = Arc::new(moment);
        self.cached = Some((key, moment.clone()));
        Ok(Some(moment))
    }
}

/// Computes `S₂` of `site` from its producer's inputs `x` and its eigen-factor on a new
/// thread with the caller's number of intra-op threads.
fn spawn(
    site: Site,
    map: FeatureMap,
    x: Tensor,
    r: &MomentRequest,
) -> JoinHandle<Result<InputMoment>> {
    let threads = tch::get_num_threads();
    let (batch, threshold, precision) = (r.batch, r.threshold, r.precision);
    std::thread::spawn(move || {
        tch::set_num_threads(threads);
        let s2 = producer_moment(&site, map, &x, batch, precision)?;
        let factor = linalg::psd_factor(s2.as_ref(), threshold)
            .map(|factor| Arc::new(S2Factor { threshold, factor }));
        // The projection costs a product as large as a step's savings over `dim/(dim − r)`
        // steps: only where the cut keeps at most half of the directions.
        let in_basis = precision != Kind::Double && site.kind == SiteKind::Dense;
        let basis_rows = match &factor {
            Some(f) if in_basis && 2 * f.factor.rank() <= f.factor.dim() => Some(Mutex::new(
                project_rows(&site, map, &x, batch, precision, &f.factor),
            )),
            _ => None,
        };
        Ok(InputMoment {
            s2,
            factor,
            basis_rows,
        })
    })
}

/// A dense site's producer rows over `x` in the basis of `factor`, `B̃₋₂Q_r`, computed in
/// `precision` minibatch by minibatch.
fn project_rows(
    site: &Site,
    map: FeatureMap,
    x: &Tensor,
    batch: usize,
    precision: Kind,
    factor: &PsdFactor,
) -> Tensor {
    let q = linalg::from_mat(&factor.basis, precision, x.device());
    let parts: Vec<Tensor> = consecutive_batches(x, batch as i64)
        .map(|xb| {
            site.producer_rows(&map.apply(&xb, precision), (1, 1))
                .tap(0)
                .matmul(&q)
        })
        .collect();
    Tensor::cat(&parts, 0)
}

/// `S₂` of `site` over the producer inputs `x` (the statistics sample, in order): the same rows,
/// products in `precision` and f64 summation over minibatches of `batch` as
/// `statistics::collect`, without the network beyond the producer's input.
fn producer_moment(
    site: &Site,
    map: FeatureMap,
    x: &Tensor,
    batch: usize,
    precision: Kind,
) -> Result<Mat<f64>> {
    let n = x.size()[0];
    let mut sum: Option<Tensor> = None;
    for xb in consecutive_batches(x, batch as i64) {
        let hw = match xb.dim() {
            4 => (xb.size()[2], xb.size()[3]),
            _ => (1, 1),
        };
        let rows = site.producer_rows(&map.apply(&xb, precision), hw);
        let s2 = rows.moment().to_kind(Kind::Double);
        sum = Some(match sum {
            None => s2,
            Some(acc) => acc + s2,
        });
    }
    let sum = sum.ok_or_else(|| Error::Growth("empty statistics sample".into()))?;
    to_mat(&(sum.to_kind(Kind::Double) * (1.0 / n.max(1) as f64)))
}
