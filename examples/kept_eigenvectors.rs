//! Only the kept eigenvectors (docs/tiny.md §8): `linalg::psd_factor`, which computes the
//! eigenvectors of the eigenvalues above the cut alone (`linalg::top_eigen`), side by side
//! with the full decomposition it replaces (`linalg::sym_eigen`, then the same cut), on one
//! thread, interleaved, medians of `--repeats`.
//!
//! The matrices: the input moment of the fast MNIST schedule (the first 1 024 normalised
//! training images with the bias feature, 785 × 785, cut 0.1) when the data is found
//! (`--data-dir` or `GROWNET_DATA`), and second moments `XᵀX/m` of random `X` whose columns
//! decay, one per `--sizes` entry, with about a quarter of the directions above the cut.
//!
//! ```text
//! cargo run --release --example kept_eigenvectors -- [--sizes 257,785,1153,2305] [--repeats 5]
//!     [--data-dir DIR]
//! ```
mod common;

use std::time::Instant;

use faer::Mat;
use grownet::data::{self, DataConfig};
use grownet::growth::linalg::{self, eigen_cut};
use rand::{Rng, SeedableRng};
use tch::{Device, Kind};

use common::{flag, flag_or, median};

/// `XᵀX/m` for `X` of `2n × n` uniform entries with column `j` scaled by `3·exp(−4j/n)`.
fn decaying(n: usize, rng: &mut rand_chacha::ChaCha8Rng) -> Mat<f64> {
    let x = Mat::from_fn(2 * n, n, |_, j| {
        (rng.random::<f64>() - 0.5) * 3.0 * (-4.0 * j as f64 / n as f64).exp()
    });
    x.transpose() * &x * (1.0 / (2 * n) as f64)
}

/// The MNIST input moment of the fast schedule's statistics sample size, if the data is found.
fn mnist_moment() -> Option<Mat<f64>> {
    let dir = flag("--data-dir").or_else(|| std::env::var("GROWNET_DATA").ok())?;
    let cfg = DataConfig {
        name: "mnist".into(),
        data_dir: Some(dir.into()),
        ..DataConfig::default()
    };
    let data = data::load(&cfg, Device::Cpu).ok()?;
    let x = data.train.x.narrow(0, 0, 1024).reshape([1024, -1]);
    let ones = tch::Tensor::ones([1024, 1], (Kind::Float, Device::Cpu));
    let rows = tch::Tensor::cat(&[x, ones], 1).to_kind(Kind::Double);
    let s2 = rows.transpose(0, 1).matmul(&rows) / 1024.0;
    linalg::to_mat(&s2).ok()
}

/// The full path: every eigenpair, then the cut.
fn full(a: &Mat<f64>, threshold: f64) -> (usize, Mat<f64>) {
    let e = linalg::sym_eigen(a.as_ref()).expect("eigendecomposition");
    let cut = eigen_cut(e.values[0], a.nrows(), threshold);
    let r = e.values.iter().take_while(|&&l| l > cut).count();
    (r, e.vectors.subcols(0, r).to_owned())
}

fn main() {
    faer::set_global_parallelism(faer::Par::Seq);
    let repeats: usize = flag_or("--repeats", 5);
    let sizes: Vec<usize> = flag("--sizes")
        .unwrap_or_else(|| "257,785,1153,2305".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut cases: Vec<(String, Mat<f64>)> = Vec::new();
    match mnist_moment() {
        Some(m) => cases.push(("MNIST input moment".into(), m)),
        None => {
            println!("(no MNIST data: pass --data-dir or set GROWNET_DATA for the real moment)")
        }
    }
    for n in sizes {
        cases.push((format!("random, n = {n}"), decaying(n, &mut rng)));
    }
    let threshold = 0.1;
    println!("| matrix | n | kept | full (median) | kept only (median) | ratio | max |ΔP| |");
    println!("|---|---|---|---|---|---|---|");
    for (name, a) in &cases {
        let (mut tf, mut tk) = (Vec::new(), Vec::new());
        let mut last = None;
        for _ in 0..repeats {
            let t = Instant::now();
            let f = full(a, threshold);
            tf.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let k = linalg::psd_factor(a.as_ref(), threshold).expect("factor");
            tk.push(t.elapsed().as_secs_f64());
            last = Some((f, k));
        }
        let ((r, q), k) = last.expect("at least one repeat");
        assert_eq!(r, k.rank(), "{name}: kept ranks differ");
        // The projectors onto the kept directions (the eigenvectors' signs are arbitrary).
        let (p, pk) = (&q * q.transpose(), &k.basis * k.basis.transpose());
        let n = a.nrows();
        let diff = (0..n)
            .flat_map(|i| (0..n).map(move |j| (i, j)))
            .map(|(i, j)| (p[(i, j)] - pk[(i, j)]).abs())
            .fold(0.0, f64::max);
        let (mf, mk) = (median(tf), median(tk));
        println!(
            "| {name} | {n} | {r} | {:.1} ms | {:.1} ms | {:.2}× | {diff:.1e} |",
            1e3 * mf,
            1e3 * mk,
            mf / mk
        );
    }
}
