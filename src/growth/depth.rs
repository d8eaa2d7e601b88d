//! Depth growth of residual networks (docs/tiny.md §3.4, GroMo's `append_block(…,
//! hidden_channels=0)`): a residual block of hidden width 0 is exactly the identity, so it can
//! be inserted at any time without changing the network's function; its hidden width is then
//! an ordinary growth site that TINY grows from nothing (no projection, d = 0).
//!
//! ```
//! use grownet::growth::depth::insert_block;
//! use grownet::nn::{Architecture, Network};
//! use grownet::optim::{Optimizer, OptimizerConfig};
//! use rand::SeedableRng;
//! let arch = Architecture::resnet18([3, 8, 8], 10, 1.0 / 64.0);
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let mut net = Network::new(&arch, &mut rng, tch::Device::Cpu).unwrap();
//! let mut opt = Optimizer::new(OptimizerConfig::sgd(0.9));
//! let x = tch::Tensor::randn([2, 3, 8, 8], (tch::Kind::Float, tch::Device::Cpu));
//! let before = net.forward(&x, false);
//! let site = insert_block(&mut net, &mut opt, 2).unwrap(); // after the first block
//! assert_eq!(net.hidden_widths()[site], 0);
//! assert!(net.forward(&x, false).equal(&before));
//! ```
use crate::error::{Error, Result};
use crate::nn::{
    Activation, Architecture, BatchNorm, Conv2d, Layer, Network, Pool, Skip, SkipPath, Stage,
};
use crate::optim::Optimizer;
use crate::surgery::insert_stages;

/// Inserts an empty residual block (conv C→0 → BN → ReLU, then conv 0→C → + identity →
/// ReLU) right after stage `after`, whose output it takes (C channels, after a ReLU, so the
/// block's final ReLU is the identity on it). A pooling of stage `after` moves to the new
/// block's end. Later stages (and their optimiser state) shift by two. Returns the new
/// block's growth site (the index of its first stage).
pub fn insert_block(net: &mut Network, opt: &mut Optimizer, after: usize) -> Result<usize> {
    let stage = net
        .stages
        .get(after)
        .ok_or_else(|| Error::Growth(format!("no stage {after} to insert a block after")))?;
    let Layer::Conv2d(conv) = &stage.layer else {
        return Err(Error::Growth(format!(
            "stage {after} is not a convolution: residual blocks go between conv stages"
        )));
    };
    if stage.activation != Activation::Relu || stage.rational.is_some() {
        return Err(Error::Growth(format!(
            "stage {after} does not end with a ReLU: an empty block would not be the identity"
        )));
    }
    if stage.pool == Pool::Max2 {
        return Err(Error::Growth(format!(
            "stage {after} max-pools: insert the block after the pooled stage instead"
        )));
    }
    if net.stages.get(after + 1).is_some_and(|s| s.skip.is_some()) {
        return Err(Error::Growth(format!(
            "stage {after} is inside a residual block: insert after the block's last stage"
        )));
    }
    let channels = conv.out_channels();
    let (device, kind) = (net.device(), conv.weight.kind());
    let empty_conv = |inputs: i64, outputs: i64| {
        let w = tch::Tensor::zeros([outputs, inputs, 3, 3], (kind, device)).set_requires_grad(true);
        Conv2d {
            weight: w,
            bias: None,
            stride: 1,
            padding: 1,
        }
    };
    let pool = std::mem::take(&mut net.stages[after].pool);
    let first = Stage {
        layer: Layer::Conv2d(empty_conv(channels, 0)),
        norm: Some(BatchNorm::new(0, device)),
        activation: Activation::Relu,
        rational: None,
        pool: Pool::None,
        skip: None,
    };
    let second = Stage {
        layer: Layer::Conv2d(empty_conv(0, channels)),
        norm: None,
        activation: Activation::Relu,
        rational: None,
        pool,
        skip: Some(SkipPath { projection: None }),
    };
    insert_stages(net, opt, after + 1, vec![first, second]);
    debug_assert!(net
        .architecture()
        .stages
        .get(after + 2)
        .is_some_and(|s| s.skip == Some(Skip::Identity)));
    Architecture::validate(&net.architecture())?;
    Ok(after + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::Loss;
    use crate::optim::OptimizerConfig;
    use rand::SeedableRng;
    use tch::{Device, Kind, Tensor};

    fn resnet(seed: u64) -> Network {
        let arch = Architecture::resnet18([3, 8, 8], 10, 1.0 / 32.0);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        Network::new(&arch, &mut rng, Device::Cpu).unwrap()
    }

    /// One SGD step on `(x, y)`.
    fn train_step(net: &Network, opt: &mut Optimizer, x: &Tensor, y: &Tensor) {
        let params = net.named_parameters();
        Loss::CrossEntropy.mean(&net.forward(x, true), y).backward();
        opt.step(&params, 0.01).unwrap();
    }

    /// The optimiser state of the linear head's weight.
    fn head_state(net: &Network, opt: &Optimizer) -> Tensor {
        let head = format!("stages.{}.layer.weight", net.stages.len() - 1);
        opt.state_tensors()
            .into_iter()
            .find(|(n, _)| n.starts_with(&head))
            .unwrap()
            .1
    }

    #[test]
    fn an_empty_block_leaves_outputs_bit_identical_in_both_modes() {
        let mut net = resnet(3);
        let x = Tensor::randn([4, 3, 8, 8], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[1i64, 2, 3, 4]);
        // One training step first, so the optimiser has state to rename.
        let mut opt = Optimizer::new(OptimizerConfig::sgd(0.9));
        train_step(&net, &mut opt, &x, &y);
        let before = head_state(&net, &opt);
        let stages = net.stages.len();
        // After the stem, inside the network, and after the last block (which pools).
        for after in [0, 6, stages - 2 + 4] {
            // A train-mode forward updates BatchNorm's running statistics: the references are
            // taken in the order the checks run.
            let train = net.forward(&x, true);
            let eval = net.forward(&x, false);
            let site = insert_block(&mut net, &mut opt, after).unwrap();
            assert_eq!(site, after + 1);
            assert_eq!(net.hidden_widths()[site], 0);
            assert!(net.forward(&x, false).equal(&eval), "eval, after {after}");
            assert!(net.forward(&x, true).equal(&train), "train, after {after}");
        }
        assert_eq!(net.stages.len(), stages + 6);
        // The head's optimiser state moved with it, untouched.
        assert!(head_state(&net, &opt).equal(&before));
        // And the grown network still trains.
        train_step(&net, &mut opt, &x, &y);
    }

    #[test]
    fn blocks_go_only_where_they_are_the_identity() {
        let mut net = resnet(4);
        let mut opt = Optimizer::new(OptimizerConfig::sgd(0.9));
        let last = net.stages.len() - 1;
        assert!(insert_block(&mut net, &mut opt, 1).is_err()); // inside a block
        assert!(insert_block(&mut net, &mut opt, last).is_err()); // the linear head
        assert!(insert_block(&mut net, &mut opt, last + 5).is_err());
    }
}
