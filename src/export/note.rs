//! The export folder's `README.md`: what the files are and the two lines that use them.
use crate::data::Normalisation;

/// The note, for a network from `source` (one line: where it comes from).
pub fn readme(source: &str, norm: Option<&Normalisation>, onnx: bool) -> String {
    let inputs = match norm {
        Some(_) => {
            "samples shaped and scaled as grownet reads the dataset (image files: \
             N × C × H × W, pixel values divided by 255); `Net.normalise` normalises them as \
             grownet normalised its training data (MEAN, STD in model.py)"
        }
        None => "inputs normalised as in training (this checkpoint does not record how)",
    };
    let mut out = format!(
        "# A network grown by grownet\n\n\
         {source}\n\n\
         `model.py` is the network as a plain `torch.nn.Module` (only torch needed) and \
         `model.safetensors` its weights, under the names of its `state_dict`. In this \
         folder:\n\n\
         ```python\n\
         from model import Net\n\
         net = Net.load()  # eval mode\n\
         outputs = net(net.normalise(raw))\n\
         ```\n\n\
         `raw`: {inputs}.\n"
    );
    out += &match onnx {
        true => "`model.onnx` is the same network for ONNX runtimes (input `input`, output \
                 `output`, any batch size).\n"
            .to_string(),
        false => format!(
            "\nFor ONNX (needs the `onnx` package beside torch), in this folder:\n\n```sh\n{}\n```\n",
            super::onnx::ONE_LINE
        ),
    };
    out
}
