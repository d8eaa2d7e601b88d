//! `model.py`: the grown architecture as a plain `torch.nn.Module` (`Net`), written from its
//! [`Architecture`]. The module's `state_dict` names are grownet's parameter paths
//! (`stages.3.norm.running_var`, [`crate::nn::ParamPath`]) plus BatchNorm's
//! `num_batches_tracked`, so that `model.safetensors` ([`super::weights`]) loads into it
//! strictly. The fixed parts (the safetensors reader, `Stage`, the rational activation, the
//! residual projection) are the Python files beside this one; a helper class is written only
//! when the network uses it.
use crate::data::Normalisation;
use crate::nn::{Activation, Architecture, LayerSpec, Pool, Skip, StageSpec};

const READER: &str = include_str!("model_py/reader.py");
const STAGE: &str = include_str!("model_py/stage.py");
const RATIONAL: &str = include_str!("model_py/rational.py");
const PROJECTION: &str = include_str!("model_py/projection.py");
const EMPTY_CONV: &str = include_str!("model_py/empty_conv.py");
const NET_METHODS: &str = include_str!("model_py/net.py");

/// Whether a stage's BatchNorm is exported: one over no channels normalises nothing (grownet
/// passes its input through; PyTorch cannot run it), so it is left out of `model.py` and its
/// (empty) tensors out of the weights.
pub(crate) fn exports_norm(spec: &StageSpec) -> bool {
    spec.batch_norm && spec.layer.outputs() > 0
}

/// The source of `model.py` for `arch`; `header` is the module docstring's first paragraph
/// (where the network comes from), `norm` the training inputs' normalisation.
pub fn model_py(arch: &Architecture, norm: Option<&Normalisation>, header: &str) -> String {
    let mut out = docstring(header);
    out += "import json\nimport os\n\nimport torch\nfrom torch import nn\n\n";
    out += &constants(arch, norm);
    for part in helpers(arch) {
        out += "\n\n";
        out += part;
    }
    out += "\n\n";
    out += &net_class(arch);
    out
}

fn docstring(header: &str) -> String {
    format!(
        "\"\"\"A network grown by grownet, as a plain PyTorch module (no grownet needed).\n\n\
         {header}\n\n\
         \x20   from model import Net\n\
         \x20   net = Net.load()                  # model.safetensors beside this file, eval mode\n\
         \x20   outputs = net(net.normalise(raw))  # raw samples, normalised as in training\n\
         \"\"\"\n"
    )
}

fn constants(arch: &Architecture, norm: Option<&Normalisation>) -> String {
    let shape = python_tuple(&arch.input_shape);
    let mut out = format!(
        "# The shape of one input sample, and how grownet normalised its training inputs:\n\
         # (raw - MEAN) / STD, MEAN and STD of shape NORM_SHAPE (per channel of images, per\n\
         # feature of vectors), from the training split.\n\
         INPUT_SHAPE = {shape}\n"
    );
    match norm {
        Some(n) => {
            out += &format!("NORM_SHAPE = {}\n", python_tuple(&n.shape));
            out += &format!("MEAN = {}\n", python_floats(&n.mean));
            out += &format!("STD = {}\n", python_floats(&n.std));
        }
        None => {
            out += "# (not recorded in this checkpoint, written by an older grownet)\n";
            out += "NORM_SHAPE = MEAN = STD = None\n";
        }
    }
    out
}

/// The helper sources the network needs, in order.
fn helpers(arch: &Architecture) -> Vec<&'static str> {
    let any = |f: &dyn Fn(&StageSpec) -> bool| arch.stages.iter().any(f);
    let mut out = vec![READER, STAGE];
    if any(&|s| s.activation == Activation::Rational) {
        out.push(RATIONAL);
    }
    if any(&|s| matches!(s.skip, Some(Skip::Projection { .. }))) {
        out.push(PROJECTION);
    }
    if any(&|s| is_empty_conv(&s.layer)) {
        out.push(EMPTY_CONV);
    }
    out
}

fn net_class(arch: &Architecture) -> String {
    let mut out = String::from(
        "class Net(nn.Module):\n\
         \x20   \"\"\"The grown network: a chain of stages (model.safetensors holds its weights).\"\"\"\n\n\
         \x20   def __init__(self):\n\
         \x20       super().__init__()\n\
         \x20       self.stages = nn.ModuleList([\n",
    );
    for (i, spec) in arch.stages.iter().enumerate() {
        let block_input = i
            .checked_sub(1)
            .map_or(0, |j| arch.stages[j].layer.inputs());
        out += &format!("            # {i}: {}\n", describe(spec));
        out += &format!("            {},\n", stage_call(spec, block_input));
    }
    out += "        ])\n";
    out += NET_METHODS;
    out
}

/// A comment for stage `spec`: its layer and what follows it.
fn describe(spec: &StageSpec) -> String {
    let mut parts = vec![match spec.layer {
        LayerSpec::Linear {
            inputs, outputs, ..
        } => format!("linear {inputs} → {outputs}"),
        LayerSpec::Conv2d {
            inputs,
            outputs,
            kernel,
            stride,
            ..
        } => format!("conv {kernel}×{kernel} {inputs} → {outputs}, stride {stride}"),
    }];
    if spec.batch_norm {
        parts.push("BatchNorm".into());
    }
    match spec.skip {
        Some(Skip::Identity) => parts.push("+ the block's input".into()),
        Some(Skip::Projection { .. }) => parts.push("+ the block's input, projected".into()),
        None => {}
    }
    parts.push(spec.activation.name().into());
    match spec.pool {
        Pool::None => {}
        Pool::Max2 => parts.push("2×2 max pooling".into()),
        Pool::GlobalAvg => parts.push("global average pooling".into()),
    }
    parts.join(", ")
}

