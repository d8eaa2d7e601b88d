//! Data-parallel training steps (docs/distributed.md): each rank takes its contiguous share of
//! every global minibatch (the configured `batch_size` is the global batch), its loss is its
//! samples' summed loss over the *global* batch size, and the summed gradients of all ranks
//! are then exactly the gradient of the global batch's mean loss (one flattened bucket, one
//! all-reduce per step). Evaluation is sharded the same way and its sums reduced. A world of
//! one keeps the single-process code path untouched.
//!
//! ```
//! use grownet::distributed::World;
//! use grownet::train::shard;
//! use tch::Tensor;
//! let idx = Tensor::from_slice(&[4i64, 2, 7, 1]);
//! assert_eq!(shard::local(&World::single(), &idx).size(), vec![4]);
//! ```
use tch::Tensor;

use super::{eval_from_sums, eval_sums, Eval};
use crate::data::Dataset;
use crate::distributed::World;
use crate::error::{Error, Result};
use crate::nn::{Loss, Network};

/// This rank's contiguous share of a global minibatch's indices.
pub fn local(world: &World, idx: &Tensor) -> Tensor {
    if world.size() == 1 {
        return idx.shallow_clone();
    }
    let r = world.shard(idx.size()[0] as usize);
    idx.narrow(0, r.start as i64, r.len() as i64)
}

/// The loss to differentiate: the batch mean on one process; on several, this rank's summed
/// loss divided by the global batch size (the ranks' gradients then add up to the mean's).
pub fn batch_loss(world: &World, loss: Loss, out: &Tensor, y: &Tensor, global: i64) -> Tensor {
    if world.size() == 1 {
        return loss.mean(out, y);
    }
    loss.per_sample(out, y).sum(out.kind()) / global as f64
}

/// The backward pass of a data-parallel step: synchronised BatchNorm runs collectives in it,
/// whose failure (a rank died) comes back as an error rather than a panic.
pub fn backward(loss: &Tensor) -> Result<()> {
    loss.f_backward()
        .map_err(|e| Error::Dist(format!("backward pass: {e}")))
}

/// Sums the gradients of `params` over the ranks (one flattened bucket, in place) and returns
/// the global batch's loss from this rank's part `local_loss`.
pub fn reduce_gradients(
    world: &World,
    params: &[(String, Tensor)],
    local_loss: f64,
) -> Result<f64> {
    let grads: Vec<Tensor> = params
        .iter()
        .map(|(_, p)| p.grad())
        .filter(|g| g.defined())
        .collect();
    if !grads.is_empty() {
        let flat = Tensor::cat(
            &grads.iter().map(|g| g.flatten(0, -1)).collect::<Vec<_>>(),
            0,
        );
        world.all_reduce_sum(&flat)?;
        let mut offset = 0;
        for g in &grads {
            let n = g.numel() as i64;
            let mut g = g.shallow_clone();
            g.copy_(&flat.narrow(0, offset, n).view_as(&g));
            offset += n;
        }
    }
    Ok(world.sum_f64(&[local_loss])?[0])
}

/// Gives every rank rank 0's BatchNorm running statistics (each rank's training batches
/// moved its own), so that every rank evaluates and saves the same network.
pub fn sync_buffers(world: &World, net: &Network) -> Result<()> {
    for (_, b) in net.named_buffers() {
        world.broadcast(&b, 0)?;
    }
    Ok(())
}

/// Loss and accuracy of `net` on `data`: on one process [`super::evaluate`]; on several,
/// each rank evaluates its contiguous share and the sums are reduced.
pub fn evaluate(
    world: &World,
    net: &Network,
    loss: Loss,
    data: &Dataset,
    batch_size: usize,
) -> Result<Eval> {
    if world.size() == 1 {
        return Ok(super::evaluate(net, loss, data, batch_size));
    }
    let r = world.shard(data.len());
    let part = Dataset {
        x: data.x.narrow(0, r.start as i64, r.len() as i64),
        y: data.y.narrow(0, r.start as i64, r.len() as i64),
    };
    let (total, correct) = eval_sums(net, loss, &part, batch_size);
    let sums = world.sum_f64(&[total, correct as f64, r.len() as f64])?;
    Ok(eval_from_sums(loss, sums[0], sums[1] as i64, sums[2]))
}
