//! BatchNorm recalibration (docs/tiny.md §3.3, "Recalibrated statistics"): every BatchNorm's
//! running mean and variance set to the averages of the batch statistics that training mode
//! computes on a sample, with the weights as they are. The evaluation-mode network then computes
//! what the training-mode network computes on large batches: while training with a high
//! learning rate, the running statistics lag the weights by the last few steps, and growth
//! measured against those lagging statistics fits them instead of the network training sees.
//!
//! ```
//! use grownet::nn::{recalibrate_norms, Activation, Architecture, Network};
//! use rand::SeedableRng;
//! use tch::{Device, Kind, Tensor};
//! let arch = Architecture::cnn([3, 8, 8], &[4, 4], 10, Activation::Relu, true);
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let mut net = Network::new(&arch, &mut rng, Device::Cpu).unwrap();
//! let x = Tensor::randn([64, 3, 8, 8], (Kind::Float, Device::Cpu)) * 3.0 + 1.0;
//! recalibrate_norms(&mut net, &x, 16);
//! let bn = net.stages[0].norm.as_ref().unwrap();
//! // The first BatchNorm's input is the first conv's output on x: its running mean now is
//! // that output's mean per channel.
//! let z = net.stages[0].layer.forward(&x);
//! let mean = z.mean_dim(&[0i64, 2, 3][..], false, Kind::Float);
//! assert!(bn.running_mean.allclose(&mean, 1e-4, 1e-4, false));
//! ```
use tch::Tensor;

use super::batchnorm::BatchNorm;
use super::Network;

/// Sets every BatchNorm's running statistics (the stages' and the residual projections') to
/// the average over batches of `batch` rows of `x` of the training-mode batch statistics, the
/// weights unchanged: batch `b` (from 0) updates with momentum `1/(b+1)`, a running average.
/// Each process on its own sample (synchronisation over ranks is off during the passes).
pub fn recalibrate_norms(net: &mut Network, x: &Tensor, batch: usize) {
    let n = x.size()[0];
    if n < 2 {
        return; // no variance from one sample
    }
    let sync = net.batch_norm_group().cloned();
    net.sync_batch_norm(None);
    let saved: Vec<f64> = norms(net).map(|bn| bn.momentum).collect();
    let batch = (batch.max(2) as i64).min(n);
    let batches = n / batch; // whole batches only: a last short batch's variance is noisier
    tch::no_grad(|| {
        for b in 0..batches {
            let m = 1.0 / (b + 1) as f64;
            for bn in norms_mut(net) {
                bn.momentum = m;
            }
            let _ = net.forward(&x.narrow(0, b * batch, batch), true);
        }
    });
    for (bn, m) in norms_mut(net).zip(saved) {
        bn.momentum = m;
    }
    net.sync_batch_norm(sync);
}

/// Whether `net` has a BatchNorm (a stage's or a residual projection's).
pub fn has_batch_norm(net: &Network) -> bool {
    norms(net).next().is_some()
}

/// Every BatchNorm of `net`: each stage's, then its residual projection's.
fn norms(net: &Network) -> impl Iterator<Item = &BatchNorm> {
    net.stages.iter().flat_map(|s| {
        let skip = s.skip.as_ref().and_then(|p| p.projection.as_ref());
        s.norm.iter().chain(skip.map(|(_, bn)| bn))
    })
}

/// [`norms`], mutably.
fn norms_mut(net: &mut Network) -> impl Iterator<Item = &mut BatchNorm> {
    net.stages.iter_mut().flat_map(|s| {
        let skip = s.skip.as_mut().and_then(|p| p.projection.as_mut());
        s.norm.iter_mut().chain(skip.map(|(_, bn)| bn))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{Activation, Architecture};
    use rand::SeedableRng;
    use tch::{Device, Kind};

    fn cnn(seed: u64) -> Network {
        let arch = Architecture::cnn([2, 6, 6], &[3, 4], 2, Activation::Relu, true);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        Network::new(&arch, &mut rng, Device::Cpu).unwrap()
    }

    fn images(n: i64, seed: i64) -> Tensor {
        tch::manual_seed(seed);
        Tensor::randn([n, 2, 6, 6], (Kind::Float, Device::Cpu)) * 2.0 + 0.5
    }

    /// Brute force: the first BatchNorm's running statistics after two batches are the
    /// averages of the two batches' means and unbiased variances of its input; the momentum
    /// is the one it had.
    #[test]
    fn running_statistics_average_the_batches() {
        let mut net = cnn(1);
        let x = images(40, 2);
        recalibrate_norms(&mut net, &x, 20);
        let z = tch::no_grad(|| net.stages[0].layer.forward(&x));
        let dims = [0i64, 2, 3];
        let (a, b) = (z.narrow(0, 0, 20), z.narrow(0, 20, 20));
        let mean = (a.mean_dim(&dims[..], false, Kind::Float)
            + b.mean_dim(&dims[..], false, Kind::Float))
            / 2.0;
        let var = (a.var_dim(&dims[..], true, false) + b.var_dim(&dims[..], true, false)) / 2.0;
        let bn = net.stages[0].norm.as_ref().unwrap();
        assert!(bn.running_mean.allclose(&mean, 1e-5, 1e-5, false));
        assert!(bn.running_var.allclose(&var, 1e-5, 1e-5, false));
        assert_eq!(bn.momentum, 0.1);
    }

    /// Recalibrated on one batch, eval mode computes what training mode computes on that
    /// batch (up to the unbiased variance's factor n/(n−1), here 256/255).
    #[test]
    fn eval_mode_then_computes_training_mode() {
        let mut net = cnn(3);
        for bn in norms_mut(&mut net) {
            let _ = bn.running_var.fill_(9.0); // stale statistics
        }
        let x = images(256, 4);
        recalibrate_norms(&mut net, &x, 256);
        let (eval, train) = tch::no_grad(|| (net.forward(&x, false), net.forward(&x, true)));
        let rel = f64::try_from((&eval - &train).abs().max() / train.abs().max()).unwrap();
        assert!(rel < 1e-2, "relative difference {rel}");
        assert!(has_batch_norm(&net));
        let mlp = Architecture::mlp(3, &[4], 2, Activation::Relu);
        let mlp = Network::new(
            &mlp,
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(0),
            Device::Cpu,
        );
        assert!(!has_batch_norm(&mlp.unwrap()));
    }
}