/// `Stage(layer, norm=…, skip=…, act=…, pool=…)` for one stage; `block_input` is the number
/// of channels entering the block (the previous stage's inputs), for a projection.
fn stage_call(spec: &StageSpec, block_input: i64) -> String {
    let mut args = vec![layer(&spec.layer)];
    let conv = matches!(spec.layer, LayerSpec::Conv2d { .. });
    if exports_norm(spec) {
        let kind = if conv { "2d" } else { "1d" };
        args.push(format!("norm=nn.BatchNorm{kind}({})", spec.layer.outputs()));
    }
    match spec.skip {
        Some(Skip::Identity) => args.push("skip=nn.Identity()".into()),
        Some(Skip::Projection { stride }) => args.push(format!(
            "skip=Projection({block_input}, {}, stride={stride})",
            spec.layer.outputs()
        )),
        None => {}
    }
    if let Some(act) = activation(spec) {
        args.push(format!("act={act}"));
    }
    match spec.pool {
        Pool::None => {}
        Pool::Max2 => args.push("pool=nn.MaxPool2d(2)".into()),
        Pool::GlobalAvg => {
            args.push("pool=nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())".into())
        }
    }
    format!("Stage({})", args.join(", "))
}

fn is_empty_conv(layer: &LayerSpec) -> bool {
    matches!(layer, LayerSpec::Conv2d { .. }) && (layer.inputs() == 0 || layer.outputs() == 0)
}

fn layer(spec: &LayerSpec) -> String {
    let py_bool = |b: bool| if b { "True" } else { "False" };
    match *spec {
        LayerSpec::Linear {
            inputs,
            outputs,
            bias,
        } => {
            let bias = if bias { "" } else { ", bias=False" };
            format!("nn.Linear({inputs}, {outputs}{bias})")
        }
        LayerSpec::Conv2d {
            inputs,
            outputs,
            kernel,
            stride,
            padding,
            bias,
        } => {
            let class = if is_empty_conv(spec) {
                "EmptyConv2d"
            } else {
                "nn.Conv2d"
            };
            format!(
                "{class}({inputs}, {outputs}, {kernel}, stride={stride}, padding={padding}, \
                 bias={})",
                py_bool(bias)
            )
        }
    }
}

/// The activation module, `None` for the identity.
fn activation(spec: &StageSpec) -> Option<String> {
    Some(match spec.activation {
        Activation::Relu => "nn.ReLU()".into(),
        Activation::Selu => "nn.SELU()".into(),
        Activation::Tanh => "nn.Tanh()".into(),
        Activation::Gelu => "nn.GELU()".into(),
        Activation::Rational => format!("Rational({})", spec.layer.outputs()),
        Activation::Identity => return None,
    })
}

fn python_tuple(values: &[i64]) -> String {
    match values {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            values
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A Python list of `values`, eight to a line; Rust's shortest round-trip form of each f32,
/// which Python reads back to the same f32.
fn python_floats(values: &[f32]) -> String {
    let lines: Vec<String> = values
        .chunks(8)
        .map(|c| {
            c.iter()
                .map(|v| format!("{v:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect();
    match lines.len() {
        0 => "[]".into(),
        1 => format!("[{}]", lines[0]),
        _ => format!("[\n    {},\n]", lines.join(",\n    ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_mlp_is_a_chain_of_linear_stages() {
        let arch = Architecture::mlp(2, &[3, 0], 4, Activation::Relu);
        let py = model_py(&arch, None, "test");
        assert!(py.contains("Stage(nn.Linear(2, 3), act=nn.ReLU())"), "{py}");
        assert!(py.contains("Stage(nn.Linear(0, 4))"), "{py}");
        assert!(py.contains("INPUT_SHAPE = (2,)"), "{py}");
        assert!(py.contains("NORM_SHAPE = MEAN = STD = None"), "{py}");
        assert!(!py.contains("class Rational") && !py.contains("class Projection"));
    }

    #[test]
    fn resnet_blocks_have_their_skips_and_projections() {
        let arch = Architecture::resnet18([3, 8, 8], 10, 1.0 / 64.0);
        let py = model_py(&arch, None, "test");
        assert!(py.contains("skip=nn.Identity()"), "{py}");
        assert!(py.contains("skip=Projection(64, 128, stride=2)"), "{py}");
        assert!(py.contains("norm=nn.BatchNorm2d(1)"), "{py}");
        assert!(py.contains("class Projection") && !py.contains("class EmptyConv2d"));
    }

    #[test]
    fn empty_convs_and_their_norms() {
        let mut arch = Architecture::resnet18([3, 8, 8], 10, 0.0);
        arch.stages.truncate(3);
        let py = model_py(&arch, None, "test");
        assert!(py.contains("EmptyConv2d(64, 0, 3"), "{py}");
        assert!(!py.contains("BatchNorm2d(0)"), "{py}");
    }

    #[test]
    fn floats_read_back_exactly() {
        assert_eq!(python_floats(&[0.1, 1.0]), "[0.1, 1.0]");
        assert_eq!(python_tuple(&[3, 32, 32]), "(3, 32, 32)");
        let long = python_floats(&[0.5; 9]);
        assert_eq!(long.lines().count(), 4, "{long}");
    }
}
