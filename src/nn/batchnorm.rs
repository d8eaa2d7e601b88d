//! Batch normalisation over channels (`[batch, channels, …]`), growable: new channels start as
//! the identity map (γ = 1, β = 0, running mean 0, running variance 1; docs/tiny.md §8).
//!
//! In a data-parallel run the training-mode statistics are those of the *global* batch
//! ([`BatchNorm::forward_in`] with a group of several ranks): each rank sums `x` and `x²` per
//! channel over its share, the sums go through a differentiable all-reduce, and every rank
//! normalises with the global mean and variance and updates its running statistics as one
//! process with the whole batch would (docs/distributed.md, "BatchNorm").
//!
//! ```
//! use grownet::nn::BatchNorm;
//! let mut bn = BatchNorm::new(4, tch::Device::Cpu);
//! let x = tch::Tensor::randn([8, 4, 3, 3], (tch::Kind::Float, tch::Device::Cpu));
//! assert_eq!(bn.forward(&x, true).size(), x.size());
//! bn.grow(2);
//! assert_eq!(bn.num_features(), 6);
//! ```
use tch::{Device, Kind, Tensor};

use crate::distributed::SharedGroup;
use crate::error::Result;

/// Batch normalisation with learnable affine parameters and running statistics.
#[derive(Debug)]
pub struct BatchNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub running_mean: Tensor,
    pub running_var: Tensor,
    pub momentum: f64,
    pub eps: f64,
}

impl BatchNorm {
    pub fn new(channels: i64, device: Device) -> Self {
        let opts = (Kind::Float, device);
        BatchNorm {
            weight: Tensor::ones([channels], opts).set_requires_grad(true),
            bias: Tensor::zeros([channels], opts).set_requires_grad(true),
            running_mean: Tensor::zeros([channels], opts),
            running_var: Tensor::ones([channels], opts),
            momentum: 0.1,
            eps: 1e-5,
        }
    }

