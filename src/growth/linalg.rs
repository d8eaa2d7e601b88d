//! Small dense `f64` linear-algebra helpers for the growth computations.
//!
//! The TINY closed forms (`super::tiny`, spec `docs/tiny.md` §2) need only a few
//! decompositions of small symmetric positive semi-definite matrices: a linear solve
//! `S X = M` with a pseudo-inverse fallback (§2.3), a pseudo-inverse square root
//! `S₂^{-1/2}` built from a symmetric eigendecomposition with a numerical threshold
//! (§2.5 step 1) and a thin SVD (§2.5 step 2). Everything is `faer::Mat<f64>` and runs in
//! float64 (docs/tiny.md §8). The decompositions themselves are faer's; this module only adds
//! symmetrisation, eigenvalue truncation, retry and fallback logic, and it never panics
//! on degenerate input (empty, singular or non-finite matrices): failures are reported
//! as `None`.
//!
//! Panics happen only on programming errors (non-square input where a square matrix is
//! required, or mismatched shapes).
//!
//! [`psd_factor`] computes only the eigenvectors of the eigenvalues it keeps when they are at
//! most half ([`top_eigen`], docs/tiny.md §8 "Only the kept eigenvectors").
//!
//! The three decompositions (symmetric eigendecomposition, Cholesky solve, thin SVD) run on a
//! [`Backend`]: faer on the host (the default), or libtorch's f64 linear algebra on a device,
//! which on a GPU is much faster for large sites (docs/tiny.md §8). A device decomposition
//! that fails or returns non-finite numbers falls back to the host's.
//!
//! ```
//! use faer::Mat;
//! use grownet::growth::linalg::{solve_psd_on, Backend};
//! let s = Mat::from_fn(3, 3, |i, j| if i == j { 2.0 } else { 0.5 });
//! let m = Mat::from_fn(3, 1, |i, _| i as f64);
//! let (host, _) = solve_psd_on(s.as_ref(), m.as_ref(), 1e-9, Backend::Host).unwrap();
//! let on_torch = Backend::Torch(tch::Device::Cpu);
//! let (torch, _) = solve_psd_on(s.as_ref(), m.as_ref(), 1e-9, on_torch).unwrap();
//! assert!((0..3).all(|i| (host[(i, 0)] - torch[(i, 0)]).abs() < 1e-12));
//! ```

use faer::linalg::solvers::Solve;
use faer::{Mat, MatRef, Side};
use tch::{Kind, Tensor};

use crate::error::{Error, Result};

pub mod top_eigen;

/// Resolution of `f64` used for the `eps·I` retry of a failed eigendecomposition (the
/// float64 counterpart of GroMo's `finfo(dtype).resolution`, docs/tiny.md §2.5 step 1, PR #192).
pub const F64_RESOLUTION: f64 = 1e-15;

/// How many times [`sym_eigen`] adds a (growing) multiple of the identity and retries.
const EIGEN_RETRIES: usize = 4;

/// Where the decompositions run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// faer, on the host's cores.
    #[default]
    Host,
    /// libtorch's f64 `linalg` on this device (`eigh`, `cholesky_ex` + `cholesky_solve`,
    /// `svd`); the host's on failure.
    Torch(tch::Device),
}

/// `(A + Aᵀ)/2`: symmetrise a matrix before `eigh` or Cholesky (docs/tiny.md §8).
///
/// # Panics
/// If `a` is not square.
pub fn symmetrize(a: MatRef<'_, f64>) -> Mat<f64> {
    assert_eq!(a.nrows(), a.ncols(), "symmetrize: matrix must be square");
    let n = a.nrows();
    Mat::from_fn(n, n, |i, j| 0.5 * (a[(i, j)] + a[(j, i)]))
}

/// Frobenius inner product `⟨A, B⟩ = tr(Aᵀ B) = Σ_ij A_ij B_ij` (used for
/// `d = tr(Mᵀ S⁻¹ M)`, docs/tiny.md §2.3), without forming `Aᵀ B`.
///
/// # Panics
/// If the shapes differ.
pub fn frobenius_inner(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
    assert_eq!(a.shape(), b.shape(), "frobenius_inner: shape mismatch");
    let mut acc = 0.0;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            acc += a[(i, j)] * b[(i, j)];
        }
    }
    acc
}

