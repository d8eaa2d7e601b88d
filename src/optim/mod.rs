//! Optimisers whose per-parameter state follows the parameters when they grow.
//!
//! State is keyed by parameter name, so a parameter that is replaced by a larger tensor keeps
//! its history: [`Optimizer::grow`] appends fresh entries for the new rows or columns and
//! leaves every old entry bit-identical.
//!
//! ```
//! use grownet::optim::{Optimizer, OptimizerConfig};
//! let w = tch::Tensor::ones([2, 2], (tch::Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
//! w.sum(tch::Kind::Float).backward();
//! let mut opt = Optimizer::new(OptimizerConfig::sgd(0.9));
//! let params = vec![("w".to_string(), w.shallow_clone())];
//! opt.step(&params, 0.1).unwrap();
//! assert!((w.double_value(&[0, 0]) - 0.9).abs() < 1e-6);
//! opt.grow("w", 0, 1).unwrap(); // the state now has a third (zero) row
//! ```
mod adamw;
mod fused;
mod schedule;
mod sgd;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tch::Tensor;

pub use fused::available as fused_available;
pub use schedule::Schedule;

use crate::error::{Error, Result};

/// Which update rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Sgd,
    #[serde(alias = "adam")]
    AdamW,
}

/// Hyper-parameters of the optimiser (the learning rate comes from the schedule).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerConfig {
    pub kind: OptimizerKind,
    /// SGD momentum (0 disables it).
    pub momentum: f64,
    pub nesterov: bool,
    /// L2 penalty for SGD, decoupled decay for AdamW.
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// One multi-tensor kernel call per step (ATen's fused AdamW / SGD, when the build has
    /// them: [`fused_available`]) instead of the op-by-op update; the same update up to
    /// rounding, several times faster.
    pub fused: bool,
}

impl OptimizerConfig {
    /// SGD with the given momentum, no weight decay.
    pub fn sgd(momentum: f64) -> Self {
        OptimizerConfig {
            kind: OptimizerKind::Sgd,
            momentum,
            nesterov: false,
            weight_decay: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            fused: true,
        }
    }

    /// AdamW with β = (0.9, 0.999), ε = 1e-8 and the given decoupled weight decay.
    pub fn adamw(weight_decay: f64) -> Self {
        OptimizerConfig {
            kind: OptimizerKind::AdamW,
            weight_decay,
            ..Self::sgd(0.0)
        }
    }
}

/// Adam's state after growth: where the second moment of added entries starts, or a reset of
/// the whole optimiser (docs/tiny.md §2.17).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NewSecondMoment {
    /// The mean of the parameter's existing second moments: new entries step like their
    /// neighbours (no ≈3·lr first steps).
    #[default]
    Mean,
    /// Zero, as GradMax's reference code pads it: with the global bias correction new entries
    /// take larger steps (up to a few × lr) for their first few hundred steps, which lets
    /// zero-fan-out neurons (SENN) catch up faster.
    #[serde(alias = "0")]
    Zero,
    /// The whole state starts again after a growth check that changed the network: every
    /// parameter's moments and Adam's step count, as GroMo rebuilds its optimiser (the next
    /// steps then have Adam's bias correction of a fresh start; docs/tiny.md §2.17).
    Reset,
    /// The mean fill while growth goes on; the whole state starts again once, at the check
    /// after which growth has ended for good (the automatic mode's last check, or no site has
    /// room left), or when the epoch `growth.stop_epoch` starts.
    ResetAtEnd,
}

/// An optimiser with named, growable state.
#[derive(Debug)]
pub struct Optimizer {
    pub config: OptimizerConfig,
    /// Number of steps taken (AdamW's bias correction uses it).
    pub steps: u64,
    /// Adam's second moment for entries added by growth.
    pub new_second_moment: NewSecondMoment,
    state: BTreeMap<String, Vec<Tensor>>,
}

