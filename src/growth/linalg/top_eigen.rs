//! The eigenpairs of a symmetric matrix above a cut, without the others' eigenvectors
//! (docs/tiny.md §8, "Only the kept eigenvectors").
//!
//! TINY keeps few of a moment's directions (the fast MNIST schedule: about 20 of the hidden
//! layer's 257, 236 of the input's 785), yet a full eigendecomposition computes all `n`
//! eigenvectors. Here, as LAPACK's `dsyevx` does: faer reduces `A = Q T Qᵀ` to tridiagonal
//! form, its QR algorithm gives `T`'s eigenvalues alone, **inverse iteration** on `T − λI`
//! (LU with partial pivoting, `O(n)` per solve, re-orthogonalised within clusters of close
//! eigenvalues, as `dstein`) gives the eigenvectors of the kept `λ > cut`, and `Q`'s Householder
//! reflections map only those `r` columns back: `O(n²r)` instead of `O(n³)` after the reduction.
//!
//! The result is checked before it is used: every residual `‖T x − λ x‖` and the Gram matrix
//! of the `r` vectors (`|xᵢᵀxⱼ − δᵢⱼ|`) must be below [`TOLERANCE`] (relative to `‖T‖`);
//! otherwise, and when more than `max_rank` are kept, faer's divide and conquer computes `T`'s
//! vectors as its full decomposition does, and the same `r` columns are mapped back.
//!
//! ```
//! use faer::Mat;
//! use grownet::growth::linalg::top_eigen::top_eigen;
//! let a = Mat::from_fn(3, 3, |i, j| if i == j { [3.0, 1.0, 0.0][i] } else { 0.0 });
//! let top = top_eigen(a.as_ref(), |_| 0.5, 3).unwrap();
//! assert_eq!(top.values.len(), 2); // 3 and 1; 0 is cut
//! assert!((top.values[0] - 3.0).abs() < 1e-12);
//! assert!((top.vectors[(0, 0)].abs() - 1.0).abs() < 1e-12);
//! ```
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{self, tridiag, ComputeEigenvectors, SelfAdjointEvdParams};
use faer::linalg::householder;
use faer::{Col, Conj, Mat, MatMut, MatRef, Par, Spec};

/// Largest accepted residual and loss of orthogonality, relative to `‖T‖` (residuals) or 1
/// (the Gram matrix). A full decomposition reaches about `n·ε`; the growth statistics
/// themselves carry f32 rounding (`≈ 10⁻⁷`) when they are computed in mixed precision.
pub const TOLERANCE: f64 = 1e-10;

/// Inverse-iteration solves per eigenvector, each `O(n)` (`dstein` takes up to five, stopping
/// once the solution has grown enough). A vector that has not converged fails the check.
const ITERATIONS: usize = 3;

/// Eigenvalues of the same cluster (closer than this, relative to `‖T‖`) have their vectors
/// re-orthogonalised against each other. `dstein` uses `10⁻³`; inverse iteration leaves two
/// eigenvectors whose eigenvalues are `g` apart orthogonal to about `ε‖T‖/g`, `≈ 2·10⁻¹¹` at
/// `g = 10⁻⁵‖T‖`, within [`TOLERANCE`] (which the check enforces). On the MNIST input moment
/// (236 of 785 directions kept) `10⁻³` put most kept vectors in one cluster and cost more than
/// the reduction.
const CLUSTER: f64 = 1e-5;

/// The eigenpairs of a symmetric matrix above a cut, largest first.
#[derive(Clone, Debug)]
pub struct TopEigen {
    /// The kept eigenvalues, descending, all `> cut`.
    pub values: Vec<f64>,
    /// Their orthonormal eigenvectors as columns, `n × r`.
    pub vectors: Mat<f64>,
    /// The cut applied, `cut_of(λ_max)`.
    pub cut: f64,
}