/// Trace of a square matrix.
///
/// # Panics
/// If `a` is not square.
pub fn trace(a: MatRef<'_, f64>) -> f64 {
    assert_eq!(a.nrows(), a.ncols(), "trace: matrix must be square");
    (0..a.nrows()).map(|i| a[(i, i)]).sum()
}

/// Symmetric eigendecomposition `A = Q Λ Qᵀ` with the eigenvalues in **descending**
/// order (`values[k]` belongs to column `k` of `vectors`).
#[derive(Clone, Debug)]
pub struct SymEigen {
    /// Eigenvalues, largest first.
    pub values: Vec<f64>,
    /// Orthonormal eigenvectors as columns, `n × n`.
    pub vectors: Mat<f64>,
}

/// Symmetric eigendecomposition of `(A + Aᵀ)/2` (docs/tiny.md §2.5 step 1, §8).
///
/// If faer's `self_adjoint_eigen` does not converge, `ε·I` is added and the
/// decomposition retried (PR #192 in GroMo), with `ε = F64_RESOLUTION · scale` growing by
/// 1e3 per retry (`scale` = largest absolute diagonal entry, at least 1). The reported
/// eigenvalues have the accumulated shift removed again. Returns `None` for non-finite
/// input or when every retry fails. A `0 × 0` input gives an empty decomposition.
///
/// # Panics
/// If `a` is not square.
pub fn sym_eigen(a: MatRef<'_, f64>) -> Option<SymEigen> {
    sym_eigen_on(a, Backend::Host)
}

/// [`sym_eigen`] on `backend` (on a device: `eigh` of the symmetrised matrix, no retry; the
/// host's with its retries when that fails).
pub fn sym_eigen_on(a: MatRef<'_, f64>, backend: Backend) -> Option<SymEigen> {
    assert_eq!(a.nrows(), a.ncols(), "sym_eigen: matrix must be square");
    if let Backend::Torch(device) = backend {
        if a.nrows() > 0 && a.is_all_finite() {
            if let Some(e) = torch_eigh(&symmetrize(a), device) {
                return Some(e);
            }
        }
    }
    let n = a.nrows();
    if n == 0 {
        return Some(SymEigen {
            values: Vec::new(),
            vectors: Mat::zeros(0, 0),
        });
    }
    if !a.is_all_finite() {
        return None;
    }
    let mut s = symmetrize(a);
    let scale = (0..n).map(|i| s[(i, i)].abs()).fold(1.0_f64, f64::max);
    let mut shift = 0.0;
    let mut eps = F64_RESOLUTION * scale;
    for _ in 0..=EIGEN_RETRIES {
        if let Ok(evd) = s.self_adjoint_eigen(Side::Lower) {
            // faer sorts the eigenvalues in nondecreasing order: reverse them.
            let asc: Vec<f64> = evd.S().column_vector().iter().copied().collect();
            let u = evd.U();
            let values: Vec<f64> = asc.iter().rev().map(|&l| l - shift).collect();
            let vectors = Mat::from_fn(n, n, |i, k| u[(i, n - 1 - k)]);
            if values.iter().all(|v| v.is_finite()) && vectors.is_all_finite() {
                return Some(SymEigen { values, vectors });
            }
        }
        for i in 0..n {
            s[(i, i)] += eps;
        }
        shift += eps;
        eps *= 1e3;
    }
    None
}

/// Eigenvalue cut used to decide which directions of a PSD matrix are numerically
/// present: `max(threshold, λ_max · n · f64::EPSILON)`.
///
/// The absolute `threshold` is GroMo's `numerical_threshold` (docs/tiny.md §2.5 step 1,
/// default 1e-6); the relative term only matters for matrices with very large entries,
/// where round-off alone exceeds the absolute threshold.
pub fn eigen_cut(max_eigenvalue: f64, n: usize, threshold: f64) -> f64 {
    let relative = max_eigenvalue.abs() * n as f64 * f64::EPSILON;
    threshold.max(relative)
}

