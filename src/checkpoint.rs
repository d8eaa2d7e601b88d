//! Checkpoints: one safetensors file holding the weights, the optimiser state and, in its
//! metadata, the architecture and the training position. Written atomically (temporary file,
//! fsync, rename), so a crash leaves either the old checkpoint or the new one, never half.
//! A CRC-32 of the metadata and every tensor is stored beside them: a file whose bytes changed
//! on disk is refused with a clear message instead of loading wrong weights, and weights that
//! are not finite are never written.
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
/// Metadata key of the checksum (CRC-32, hexadecimal) of the metadata and the tensors.
const CHECKSUM_KEY: &str = "grownet_crc32";

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
    /// Events in the run's `metrics.jsonl` when the checkpoint was written: a resumed run
    /// drops the events logged after it (absent in older checkpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_events: Option<usize>,
    /// How the training inputs were normalised, so that evaluation needs no training file
    /// (absent in older checkpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalisation: Option<crate::data::Normalisation>,
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
            metrics_events: None,
            normalisation: None,
        }
    }
}

fn bad(path: &Path, detail: impl Into<String>) -> Error {
    Error::Checkpoint {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

/// Host copy of a float tensor as little-endian f32 bytes, and whether every value is finite.
fn to_bytes(t: &Tensor) -> Result<(Vec<usize>, Vec<u8>, bool)> {
    let t = t
        .detach()
        .to_device(Device::Cpu)
        .to_kind(Kind::Float)
        .contiguous();
    let shape = t.size().iter().map(|&d| d as usize).collect();
    let values = Vec::<f32>::try_from(&t.flatten(0, -1))?;
    let finite = values.iter().all(|v| v.is_finite());
    Ok((
        shape,
        values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        finite,
    ))
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

/// The checksum of a checkpoint's metadata and tensors (each tensor's name, shape and bytes,
/// in name order).
fn checksum<'a>(
    json: &str,
    tensors: impl Iterator<Item = (&'a str, &'a [usize], &'a [u8])>,
) -> u32 {
    let mut sorted: Vec<_> = tensors.collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut h = crc32fast::Hasher::new();
    h.update(json.as_bytes());
    for (name, shape, bytes) in sorted {
        h.update(name.as_bytes());
        for d in shape {
            h.update(&(*d as u64).to_le_bytes());
        }
        h.update(bytes);
    }
    h.finalize()
}

/// Saves the network, optimiser state and metadata to `path` (atomically). Refuses weights,
/// buffers or optimiser state that are not finite: the checkpoint already at `path`, the last
/// good one, is kept.
pub fn save(path: &Path, net: &Network, opt: &Optimizer, meta: &CheckpointMeta) -> Result<()> {
    let mut named: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut tensors = net.named_parameters();
    tensors.extend(net.named_buffers());
    let all = tensors
        .into_iter()
        .map(|(n, t)| (format!("model.{n}"), t))
        .chain(
            opt.state_tensors()
                .into_iter()
                .map(|(n, t)| (format!("optim.{n}"), t)),
        );
    for (name, t) in all {
        let (shape, bytes, finite) = to_bytes(&t)?;
        if !finite {
            return Err(bad(
                path,
                format!(
                    "not written: {name} holds values that are not finite (the run diverged); \
                     the previous checkpoint is kept"
                ),
            ));
        }
        named.push((name, shape, bytes));
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
    let crc = checksum(
        &json,
        named
            .iter()
            .map(|(n, shape, bytes)| (n.as_str(), shape.as_slice(), bytes.as_slice())),
    );
    let metadata = HashMap::from([
        (META_KEY.to_string(), json),
        (CHECKSUM_KEY.to_string(), format!("{crc:08x}")),
    ]);
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
    let metadata = header.metadata().as_ref();
    let json = metadata
        .and_then(|m| m.get(META_KEY))
        .ok_or_else(|| bad(path, "no grownet metadata: not a grownet checkpoint"))?;
    // Checked before anything else is read from the file: a damaged file may say anything.
    match metadata.and_then(|m| m.get(CHECKSUM_KEY)) {
        Some(stored) => {
            let views: Vec<(&str, TensorView)> = st.iter().collect();
            let crc = checksum(json, views.iter().map(|(n, v)| (*n, v.shape(), v.data())));
            if u32::from_str_radix(stored, 16).ok() != Some(crc) {
                return Err(bad(
                    path,
                    format!(
                        "damaged: its checksum does not match its contents (stored {stored}, \
                         computed {crc:08x}); the file changed after it was written. Restore it \
                         from a copy, or start the run again"
                    ),
                ));
            }
        }
        None => tracing::debug!("{}: no checksum (an older checkpoint)", path.display()),
    }
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
        if values.iter().any(|v| !v.is_finite()) {
            return Err(bad(
                path,
                format!("tensor {name} holds values that are not finite"),
            ));
        }
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
    let arch = &loaded.meta.architecture;
    arch.check_buildable()
        .map_err(|e| bad(path, format!("architecture: {e}")))?;
    // The layers' weights are all in the file: an architecture larger than its tensors is
    // not built (it would allocate what the file cannot fill).
    let stored: i64 = loaded.model.iter().map(|(_, t)| t.numel() as i64).sum();
    if arch.layer_weights().is_none_or(|n| n > stored) {
        return Err(bad(
            path,
            "its architecture needs more weights than the file holds".to_string(),
        ));
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut net = Network::new(arch, &mut rng, device)
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
        opt.step(&params, 0.01).unwrap();
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
