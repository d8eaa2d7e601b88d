//! Build script: bake the libtorch library directory into the binaries' run path, so that
//! `grownet` runs without `LD_LIBRARY_PATH`, and keep `libtorch_cuda` linked so that
//! `tch::Device::cuda_if_available()` finds a GPU when one is present (stack.md, "GPU").
//!
//! It compiles the fused optimiser shim (`csrc/fused_optim.cpp`: ATen's multi-tensor AdamW and
//! SGD kernels) against the wheel's headers; without `LIBTORCH` the crate builds with
//! `grownet_no_fused` and the optimiser takes its op-by-op path.
//!
//! It also compiles the distributed shim (`csrc/c10d_shim.cpp`, c10d's TCP store and process
//! groups) against the wheel's headers and gloo's (`GROWNET_GLOO_INCLUDE`, fetched by
//! scripts/env.sh), with NCCL when `nccl.h` and the CUDA headers are there. Without gloo's
//! headers the crate builds with `grownet_no_c10d` and distributed runs are refused.
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=GROWNET_GLOO_INCLUDE");
    println!("cargo:rerun-if-changed=csrc/c10d_shim.cpp");
    println!("cargo:rerun-if-changed=csrc/fused_optim.cpp");
    println!("cargo:rerun-if-changed=csrc/guarded.h");
    println!("cargo::rustc-check-cfg=cfg(grownet_no_c10d)");
    println!("cargo::rustc-check-cfg=cfg(grownet_no_fused)");
    let Some(libtorch) = std::env::var_os("LIBTORCH").map(PathBuf::from) else {
        println!("cargo:rustc-cfg=grownet_no_c10d");
        println!("cargo:rustc-cfg=grownet_no_fused");
        return;
    };
    fused(&libtorch);
    let lib = libtorch.join("lib");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
    match std::env::var_os("GROWNET_GLOO_INCLUDE").map(PathBuf::from) {
        Some(gloo) if gloo.join("gloo/algorithm.h").exists() => shim(&libtorch, &gloo),
        _ => {
            println!(
                "cargo:warning=gloo's headers not found (GROWNET_GLOO_INCLUDE): building \
                 without distributed training; source scripts/env.sh"
            );
            println!("cargo:rustc-cfg=grownet_no_c10d");
        }
    }
    link_torch(&libtorch);
}

/// Compiles the c10d shim, with NCCL when its headers and CUDA's are beside the wheel.
fn shim(libtorch: &Path, gloo: &Path) {
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .file("csrc/c10d_shim.cpp")
        .include(libtorch.join("include"))
        .include(libtorch.join("include/torch/csrc/api/include"))
        .include(gloo)
        .flag("-std=c++17")
        .flag("-w")
        .define("USE_C10D_GLOO", None)
        .define("_GLIBCXX_USE_CXX11_ABI", "1")
        .define("GLOG_USE_GLOG_EXPORT", None);
    if let Some(dirs) = nccl_includes(libtorch) {
        build.includes(dirs).define("USE_C10D_NCCL", None);
        build.define("GROWNET_NCCL", None).define("USE_CUDA", None);
        println!("cargo:rustc-link-lib=dylib=torch_cuda");
    }
    build.compile("grownet_c10d");
}

/// Compiles the fused optimiser shim (ATen's headers only).
fn fused(libtorch: &Path) {
    cc::Build::new()
        .cpp(true)
        .file("csrc/fused_optim.cpp")
        .include(libtorch.join("include"))
        .flag("-std=c++17")
        .flag("-w")
        .define("_GLIBCXX_USE_CXX11_ABI", "1")
        .define("GLOG_USE_GLOG_EXPORT", None)
        .compile("grownet_fused");
}

/// The libraries the shims call into (the link order puts them after the shims' archives).
fn link_torch(libtorch: &Path) {
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
    println!(
        "cargo:rustc-link-search=native={}",
        libtorch.join("lib").display()
    );
}

/// `nccl.h` (the wheel's nvidia-nccl package) and CUDA's headers, when libtorch_cuda is there
/// too: the wheel's own CUDA headers lack `crt/` and `nv/target`, which scripts/env.sh fetches
/// (`GROWNET_CUDA_INCLUDE`: the nvidia-cuda-crt and nvidia-cuda-cccl wheels' headers, searched
/// after the wheel's), else a CUDA toolkit's (CUDA_HOME or /usr/local/cuda).
fn nccl_includes(libtorch: &Path) -> Option<Vec<PathBuf>> {
    println!("cargo:rerun-if-env-changed=CUDA_HOME");
    println!("cargo:rerun-if-env-changed=GROWNET_CUDA_INCLUDE");
    if !libtorch.join("lib/libtorch_cuda.so").exists() {
        return None;
    }
    let nccl = libtorch.parent()?.join("nvidia/nccl/include");
    if !nccl.join("nccl.h").exists() {
        return None;
    }
    let wheel = libtorch.parent()?.join("nvidia/cu13/include");
    if let Some(extra) = std::env::var_os("GROWNET_CUDA_INCLUDE").map(PathBuf::from) {
        let complete = wheel.join("cuda_runtime_api.h").exists()
            && extra.join("nv/target").exists()
            && extra.join("crt/host_config.h").exists();
        if complete {
            return Some(vec![nccl, wheel, extra]);
        }
    }
    let home =
        std::env::var_os("CUDA_HOME").map_or_else(|| "/usr/local/cuda".into(), PathBuf::from);
    let cuda = home.join("include");
    let complete = cuda.join("cuda_runtime_api.h").exists() && cuda.join("nv/target").exists();
    complete.then(|| vec![nccl, cuda])
}