/// The numerically present part of a symmetric PSD matrix: `A ≈ Q_r Λ_r Q_rᵀ` keeping
/// the eigenvalues `> cut` (see [`eigen_cut`]). It gives the pseudo-inverse and the
/// pseudo-inverse square root used by TINY (docs/tiny.md §2.3 fallback, §2.5 step 1).
#[derive(Clone, Debug)]
pub struct PsdFactor {
    /// `n × r` orthonormal eigenvectors of the kept eigenvalues.
    pub basis: Mat<f64>,
    /// The `r` kept eigenvalues, descending, all `> cut`.
    pub values: Vec<f64>,
    /// The cut that was applied.
    pub cut: f64,
    /// Number of dropped eigen-directions (`n − r`).
    pub dropped: usize,
}

impl PsdFactor {
    /// Size `n` of the factored matrix.
    pub fn dim(&self) -> usize {
        self.basis.nrows()
    }

    /// Rank `r` kept.
    pub fn rank(&self) -> usize {
        self.values.len()
    }

    /// Whitened right-hand side `Λ_r^{-1/2} Q_rᵀ B` (`r × k`). Note
    /// `A^{+1/2} B = Q_r · (Λ_r^{-1/2} Q_rᵀ B)`, and since `Q_r` has orthonormal columns the
    /// SVD of `A^{+1/2} B` is obtained from the SVD of this smaller matrix (docs/tiny.md §2.5).
    ///
    /// # Panics
    /// If `b.nrows() != self.dim()`.
    pub fn whiten(&self, b: MatRef<'_, f64>) -> Mat<f64> {
        assert_eq!(b.nrows(), self.dim(), "PsdFactor::whiten: shape mismatch");
        let mut out = self.basis.transpose() * b;
        for (k, &l) in self.values.iter().enumerate() {
            let f = 1.0 / l.sqrt();
            for j in 0..out.ncols() {
                out[(k, j)] *= f;
            }
        }
        out
    }

    /// `Λ_r^{p} C` for an `r × k` matrix `C` given in the basis `Q_r` (`p = -1/2`: the whitened
    /// `Λ_r^{-1/2} Q_rᵀ B` of [`PsdFactor::whiten`] from `C = Q_rᵀB`).
    ///
    /// # Panics
    /// If `c.nrows() != self.rank()`.
    pub fn scale_rows_pow(&self, c: MatRef<'_, f64>, p: f64) -> Mat<f64> {
        assert_eq!(
            c.nrows(),
            self.rank(),
            "PsdFactor::scale_rows_pow: shape mismatch"
        );
        Mat::from_fn(c.nrows(), c.ncols(), |k, j| {
            c[(k, j)] * self.values[k].powf(p)
        })
    }

    /// `Q_r Λ_r^{p} C` for a `r × k` matrix `C` (`p = -1/2` maps whitened coordinates
    /// back: `A^{+1/2} = Q_r Λ_r^{-1/2} Q_rᵀ`).
    ///
    /// # Panics
    /// If `c.nrows() != self.rank()`.
    pub fn unwhiten_pow(&self, c: MatRef<'_, f64>, p: f64) -> Mat<f64> {
        assert_eq!(
            c.nrows(),
            self.rank(),
            "PsdFactor::unwhiten_pow: shape mismatch"
        );
        &self.basis * &self.scale_rows_pow(c, p)
    }

    /// Pseudo-inverse square root `A^{+1/2} = Q_r Λ_r^{-1/2} Q_rᵀ` (docs/tiny.md §2.5 step 1).
    /// Dense `n × n`: prefer [`PsdFactor::whiten`] when only `A^{+1/2} B` is needed.
    pub fn inv_sqrt(&self) -> Mat<f64> {
        self.unwhiten_pow(self.basis.transpose(), -0.5)
    }

    /// Pseudo-inverse applied to `B`: `A⁺ B = Q_r Λ_r^{-1} Q_rᵀ B` (docs/tiny.md §2.3 fallback).
    ///
    /// # Panics
    /// If `b.nrows() != self.dim()`.
    pub fn pinv_apply(&self, b: MatRef<'_, f64>) -> Mat<f64> {
        assert_eq!(
            b.nrows(),
            self.dim(),
            "PsdFactor::pinv_apply: shape mismatch"
        );
        let mut c = self.basis.transpose() * b;
        for (k, &l) in self.values.iter().enumerate() {
            for j in 0..c.ncols() {
                c[(k, j)] /= l;
            }
        }
        &self.basis * &c
    }
}

