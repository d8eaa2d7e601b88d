//! The SVD through its Gram matrix (docs/tiny.md §8): `linalg::gram_svd`, which the host's
//! `thin_svd_on` takes from `GRAM_MIN_DIM` on, side by side with faer's thin SVD it replaces,
//! on one thread, interleaved, medians of `--repeats`.
//!
//! The matrices have the shapes of `S₂^{-1/2}N` at the CIFAR-10 bench's conv sites with the full
//! conv neuron (rows: the producer's input channels × 9 taps + 1; columns: the consumer's
//! outputs × 9 taps), e.g. 1 369 × 1 854 at the fifth conv of a 152-channel fourth conv and a
//! 206-channel sixth: a few strong directions (rank 32, decaying) over a noise floor, as the
//! whitened cross-covariances are. Printed: both times, their ratio, the largest difference of
//! the singular values relative to the first, and of the leading 32 rank-one terms
//! `σ_k u_k v_kᵀ` (the neurons the proposal builds from them; signs cancel).
//!
//! ```text
//! cargo run --release --example gram_svd -- [--shapes 145x1368,469x900,1369x1854] [--repeats 5]
//! ```
mod common;

use std::time::Instant;

use faer::Mat;
use grownet::growth::linalg::{gram_svd, ThinSvd};
use rand::{Rng, SeedableRng};

use common::{flag, flag_or, median};

/// `m × n`: 32 outer products with weights `exp(−j/8)` plus `10⁻³` uniform noise.
fn whitened_like(m: usize, n: usize, rng: &mut rand_chacha::ChaCha8Rng) -> Mat<f64> {
    let mut r = |_: usize, _: usize| rng.random::<f64>() - 0.5;
    let a = Mat::from_fn(m, 32, &mut r);
    let b = Mat::from_fn(32, n, &mut r);
    let w = Mat::from_fn(32, 32, |i, j| {
        if i == j {
            (-(i as f64) / 8.0).exp()
        } else {
            0.0
        }
    });
    let noise = Mat::from_fn(m, n, &mut r);
    &a * &w * &b + 1e-3 * &noise
}

/// faer's thin SVD as a [`ThinSvd`].
fn faer_svd(a: &Mat<f64>) -> ThinSvd {
    let svd = a.thin_svd().expect("svd");
    ThinSvd {
        u: svd.U().to_owned(),
        s: svd.S().column_vector().iter().copied().collect(),
        v: svd.V().to_owned(),
    }
}

/// `Σ_{k<32} σ_k u_k v_kᵀ`.
fn leading(svd: &ThinSvd) -> Mat<f64> {
    let k = svd.s.len().min(32);
    let us = Mat::from_fn(svd.u.nrows(), k, |i, j| svd.u[(i, j)] * svd.s[j]);
    &us * svd.v.as_ref().subcols(0, k).transpose()
}

fn main() {
    faer::set_global_parallelism(faer::Par::Seq);
    let repeats: usize = flag_or("--repeats", 5);
    let shapes: Vec<(usize, usize)> = flag("--shapes")
        .unwrap_or_else(|| "145x1368,469x900,1369x1854".into())
        .split(',')
        .filter_map(|s| {
            let (m, n) = s.trim().split_once('x')?;
            Some((m.parse().ok()?, n.parse().ok()?))
        })
        .collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    println!("| shape | faer thin SVD (median) | through the Gram matrix (median) | ratio | max |Δσ|/σ₁ | max |Δ leading 32| / σ₁ |");
    println!("|---|---|---|---|---|---|");
    for (m, n) in shapes {
        let a = whitened_like(m, n, &mut rng);
        let (mut tf, mut tg) = (Vec::new(), Vec::new());
        let mut last = None;
        for _ in 0..repeats {
            let t = Instant::now();
            let f = faer_svd(&a);
            tf.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let g = gram_svd(a.as_ref()).expect("gram svd");
            tg.push(t.elapsed().as_secs_f64());
            last = Some((f, g));
        }
        let (f, g) = last.expect("at least one repeat");
        let s1 = f.s[0];
        let ds =
            f.s.iter()
                .zip(&g.s)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max);
        let dl = (&leading(&f) - &leading(&g)).norm_max();
        let (mf, mg) = (median(tf), median(tg));
        println!(
            "| {m} × {n} | {:.1} ms | {:.1} ms | {:.2}× | {:.1e} | {:.1e} |",
            1e3 * mf,
            1e3 * mg,
            mf / mg,
            ds / s1,
            dl / s1
        );
    }
}
