//! Growth statistics (tiny.md §2.2): one pass over a statistics sample with per-sample
//! gradients of the pre-activations, accumulated in f64 on the training device.
//!
//! The per-sample gradients `G` come from zero "probe" tensors added to the consumers'
//! pre-activations and differentiated with `run_backward` (the equivalent of
//! `torch.autograd.grad`): the parameters' `.grad` fields, and so the training graph, are
//! left untouched. The loss is summed over the batch, so each row of `G` is one sample's
//! gradient and the averages do not depend on how the sample is split into batches.
use faer::Mat;
use tch::{Kind, Tensor};

use super::site::{self, Site};
use super::tiny::SiteStatistics;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::nn::{Loss, Network};

/// Running sums of one site's statistics (f64 tensors on the device).
struct Sums {
    s: Tensor,
    m: Tensor,
    s2: Tensor,
    m2: Tensor,
    p: Tensor,
    e: Tensor,
}

impl Sums {
    /// One batch's sums from aligned rows (tiny.md §2.2; conv sites §3.1–3.2): `b2` holds
    /// one block of producer rows per tap. With several taps (full conv neuron) `S₂` is the
    /// *mean* over taps of the per-tap moments (`s2` when the caller has it by a cheaper
    /// route), `M₂` has columns (output, tap) and `P` one block of rows per tap.
    fn of_rows(b2: &[Tensor], b1: &Tensor, g: &Tensor, s2: Option<Tensor>) -> Sums {
        let s2 = s2.unwrap_or_else(|| {
            b2.iter()
                .map(|b| b.tr().matmul(b))
                .reduce(|a, b| a + b)
                .expect("at least one tap")
                / b2.len() as f64
        });
        let m2 = Tensor::stack(&b2.iter().map(|b| b.tr().matmul(g)).collect::<Vec<_>>(), 2)
            .flatten(1, 2); // [d2, (output, tap)]
        let p = Tensor::cat(&b2.iter().map(|b| b.tr().matmul(b1)).collect::<Vec<_>>(), 0);
        Sums {
            s: b1.tr().matmul(b1),
            m: b1.tr().matmul(g),
            s2,
            m2,
            p,
            e: g.tr().matmul(g),
        }
    }

    fn add(&mut self, batch: Sums) {
        self.s += batch.s;
        self.m += batch.m;
        self.s2 += batch.s2;
        self.m2 += batch.m2;
        self.p += batch.p;
        self.e += batch.e;
    }
}

/// A few raw rows of a site, to measure a proposal's first order (tiny.md §9).
#[derive(Debug)]
pub struct Samples {
    /// Producer rows `B̃₋₂` (one tap) and gradient rows `G`, in the training precision.
    pub b2: Tensor,
    pub g: Tensor,
    /// Number of images (samples) the rows come from.
    pub images: i64,
    /// Conv → linear through global pooling: `b2` holds every position's patch (rows
    /// image-major) and a unit's output is the mean over an image's positions of its
    /// activation; `g` has one row per image.
    pub pooled: bool,
}

/// Statistics of several sites, plus a few raw samples for measured first orders.
pub struct Collected {
    /// One entry per requested site, in the order requested.
    pub stats: Vec<SiteStatistics>,
    /// Per site: rows of the first batch's first samples (`None` for a full conv neuron).
    pub samples: Vec<Option<Samples>>,
    /// Mean loss over the statistics sample.
    pub loss: f64,
}

/// Appends a column of ones when `bias` (augmented vectors, tiny.md §1).
pub fn augment(x: &Tensor, bias: bool) -> Tensor {
    if bias {
        let ones = Tensor::ones([x.size()[0], 1], (x.kind(), x.device()));
        Tensor::cat(&[x, &ones], 1)
    } else {
        x.shallow_clone()
    }
}

/// Converts a 2-D f64 tensor to a faer matrix.
pub fn to_mat(t: &Tensor) -> Result<Mat<f64>> {
    let (r, c) = t.size2().map_err(Error::Torch)?;
    let v = Vec::<f64>::try_from(&t.to_device(tch::Device::Cpu).contiguous().flatten(0, -1))?;
    Ok(Mat::from_fn(r as usize, c as usize, |i, j| {
        v[i * c as usize + j]
    }))
}

/// Converts a faer matrix to a tensor of `kind` on `device`.
pub fn from_mat(m: &Mat<f64>, kind: Kind, device: tch::Device) -> Tensor {
    let (r, c) = (m.nrows(), m.ncols());
    let mut v = Vec::with_capacity(r * c);
    for i in 0..r {
        for j in 0..c {
            v.push(m[(i, j)]);
        }
    }
    Tensor::from_slice(&v)
        .view([r as i64, c as i64])
        .to_kind(kind)
        .to_device(device)
}

