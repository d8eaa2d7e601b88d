//! An exported network against grownet on the run's test split: loads RUN's checkpoint,
//! evaluates it on the test samples (normalised as in training), runs EXPORT's model.py on the
//! same inputs in the set-up's torch (`grownet::export::torch_env`), and prints the largest
//! |output difference|, how many predicted classes agree, and both test accuracies.
//!
//! ```text
//! cargo run --release --example export_check -- RUN EXPORT
//! ```
use std::path::PathBuf;

use grownet::{checkpoint, data, export};
use tch::{Device, Kind, Tensor};

/// Runs model.py on `x` and prints its outputs' difference from grownet's.
const SCRIPT: &str = r#"
import sys
import torch
sys.path.insert(0, sys.argv[1])
from model import Net, read_safetensors
batch = read_safetensors(sys.argv[2])
with torch.no_grad():
    out = Net.load()(batch["x"])
want = batch["outputs"]
print("max_abs_difference", (out - want).abs().max().item())
print("same_class", (out.argmax(1) == want.argmax(1)).sum().item())
print("torch_correct", (out.argmax(1) == batch["y"]).sum().item())
"#;

fn main() -> anyhow::Result<()> {
    let args: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let [run, exported] = args.as_slice() else {
        anyhow::bail!("usage: export_check RUN EXPORT");
    };
    let ckpt = export::checkpoint_in(run, None)?;
    let (net, meta) = checkpoint::load_network(&ckpt, Device::Cpu)?;
    let outputs = net
        .architecture()
        .stages
        .last()
        .map_or(0, |s| s.layer.outputs());
    let test = match &meta.normalisation {
        Some(n) => data::load_test(&meta.config.data, n, outputs, Device::Cpu)?,
        None => data::load(&meta.config.data, Device::Cpu)?.into(),
    };
    let (x, y) = (&test.test.x, &test.test.y);
    let out = tch::no_grad(|| net.forward(x, false));
    let grownet_correct = out
        .argmax(1, false)
        .eq_tensor(y)
        .sum(Kind::Int64)
        .int64_value(&[]);
    let dir = tempfile::tempdir()?;
    let batch = dir.path().join("batch.safetensors");
    Tensor::write_safetensors(&[("x", x), ("outputs", &out), ("y", y)], &batch)?;
    let python = export::torch_env::python()
        .ok_or_else(|| anyhow::anyhow!("no torch environment (run ./grownet.sh once)"))?;
    let o = std::process::Command::new(python)
        .args(["-c", SCRIPT])
        .arg(exported)
        .arg(&batch)
        .output()?;
    anyhow::ensure!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let n = test.test.len();
    println!(
        "run {} ({} parameters), export {}",
        run.display(),
        net.parameter_count(),
        exported.display()
    );
    println!("test samples {n} of {}", test.name);
    println!(
        "grownet test accuracy {:.2} %",
        100.0 * grownet_correct as f64 / n as f64
    );
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        match line.split_once(' ') {
            Some(("torch_correct", c)) => {
                let c: f64 = c.parse()?;
                println!("pytorch test accuracy {:.2} %", 100.0 * c / n as f64)
            }
            _ => println!("{line}"),
        }
    }
    Ok(())
}
