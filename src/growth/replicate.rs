//! Keeping the ranks of a data-parallel run identical: rank 0's parameters, BatchNorm buffers
//! and optimiser state are broadcast to the others (at the start of a run and after every
//! growth check, so that a decision taken from identical reduced statistics also leaves
//! bit-identical tensors everywhere). A world of one does nothing.
//!
//! ```
//! use grownet::distributed::World;
//! use grownet::growth::replicate;
//! use grownet::nn::{Activation, Architecture, Network};
//! use grownet::optim::{Optimizer, OptimizerConfig};
//! use rand::SeedableRng;
//! let arch = Architecture::mlp(2, &[4], 2, Activation::Relu);
//! let net = Network::new(&arch, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0), tch::Device::Cpu).unwrap();
//! let opt = Optimizer::new(OptimizerConfig::sgd(0.9));
//! replicate::from_root(&World::single(), &net, &opt).unwrap();
//! ```
use tch::Tensor;

use crate::distributed::World;
use crate::error::{Error, Result};
use crate::nn::Network;
use crate::optim::Optimizer;

/// Every tensor a rank's state is made of, in an order all ranks agree on.
fn state(net: &Network, opt: &Optimizer) -> Vec<(String, Tensor)> {
    let mut all = net.named_parameters();
    all.extend(net.named_buffers());
    all.extend(opt.state_tensors());
    all
}

/// Gives every rank rank 0's network and optimiser state, in place. Ranks whose tensors do
/// not have rank 0's shapes (a growth decision taken differently) are an error naming them.
pub fn from_root(world: &World, net: &Network, opt: &Optimizer) -> Result<()> {
    if world.size() == 1 {
        return Ok(());
    }
    let tensors = state(net, opt);
    let shapes: Vec<i64> = tensors
        .iter()
        .flat_map(|(_, t)| std::iter::once(t.dim() as i64).chain(t.size()))
        .collect();
    let mine = Tensor::from_slice(&shapes);
    let root = world.broadcast_from_root(&mine)?;
    if root.size() != mine.size() || !root.equal(&mine) {
        return Err(Error::Dist(format!(
            "rank {}'s network or optimiser state differs in shape from rank 0's (widths {:?}): \
             the ranks took different growth decisions",
            world.rank(),
            net.hidden_widths()
        )));
    }
    tch::no_grad(|| -> Result<()> {
        for (_, t) in &tensors {
            world.broadcast(t, 0)?;
        }
        Ok(())
    })
}
