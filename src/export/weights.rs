//! `model.safetensors`: the network's parameters and BatchNorm buffers under the names of
//! `model.py`'s `state_dict` (grownet's parameter paths, [`crate::nn::ParamPath`]), float32,
//! plus each BatchNorm's `num_batches_tracked` (int64), which grownet does not count: it is
//! set to the run's training steps (PyTorch reads it only when a BatchNorm's momentum is
//! `None`).
use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::nn::{Network, ParamPath, Part};

/// One tensor as the file holds it.
struct Entry {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

/// The tensors of `net` under PyTorch's names; `steps` fills `num_batches_tracked`.
fn entries(net: &Network, steps: u64) -> Result<Vec<Entry>> {
    let arch = net.architecture();
    let exported = |p: &ParamPath| match p.part {
        Part::Norm => super::pytorch::exports_norm(&arch.stages[p.stage]),
        _ => true,
    };
    let mut tensors = net.parameter_paths();
    tensors.extend(net.buffer_paths());
    let mut out = Vec::new();
    for (path, t) in tensors.into_iter().filter(|(p, _)| exported(p)) {
        out.push(float_entry(path.to_string(), &t)?);
        if path.tensor == "running_var" {
            let name = path
                .to_string()
                .replace("running_var", "num_batches_tracked");
            out.push(Entry {
                name,
                dtype: Dtype::I64,
                shape: vec![],
                bytes: (steps as i64).to_le_bytes().to_vec(),
            });
        }
    }
    Ok(out)
}

fn float_entry(name: String, t: &Tensor) -> Result<Entry> {
    let t = t.detach().to_device(Device::Cpu).to_kind(Kind::Float);
    let shape = t.size().iter().map(|&d| d as usize).collect();
    let values = Vec::<f32>::try_from(&t.flatten(0, -1))?;
    Ok(Entry {
        name,
        dtype: Dtype::F32,
        shape,
        bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    })
}

/// Writes `net`'s weights to `path` (`steps`: the run's training steps, for
/// `num_batches_tracked`), with `metadata` in the file's header.
pub fn write(
    path: &Path,
    net: &Network,
    steps: u64,
    metadata: HashMap<String, String>,
) -> Result<()> {
    let bad = |e: safetensors::SafeTensorError| Error::Export(format!("{}: {e}", path.display()));
    let entries = entries(net, steps)?;
    let views = entries
        .iter()
        .map(|e| {
            TensorView::new(e.dtype, e.shape.clone(), &e.bytes)
                .map(|v| (e.name.clone(), v))
                .map_err(bad)
        })
        .collect::<Result<Vec<_>>>()?;
    let bytes = safetensors::serialize(views, Some(metadata)).map_err(bad)?;
    crate::checkpoint::write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{Activation, Architecture};
    use rand::SeedableRng;

    #[test]
    fn names_are_pytorch_state_dict_names() {
        let arch = Architecture::resnet18([3, 8, 8], 10, 1.0 / 64.0);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let net = Network::new(&arch, &mut rng, Device::Cpu).unwrap();
        let names: Vec<String> = entries(&net, 7)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        for want in [
            "stages.0.layer.weight",
            "stages.0.norm.num_batches_tracked",
            "stages.6.skip.conv.weight",
            "stages.6.skip.norm.running_mean",
            "stages.6.skip.norm.num_batches_tracked",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
        }
        let mlp = Architecture::mlp(2, &[3], 2, Activation::Rational);
        let net = Network::new(&mlp, &mut rng, Device::Cpu).unwrap();
        let e = entries(&net, 0).unwrap();
        assert!(e
            .iter()
            .any(|e| e.name == "stages.0.act.theta" && e.shape == [3, 3]));
    }
}
