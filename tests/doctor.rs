//! `grownet doctor`: the report on the CPU, and a clear failure when CUDA is asked for and
//! there is none.
mod common;

use common::{grownet, text};

#[test]
fn doctor_on_the_cpu() {
    let o = grownet(&["doctor", "--device", "cpu"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    for expected in [
        "grownet      0.",
        "libtorch",
        "CUDA         available:",
        "fused optimiser kernels yes",
        "device       Cpu",
        "matmul",
        "ok",
    ] {
        assert!(t.contains(expected), "no '{expected}' in:\n{t}");
    }
}

#[test]
fn doctor_without_cuda_fails_clearly() {
    if tch::Cuda::is_available() {
        return; // a machine with a GPU: nothing to check here
    }
    let o = grownet(&["doctor", "--device", "cuda"]);
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(t.contains("no CUDA device is available"), "{t}");
    assert!(!t.contains("panicked"), "{t}");
}