/// Below this size [`psd_factor_on`] always decomposes fully (it costs little either way).
const SELECTIVE_MIN_DIM: usize = 32;

/// Truncated eigen-factor of the symmetric PSD matrix `A` (docs/tiny.md §2.5 step 1): keeps the
/// eigenvalues `> eigen_cut(λ_max, n, threshold)`. On the host, for `n ≥ 32`, only the kept
/// eigenvectors are computed when at most half are kept ([`top_eigen`], checked; else faer's
/// full decomposition, finished from the same tridiagonal reduction). Returns `None` if the
/// eigendecomposition fails (non-finite input, no convergence after the `ε·I` retries).
///
/// # Panics
/// If `a` is not square.
pub fn psd_factor(a: MatRef<'_, f64>, threshold: f64) -> Option<PsdFactor> {
    psd_factor_on(a, threshold, Backend::Host)
}

/// [`psd_factor`] with the eigendecomposition on `backend`.
pub fn psd_factor_on(a: MatRef<'_, f64>, threshold: f64, backend: Backend) -> Option<PsdFactor> {
    let n = a.nrows();
    if backend == Backend::Host && n >= SELECTIVE_MIN_DIM {
        // Only the kept eigenvectors when at most half are kept (docs/tiny.md §8); else the
        // full decomposition from the same reduction.
        let s = symmetrize(a);
        let cut_of = |max: f64| eigen_cut(max, n, threshold);
        let top = top_eigen::top_eigen(s.as_ref(), cut_of, n / 2);
        if let Some(top) = top {
            let r = top.values.len();
            return Some(PsdFactor {
                basis: top.vectors,
                values: top.values,
                cut: top.cut,
                dropped: n - r,
            });
        }
    }
    let evd = sym_eigen_on(a, backend)?;
    let max = evd.values.first().copied().unwrap_or(0.0);
    let cut = eigen_cut(max, n, threshold);
    let r = evd.values.iter().take_while(|&&l| l > cut).count();
    Some(PsdFactor {
        basis: evd.vectors.as_ref().subcols(0, r).to_owned(),
        values: evd.values[..r].to_vec(),
        cut,
        dropped: n - r,
    })
}

/// Pseudo-inverse square root `A^{+1/2}` of a symmetric PSD matrix with eigenvalues
/// `≤ threshold` dropped (docs/tiny.md §2.5 step 1). `None` if the eigendecomposition fails.
///
/// # Panics
/// If `a` is not square.
pub fn pinv_sqrt(a: MatRef<'_, f64>, threshold: f64) -> Option<Mat<f64>> {
    psd_factor(a, threshold).map(|f| f.inv_sqrt())
}

/// How [`solve_psd`] solved its system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SolveMethod {
    /// Cholesky factorisation of the symmetrised matrix: `X = S⁻¹ M`.
    Cholesky,
    /// Eigen pseudo-inverse with eigenvalues `≤ cut` dropped: `X = S⁺ M`.
    PseudoInverse,
}

/// Solve `S X = M` for a symmetric PSD `S` (docs/tiny.md §2.3 "ordinary linear solve, on
/// failure the pseudo-inverse").
///
/// First a Cholesky solve of `(S + Sᵀ)/2`; it is accepted when the factorisation
/// succeeds, every pivot `L_ii²` exceeds `eigen_cut(max_i S_ii, n, threshold)` (else `S`
/// is numerically singular and a direct solve would amplify round-off) and the result is
/// finite. Otherwise `X = S⁺ M` from [`psd_factor`]. Returns `None` only when both fail
/// (non-finite input). A `0 × 0` system gives a `0 × k` solution.
///
/// # Panics
/// If `s` is not square or `m.nrows() != s.nrows()`.
pub fn solve_psd(
    s: MatRef<'_, f64>,
    m: MatRef<'_, f64>,
    threshold: f64,
) -> Option<(Mat<f64>, SolveMethod)> {
    solve_psd_on(s, m, threshold, Backend::Host)
}