impl Optimizer {
    pub fn new(config: OptimizerConfig) -> Self {
        Optimizer {
            config,
            steps: 0,
            new_second_moment: NewSecondMoment::Mean,
            state: BTreeMap::new(),
        }
    }

    /// Number of state tensors per parameter.
    fn slots(&self) -> usize {
        match self.config.kind {
            OptimizerKind::Sgd => usize::from(self.config.momentum != 0.0),
            OptimizerKind::AdamW => 2,
        }
    }

    /// One update of every parameter that has a gradient, with learning rate `lr`: one fused
    /// kernel call for the parameters it can take (`config.fused`), the op-by-op update for
    /// the rest. Errors only if libtorch's fused kernel refuses its arguments.
    pub fn step(&mut self, params: &[(String, Tensor)], lr: f64) -> Result<()> {
        self.steps += 1;
        let slots = self.slots();
        let fused = self.config.fused && fused::available();
        let (config, steps) = (&self.config, self.steps);
        tch::no_grad(|| {
            let mut batch = fused::Batch::default();
            for (name, p) in params {
                let grad = p.grad();
                if !grad.defined() {
                    continue;
                }
                let state = self
                    .state
                    .entry(name.clone())
                    .or_insert_with(|| (0..slots).map(|_| p.zeros_like()).collect());
                if fused && batch.push(p, &grad, state) {
                    continue;
                }
                let mut p = p.shallow_clone();
                match config.kind {
                    OptimizerKind::Sgd => sgd::update(&mut p, &grad, state, config, lr),
                    OptimizerKind::AdamW => adamw::update(&mut p, &grad, state, config, lr, steps),
                }
            }
            batch.step(config, lr, steps)
        })
    }

    /// Forgets every parameter's state and the step count: the next step is a fresh
    /// optimiser's first ([`NewSecondMoment::Reset`]).
    pub fn reset(&mut self) {
        self.state.clear();
        self.steps = 0;
    }

    /// Clears the gradients of `params`.
    pub fn zero_grad(params: &[(String, Tensor)]) {
        for (_, p) in params {
            let mut p = p.shallow_clone();
            p.zero_grad();
        }
    }

    /// Resizes the state of parameter `name` after `k` entries were appended along `dim`.
    ///
    /// Momentum and Adam's first moment start at zero for the new entries. Adam's second moment
    /// starts at the mean of the parameter's existing second moments (zero if it has none;
    /// [`NewSecondMoment::Mean`], the default): with a zero second moment and a global bias
    /// correction, a new entry's first steps would be up to a few × lr, larger than its
    /// neighbours'. [`NewSecondMoment::Zero`] chooses exactly that.
    pub fn grow(&mut self, name: &str, dim: i64, k: i64) -> Result<()> {
        let kind = self.config.kind;
        let mean_fill = self.new_second_moment != NewSecondMoment::Zero;
        let Some(state) = self.state.get_mut(name) else {
            return Ok(()); // no step taken yet: state is created at the next step
        };
        for (slot, t) in state.iter_mut().enumerate() {
            if dim < 0 || dim >= t.dim() as i64 {
                return Err(Error::Growth(format!(
                    "optimizer state of {name} has {} dims, cannot grow dim {dim}",
                    t.dim()
                )));
            }
            let mut shape = t.size();
            shape[dim as usize] = k;
            let fill = if kind == OptimizerKind::AdamW && slot == 1 && t.numel() > 0 && mean_fill {
                t.mean(t.kind()).double_value(&[])
            } else {
                0.0
            };
            let extra = Tensor::full(shape.as_slice(), fill, (t.kind(), t.device()));
            *t = Tensor::cat(&[&*t, &extra], dim);
        }
        Ok(())
    }

    /// Renames parameters' state (e.g. when a layer is inserted and later layers shift).
    pub fn rename(&mut self, f: impl Fn(&str) -> String) {
        let old = std::mem::take(&mut self.state);
        self.state = old.into_iter().map(|(k, v)| (f(&k), v)).collect();
    }

