//! Copies of a network's tensors and optimiser state, to undo a change.
use tch::Tensor;

use crate::error::Result;
use crate::nn::{Architecture, Network, ParamPath};
use crate::optim::Optimizer;

/// The tensors of some stages and their optimiser state (any shapes), to undo a change to
/// those stages.
pub struct Snapshot {
    tensors: Vec<(ParamPath, Tensor)>,
    optimizer: Vec<(String, Tensor)>,
}

impl Snapshot {
    /// The two stages around growth site `site` (producer `site`, consumer `site + 1`).
    pub fn of_site(net: &Network, opt: &Optimizer, site: usize) -> Self {
        Self::of_stages(net, opt, &[site, site + 1])
    }

    /// The parameters, buffers and optimiser state of `stages`.
    pub fn of_stages(net: &Network, opt: &Optimizer, stages: &[usize]) -> Self {
        let mut all = net.parameter_paths();
        all.extend(net.buffer_paths());
        let tensors: Vec<(ParamPath, Tensor)> = all
            .into_iter()
            .filter(|(p, _)| stages.contains(&p.stage))
            .map(|(p, t)| (p, t.detach().copy()))
            .collect();
        let names: Vec<String> = tensors.iter().map(|(p, _)| format!("{p}/")).collect();
        let optimizer = opt
            .state_tensors()
            .into_iter()
            .filter(|(n, _)| names.iter().any(|p| n.starts_with(p)))
            .map(|(n, t)| (n, t.copy()))
            .collect();
        Snapshot { tensors, optimizer }
    }

    /// Puts the saved tensors and optimiser state back (shapes included).
    pub fn restore(self, net: &mut Network, opt: &mut Optimizer) {
        for (path, t) in self.tensors {
            net.set_tensor(&path, t);
        }
        for (name, t) in self.optimizer {
            opt.set_state_tensor(&name, t);
        }
    }
}

/// A copy of a whole network (its architecture too) and its optimiser state, to undo a
/// change of depth.
pub struct NetSnapshot {
    architecture: Architecture,
    tensors: Vec<(String, Tensor)>,
    optimizer: Vec<(String, Tensor)>,
    steps: u64,
}

impl NetSnapshot {
    pub fn take(net: &Network, opt: &Optimizer) -> Self {
        let mut tensors = net.named_parameters();
        tensors.extend(net.named_buffers());
        NetSnapshot {
            architecture: net.architecture(),
            tensors: tensors
                .into_iter()
                .map(|(n, t)| (n, t.detach().copy()))
                .collect(),
            optimizer: opt
                .state_tensors()
                .into_iter()
                .map(|(n, t)| (n, t.copy()))
                .collect(),
            steps: opt.steps,
        }
    }

    /// Rebuilds the network and optimiser state as they were.
    pub fn restore(self, net: &mut Network, opt: &mut Optimizer) -> Result<()> {
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
        let mut fresh = Network::new(&self.architecture, &mut rng, net.device())?;
        fresh.load_tensors(&self.tensors)?;
        fresh.sync_batch_norm(net.batch_norm_group().cloned());
        *net = fresh;
        opt.load_state(self.optimizer, self.steps)
    }
}
