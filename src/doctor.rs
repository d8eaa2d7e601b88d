//! `grownet doctor`: what this binary runs on. The libtorch it loaded (version, path, whether
//! its CUDA library is loaded), CUDA and cuDNN as libtorch sees them, the chosen device, and a
//! tiny matmul and conv on that device checked against a float64 CPU reference.
//!
//! tch exposes no libtorch version, so it is read from the files beside the library the
//! process actually loaded (found in `/proc/self/maps`): `torch/version.py` of a PyPI wheel or
//! `build-version` of a libtorch archive. That is the library in use, whatever the build saw.
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Result};
use tch::{Device, Kind, Tensor};

/// The shared libraries of libtorch this process has mapped, by file name.
#[derive(Debug, Default)]
struct LoadedTorch {
    /// Path of `libtorch_cpu.so`.
    cpu: Option<PathBuf>,
    /// Path of `libtorch_cuda.so`, when loaded.
    cuda: Option<PathBuf>,
}

fn loaded_torch() -> LoadedTorch {
    let mut found = LoadedTorch::default();
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return found;
    };
    for line in maps.lines() {
        let Some(path) = line.split_whitespace().nth(5) else {
            continue;
        };
        let path = Path::new(path);
        match path.file_name().and_then(|n| n.to_str()) {
            Some("libtorch_cpu.so") if found.cpu.is_none() => found.cpu = Some(path.into()),
            Some("libtorch_cuda.so") if found.cuda.is_none() => found.cuda = Some(path.into()),
            _ => {}
        }
    }
    found
}

/// `'…'` or `"…"` after `key` on a `key = '…'` or `key: T = '…'` line of version.py.
fn python_string(text: &str, key: &str) -> Option<String> {
    text.lines()
        .filter(|l| l.trim_start().starts_with(key))
        .find_map(|l| {
            let value = l.split_once('=')?.1.trim();
            let quoted = value
                .strip_prefix('\'')
                .or_else(|| value.strip_prefix('"'))?;
            Some(quoted.trim_end_matches(['\'', '"']).to_string())
        })
}

/// libtorch's version (and the CUDA version it was built for, when it says) from the files
/// beside its `lib/` folder; `None` when neither file is there.
fn torch_version(lib: &Path) -> Option<(String, Option<String>)> {
    let root = lib.parent()?;
    if let Ok(text) = std::fs::read_to_string(root.join("version.py")) {
        if let Some(v) = python_string(&text, "__version__") {
            return Some((v, python_string(&text, "cuda")));
        }
    }
    let v = std::fs::read_to_string(root.join("build-version")).ok()?;
    Some((v.trim().to_string(), None))
}

/// A deterministic `[rows, cols]` f64 matrix with entries in [-1, 1].
fn fixed_matrix(rows: i64, cols: i64, salt: i64) -> Tensor {
    let v: Vec<f64> = (0..rows * cols)
        .map(|i| (((i * 7919 + salt * 104_729) % 2001) as f64 / 1000.0) - 1.0)
        .collect();
    Tensor::from_slice(&v).view([rows, cols])
}

/// ‖a − b‖ / ‖b‖ of two CPU tensors, in f64.
fn relative_error(a: &Tensor, b: &Tensor) -> f64 {
    let a = a.to_kind(Kind::Double);
    let b = b.to_kind(Kind::Double);
    (a - &b).norm().double_value(&[]) / b.norm().double_value(&[]).max(1e-300)
}

fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Prints the report; fails (after printing it) when the device is not there or a check on
/// it is off.
pub fn run(device: Option<&str>) -> Result<()> {
    let asked = device.unwrap_or("auto");
    println!("grownet      {}", env!("CARGO_PKG_VERSION"));
    let torch = loaded_torch();
    let lib = torch.cpu.as_deref().and_then(Path::parent);
    match lib.and_then(torch_version) {
        Some((v, cuda)) => println!(
            "libtorch     {v}{}",
            cuda.map(|c| format!(" (built for CUDA {c})"))
                .unwrap_or_default()
        ),
        None => println!("libtorch     version unknown (no version.py or build-version beside it)"),
    }
    match lib {
        Some(l) => println!("  loaded from {}", l.display()),
        None => println!("  loaded from (not found in /proc/self/maps)"),
    }
    println!(
        "  CUDA library {}",
        torch.cuda.as_ref().map_or_else(
            || "libtorch_cuda.so NOT loaded (a CPU-only libtorch, or not linked)".to_string(),
            |p| format!("{} loaded", p.display())
        )
    );
    println!(
        "  built with   MKL {}, OpenMP {}, LAPACK {}; {} CPU threads",
        yes(tch::utils::has_mkl()),
        yes(tch::utils::has_openmp()),
        yes(tch::utils::has_lapack()),
        tch::get_num_threads()
    );
    println!(
        "  shims       fused optimiser kernels {}, distributed (c10d) {}",
        yes(grownet::optim::fused_available()),
        yes(grownet::distributed::available())
    );
    let cuda = tch::Cuda::is_available();
    let count = tch::Cuda::device_count();
    println!("CUDA         available: {}, {count} device(s)", yes(cuda));
    if cuda {
        // These ask the CUDA library; they are only meaningful (and safe) with a device.
        let cudnn = tch::Cuda::cudnn_is_available();
        let versions = std::panic::catch_unwind(|| {
            (tch::utils::version_cudart(), tch::utils::version_cudnn())
        });
        match versions {
            Ok((rt, dnn)) => println!(
                "  runtime     CUDA runtime {rt}, cuDNN available: {} (version {dnn})",
                yes(cudnn)
            ),
            Err(_) => println!("  runtime     cuDNN available: {}", yes(cudnn)),
        }
    }
    let device = match grownet::config::parse_device(asked) {
        Ok(d) => d,
        Err(e) => {
            let hint = if torch.cuda.is_none() {
                "this libtorch has no CUDA library loaded: run with LD_LIBRARY_PATH pointing at \
                 the lib/ folder of a CUDA build of torch 2.11"
            } else {
                "libtorch_cuda.so is loaded but sees no device: check the driver (nvidia-smi) \
                 and CUDA_VISIBLE_DEVICES"
            };
            bail!("{e} ({hint})");
        }
    };
    println!("device       {device:?} (asked: {asked})");

    // A tiny matmul and a tiny conv on the device against f64 on the CPU.
    let t0 = Instant::now();
    let a = fixed_matrix(64, 48, 1);
    let b = fixed_matrix(48, 32, 2);
    let reference = a.matmul(&b);
    let on = |t: &Tensor| t.to_kind(Kind::Float).to_device(device);
    let c = on(&a).matmul(&on(&b)).to_device(Device::Cpu);
    sync(device);
    let first = t0.elapsed().as_secs_f64();
    let mm_err = relative_error(&c, &reference);
    println!(
        "matmul       [64×48]·[48×32] f32 on {device:?}: sum {:.6} (f64 on CPU: {:.6}), \
         relative error {mm_err:.2e} (first call {first:.2} s)",
        c.sum(Kind::Double).double_value(&[]),
        reference.sum(Kind::Double).double_value(&[]),
    );
    let x = fixed_matrix(2 * 16, 8 * 8, 3).view([2, 16, 8, 8]);
    let w = fixed_matrix(8, 16 * 9, 4).view([8, 16, 3, 3]);
    let conv = |x: &Tensor, w: &Tensor| x.conv2d(w, None::<Tensor>, [1, 1], [1, 1], [1, 1], 1);
    let conv_ref = conv(&x, &w);
    let y = conv(&on(&x), &on(&w)).to_device(Device::Cpu);
    let conv_err = relative_error(&y, &conv_ref);
    println!(
        "conv2d       [2,16,8,8] * [8,16,3,3] f32 on {device:?}: relative error {conv_err:.2e}{}",
        if conv_err > 1e-5 {
            " (above f32 rounding: TF32 convolutions, cuDNN's default on Ampere and later)"
        } else {
            ""
        }
    );
    // NaN fails too.
    let within = |err: f64, limit: f64| err.is_finite() && err < limit;
    if !within(mm_err, 1e-4) || !within(conv_err, 1e-2) {
        bail!(
            "the checks on {device:?} are off (matmul relative error {mm_err:.2e}, conv \
             {conv_err:.2e}; expected about 1e-7 in f32)"
        );
    }
    println!("ok");
    Ok(())
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_py_strings() {
        let text = "__version__ = '2.11.0+cu130'\ndebug = False\ncuda: Optional[str] = '13.0'\n";
        assert_eq!(
            python_string(text, "__version__").as_deref(),
            Some("2.11.0+cu130")
        );
        assert_eq!(python_string(text, "cuda").as_deref(), Some("13.0"));
        let cpu = "__version__ = \"2.11.0+cpu\"\ncuda: Optional[str] = None\n";
        assert_eq!(
            python_string(cpu, "__version__").as_deref(),
            Some("2.11.0+cpu")
        );
        assert_eq!(python_string(cpu, "cuda"), None);
    }

    #[test]
    fn this_process_has_libtorch_mapped() {
        let t = loaded_torch();
        assert!(t.cpu.is_some(), "{t:?}");
    }
}
