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
    fn add(&mut self, batch: Sums) {
        self.s += batch.s;
        self.m += batch.m;
        self.s2 += batch.s2;
        self.m2 += batch.m2;
        self.p += batch.p;
        self.e += batch.e;
    }
}

/// Statistics of several sites, plus a few raw samples for measured first orders.
pub struct Collected {
    /// One entry per requested site, in the order requested.
    pub stats: Vec<SiteStatistics>,
    /// Per site: augmented producer inputs `B̃₋₂` and gradients `G` of the first batch.
    pub samples: Vec<(Tensor, Tensor)>,
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

/// Collects the statistics of `sites` (producer stage indices) over the samples `index` of
/// `data`, in minibatches of `batch_size`. `keep_samples` raw samples per site are kept.
pub fn collect(
    net: &Network,
    loss: Loss,
    data: &Dataset,
    index: &Tensor,
    batch_size: usize,
    sites: &[usize],
    keep_samples: usize,
) -> Result<Collected> {
    let n = index.size()[0];
    // Probes are created in stage order, so site k's probe (on consumer k+1) comes after
    // those of the requested sites before it.
    let probe_of_site: Vec<usize> = sites
        .iter()
        .map(|&k| sites.iter().filter(|&&j| j < k).count())
        .collect();
    let mut sums: Vec<Option<Sums>> = sites.iter().map(|_| None).collect();
    let mut samples: Vec<Option<(Tensor, Tensor)>> = sites.iter().map(|_| None).collect();
    let mut loss_total = 0.0;
    let mut start = 0;
    while start < n {
        let len = (batch_size as i64).min(n - start);
        let (x, y) = data.select(&index.narrow(0, start, len));
        start += len;
        // Forward, recording every stage's input and probing the consumers' pre-activations.
        let mut inputs = Vec::with_capacity(net.stages.len());
        let mut probes: Vec<Tensor> = Vec::new();
        let mut h = x;
        for (i, stage) in net.stages.iter().enumerate() {
            let inp = match stage.layer {
                crate::nn::Layer::Linear(_) => h.flatten(1, -1),
                crate::nn::Layer::Conv2d(_) => h,
            };
            let mut z = stage.pre_activation(&inp, false);
            if i > 0 && sites.contains(&(i - 1)) {
                let probe = z.zeros_like().detach().set_requires_grad(true);
                // Out of place on purpose: an in-place add could modify a tensor that
                // autograd saved for the backward pass.
                #[allow(clippy::assign_op_pattern)]
                {
                    z = z + &probe;
                }
                probes.push(probe);
            }
            inputs.push(inp.detach());
            h = stage.post(&z);
        }
        let total = loss.per_sample(&h, &y).sum(Kind::Double);
        let lv = total.double_value(&[]);
        if !lv.is_finite() {
            return Err(Error::Growth(format!(
                "non-finite loss ({lv}) while collecting growth statistics"
            )));
        }
        loss_total += lv;
        let grads = Tensor::f_run_backward(&[&total], &probes, false, false)?;
        for (slot, &k) in sites.iter().enumerate() {
            let g = grads[probe_of_site[slot]].to_kind(Kind::Double);
            let prod_bias = net.stages[k].layer.bias().is_some();
            let cons_bias = net.stages[k + 1].layer.bias().is_some();
            let b2 = augment(&inputs[k].to_kind(Kind::Double), prod_bias);
            let b1 = augment(&inputs[k + 1].to_kind(Kind::Double), cons_bias);
            let batch = Sums {
                s: b1.tr().matmul(&b1),
                m: b1.tr().matmul(&g),
                s2: b2.tr().matmul(&b2),
                m2: b2.tr().matmul(&g),
                p: b2.tr().matmul(&b1),
                e: g.tr().matmul(&g),
            };
            match sums[slot].as_mut() {
                None => sums[slot] = Some(batch),
                Some(acc) => acc.add(batch),
            }
            if samples[slot].is_none() && keep_samples > 0 {
                let keep = (keep_samples as i64).min(len);
                samples[slot] = Some((
                    b2.narrow(0, 0, keep).to_kind(Kind::Float),
                    g.narrow(0, 0, keep).to_kind(Kind::Float),
                ));
            }
        }
    }
    let inv = 1.0 / n.max(1) as f64;
    let mut stats = Vec::with_capacity(sites.len());
    for (slot, &k) in sites.iter().enumerate() {
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
            consumer_bias: net.stages[k + 1].layer.bias().is_some(),
        });
    }
    Ok(Collected {
        stats,
        samples: samples
            .into_iter()
            .map(|s| s.unwrap_or_else(|| (Tensor::new(), Tensor::new())))
            .collect(),
        loss: loss_total * inv,
    })
}
