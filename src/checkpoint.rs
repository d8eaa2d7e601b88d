//! Checkpoints: one safetensors file holding the weights, the optimiser state and, in its
//! metadata, the architecture and the training position. Written atomically (temporary file,
//! fsync, rename), so a crash leaves either the old checkpoint or the new one, never half.
//!
//! ```
//! use grownet::checkpoint::{self, CheckpointMeta};
//! use grownet::nn::{Activation, Architecture, Network};
//! use grownet::optim::{Optimizer, OptimizerConfig};
//! use rand::SeedableRng;
//! let arch = Architecture::mlp(2, &[3], 2, Activation::Relu);
//! let net = Network::new(&arch, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0), tch::Device::Cpu).unwrap();
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("ckpt.safetensors");
//! let meta = CheckpointMeta::new(&net, Default::default(), 0, 0, 0, 0.0);
//! checkpoint::save(&path, &net, &Optimizer::new(OptimizerConfig::sgd(0.9)), &meta).unwrap();
//! let (loaded, meta2) = checkpoint::load_network(&path, tch::Device::Cpu).unwrap();
//! assert_eq!(loaded.architecture(), arch);
//! assert_eq!(meta2.epoch, 0);
//! ```
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::growth::GrowthState;
use crate::nn::{Architecture, Network};
use crate::optim::Optimizer;

/// Format version written into every checkpoint.
pub const FORMAT_VERSION: u32 = 1;
const META_KEY: &str = "grownet";

/// Everything in a checkpoint besides the tensors.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckpointMeta {
    pub format_version: u32,
    pub grownet_version: String,
    pub architecture: Architecture,
    pub config: RunConfig,
    /// Completed epochs.
    pub epoch: usize,
    /// Completed optimisation steps.
    pub step: usize,
    pub optimizer_steps: u64,
    /// Training wall time so far, seconds.
    pub elapsed: f64,
    /// The grower's state (growth checks done, fruitless checks in a row, whether growth has
    /// finished, SENN's depth cooldown, seconds in growth), so that a resumed run grows as
    /// the uninterrupted one; written as top-level keys of the metadata.
    #[serde(flatten)]
    pub growth: GrowthState,
}

impl CheckpointMeta {
    pub fn new(
        net: &Network,
        config: RunConfig,
        epoch: usize,
        step: usize,
        optimizer_steps: u64,
        elapsed: f64,
    ) -> Self {
        CheckpointMeta {
            format_version: FORMAT_VERSION,
            grownet_version: env!("CARGO_PKG_VERSION").to_string(),
            architecture: net.architecture(),
            config,
            epoch,
            step,
            optimizer_steps,
            elapsed,
            growth: GrowthState::default(),
        }
    }
}