    /// Creates the state of a new parameter shaped like `like` (a whole new layer): momentum
    /// and Adam's first moment at zero, Adam's second moment at the mean of every existing
    /// second moment (the same reasoning as in [`Optimizer::grow`]).
    pub fn init_state(&mut self, name: &str, like: &Tensor) {
        if self.state.is_empty() {
            return; // no step taken yet: state is created at the next step
        }
        let v_fill = if self.config.kind == OptimizerKind::AdamW
            && self.new_second_moment != NewSecondMoment::Zero
        {
            let (sum, count) =
                self.state
                    .values()
                    .filter_map(|s| s.get(1))
                    .fold((0.0, 0i64), |(s, c), t| {
                        (
                            s + t.sum(tch::Kind::Double).double_value(&[]),
                            c + t.numel() as i64,
                        )
                    });
            if count > 0 {
                sum / count as f64
            } else {
                0.0
            }
        } else {
            0.0
        };
        let slots = (0..self.slots())
            .map(|slot| {
                let fill = if slot == 1 { v_fill } else { 0.0 };
                Tensor::full(like.size().as_slice(), fill, (like.kind(), like.device()))
            })
            .collect();
        self.state.insert(name.to_string(), slots);
    }

    /// Replaces one state tensor (`{param}/{slot}`, as named by [`Optimizer::state_tensors`]);
    /// used to undo a growth step.
    pub fn set_state_tensor(&mut self, key: &str, t: Tensor) {
        if let Some((name, slot)) = key
            .rsplit_once('/')
            .and_then(|(n, s)| s.parse::<usize>().ok().map(|s| (n, s)))
        {
            if let Some(slots) = self.state.get_mut(name) {
                if slot < slots.len() {
                    slots[slot] = t;
                }
            }
        }
    }