/// The eigenpairs of the symmetric `a` (its lower triangle is read) whose eigenvalues exceed
/// `cut_of(λ_max)`. When more than `max_rank` eigenvalues exceed it (inverse iteration then
/// saves little), or the inverse iteration's vectors fail the check, the kept pairs of faer's
/// divide and conquer on the same tridiagonal form instead: bit for bit those of faer's full
/// decomposition, without reducing the matrix twice. `None` when faer's algorithms do not
/// converge or the input is not finite or smaller than 2 × 2: the caller then decomposes fully
/// (with its retries).
///
/// # Panics
/// If `a` is not square.
pub fn top_eigen(
    a: MatRef<'_, f64>,
    cut_of: impl Fn(f64) -> f64,
    max_rank: usize,
) -> Option<TopEigen> {
    assert_eq!(a.nrows(), a.ncols(), "top_eigen: matrix must be square");
    let n = a.nrows();
    if n < 2 || !a.is_all_finite() {
        return None;
    }
    let par = faer::get_global_parallelism(); // growth.linalg_threads (docs/tiny.md §8)
    let params: Spec<SelfAdjointEvdParams, f64> = Default::default();
    let scratch = evd::self_adjoint_evd_scratch::<f64>(n, ComputeEigenvectors::Yes, par, params);
    let mut buf = MemBuffer::new(scratch);
    let stack = MemStack::new(&mut buf);
    // A = Q T Qᵀ: T on the diagonal and subdiagonal, Q's reflections below it.
    let mut trid = Mat::<f64>::zeros(n, n);
    trid.copy_from_triangular_lower(a);
    let bs = faer::linalg::qr::no_pivoting::factor::recommended_block_size::<f64>(n, n);
    let mut reflections = Mat::<f64>::zeros(bs, n - 1);
    let tridiag_params = params.tridiag.into();
    tridiag::tridiag_in_place(
        trid.as_mut(),
        reflections.as_mut(),
        par,
        stack,
        tridiag_params,
    );
    let d: Vec<f64> = (0..n).map(|i| trid[(i, i)]).collect();
    let e: Vec<f64> = (0..n - 1).map(|i| trid[(i + 1, i)]).collect();
    let values = tridiagonal_values(&d, &e, par, stack)?;
    let cut = cut_of(values[0]);
    let r = values.iter().take_while(|&&l| l > cut).count();
    let kept = (r <= max_rank)
        .then(|| tridiagonal_vectors(&d, &e, &values[..r]))
        .flatten();
    // X ← Q X on rows 1.. (the reduction leaves row 0 alone).
    let back = |x: &mut Mat<f64>, stack: &mut MemStack| {
        householder::apply_block_householder_sequence_on_the_left_in_place_with_conj(
            trid.as_ref().submatrix(1, 0, n - 1, n - 1),
            reflections.as_ref(),
            Conj::No,
            x.as_mut().subrows_mut(1, n - 1),
            par,
            stack,
        );
    };
    let (values, x, cut) = match kept {
        Some(mut x) => {
            if r > 0 {
                back(&mut x, stack);
            }
            (values[..r].to_vec(), x, cut)
        }
        // Too many kept, or the check failed: faer's full decomposition, finished from the
        // same reduction (not a second one) and mapped back whole, as faer does, so the kept
        // columns are its bit for bit.
        None => {
            let (values, mut u) = every_tridiagonal_vector(&d, &e, par, stack)?;
            back(&mut u, stack);
            let cut = cut_of(values[0]);
            let r = values.iter().take_while(|&&l| l > cut).count();
            (
                values[..r].to_vec(),
                Mat::from_fn(n, r, |i, k| u[(i, n - 1 - k)]),
                cut,
            )
        }
    };
    x.is_all_finite().then_some(TopEigen {
        values,
        vectors: x,
        cut,
    })
}

/// faer's eigensolver on the tridiagonal `T` (diagonal `d`, subdiagonal `e`), its vectors
/// written into `u` when given (divide and conquer; without, the QR algorithm on the values
/// alone): the eigenvalues in faer's order, `None` if it does not converge.
fn tridiagonal_evd(
    d: &[f64],
    e: &[f64],
    u: Option<MatMut<'_, f64>>,
    par: Par,
    stack: &mut MemStack,
) -> Option<Vec<f64>> {
    let (d, e) = (
        Col::<f64>::from_fn(d.len(), |i| d[i]),
        Col::<f64>::from_fn(e.len(), |i| e[i]),
    );
    let mut s = faer::diag::Diag::<f64>::zeros(d.nrows());
    let params: Spec<SelfAdjointEvdParams, f64> = Default::default();
    let (dd, ed) = (d.as_diagonal(), e.as_diagonal());
    evd::tridiagonal_self_adjoint_evd(dd, ed, s.as_mut(), u, par, stack, params).ok()?;
    Some(s.column_vector().iter().copied().collect())
}