/// [`solve_psd`] with the decompositions on `backend`.
pub fn solve_psd_on(
    s: MatRef<'_, f64>,
    m: MatRef<'_, f64>,
    threshold: f64,
    backend: Backend,
) -> Option<(Mat<f64>, SolveMethod)> {
    assert_eq!(s.nrows(), s.ncols(), "solve_psd: S must be square");
    assert_eq!(s.nrows(), m.nrows(), "solve_psd: shape mismatch");
    let n = s.nrows();
    if n == 0 {
        return Some((Mat::zeros(0, m.ncols()), SolveMethod::Cholesky));
    }
    if !s.is_all_finite() || !m.is_all_finite() {
        return None;
    }
    if let Some(x) = solve_cholesky_on(s, m, threshold, backend) {
        return Some((x, SolveMethod::Cholesky));
    }
    solve_pinv_on(s, m, threshold, backend).map(|x| (x, SolveMethod::PseudoInverse))
}

/// Cholesky solve of `S X = M` with the pivot check described in [`solve_psd`].
pub fn solve_cholesky(s: MatRef<'_, f64>, m: MatRef<'_, f64>, threshold: f64) -> Option<Mat<f64>> {
    solve_cholesky_on(s, m, threshold, Backend::Host)
}

/// [`solve_cholesky`] on `backend` (the same pivot check; `None` when it fails there too, so
/// that the caller falls back to the pseudo-inverse).
pub fn solve_cholesky_on(
    s: MatRef<'_, f64>,
    m: MatRef<'_, f64>,
    threshold: f64,
    backend: Backend,
) -> Option<Mat<f64>> {
    let n = s.nrows();
    if n == 0 {
        return Some(Mat::zeros(0, m.ncols()));
    }
    let sym = symmetrize(s);
    let max_diag = (0..n).map(|i| sym[(i, i)]).fold(0.0_f64, f64::max);
    let cut = eigen_cut(max_diag, n, threshold);
    if let Backend::Torch(device) = backend {
        // On a libtorch error, the host's solve below.
        if let Ok(x) = torch_cholesky_solve(&sym, m, cut, device) {
            return x;
        }
    }
    let llt = sym.llt(Side::Lower).ok()?;
    let l = llt.L();
    if !(0..n).all(|i| l[(i, i)] * l[(i, i)] > cut) {
        return None;
    }
    let x = llt.solve(m);
    x.is_all_finite().then_some(x)
}

/// Pseudo-inverse solve `X = S⁺ M`, eigenvalues of `S` `≤ eigen_cut(λ_max, n, threshold)`
/// dropped (docs/tiny.md §2.3 fallback).
pub fn solve_pinv(s: MatRef<'_, f64>, m: MatRef<'_, f64>, threshold: f64) -> Option<Mat<f64>> {
    solve_pinv_on(s, m, threshold, Backend::Host)
}

/// [`solve_pinv`] with the eigendecomposition on `backend`.
pub fn solve_pinv_on(
    s: MatRef<'_, f64>,
    m: MatRef<'_, f64>,
    threshold: f64,
    backend: Backend,
) -> Option<Mat<f64>> {
    let f = psd_factor_on(s, threshold, backend)?;
    let x = f.pinv_apply(m);
    x.is_all_finite().then_some(x)
}

/// Thin singular value decomposition `A = U diag(s) Vᵀ`, `s` descending and `≥ 0`.
#[derive(Clone, Debug)]
pub struct ThinSvd {
    /// `m × q` left singular vectors, `q = min(m, n)`.
    pub u: Mat<f64>,
    /// `q` singular values, descending.
    pub s: Vec<f64>,
    /// `n × q` right singular vectors.
    pub v: Mat<f64>,
}

/// Thin SVD through faer (docs/tiny.md §2.5 step 2). Zero-sized input gives an empty
/// decomposition; non-finite input or non-convergence gives `None`.
pub fn thin_svd(a: MatRef<'_, f64>) -> Option<ThinSvd> {
    thin_svd_on(a, Backend::Host)
}

