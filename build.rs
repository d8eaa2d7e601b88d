//! Build script: bake the libtorch library directory into the binaries' run path, so that
//! `grownet` runs without `LD_LIBRARY_PATH`, and keep `libtorch_cuda` linked so that
//! `tch::Device::cuda_if_available()` finds a GPU when one is present (stack.md, "GPU").
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let Some(libtorch) = std::env::var_os("LIBTORCH").map(PathBuf::from) else {
        return;
    };
    let lib = libtorch.join("lib");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