/// The eigenvalues of the tridiagonal `T` (diagonal `d`, subdiagonal `e`), largest first, by
/// faer's QR algorithm without vectors; `None` if it does not converge.
fn tridiagonal_values(d: &[f64], e: &[f64], par: Par, stack: &mut MemStack) -> Option<Vec<f64>> {
    let mut values = tridiagonal_evd(d, e, None, par, stack)?;
    values.sort_by(|a, b| b.total_cmp(a));
    Some(values)
}

/// Every eigenpair of the tridiagonal `T` by faer's divide and conquer (what its full
/// decomposition computes): the eigenvalues largest first, the vectors in faer's order
/// (nondecreasing eigenvalues).
fn every_tridiagonal_vector(
    d: &[f64],
    e: &[f64],
    par: Par,
    stack: &mut MemStack,
) -> Option<(Vec<f64>, Mat<f64>)> {
    let mut u = Mat::<f64>::zeros(d.len(), d.len());
    let values = tridiagonal_evd(d, e, Some(u.as_mut()), par, stack)?;
    Some((values.into_iter().rev().collect(), u))
}

/// Eigenvectors of the tridiagonal `T` (diagonal `d`, subdiagonal `e`) for the eigenvalues
/// `values` (descending), by inverse iteration; `None` unless they pass the check.
fn tridiagonal_vectors(d: &[f64], e: &[f64], values: &[f64]) -> Option<Mat<f64>> {
    let n = d.len();
    let norm = (0..n)
        .map(|i| {
            let left = if i > 0 { e[i - 1].abs() } else { 0.0 };
            let right = if i + 1 < n { e[i].abs() } else { 0.0 };
            d[i].abs() + left + right
        })
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let mut x = Mat::<f64>::zeros(n, values.len());
    let mut cluster_start = 0;
    for (j, &lambda) in values.iter().enumerate() {
        if j > 0 && values[j - 1] - lambda > CLUSTER * norm {
            cluster_start = j;
        }
        let lu = ShiftedLu::new(d, e, lambda, norm);
        // A fixed start that no eigenvector is orthogonal to in practice (as dstein's random one).
        let mut v: Vec<f64> = (0..n).map(|i| start_entry(i, j)).collect();
        for _ in 0..ITERATIONS {
            lu.solve(&mut v);
            for k in cluster_start..j {
                let dot: f64 = (0..n).map(|i| v[i] * x[(i, k)]).sum();
                for (i, vi) in v.iter_mut().enumerate() {
                    *vi -= dot * x[(i, k)];
                }
            }
            let length = v.iter().map(|a| a * a).sum::<f64>().sqrt();
            if !length.is_finite() || length == 0.0 {
                return None;
            }
            v.iter_mut().for_each(|a| *a /= length);
        }
        for (i, &vi) in v.iter().enumerate() {
            x[(i, j)] = vi;
        }
    }
    passes_check(d, e, values, x.as_ref(), norm).then_some(x)
}