fn bad(path: &Path, detail: impl Into<String>) -> Error {
    Error::Checkpoint {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

/// Host copy of a float tensor as little-endian f32 bytes.
fn to_bytes(t: &Tensor) -> Result<(Vec<usize>, Vec<u8>)> {
    let t = t
        .detach()
        .to_device(Device::Cpu)
        .to_kind(Kind::Float)
        .contiguous();
    let shape = t.size().iter().map(|&d| d as usize).collect();
    let values = Vec::<f32>::try_from(&t.flatten(0, -1))?;
    Ok((shape, values.iter().flat_map(|v| v.to_le_bytes()).collect()))
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, then rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp: PathBuf = path.with_extension(format!("tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Make the rename itself durable.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Saves the network, optimiser state and metadata to `path` (atomically).
pub fn save(path: &Path, net: &Network, opt: &Optimizer, meta: &CheckpointMeta) -> Result<()> {
    let mut named: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut tensors = net.named_parameters();
    tensors.extend(net.named_buffers());
    for (name, t) in tensors {
        let (shape, bytes) = to_bytes(&t)?;
        named.push((format!("model.{name}"), shape, bytes));
    }
    for (name, t) in opt.state_tensors() {
        let (shape, bytes) = to_bytes(&t)?;
        named.push((format!("optim.{name}"), shape, bytes));
    }
    let views = named
        .iter()
        .map(|(n, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|v| (n.clone(), v))
                .map_err(|e| bad(path, e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let json = serde_json::to_string(meta).map_err(|e| bad(path, e.to_string()))?;
    let metadata = HashMap::from([(META_KEY.to_string(), json)]);
    let bytes =
        safetensors::serialize(views, Some(metadata)).map_err(|e| bad(path, e.to_string()))?;
    write_atomic(path, &bytes)
}

/// The contents of a checkpoint file.
pub struct Loaded {
    pub meta: CheckpointMeta,
    pub model: Vec<(String, Tensor)>,
    pub optimizer: Vec<(String, Tensor)>,
}

/// Reads a checkpoint file, tensors placed on `device`.
pub fn load(path: &Path, device: Device) -> Result<Loaded> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| bad(path, format!("not a valid safetensors file ({e})")))?;
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(path, e.to_string()))?;
    let json = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(META_KEY))
        .ok_or_else(|| bad(path, "no grownet metadata: not a grownet checkpoint"))?;
    let meta: CheckpointMeta =
        serde_json::from_str(json).map_err(|e| bad(path, format!("bad metadata: {e}")))?;
    if meta.format_version > FORMAT_VERSION {
        return Err(bad(
            path,
            format!(
                "format version {} is newer than this grownet understands ({FORMAT_VERSION})",
                meta.format_version
            ),
        ));
    }
    let (mut model, mut optimizer) = (Vec::new(), Vec::new());
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(bad(
                path,
                format!("tensor {name} is {:?}, expected F32", view.dtype()),
            ));
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let t = Tensor::from_slice(&values)
            .view(shape.as_slice())
            .to_device(device);
        if let Some(n) = name.strip_prefix("model.") {
            model.push((n.to_string(), t));
        } else if let Some(n) = name.strip_prefix("optim.") {
            optimizer.push((n.to_string(), t));
        }
    }
    Ok(Loaded {
        meta,
        model,
        optimizer,
    })
}

/// Rebuilds the saved network on `device`.
pub fn load_network(path: &Path, device: Device) -> Result<(Network, CheckpointMeta)> {
    let loaded = load(path, device)?;
    let net = network_from(&loaded, path, device)?;
    Ok((net, loaded.meta))
}

/// Builds the network described by a loaded checkpoint and copies its weights in.
pub fn network_from(loaded: &Loaded, path: &Path, device: Device) -> Result<Network> {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut net = Network::new(&loaded.meta.architecture, &mut rng, device)
        .map_err(|e| bad(path, format!("architecture: {e}")))?;
    net.load_tensors(&loaded.model)
        .map_err(|e| bad(path, e.to_string()))?;
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::Activation;
    use crate::optim::OptimizerConfig;
    use rand::SeedableRng;

    #[test]
    fn round_trip_gives_identical_outputs_and_state() {
        let arch = Architecture::cnn([3, 8, 8], &[4, 6], 5, Activation::Relu, true);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let net = Network::new(&arch, &mut rng, Device::Cpu).unwrap();
        let x = Tensor::randn([4, 3, 8, 8], (Kind::Float, Device::Cpu));
        // One training step so BatchNorm statistics and optimiser state are non-trivial.
        let params = net.named_parameters();
        net.forward(&x, true).square().mean(Kind::Float).backward();
        let mut opt = Optimizer::new(OptimizerConfig::adamw(0.01));
        opt.step(&params, 0.01);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.safetensors");
        let meta = CheckpointMeta::new(&net, RunConfig::default(), 3, 17, opt.steps, 1.5);
        save(&path, &net, &opt, &meta).unwrap();
        let loaded = load(&path, Device::Cpu).unwrap();
        let net2 = network_from(&loaded, &path, Device::Cpu).unwrap();
        assert!(net.forward(&x, false).equal(&net2.forward(&x, false)));
        assert_eq!(loaded.meta.step, 17);
        let mut opt2 = Optimizer::new(OptimizerConfig::adamw(0.01));
        opt2.load_state(loaded.optimizer, loaded.meta.optimizer_steps)
            .unwrap();
        for ((a, ta), (b, tb)) in opt.state_tensors().iter().zip(opt2.state_tensors()) {
            assert_eq!(a, &b);
            assert!(ta.equal(&tb));
        }
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn corrupt_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.safetensors");
        std::fs::write(&path, b"definitely not safetensors").unwrap();
        let msg = load(&path, Device::Cpu).err().unwrap().to_string();
        assert!(msg.contains("not a valid safetensors"), "{msg}");
        let msg = load(&dir.path().join("missing"), Device::Cpu)
            .err()
            .unwrap()
            .to_string();
        assert!(msg.contains("missing"), "{msg}");
        // A valid safetensors file without grownet metadata.
        let plain = safetensors::serialize(Vec::<(String, TensorView)>::new(), None).unwrap();
        std::fs::write(&path, plain).unwrap();
        let msg = load(&path, Device::Cpu).err().unwrap().to_string();
        assert!(msg.contains("not a grownet checkpoint"), "{msg}");
    }
}