    /// The state as named tensors (`{param}/{slot}`), for checkpoints.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        self.state
            .iter()
            .flat_map(|(name, slots)| {
                slots
                    .iter()
                    .enumerate()
                    .map(move |(i, t)| (format!("{name}/{i}"), t.shallow_clone()))
            })
            .collect()
    }

    /// Restores state saved by [`Optimizer::state_tensors`].
    pub fn load_state(&mut self, tensors: Vec<(String, Tensor)>, steps: u64) -> Result<()> {
        self.state.clear();
        self.steps = steps;
        let mut grouped: BTreeMap<String, Vec<(usize, Tensor)>> = BTreeMap::new();
        for (key, t) in tensors {
            let (name, slot) = key
                .rsplit_once('/')
                .and_then(|(n, s)| s.parse::<usize>().ok().map(|s| (n.to_string(), s)))
                .ok_or_else(|| Error::Config(format!("bad optimizer state key '{key}'")))?;
            grouped.entry(name).or_default().push((slot, t));
        }
        for (name, mut slots) in grouped {
            slots.sort_by_key(|(i, _)| *i);
            if slots.len() != self.slots() {
                return Err(Error::Config(format!(
                    "optimizer state of {name} has {} slots, expected {}",
                    slots.len(),
                    self.slots()
                )));
            }
            self.state
                .insert(name, slots.into_iter().map(|(_, t)| t).collect());
        }
        Ok(())
    }

    /// Moves the state to `device`.
    pub fn to_device(&mut self, device: tch::Device) {
        for slots in self.state.values_mut() {
            for t in slots.iter_mut() {
                *t = t.to_device(device);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn param(values: &[f32]) -> Tensor {
        Tensor::from_slice(values).set_requires_grad(true)
    }

    #[test]
    fn sgd_momentum_matches_hand_computation() {
        let p = param(&[1.0]);
        let params = vec![("p".to_string(), p.shallow_clone())];
        let mut opt = Optimizer::new(OptimizerConfig::sgd(0.9));
        // Loss p² → grad 2p.
        let mut expected = 1.0f64;
        let mut buf = 0.0f64;
        for _ in 0..3 {
            Optimizer::zero_grad(&params);
            p.square().sum(Kind::Float).backward();
            buf = 0.9 * buf + 2.0 * expected;
            expected -= 0.1 * buf;
            opt.step(&params, 0.1).unwrap();
        }
        assert!((p.double_value(&[0]) - expected).abs() < 1e-6);
    }

    /// `steps` steps of `config` on the loss Σ (pᵢ⁴/4 + pᵢ) (several parameters, one of them
    /// f64 and one non-contiguous) with the fused kernel and with the op-by-op update.
    fn fused_and_reference(config: OptimizerConfig, steps: usize) -> (Vec<f64>, Vec<f64>) {
        let run = |fused: bool| {
            tch::manual_seed(7);
            let params: Vec<(String, Tensor)> = [
                Tensor::randn([5, 3], (Kind::Float, Device::Cpu)),
                Tensor::randn([4, 6], (Kind::Float, Device::Cpu)).transpose(0, 1),
                Tensor::randn([7], (Kind::Double, Device::Cpu)),
            ]
            .into_iter()
            .enumerate()
            .map(|(i, t)| (format!("p{i}"), t.set_requires_grad(true)))
            .collect();
            let mut opt = Optimizer::new(OptimizerConfig {
                fused,
                ..config.clone()
            });
            for _ in 0..steps {
                Optimizer::zero_grad(&params);
                for (_, p) in &params {
                    (p.pow_tensor_scalar(4) / 4.0 + p)
                        .sum(Kind::Double)
                        .backward();
                }
                opt.step(&params, 0.01).unwrap();
            }
            params
                .iter()
                .flat_map(|(_, p)| {
                    Vec::<f64>::try_from(&p.detach().flatten(0, -1).to_kind(Kind::Double)).unwrap()
                })
                .collect::<Vec<f64>>()
        };
        (run(true), run(false))
    }

    #[test]
    fn fused_steps_match_the_op_by_op_update() {
        assert!(
            fused_available(),
            "built without the fused kernels (LIBTORCH unset)"
        );
        let sgd = OptimizerConfig {
            weight_decay: 0.01,
            nesterov: true,
            ..OptimizerConfig::sgd(0.9)
        };
        for config in [OptimizerConfig::adamw(0.01), sgd, OptimizerConfig::sgd(0.0)] {
            let (fused, reference) = fused_and_reference(config.clone(), 20);
            let start = fused_and_reference(config.clone(), 0).0;
            let largest_gap = |a: &[f64], b: &[f64]| {
                a.iter()
                    .zip(b)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0.0, f64::max)
            };
            let moved = largest_gap(&start, &reference);
            let gap = largest_gap(&fused, &reference);
            assert!(
                moved > 0.05,
                "{:?}: the parameters barely moved ({moved})",
                config.kind
            );
            assert!(
                gap < 1e-5,
                "{:?}: fused and op-by-op differ by {gap}",
                config.kind
            );
        }
    }

    #[test]
    fn adamw_first_step_is_lr_sized() {
        let p = param(&[1.0, -2.0]);
        let params = vec![("p".to_string(), p.shallow_clone())];
        let mut opt = Optimizer::new(OptimizerConfig::adamw(0.0));
        p.square().sum(Kind::Float).backward();
        opt.step(&params, 0.01).unwrap();
        // With bias correction the first Adam step is lr·sign(g).
        let v = Vec::<f32>::try_from(&p.detach()).unwrap();
        assert!(
            (v[0] - 0.99).abs() < 1e-5 && (v[1] + 1.99).abs() < 1e-5,
            "{v:?}"
        );
    }

    #[test]
    fn zero_fill_leaves_new_second_moments_at_zero() {
        let p = Tensor::ones([2, 2], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let params = vec![("w".to_string(), p.shallow_clone())];
        let mut opt = Optimizer::new(OptimizerConfig::adamw(0.0));
        p.square().sum(Kind::Float).backward();
        opt.step(&params, 0.1).unwrap();
        let mut zero = Optimizer::new(OptimizerConfig::adamw(0.0));
        zero.load_state(opt.state_tensors(), 1).unwrap();
        zero.new_second_moment = NewSecondMoment::Zero;
        opt.grow("w", 0, 1).unwrap();
        zero.grow("w", 0, 1).unwrap();
        assert!(opt.state["w"][1].double_value(&[2, 0]) > 0.0);
        assert_eq!(zero.state["w"][1].double_value(&[2, 0]), 0.0);
        assert!(
            "zero".parse::<NewSecondMoment>().is_ok() && "x".parse::<NewSecondMoment>().is_err()
        );
    }

    #[test]
    fn reset_makes_the_next_step_a_fresh_optimisers_first() {
        let p = param(&[1.0, -2.0]);
        let params = vec![("p".to_string(), p.shallow_clone())];
        let mut opt = Optimizer::new(OptimizerConfig::adamw(0.0));
        for _ in 0..3 {
            Optimizer::zero_grad(&params);
            p.square().sum(Kind::Float).backward();
            opt.step(&params, 0.01).unwrap();
        }
        opt.reset();
        assert_eq!(opt.steps, 0);
        let before = Vec::<f32>::try_from(&p.detach()).unwrap();
        Optimizer::zero_grad(&params);
        p.square().sum(Kind::Float).backward();
        opt.step(&params, 0.01).unwrap();
        // A fresh Adam's first step is lr·sign(g), whatever the earlier moments were.
        let after = Vec::<f32>::try_from(&p.detach()).unwrap();
        assert!(
            (before[0] - after[0] - 0.01).abs() < 1e-5,
            "{before:?} {after:?}"
        );
        assert!(
            (after[1] - before[1] - 0.01).abs() < 1e-5,
            "{before:?} {after:?}"
        );
        assert_eq!(
            "reset".parse::<NewSecondMoment>(),
            Ok(NewSecondMoment::Reset)
        );
    }

    #[test]
    fn grow_keeps_old_state_bit_identical() {
        for config in [OptimizerConfig::sgd(0.9), OptimizerConfig::adamw(0.01)] {
            let p = Tensor::randn([3, 2], (Kind::Float, Device::Cpu)).set_requires_grad(true);
            let params = vec![("w".to_string(), p.shallow_clone())];
            let mut opt = Optimizer::new(config);
            p.square().sum(Kind::Float).backward();
            opt.step(&params, 0.1).unwrap();
            let before: Vec<Tensor> = opt.state["w"].iter().map(|t| t.copy()).collect();
            opt.grow("w", 1, 2).unwrap();
            for (old, new) in before.iter().zip(&opt.state["w"]) {
                assert_eq!(new.size(), vec![3, 4]);
                assert!(new.narrow(1, 0, 2).equal(old));
            }
            assert!(opt.state["w"][0]
                .narrow(1, 2, 2)
                .equal(&Tensor::zeros([3, 2], (Kind::Float, Device::Cpu))));
            assert!(opt.grow("w", 5, 1).is_err());
        }
    }

    #[test]
    fn state_round_trips() {
        let p = param(&[1.0, 2.0]);
        let params = vec![("p".to_string(), p.shallow_clone())];
        let mut opt = Optimizer::new(OptimizerConfig::adamw(0.0));
        p.square().sum(Kind::Float).backward();
        opt.step(&params, 0.1).unwrap();
        let mut other = Optimizer::new(OptimizerConfig::adamw(0.0));
        other.load_state(opt.state_tensors(), opt.steps).unwrap();
        assert_eq!(other.steps, 1);
        assert!(other.state["p"][1].equal(&opt.state["p"][1]));
        assert!(other
            .load_state(vec![("p/0".into(), p.detach())], 1)
            .is_err());
    }
}