/// A deterministic pseudo-random entry in `[-1, 1)` for row `i` of vector `j`.
fn start_entry(i: usize, j: usize) -> f64 {
    let mut h =
        (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (j as u64).wrapping_add(0x5851_F42D);
    h ^= h >> 31;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= h >> 29;
    (h >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

/// Residuals `‖T xⱼ − λⱼ xⱼ‖∞ ≤ TOLERANCE·‖T‖` and `|XᵀX − I| ≤ TOLERANCE`.
fn passes_check(d: &[f64], e: &[f64], values: &[f64], x: MatRef<'_, f64>, norm: f64) -> bool {
    let n = d.len();
    for (j, &lambda) in values.iter().enumerate() {
        let col = x.col(j);
        for i in 0..n {
            let mut t = (d[i] - lambda) * col[i];
            if i > 0 {
                t += e[i - 1] * col[i - 1];
            }
            if i + 1 < n {
                t += e[i] * col[i + 1];
            }
            // A NaN residual fails too.
            if t.abs().partial_cmp(&(TOLERANCE * norm)) != Some(std::cmp::Ordering::Less) {
                return false;
            }
        }
    }
    let gram = x.transpose() * x;
    (0..values.len()).all(|i| {
        (0..values.len()).all(|j| {
            let target = if i == j { 1.0 } else { 0.0 };
            (gram[(i, j)] - target).abs() <= TOLERANCE
        })
    })
}

/// `T − λI = P L U` for a tridiagonal `T`, with partial pivoting (as LAPACK's `dlagtf`): `U`
/// has two superdiagonals. Pivots smaller than `ε‖T‖` are raised to it, so a solve at an
/// eigenvalue is defined and amplifies that eigenvector.
struct ShiftedLu {
    /// `U`'s diagonal, first and second superdiagonals.
    u: [Vec<f64>; 3],
    /// The multipliers of `L`.
    l: Vec<f64>,
    /// Whether rows `i` and `i + 1` were swapped at step `i`.
    swapped: Vec<bool>,
}

impl ShiftedLu {
    fn new(d: &[f64], e: &[f64], lambda: f64, norm: f64) -> ShiftedLu {
        let n = d.len();
        let tiny = f64::EPSILON * norm;
        let mut u0: Vec<f64> = d.iter().map(|&x| x - lambda).collect();
        let mut u1: Vec<f64> = e.to_vec();
        u1.push(0.0);
        let mut u2 = vec![0.0; n];
        let mut l = vec![0.0; n];
        let mut swapped = vec![false; n];
        // Row i+1 starts as (e[i], d[i+1] − λ, e[i+1]).
        for i in 0..n.saturating_sub(1) {
            let below = e[i];
            if below.abs() > u0[i].abs() {
                // Swap rows i and i+1: the pivot is `below`.
                swapped[i] = true;
                let (a0, a1, a2) = (u0[i], u1[i], u2[i]);
                let (b1, b2) = (u0[i + 1], u1[i + 1]);
                u0[i] = below;
                u1[i] = b1;
                u2[i] = b2;
                l[i] = a0 / below;
                u0[i + 1] = a1 - l[i] * b1;
                u1[i + 1] = a2 - l[i] * b2;
            } else {
                let pivot = if u0[i].abs() < tiny {
                    tiny.copysign(u0[i])
                } else {
                    u0[i]
                };
                u0[i] = pivot;
                l[i] = below / pivot;
                u0[i + 1] -= l[i] * u1[i];
                // u1[i+1] stays e[i+1] and u2[i] stays 0.
            }
        }
        if let Some(last) = u0.last_mut() {
            if last.abs() < tiny {
                *last = tiny.copysign(*last);
            }
        }
        ShiftedLu {
            u: [u0, u1, u2],
            l,
            swapped,
        }
    }

    /// Overwrites `v` with `(T − λI)⁻¹ v`.
    fn solve(&self, v: &mut [f64]) {
        let n = v.len();
        for i in 0..n.saturating_sub(1) {
            if self.swapped[i] {
                v.swap(i, i + 1);
            }
            v[i + 1] -= self.l[i] * v[i];
        }
        let [u0, u1, u2] = &self.u;
        for i in (0..n).rev() {
            let mut t = v[i];
            if i + 1 < n {
                t -= u1[i] * v[i + 1];
            }
            if i + 2 < n {
                t -= u2[i] * v[i + 2];
            }
            v[i] = t / u0[i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::Side;

    fn random_psd(n: usize, decay: f64, seed: usize) -> Mat<f64> {
        let x = Mat::from_fn(2 * n, n, |i, j| {
            start_entry(i + 7919 * seed, j) * (-(j as f64) * decay).exp()
        });
        x.transpose() * &x * (1.0 / (2 * n) as f64)
    }

    /// The projector onto the kept directions and the kept eigenvalues agree with faer's full
    /// decomposition (brute force), also with repeated eigenvalues.
    fn agrees_with_full(a: &Mat<f64>, cut: f64) {
        let n = a.nrows();
        let full = a.self_adjoint_eigen(Side::Lower).unwrap();
        let all: Vec<f64> = full.S().column_vector().iter().rev().copied().collect();
        let r = all.iter().take_while(|&&l| l > cut).count();
        let u = full.U();
        let q = Mat::from_fn(n, r, |i, k| u[(i, n - 1 - k)]);
        let top = top_eigen(a.as_ref(), |_| cut, n).expect("selective decomposition");
        let (values, x) = (top.values, top.vectors);
        assert_eq!(values.len(), r);
        let scale = all[0].abs().max(1.0);
        for k in 0..r {
            assert!(
                (values[k] - all[k]).abs() <= 1e-12 * scale,
                "eigenvalue {k}"
            );
        }
        let (p, pf) = (&x * x.transpose(), &q * q.transpose());
        let worst = (0..n)
            .flat_map(|i| (0..n).map(move |j| (i, j)))
            .map(|(i, j)| (p[(i, j)] - pf[(i, j)]).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-9, "projectors differ by {worst:e}");
    }

    #[test]
    fn matches_the_full_decomposition_on_decaying_spectra() {
        for (n, decay, seed) in [(10, 0.3, 0), (64, 0.05, 1), (257, 0.1, 2), (300, 0.01, 3)] {
            agrees_with_full(&random_psd(n, decay, seed), 0.1);
        }
    }

    #[test]
    fn handles_repeated_and_zero_eigenvalues() {
        // Q diag(5, 5, 5, 2, 2, 0, …) Qᵀ with a random orthogonal Q: clusters and a null space.
        let n = 40;
        let q = random_psd(n, 0.0, 4).qr().compute_Q();
        let lam = |k: usize| [5.0, 5.0, 5.0, 2.0, 2.0].get(k).copied().unwrap_or(0.0);
        let a = Mat::from_fn(n, n, |i, j| {
            (0..n).map(|k| q[(i, k)] * lam(k) * q[(j, k)]).sum()
        });
        agrees_with_full(&a, 1.0);
        agrees_with_full(&a, 1e-6);
        // Diagonal with ties: T splits into blocks (zero subdiagonal).
        let diag = Mat::from_fn(6, 6, |i, j| {
            if i == j {
                [1.0, 3.0, 3.0, 0.0, 2.0, 3.0][i]
            } else {
                0.0
            }
        });
        agrees_with_full(&diag, 0.5);
    }

    #[test]
    fn nothing_above_the_cut_and_degenerate_input() {
        let top = top_eigen(Mat::<f64>::identity(5, 5).as_ref(), |_| 2.0, 5).unwrap();
        assert!(top.values.is_empty() && top.vectors.ncols() == 0 && top.vectors.nrows() == 5);
        assert_eq!(
            top_eigen(Mat::<f64>::identity(5, 5).as_ref(), |_| 0.5, 4)
                .unwrap()
                .values
                .len(),
            5
        );
        let nan = Mat::from_fn(3, 3, |i, _| if i == 1 { f64::NAN } else { 1.0 });
        assert!(top_eigen(nan.as_ref(), |_| 0.1, 3).is_none());
        assert!(top_eigen(Mat::<f64>::zeros(1, 1).as_ref(), |_| 0.1, 1).is_none());
    }

    /// More kept than `max_rank`: the kept pairs of faer's full decomposition, bit for bit
    /// (the same reduction and divide and conquer, only the kept columns mapped back).
    #[test]
    fn too_many_kept_gives_the_full_decomposition_bit_for_bit() {
        for (n, decay, seed) in [(40, 0.05, 5), (257, 0.001, 6)] {
            let a = random_psd(n, decay, seed);
            let full = a.self_adjoint_eigen(Side::Lower).unwrap();
            let all: Vec<f64> = full.S().column_vector().iter().rev().copied().collect();
            let r = all.iter().take_while(|&&l| l > 1e-6).count();
            assert!(
                2 * r > n,
                "the test needs most directions kept ({r} of {n})"
            );
            let top = top_eigen(a.as_ref(), |_| 1e-6, n / 2).unwrap();
            assert_eq!(top.values, all[..r].to_vec());
            let u = full.U();
            for k in 0..r {
                for i in 0..n {
                    assert_eq!(top.vectors[(i, k)], u[(i, n - 1 - k)], "({i}, {k})");
                }
            }
        }
    }

    #[test]
    fn shifted_lu_solves_tridiagonal_systems() {
        // T − λI with pivoting on both branches, against a dense solve.
        let d = [1.0, -2.0, 0.5, 3.0, 0.1];
        let e = [4.0, 0.2, -3.0, 0.01];
        let lambda = 0.3;
        let lu = ShiftedLu::new(&d, &e, lambda, 10.0);
        let b = [1.0, 2.0, -1.0, 0.5, 3.0];
        let mut v = b.to_vec();
        lu.solve(&mut v);
        for i in 0..5 {
            let mut t = (d[i] - lambda) * v[i];
            if i > 0 {
                t += e[i - 1] * v[i - 1];
            }
            if i < 4 {
                t += e[i] * v[i + 1];
            }
            assert!((t - b[i]).abs() < 1e-12, "row {i}: {t} against {}", b[i]);
        }
    }
}