/// [`thin_svd`] on `backend`.
pub fn thin_svd_on(a: MatRef<'_, f64>, backend: Backend) -> Option<ThinSvd> {
    let (m, n) = a.shape();
    if m == 0 || n == 0 {
        return Some(ThinSvd {
            u: Mat::zeros(m, 0),
            s: Vec::new(),
            v: Mat::zeros(n, 0),
        });
    }
    if !a.is_all_finite() {
        return None;
    }
    if let Backend::Torch(device) = backend {
        if let Some(svd) = torch_svd(a, device) {
            return Some(svd);
        }
    }
    let svd = a.thin_svd().ok()?;
    let s: Vec<f64> = svd.S().column_vector().iter().copied().collect();
    if s.iter().any(|x| !x.is_finite()) {
        return None;
    }
    Some(ThinSvd {
        u: svd.U().to_owned(),
        s,
        v: svd.V().to_owned(),
    })
}

/// `eigh` of a symmetric matrix on `device`, eigenvalues descending; `None` on failure or
/// non-finite output.
fn torch_eigh(a: &Mat<f64>, device: tch::Device) -> Option<SymEigen> {
    let n = a.nrows();
    let (values, vectors) = column_major(a.as_ref())
        .to_device(device)
        .f_linalg_eigh("L")
        .ok()?;
    let asc = Vec::<f64>::try_from(&values.to_device(tch::Device::Cpu)).ok()?;
    let u = to_mat(&vectors).ok()?;
    let u = Mat::from_fn(n, n, |i, k| u[(i, n - 1 - k)]); // descending: columns reversed
    let values: Vec<f64> = asc.iter().rev().copied().collect();
    (values.len() == n && values.iter().all(|v| v.is_finite()) && u.is_all_finite())
        .then_some(SymEigen { values, vectors: u })
}

/// Cholesky solve on `device` with [`solve_cholesky`]'s pivot check (`Ok(None)`: singular
/// by that check, or non-finite; `Err`: libtorch failed).
fn torch_cholesky_solve(
    sym: &Mat<f64>,
    m: MatRef<'_, f64>,
    cut: f64,
    device: tch::Device,
) -> std::result::Result<Option<Mat<f64>>, tch::TchError> {
    let (l, info) = column_major(sym.as_ref())
        .to_device(device)
        .f_linalg_cholesky_ex(false, false)?;
    if info.f_int64_value(&[])? != 0 {
        return Ok(None);
    }
    let pivots = l.f_diagonal(0, 0, 1)?.f_square()?;
    if pivots.f_le(cut)?.f_any()?.f_int64_value(&[])? != 0 {
        return Ok(None);
    }
    let x = column_major(m)
        .to_device(device)
        .f_cholesky_solve(&l, false)?;
    Ok(to_mat(&x).ok().filter(|x| x.is_all_finite()))
}

/// Thin SVD on `device`; `None` on failure or non-finite output.
fn torch_svd(a: MatRef<'_, f64>, device: tch::Device) -> Option<ThinSvd> {
    let (u, s, v) = column_major(a).to_device(device).f_svd(true, true).ok()?;
    let s = Vec::<f64>::try_from(&s.to_device(tch::Device::Cpu)).ok()?;
    let (u, v) = (to_mat(&u).ok()?, to_mat(&v).ok()?);
    (s.iter().all(|x| x.is_finite()) && u.is_all_finite() && v.is_all_finite()).then_some(ThinSvd {
        u,
        s,
        v,
    })
}

/// Converts a 2-D f64 tensor to a faer matrix.
pub fn to_mat(t: &Tensor) -> Result<Mat<f64>> {
    let (r, c) = t.size2().map_err(Error::Torch)?;
    // faer is column-major: the transpose's rows are the columns (no copy when `t` is
    // column-major already, as LAPACK's and cuSOLVER's outputs are).
    let cols = t.to_device(tch::Device::Cpu).tr().contiguous();
    let v = Vec::<f64>::try_from(&cols.flatten(0, -1))?;
    let (r, c) = (r as usize, c as usize);
    let mut m = Mat::zeros(r, c);
    for j in 0..c {
        m.col_as_slice_mut(j)
            .copy_from_slice(&v[j * r..(j + 1) * r]);
    }
    Ok(m)
}