/// Collects the statistics of `sites` over the samples `index` of `data`, in minibatches of
/// `batch_size` (only one minibatch's unfolded tensors live at a time). Raw rows of the first
/// `keep_samples` samples are kept per site (fewer for wide conv sites).
pub fn collect(
    net: &Network,
    loss: Loss,
    data: &Dataset,
    index: &Tensor,
    batch_size: usize,
    sites: &[Site],
    keep_samples: usize,
) -> Result<Collected> {
    let n = index.size()[0];
    // Raw samples are kept in the training precision.
    let kind = net
        .stages
        .first()
        .map_or(Kind::Float, |s| s.layer.weight().kind());
    let consumers: Vec<usize> = sites.iter().map(|s| s.index + 1).collect();
    // Stages whose features (augmented input, unfolded for a conv) some site needs.
    let needed: Vec<usize> = {
        let mut v: Vec<usize> = sites.iter().flat_map(|s| [s.index, s.index + 1]).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let mut sums: Vec<Option<Sums>> = sites.iter().map(|_| None).collect();
    let mut samples: Vec<Option<Samples>> = sites.iter().map(|_| None).collect();
    let mut loss_total = 0.0;
    let mut start = 0;
    while start < n {
        let len = (batch_size as i64).min(n - start);
        let (x, y) = data.select(&index.narrow(0, start, len));
        start += len;
        // Forward, recording the needed stages' inputs and probing the consumers'
        // pre-activations (probes in stage order).
        let mut inputs: Vec<Option<Tensor>> = net.stages.iter().map(|_| None).collect();
        let mut probes: Vec<(usize, Tensor)> = Vec::new();
        let mut h = x;
        let mut block_input: Option<Tensor> = None;
        for (i, stage) in net.stages.iter().enumerate() {
            let inp = match stage.layer {
                crate::nn::Layer::Linear(_) => h.flatten(1, -1),
                crate::nn::Layer::Conv2d(_) => h,
            };
            let mut z = stage.layer.forward(&inp);
            if consumers.contains(&i) {
                let probe = z.zeros_like().detach().set_requires_grad(true);
                // Out of place on purpose: an in-place add could modify a tensor that
                // autograd saved for the backward pass.
                #[allow(clippy::assign_op_pattern)]
                {
                    z = z + &probe;
                }
                probes.push((i, probe));
            }
            if let Some(bn) = &stage.norm {
                z = bn.forward(&z, false);
            }
            z = stage.add_skip(z, block_input.as_ref(), false);
            if needed.contains(&i) {
                inputs[i] = Some(inp.detach());
            }
            h = stage.post(&z);
            block_input = Some(inp);
        }
        let total = loss.per_sample(&h, &y).sum(Kind::Double);
        let lv = total.double_value(&[]);
        if !lv.is_finite() {
            return Err(Error::Growth(format!(
                "non-finite loss ({lv}) while collecting growth statistics"
            )));
        }
        loss_total += lv;
        let probe_tensors: Vec<&Tensor> = probes.iter().map(|(_, p)| p).collect();
        let grads = Tensor::f_run_backward(&[&total], &probe_tensors, false, false)?;
        // Features once per stage and batch, shared by the sites on both sides of it.
        let feats: Vec<Option<Tensor>> = net
            .stages
            .iter()
            .enumerate()
            .map(|(i, st)| inputs[i].as_ref().map(|x| site::features(st, x)))
            .collect();
        for (slot, s) in sites.iter().enumerate() {
            let k = s.index;
            let g = &grads[probes.iter().position(|(i, _)| *i == k + 1).expect("probe")];
            let (b1, g) = site::consumer_rows(feats[k + 1].as_ref().expect("features"), g);
            let xin = inputs[k].as_ref().expect("input");
            let hw = match xin.dim() {
                4 => (xin.size()[2], xin.size()[3]),
                _ => (1, 1),
            };
            let site::ProducerRows { taps: b2, s2 } =
                s.producer_rows(feats[k].as_ref().expect("features"), hw);
            if samples[slot].is_none() && keep_samples > 0 && b2.len() == 1 {
                // Whole images, at most ~4M producer values. Through global pooling the
                // per-position patches are kept (the activation comes before the mean).
                let pooled = s.kind == site::SiteKind::ConvToDense;
                let rows = if pooled {
                    feats[k].as_ref().expect("features").flatten(0, 1)
                } else {
                    b2[0].shallow_clone()
                };
                let rows_per = rows.size()[0] / len;
                let budget = (4_000_000 / (rows_per * rows.size()[1]).max(1)).max(1);
                let keep = (keep_samples as i64).min(len).min(budget);
                let g_rows = if pooled { keep } else { keep * rows_per };
                samples[slot] = Some(Samples {
                    b2: rows.narrow(0, 0, keep * rows_per).to_kind(kind),
                    g: g.narrow(0, 0, g_rows).to_kind(kind),
                    images: keep,
                    pooled,
                });
            }
            let batch = Sums::of_rows(&b2, &b1, &g, s2);
            match sums[slot].as_mut() {
                None => sums[slot] = Some(batch),
                Some(acc) => acc.add(batch),
            }
        }
    }
    let inv = 1.0 / n.max(1) as f64;
    let mut stats = Vec::with_capacity(sites.len());
    for (slot, s) in sites.iter().enumerate() {
        let sm = sums[slot]
            .take()
            .ok_or_else(|| Error::Growth("empty statistics sample".into()))?;
        let e = to_mat(&(&sm.e * inv))?;
        let trace_e = (0..e.nrows()).map(|i| e[(i, i)]).sum();
        stats.push(SiteStatistics {
            s: to_mat(&(&sm.s * inv))?,
            m: to_mat(&(&sm.m * inv))?,
            s2: to_mat(&(&sm.s2 * inv))?,
            m2: to_mat(&(&sm.m2 * inv))?,
            p: to_mat(&(&sm.p * inv))?,
            e: Some(e),
            trace_e,
            n: n as usize,
            consumer_bias: net.stages[s.index + 1].layer.bias().is_some(),
            taps: s.taps(),
        });
    }
    Ok(Collected {
        stats,
        samples,
        loss: loss_total * inv,
    })
}
