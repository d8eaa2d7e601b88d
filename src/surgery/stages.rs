//! Inserting stages into the chain.
use crate::nn::{shifted_key, Network, Stage};
use crate::optim::Optimizer;

/// Inserts `stages` at position `index` (in order); later stages move by `stages.len()`, and
/// their optimiser state is renamed with them. The new stages' state is created by the
/// optimiser at the next step (or by the caller with [`Optimizer::init_state`]). The caller
/// keeps the chain consistent (widths, residual paths).
pub fn insert_stages(net: &mut Network, opt: &mut Optimizer, index: usize, stages: Vec<Stage>) {
    let by = stages.len();
    opt.rename(|key| shifted_key(key, index, by));
    for (i, stage) in stages.into_iter().enumerate() {
        net.insert_stage(index + i, stage);
    }
}