/// Converts a faer matrix to a tensor of `kind` on `device`.
pub fn from_mat(m: &Mat<f64>, kind: Kind, device: tch::Device) -> Tensor {
    column_major(m.as_ref())
        .to_kind(kind)
        .to_device(device)
        .contiguous()
}

/// `a` as a 2-D f64 CPU tensor in faer's (and LAPACK's) column-major layout: the transpose of
/// a row-major `[c, r]` buffer of its columns, made without a transposing copy.
fn column_major(a: MatRef<'_, f64>) -> Tensor {
    let (r, c) = a.shape();
    let mut v = Vec::with_capacity(r * c);
    for j in 0..c {
        match a.col(j).try_as_col_major() {
            Some(col) => v.extend_from_slice(col.as_slice()),
            None => v.extend(a.col(j).iter().copied()),
        }
    }
    Tensor::from_slice(&v).view([c as i64, r as i64]).tr()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_abs_diff(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
        let mut m = 0.0_f64;
        for j in 0..a.ncols() {
            for i in 0..a.nrows() {
                m = m.max((a[(i, j)] - b[(i, j)]).abs());
            }
        }
        m
    }

    /// libtorch's decompositions (on the CPU here) against faer's: the same eigenvalues,
    /// singular values, solves and reconstructions; vectors up to each one's sign.
    #[test]
    fn torch_backend_matches_the_host() {
        let torch = Backend::Torch(tch::Device::Cpu);
        // A full-rank 7×5 matrix with distinct singular values.
        let b = Mat::from_fn(7, 5, |i, j| {
            ((i * 31 + j * 17 + i * j * 7) % 23) as f64 / 23.0 - 0.5
                + if i == j { j as f64 } else { 0.0 }
        });
        let s = b.transpose() * &b; // 5×5, PSD
        let m = Mat::from_fn(5, 2, |i, j| (i + 2 * j) as f64 - 1.5);
        let (h, t) = (
            sym_eigen(s.as_ref()).unwrap(),
            sym_eigen_on(s.as_ref(), torch).unwrap(),
        );
        for k in 0..5 {
            assert!((h.values[k] - t.values[k]).abs() < 1e-12, "eigenvalue {k}");
            let dot: f64 = (0..5).map(|i| h.vectors[(i, k)] * t.vectors[(i, k)]).sum();
            assert!(
                (dot.abs() - 1.0).abs() < 1e-9,
                "eigenvector {k} (dot {dot})"
            );
        }
        let (xh, how) = solve_psd(s.as_ref(), m.as_ref(), 1e-9).unwrap();
        let (xt, how_t) = solve_psd_on(s.as_ref(), m.as_ref(), 1e-9, torch).unwrap();
        assert_eq!(how, how_t);
        assert!(max_abs_diff(xh.as_ref(), xt.as_ref()) < 1e-9);
        // Singular: both fall back to the same pseudo-inverse.
        let sing = Mat::from_fn(3, 3, |i, j| ((i + 1) * (j + 1)) as f64);
        let r = Mat::from_fn(3, 1, |i, _| i as f64);
        let (ph, _) = solve_psd(sing.as_ref(), r.as_ref(), 1e-6).unwrap();
        let (pt, how_t) = solve_psd_on(sing.as_ref(), r.as_ref(), 1e-6, torch).unwrap();
        assert_eq!(how_t, SolveMethod::PseudoInverse);
        assert!(max_abs_diff(ph.as_ref(), pt.as_ref()) < 1e-9);
        let (sh, st) = (
            thin_svd(b.as_ref()).unwrap(),
            thin_svd_on(b.as_ref(), torch).unwrap(),
        );
        assert_eq!((st.u.shape(), st.v.shape()), ((7, 5), (5, 5)));
        for k in 0..5 {
            assert!((sh.s[k] - st.s[k]).abs() < 1e-12, "singular value {k}");
        }
        let back = &st.u
            * Mat::from_fn(5, 5, |i, j| if i == j { st.s[i] } else { 0.0 })
            * st.v.transpose();
        assert!(max_abs_diff(back.as_ref(), b.as_ref()) < 1e-12);
    }

    #[test]
    fn eigen_is_descending_and_reconstructs() {
        let a = Mat::from_fn(4, 4, |i, j| 1.0 / (1.0 + i as f64 + j as f64));
        let e = sym_eigen(a.as_ref()).expect("eigh");
        assert!(e.values.windows(2).all(|w| w[0] >= w[1]));
        let d = Mat::from_fn(4, 4, |i, j| if i == j { e.values[i] } else { 0.0 });
        let rec = &e.vectors * &d * e.vectors.transpose();
        assert!(max_abs_diff(rec.as_ref(), a.as_ref()) < 1e-12);
    }

    #[test]
    fn pinv_sqrt_truncates_small_eigenvalues() {
        // rank-1 matrix v vᵀ plus a direction with eigenvalue 1e-9 (below 1e-6).
        let v = [1.0, 2.0, 2.0];
        let a = Mat::from_fn(3, 3, |i, j| {
            v[i] * v[j] + if i == 2 && j == 2 { 1e-9 } else { 0.0 }
        });
        let f = psd_factor(a.as_ref(), 1e-6).expect("factor");
        assert_eq!(f.rank(), 1);
        let r = f.inv_sqrt();
        assert!(r.is_all_finite());
        // A^{+1/2} A A^{+1/2} is the projector on v: its trace is 1.
        let p = &r * &a * &r;
        assert!((trace(p.as_ref()) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn solve_uses_cholesky_then_pinv() {
        let s = Mat::from_fn(3, 3, |i, j| if i == j { 2.0 } else { 0.5 });
        let m = Mat::from_fn(3, 2, |i, j| (i + 2 * j) as f64);
        let (x, how) = solve_psd(s.as_ref(), m.as_ref(), 1e-6).expect("solve");
        assert_eq!(how, SolveMethod::Cholesky);
        assert!(max_abs_diff((&s * &x).as_ref(), m.as_ref()) < 1e-12);

        // Singular S (two equal rows); M in its range.
        let s = Mat::from_fn(3, 3, |i, j| {
            let a = [1.0, 1.0, 0.5];
            a[i] * a[j] + if i == j && i == 2 { 1.0 } else { 0.0 }
        });
        let m = &s * Mat::from_fn(3, 1, |i, _| i as f64 + 1.0);
        let (x, how) = solve_psd(s.as_ref(), m.as_ref(), 1e-6).expect("solve");
        assert_eq!(how, SolveMethod::PseudoInverse);
        assert!(max_abs_diff((&s * &x).as_ref(), m.as_ref()) < 1e-10);
        // Minimum-norm solution: equal weight on the two identical directions.
        assert!((x[(0, 0)] - x[(1, 0)]).abs() < 1e-10);
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let z = Mat::<f64>::zeros(0, 0);
        assert!(sym_eigen(z.as_ref()).is_some());
        assert_eq!(pinv_sqrt(z.as_ref(), 1e-6).map(|m| m.nrows()), Some(0));
        let (x, _) = solve_psd(z.as_ref(), Mat::<f64>::zeros(0, 3).as_ref(), 1e-6).expect("solve");
        assert_eq!(x.shape(), (0, 3));
        let svd = thin_svd(Mat::<f64>::zeros(0, 4).as_ref()).expect("svd");
        assert_eq!((svd.u.shape(), svd.v.shape()), ((0, 0), (4, 0)));
        // All-zero matrix: everything truncated, finite zero pseudo-inverse.
        let zero = Mat::<f64>::zeros(3, 3);
        let (x, how) =
            solve_psd(zero.as_ref(), Mat::<f64>::zeros(3, 2).as_ref(), 1e-6).expect("solve");
        assert_eq!(how, SolveMethod::PseudoInverse);
        assert_eq!(x.norm_max(), 0.0);
        // Non-finite input: reported, not a panic.
        let mut nan = Mat::<f64>::identity(2, 2);
        nan[(0, 1)] = f64::NAN;
        assert!(sym_eigen(nan.as_ref()).is_none());
        assert!(solve_psd(nan.as_ref(), Mat::<f64>::zeros(2, 1).as_ref(), 1e-6).is_none());
        assert!(thin_svd(nan.as_ref()).is_none());
    }
}