    /// Normalises with batch statistics (updating the running ones) when `train`, else with
    /// the running statistics.
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        if self.num_features() == 0 {
            return x.shallow_clone(); // nothing to normalise (libtorch refuses 0 channels)
        }
        x.batch_norm(
            Some(&self.weight),
            Some(&self.bias),
            Some(&self.running_mean),
            Some(&self.running_var),
            train,
            self.momentum,
            self.eps,
            false,
        )
    }

    /// [`BatchNorm::forward`], except that in training with a `group` of several ranks the
    /// batch statistics are those of every rank's batch together ([`BatchNorm::forward_synced`]).
    /// A collective that fails is recorded in the group (see [`SharedGroup::check`]) and the
    /// pass goes on with this rank's statistics; so do the passes after it, until the check.
    pub fn forward_in(&self, x: &Tensor, train: bool, group: Option<&SharedGroup>) -> Tensor {
        match group {
            Some(g) if train && g.size() > 1 && self.num_features() > 0 && !g.failed() => {
                match self.forward_synced(x, g) {
                    Ok(y) => y,
                    Err(e) => {
                        g.record(e);
                        self.forward(x, train)
                    }
                }
            }
            _ => self.forward(x, train),
        }
    }

    /// Training-mode normalisation with the statistics of the global batch: this rank's
    /// per-channel sums ([`BatchNorm::local_sums`]) summed over the ranks of `group` by a
    /// differentiable all-reduce, then [`BatchNorm::normalise_with_sums`].
    pub fn forward_synced(&self, x: &Tensor, group: &SharedGroup) -> Result<Tensor> {
        let global = group.all_reduce_sum_differentiable(&self.local_sums(x))?;
        Ok(self.normalise_with_sums(x, &global))
    }

    /// The per-channel sums of `x` over every dimension but the channels' (1), in f64:
    /// `[Σx (C values), Σx² (C values), count]`, `count` the number of values per channel.
    /// Differentiable in `x`; a batch of no samples gives zeros.
    pub fn local_sums(&self, x: &Tensor) -> Tensor {
        let dims: Vec<i64> = (0..x.dim() as i64).filter(|&d| d != 1).collect();
        let channels = x.size()[1].max(1);
        let count = (x.numel() as i64 / channels) as f64;
        let sum = x.sum_dim_intlist(dims.as_slice(), false, Kind::Double);
        let squares = x
            .square()
            .sum_dim_intlist(dims.as_slice(), false, Kind::Double);
        let count = Tensor::from_slice(&[count]).to_device(x.device());
        Tensor::cat(&[sum, squares, count], 0)
    }

    /// Normalises `x` with the batch statistics that the sums `[Σx, Σx², n]` (of
    /// [`BatchNorm::local_sums`], possibly summed over ranks) give: mean Σx/n, biased variance
    /// Σx²/n − mean² (formed in f64), then γ and β. Updates the running statistics as libtorch
    /// does for a batch of `n` values per channel: `running_mean ← (1−m)·running_mean + m·mean`,
    /// `running_var ← (1−m)·running_var + m·var·n/(n−1)` (the unbiased variance), m the momentum.
    /// The output is differentiable in `x`, γ, β and the sums.
    pub fn normalise_with_sums(&self, x: &Tensor, sums: &Tensor) -> Tensor {
        let c = self.num_features();
        let n = sums.narrow(0, 2 * c, 1);
        let mean = sums.narrow(0, 0, c) / &n;
        let var = (sums.narrow(0, c, c) / &n - mean.square()).clamp_min(0.0);
        let invstd = (&var + self.eps).rsqrt();
        tch::no_grad(|| {
            let m = self.momentum;
            let count = n.double_value(&[0]);
            let update = |running: &Tensor, batch: &Tensor| {
                let new = running.to_kind(Kind::Double) * (1.0 - m) + batch * m;
                let mut running = running.shallow_clone();
                running.copy_(&new.to_kind(running.kind()));
            };
            update(&self.running_mean, &mean);
            update(&self.running_var, &(&var * (count / (count - 1.0))));
        });
        let mut shape = vec![1i64; x.dim()];
        shape[1] = c;
        let kind = x.kind();
        let scale = invstd.to_kind(kind) * &self.weight;
        (x - mean.to_kind(kind).view(shape.as_slice())) * scale.view(shape.as_slice())
            + self.bias.view(shape.as_slice())
    }

    pub fn num_features(&self) -> i64 {
        self.weight.size()[0]
    }

    /// Replaces one tensor by name (`weight`, `bias`: trainable; `running_mean`,
    /// `running_var`: buffers). Returns false for an unknown name.
    pub fn set_tensor(&mut self, name: &str, t: Tensor) -> bool {
        match name {
            "weight" => self.weight = t.set_requires_grad(true),
            "bias" => self.bias = t.set_requires_grad(true),
            "running_mean" => self.running_mean = t,
            "running_var" => self.running_var = t,
            _ => return false,
        }
        true
    }

    /// Appends `k` identity channels.
    pub fn grow(&mut self, k: i64) {
        let opts = (self.weight.kind(), self.weight.device());
        self.weight = super::append(&self.weight, &Tensor::ones([k], opts), 0);
        self.bias = super::append(&self.bias, &Tensor::zeros([k], opts), 0);
        self.running_mean = Tensor::cat(&[&self.running_mean, &Tensor::zeros([k], opts)], 0);
        self.running_var = Tensor::cat(&[&self.running_var, &Tensor::ones([k], opts)], 0);
    }

    pub fn named_parameters(&self) -> Vec<(&'static str, Tensor)> {
        vec![
            ("weight", self.weight.shallow_clone()),
            ("bias", self.bias.shallow_clone()),
        ]
    }

    /// Running statistics (saved in checkpoints, not trained).
    pub fn named_buffers(&self) -> Vec<(&'static str, Tensor)> {
        vec![
            ("running_mean", self.running_mean.shallow_clone()),
            ("running_var", self.running_var.shallow_clone()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::testing::max_relative;

    /// A BatchNorm with random parameters and running statistics drawn from its own generator
    /// (not libtorch's global one, which tests running in parallel share): the same `seed`
    /// gives the same BatchNorm.
    fn bn_like(channels: i64, seed: u64) -> BatchNorm {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut draw = |lo: f32, hi: f32| {
            let v: Vec<f32> = (0..channels).map(|_| rng.random_range(lo..hi)).collect();
            Tensor::from_slice(&v)
        };
        let mut bn = BatchNorm::new(channels, Device::Cpu);
        bn.weight = draw(0.5, 1.5).set_requires_grad(true);
        bn.bias = draw(-1.0, 1.0).set_requires_grad(true);
        bn.running_mean = draw(-1.0, 1.0);
        bn.running_var = draw(0.5, 1.5);
        bn
    }

    /// Output, input gradient and γ, β gradients of `bn` on `x` for the loss Σ y·r.
    fn pass(bn: &BatchNorm, x: &Tensor, r: &Tensor, f: impl Fn(&Tensor) -> Tensor) -> [Tensor; 4] {
        for p in [&bn.weight, &bn.bias] {
            p.shallow_clone().zero_grad();
        }
        let x = x.detach().set_requires_grad(true);
        let y = f(&x);
        (&y * r).sum(Kind::Float).backward();
        [y.detach(), x.grad(), bn.weight.grad(), bn.bias.grad()]
    }

    #[test]
    fn the_batchs_own_sums_give_libtorchs_batch_norm() {
        for shape in [vec![16i64, 3, 5, 5], vec![32, 4]] {
            let c = shape[1];
            let (a, b) = (bn_like(c, 1), bn_like(c, 1));
            let x = Tensor::randn(shape.as_slice(), (Kind::Float, Device::Cpu)) * 3.0 + 2.0;
            let r = Tensor::randn(shape.as_slice(), (Kind::Float, Device::Cpu));
            let native = pass(&a, &x, &r, |x| a.forward(x, true));
            let mine = pass(&b, &x, &r, |x| b.normalise_with_sums(x, &b.local_sums(x)));
            for (what, (p, q)) in ["output", "dx", "dγ", "dβ"]
                .iter()
                .zip(native.iter().zip(&mine))
            {
                let d = max_relative(p, q);
                assert!(d < 1e-5, "{shape:?} {what}: {d}");
            }
            assert!(max_relative(&a.running_mean, &b.running_mean) < 1e-6);
            assert!(max_relative(&a.running_var, &b.running_var) < 1e-6);
            // The running statistics moved (momentum 0.1 towards the batch's).
            assert!(!a.running_mean.equal(&bn_like(c, 1).running_mean));
        }
    }

    /// Two "ranks" holding uneven shares of a batch, each normalising with the summed sums of
    /// both, compute what one BatchNorm computes on the whole batch (outputs, gradients with
    /// respect to the input, γ and β summed over the ranks, running statistics).
    #[test]
    fn shares_with_summed_sums_are_the_whole_batch() {
        let (c, shape) = (3, [11i64, 3, 4, 4]);
        let whole = bn_like(c, 2);
        let ranks = [bn_like(c, 2), bn_like(c, 2)];
        let x = Tensor::randn(shape, (Kind::Float, Device::Cpu)) - 1.0;
        let r = Tensor::randn(shape, (Kind::Float, Device::Cpu));
        let native = pass(&whole, &x, &r, |x| whole.forward(x, true));
        for p in ranks.iter().flat_map(|b| [&b.weight, &b.bias]) {
            p.shallow_clone().zero_grad();
        }
        let xs = x.detach().set_requires_grad(true);
        let parts = [xs.narrow(0, 0, 7), xs.narrow(0, 7, 4)];
        let global = ranks[0].local_sums(&parts[0]) + ranks[1].local_sums(&parts[1]);
        let y = Tensor::cat(
            &[
                ranks[0].normalise_with_sums(&parts[0], &global),
                ranks[1].normalise_with_sums(&parts[1], &global),
            ],
            0,
        );
        (&y * &r).sum(Kind::Float).backward();
        assert!(max_relative(&native[0], &y) < 1e-5);
        assert!(max_relative(&native[1], &xs.grad()) < 1e-5);
        let dw = ranks[0].weight.grad() + ranks[1].weight.grad();
        let db = ranks[0].bias.grad() + ranks[1].bias.grad();
        assert!(max_relative(&native[2], &dw) < 1e-5);
        assert!(max_relative(&native[3], &db) < 1e-5);
        for b in &ranks {
            assert!(max_relative(&whole.running_mean, &b.running_mean) < 1e-6);
            assert!(max_relative(&whole.running_var, &b.running_var) < 1e-6);
        }
    }

    #[test]
    fn an_empty_share_sums_to_zero() {
        let bn = BatchNorm::new(2, Device::Cpu);
        let x = Tensor::zeros([0, 2, 3, 3], (Kind::Float, Device::Cpu));
        let s = Vec::<f64>::try_from(&bn.local_sums(&x)).unwrap();
        assert_eq!(s, vec![0.0; 5]);
        let x = Tensor::ones([2, 2, 3, 3], (Kind::Float, Device::Cpu));
        let s = Vec::<f64>::try_from(&bn.local_sums(&x)).unwrap();
        assert_eq!(s, vec![18.0, 18.0, 18.0, 18.0, 18.0]);
    }
}
