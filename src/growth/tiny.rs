//! TINY closed forms ("Growing Tiny Networks", Verbockhaven et al., TMLR 2024), pure `f64`.
//!
//! This module turns the second-order statistics of one *growth site* into
//!
//! * the best update `δ` of the existing weights of the consumer layer `l`
//!   ([`best_update`], docs/tiny.md §2.3), and
//! * the optimal new neurons of the hidden layer between the producer layer `l-1` and
//!   the consumer layer `l`, with their first-order loss decrease
//!   ([`propose_neurons`], docs/tiny.md §2.4–2.7).
//!
//! It knows nothing about tensors: the caller accumulates the statistics
//! ([`SiteStatistics`], docs/tiny.md §2.2) with whatever backend it trains with, converts the
//! averages to `faer::Mat<f64>`, and applies the returned proposal to its layers.
//!
//! # Conventions (docs/tiny.md §1)
//! * `G` stacks the per-sample gradients `g_i = ∂ℓ_i/∂a(x_i)` of the **per-sample** loss
//!   (back-propagate the summed loss) w.r.t. the pre-activation `a` of the consumer layer;
//!   the desired move is `v_goal = −g`. All statistics are averages (sum / n).
//! * Augmented inputs `b̃ = [b; 1]` when the layer has a bias; the last coordinate of
//!   `S`, `M`, `P` (consumer side) and of `S₂`, `M₂`, `P` (producer side) is then the bias.
//! * Applying a proposal with amplitude `s` (docs/tiny.md §2.8): the producer `W_{l-1}` gets the
//!   new output rows `s·α` (last column = their bias), the consumer `W_l` gets the new input
//!   columns `s·ω`, and `W_l ← W_l − s²·δ` (`δ` has the bias in its last column). The loss
//!   then changes by `−s²·fo_with_cross + o(s²)` for an activation with `σ(0) = 0`.
//!
//! # Example
//! Learning the identity in one growth step (docs/tiny.md §7 check 12): two indicator inputs,
//! an empty hidden layer without bias, a zero output and the target `y = x`, so
//! `G = out − y = −x` for the loss `½‖out − y‖²`.
//! ```
//! use faer::Mat;
//! use grownet::growth::tiny::{propose_neurons, SiteStatistics, TinyOptions};
//!
//! let x = Mat::<f64>::identity(2, 2); // producer input B̃₋₂ (no bias column)
//! let h = Mat::<f64>::zeros(2, 0); // consumer input B̃₋₁: the hidden layer is empty
//! let g = Mat::from_fn(2, 2, |i, j| -x[(i, j)]); // G = −x
//! let stats = SiteStatistics::from_samples(x.as_ref(), h.as_ref(), g.as_ref(), false, true);
//! let p = propose_neurons(&stats, 1.0, &TinyOptions::tiny());
//! assert_eq!(p.lambdas.len(), 2); // two neurons, λ = 1/√2 each
//! assert!((p.fo_gromo - 1.0).abs() < 1e-12); // Σλ² = 1: the loss ½ drops by s²·1
//! // With s = 1 the new neurons reproduce the identity: Θ = αᵀωᵀ = I.
//! let theta = p.alpha.transpose() * p.omega.transpose();
//! assert!((theta[(0, 0)] - 1.0).abs() < 1e-12 && theta[(0, 1)].abs() < 1e-12);
//! ```

use std::sync::Arc;

use faer::{Mat, MatRef};

use super::linalg::{self, PsdFactor, SolveMethod};

/// A λ is treated as exactly zero (no neuron proposed for it) when
/// `λ ≤ ZERO_LAMBDA_REL · λ_scale`, where `λ_scale` bounds every possible λ:
/// `√tr(E)` with the S₂ metric (Σλ² ≤ Ψ ≤ tr E, docs/tiny.md §2.6) and `√(tr S₂ · tr E)` without
/// it (Cauchy–Schwarz on `M₂`). Such a λ explains at most a `1e-14` fraction of the
/// gradient energy: it only comes from dead neurons, a zero bottleneck or round-off.
pub const ZERO_LAMBDA_REL: f64 = 1e-7;

/// A known truncated eigen-factor of `S₂` ([`linalg::psd_factor`] at `threshold`).
#[derive(Clone, Debug)]
pub struct S2Factor {
    pub threshold: f64,
    pub factor: PsdFactor,
}

/// Second-order statistics of one growth site, already averaged (sum / n) — docs/tiny.md §2.2.
///
/// Shapes: `d1` = hidden width (inputs of the consumer layer `l`), `d2` = inputs of the
/// producer layer `l-1`, `d` = outputs of the consumer layer. The `+1` is present only when
/// the corresponding layer has a bias (augmented vectors, last coordinate = 1).
#[derive(Clone, Debug)]
pub struct SiteStatistics {
    /// `S = B̃₋₁ᵀB̃₋₁/n`, `(d1+1)²`: input covariance of the consumer layer `l`.
    pub s: Mat<f64>,
    /// `M = B̃₋₁ᵀG/n`, `(d1+1)×d`.
    pub m: Mat<f64>,
    /// `S₂ = B̃₋₂ᵀB̃₋₂/n`, `(d2+1)²`: input covariance of the producer layer `l-1`.
    pub s2: Mat<f64>,
    /// `M₂ = B̃₋₂ᵀG/n`, `(d2+1)×(d·taps)`; with several taps the columns are ordered
    /// (output, tap) as a conv weight `[d, k, k]` flattens. `Q_rᵀM₂`, `r` rows, when
    /// [`SiteStatistics::in_basis`].
    pub m2: Mat<f64>,
    /// `P = B̃₋₂ᵀB̃₋₁/n`, `(taps·(d2+1))×(d1+1)`: one block of rows per tap. `Q_rᵀP` when
    /// [`SiteStatistics::in_basis`].
    pub p: Mat<f64>,
    /// `N` (and the cross term's `M₂` part) from the rows the statistics pass kept, when
    /// neither `P` nor `M₂` was built (then `p` and `m2` are empty, 0×0): the full conv
    /// neuron's statistics in one process (docs/tiny.md §3.2, "`N` without `P` or `M₂`").
    /// [`SiteStatistics::n_matrix`] reads whichever is there.
    pub deferred: Option<DeferredN>,
    /// Consumer kernel taps a new neuron's fan-out covers: 1 for a linear consumer and for
    /// the restricted conv neuron (1×1 fan-out at the kernel centre), `k²` for the full conv
    /// neuron (docs/tiny.md §3.2, "Full": `M₂[a, (c, e)]`, `P[e, a, b]`).
    pub taps: usize,
    /// Optional `E = GᵀG/n`, `d×d` (gradient covariance).
    pub e: Option<Mat<f64>>,
    /// `tr(GᵀG/n)`, always available; gives the bottleneck `Ψ = tr E − d` (docs/tiny.md §2.4).
    pub trace_e: f64,
    /// Number of samples averaged.
    pub n: usize,
    /// `S₂`'s truncated eigen-factor when it is already known (the input moment,
    /// docs/tiny.md §2.2); used when its threshold is the one asked for, else recomputed
    /// (always used when [`SiteStatistics::in_basis`]: the coordinates refer to it).
    pub s2_factor: Option<Arc<S2Factor>>,
    /// Whether `M₂` and `P` are given in the basis `Q_r` of [`SiteStatistics::s2_factor`]'s
    /// kept eigenvectors (`Q_rᵀM₂`, `Q_rᵀP`: `r` rows instead of `d2+1`): all that the whitened
    /// solve and the cross term read (docs/tiny.md §2.5, "In the input moment's basis"). One
    /// tap only; see [`SiteStatistics::into_basis`].
    pub in_basis: bool,
    /// Whether the consumer layer has a bias, i.e. whether the last coordinate of `S`,
    /// `M` and of the columns of `P` is the constant 1. With it the hidden width is
    /// `s.nrows() − 1`, without it `s.nrows()`; a hidden width of 0 is an *empty* hidden
    /// layer (docs/tiny.md §2.11: no δ, no projection).
    pub consumer_bias: bool,
}

impl SiteStatistics {
    /// Averages of the per-sample matrices (docs/tiny.md §2.2): `b2 = B̃₋₂` (`n×(d2+1)`),
    /// `b1 = B̃₋₁` (`n×(d1+1)`), `g = G` (`n×d`), each already augmented with the ones column
    /// where the layer has a bias. `with_e` also stores the full `E`. With `n = 0` every
    /// statistic is zero.
    ///
    /// # Panics
    /// If the three matrices do not have the same number of rows.
    pub fn from_samples(
        b2: MatRef<'_, f64>,
        b1: MatRef<'_, f64>,
        g: MatRef<'_, f64>,
        consumer_bias: bool,
        with_e: bool,
    ) -> Self {
        let n = g.nrows();
        assert!(
            b2.nrows() == n && b1.nrows() == n,
            "SiteStatistics::from_samples: B̃₋₂, B̃₋₁ and G need the same number of rows"
        );
        let inv = if n == 0 { 0.0 } else { 1.0 / n as f64 };
        let avg = |a: MatRef<'_, f64>, b: MatRef<'_, f64>| {
            let mut out = a.transpose() * b;
            for j in 0..out.ncols() {
                for i in 0..out.nrows() {
                    out[(i, j)] *= inv;
                }
            }
            out
        };
        let trace_e = linalg::frobenius_inner(g, g) * inv;
        Self {
            s: avg(b1, b1),
            m: avg(b1, g),
            s2: avg(b2, b2),
            m2: avg(b2, g),
            p: avg(b2, b1),
            e: with_e.then(|| avg(g, g)),
            trace_e,
            n,
            s2_factor: None,
            in_basis: false,
            consumer_bias,
            taps: 1,
            deferred: None,
        }
    }

    /// The same statistics with `M₂` and `P` in the basis of `factor`'s kept eigenvectors
    /// (`Q_rᵀM₂`, `Q_rᵀP`), which becomes the known factor of `S₂` (docs/tiny.md §2.5, "In the
    /// input moment's basis"). The proposal is the one from `factor` in full coordinates.
    ///
    /// # Panics
    /// If the statistics have several taps, a deferred `Pδᵀ`, are already in a basis, or
    /// `factor` is not a factor of a `(d2+1)×(d2+1)` matrix.
    pub fn into_basis(mut self, factor: Arc<S2Factor>) -> Self {
        assert!(
            self.taps == 1 && self.deferred.is_none() && !self.in_basis,
            "SiteStatistics::into_basis: one tap, P built, not yet in a basis"
        );
        let q = &factor.factor.basis;
        assert_eq!(
            q.nrows(),
            self.s2.nrows(),
            "SiteStatistics::into_basis: shape"
        );
        self.m2 = q.transpose() * &self.m2;
        self.p = q.transpose() * &self.p;
        self.s2_factor = Some(factor);
        self.in_basis = true;
        self
    }

    /// `M₂` and `P` back in the producer's coordinates, `Q_r(Q_rᵀM₂)` and `Q_r(Q_rᵀP)` (a
    /// clone when not [`SiteStatistics::in_basis`]).
    pub fn to_full(&self) -> Self {
        let mut out = self.clone();
        if let (Some(f), true) = (&self.s2_factor, self.in_basis) {
            out.m2 = &f.factor.basis * &self.m2;
            out.p = &f.factor.basis * &self.p;
            out.in_basis = false;
        }
        out
    }

    /// Rows of `M₂` (and of each tap's block of `P`): `d2+1`, or the kept rank `r` when
    /// [`SiteStatistics::in_basis`].
    pub fn rows(&self) -> usize {
        match (&self.s2_factor, self.in_basis) {
            (Some(f), true) => f.factor.rank(),
            _ => self.s2.nrows(),
        }
    }

    /// Weighted average of two sets of statistics of the same site (`n`-weighted, as
    /// when the running sums of two statistical batches are added; docs/tiny.md §2.2). `E` is
    /// kept only if both have it.
    ///
    /// # Panics
    /// If the shapes or the `consumer_bias` flags differ.
    pub fn merge(&self, other: &Self) -> Self {
        assert!(
            self.deferred.is_none() && other.deferred.is_none(),
            "SiteStatistics::merge: P was not built"
        );
        assert_eq!(
            self.consumer_bias, other.consumer_bias,
            "SiteStatistics::merge: consumer_bias differs"
        );
        assert_eq!(self.taps, other.taps, "SiteStatistics::merge: taps differ");
        assert!(
            !self.in_basis && !other.in_basis,
            "SiteStatistics::merge: M₂ in a basis"
        );
        let n = self.n + other.n;
        let (wa, wb) = if n == 0 {
            (0.0, 0.0)
        } else {
            (self.n as f64 / n as f64, other.n as f64 / n as f64)
        };
        let mix = |a: &Mat<f64>, b: &Mat<f64>| {
            assert_eq!(
                a.shape(),
                b.shape(),
                "SiteStatistics::merge: shape mismatch"
            );
            Mat::from_fn(a.nrows(), a.ncols(), |i, j| wa * a[(i, j)] + wb * b[(i, j)])
        };
        Self {
            s: mix(&self.s, &other.s),
            m: mix(&self.m, &other.m),
            s2: mix(&self.s2, &other.s2),
            m2: mix(&self.m2, &other.m2),
            p: mix(&self.p, &other.p),
            e: match (&self.e, &other.e) {
                (Some(a), Some(b)) => Some(mix(a, b)),
                _ => None,
            },
            trace_e: wa * self.trace_e + wb * other.trace_e,
            n,
            s2_factor: None,
            in_basis: false,
            consumer_bias: self.consumer_bias,
            taps: self.taps,
            deferred: None,
        }
    }

    /// Number of existing hidden neurons `d1` (inputs of the consumer layer, bias excluded).
    pub fn hidden_width(&self) -> usize {
        self.s
            .nrows()
            .saturating_sub(usize::from(self.consumer_bias))
    }

    /// Output width `d` of the consumer layer.
    pub fn output_dim(&self) -> usize {
        self.m.ncols()
    }

    /// Augmented input width `d2(+1)` of the producer layer.
    pub fn producer_dim(&self) -> usize {
        self.s2.nrows()
    }

    /// Check that the shapes are consistent (see the field docs).
    pub fn check_shapes(&self) -> Result<(), String> {
        let c1 = self.s.nrows();
        let c2 = self.s2.nrows();
        let d = self.m.ncols();
        let taps = self.taps;
        let mut errs = Vec::new();
        if taps == 0 {
            errs.push("taps is 0".to_string());
        }
        if self.s.ncols() != c1 {
            errs.push(format!("S is {:?}, not square", self.s.shape()));
        }
        if self.s2.ncols() != c2 {
            errs.push(format!("S₂ is {:?}, not square", self.s2.shape()));
        }
        if self.m.nrows() != c1 {
            errs.push(format!("M is {:?}, expected ({c1}, d)", self.m.shape()));
        }
        if self.in_basis && (self.s2_factor.is_none() || taps != 1 || self.deferred.is_some()) {
            errs.push("M₂ in a basis needs S₂'s factor, one tap and P".to_string());
        }
        let r = self.rows();
        if self.deferred.is_none() && self.m2.shape() != (r, d * taps) {
            errs.push(format!(
                "M₂ is {:?}, expected ({r}, {})",
                self.m2.shape(),
                d * taps
            ));
        }
        if self.deferred.is_none() && self.p.shape() != (r * taps, c1) {
            errs.push(format!(
                "P is {:?}, expected ({}, {c1})",
                self.p.shape(),
                r * taps
            ));
        }
        if let Some(e) = &self.e {
            if e.shape() != (d, d) {
                errs.push(format!("E is {:?}, expected ({d}, {d})", e.shape()));
            }
        }
        if self.consumer_bias && c1 == 0 {
            errs.push("consumer_bias is set but S is 0×0".to_string());
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs.join("; "))
        }
    }

    /// Whether every statistic is finite.
    pub fn is_finite(&self) -> bool {
        self.s.is_all_finite()
            && self.m.is_all_finite()
            && self.s2.is_all_finite()
            && self.m2.is_all_finite()
            && self.p.is_all_finite()
            && self.e.as_ref().is_none_or(|e| e.is_all_finite())
            && self.trace_e.is_finite()
    }

    /// `N = −M₂ + Pδᵀ` (docs/tiny.md §2.4), `(d2+1)×(d·taps)` (`r` rows
    /// [`SiteStatistics::in_basis`]), or `−M₂` without δ (no projection), and `Pδᵀ` when it was
    /// formed on its own (from `P`; with [`DeferredN`] only `N` is formed). `None` if the kept
    /// rows could not be multiplied.
    pub fn n_matrix(&self, delta: Option<&Mat<f64>>) -> Option<(Mat<f64>, Option<Mat<f64>>)> {
        if let Some(deferred) = &self.deferred {
            return Some(((deferred.n)(delta)?, None));
        }
        let minus_m2 = Mat::from_fn(self.m2.nrows(), self.m2.ncols(), |i, j| -self.m2[(i, j)]);
        Some(match delta {
            Some(delta) => {
                let pd = project(&self.p, delta, self.taps);
                (minus_m2 + &pd, Some(pd))
            }
            None => (minus_m2, None),
        })
    }

    /// `Σ_k α_kᵀ M₂ ω_k` for fan-in columns `alpha_cols` (`(d2+1)×K`, in the producer's
    /// coordinates) and fan-outs `omega` (`(d·taps)×K`); `None` if the kept rows could not be
    /// multiplied. Not for statistics [`SiteStatistics::in_basis`].
    pub fn alpha_m2_omega(&self, alpha_cols: &Mat<f64>, omega: &Mat<f64>) -> Option<f64> {
        match &self.deferred {
            Some(deferred) => (deferred.m2_pairs)(alpha_cols, omega),
            None => Some(-cross_term(&self.m2, alpha_cols, omega)),
        }
    }
}

/// `N` computed without `P` or `M₂` (docs/tiny.md §3.2, "`N` without `P` or `M₂`"): for the
/// full conv neuron `P` has `d₁ + 1` columns per tap, of which `N` only reads the product with
/// `δᵀ`, so the statistics pass keeps the rows it would have multiplied and `n` forms
/// `Σ B̃₋₂,eᵀ (B̃₋₁δᵀ − G)` once δ is known, in [`project`]'s layout; `m2_pairs` gives the
/// cross term's `Σ_k α_kᵀ M₂ ω_k` (docs/tiny.md §2.6) from the same rows.
#[derive(Clone)]
pub struct DeferredN {
    /// `δ ↦ N` (`None`: `−M₂`); `None` when the kept rows could not be multiplied.
    pub n: std::rc::Rc<NFn>,
    /// `(α columns, ω) ↦ Σ_k α_kᵀ M₂ ω_k`.
    pub m2_pairs: std::rc::Rc<PairsFn>,
}

/// `δ ↦ N` of [`DeferredN`].
pub type NFn = dyn Fn(Option<&Mat<f64>>) -> Option<Mat<f64>>;
/// `(α columns, ω) ↦ Σ_k α_kᵀ M₂ ω_k` of [`DeferredN`].
pub type PairsFn = dyn Fn(&Mat<f64>, &Mat<f64>) -> Option<f64>;

impl std::fmt::Debug for DeferredN {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeferredN")
    }
}

/// Options of the TINY computation, named after GroMo's `compute_optimal_updates`
/// (docs/tiny.md §2.11).
#[derive(Clone, Debug, PartialEq)]
pub struct TinyOptions {
    /// Apply the best update `δ` of the existing weights (else δ is only used for the
    /// projection and `decrease_delta = 0`).
    pub compute_delta: bool,
    /// Use the `S₂` metric (`S₂^{-1/2}`); `false` means `S₂ := I` (GradMax).
    pub use_covariance: bool,
    /// Zero the new fan-in `α` after solving (GradMax). The first-order terms of the
    /// proposal are still those of the α before zeroing (GroMo's convention): with `α = 0`
    /// the new neurons change nothing at first order, but the loss gradient w.r.t. α_k
    /// has norm `σ'(0)·λ_k` when `ignore_singular_values` and `use_covariance = false`.
    pub alpha_zero: bool,
    /// Fit the projected update `N = −M₂ + Pδᵀ` (TINY) instead of `N = −M₂`.
    pub use_projection: bool,
    /// Scale `α`, `ω` by 1 instead of `√λ` (GradMax); the FO then uses `Σλ`, not `Σλ²`.
    pub ignore_singular_values: bool,
    /// Eigenvalues of `S` / `S₂` at or below this are dropped (default 1e-6).
    pub numerical_threshold: f64,
    /// Keep `λ_k ≥ min(statistical_threshold, λ_max)` (default 1e-3, docs/tiny.md §2.7).
    pub statistical_threshold: f64,
    /// Cap on the number of neurons (`None`: no cap).
    pub max_added_neurons: Option<usize>,
    /// Damping `ε` of the δ that is applied (not of the δ of the projection and Ψ):
    /// `δ = ((S + μI)⁻¹M)ᵀ` with `μ = ε·tr(S)/n`, the ridge fit of the desired change;
    /// 0: the exact best update (docs/tiny.md §2.15).
    pub delta_damping: f64,
    /// Where the decompositions run (docs/tiny.md §8).
    pub backend: linalg::Backend,
}

impl Default for TinyOptions {
    fn default() -> Self {
        Self::tiny()
    }
}

impl TinyOptions {
    /// GroMo's library default: TINY plus the δ step (docs/tiny.md §2.11).
    pub fn tiny() -> Self {
        Self {
            compute_delta: true,
            use_covariance: true,
            alpha_zero: false,
            use_projection: true,
            ignore_singular_values: false,
            numerical_threshold: 1e-6,
            statistical_threshold: 1e-3,
            max_added_neurons: None,
            delta_damping: 0.0,
            backend: linalg::Backend::Host,
        }
    }

    /// The TINY paper preset: δ computed for the projection but not applied (§2.11).
    pub fn tiny_paper() -> Self {
        Self {
            compute_delta: false,
            ..Self::tiny()
        }
    }

    /// GradMax: `S₂ := I`, `N = −M₂`, `α := 0` after solving, singular values ignored
    /// (docs/tiny.md §2.5, §2.11).
    pub fn gradmax() -> Self {
        Self {
            compute_delta: false,
            use_covariance: false,
            alpha_zero: true,
            use_projection: false,
            ignore_singular_values: true,
            ..Self::tiny()
        }
    }
}

/// How δ was obtained ([`best_update`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeltaSolver {
    /// Direct (Cholesky) solve of `S X = M`.
    Direct,
    /// Pseudo-inverse of `S` (singular `S`, or negative `d` from the direct solve).
    PseudoInverse,
    /// `d` was still negative with the pseudo-inverse: `δ = 0`, `d = 0`.
    ZeroedNegative,
    /// Both solvers failed (non-finite statistics): `δ = 0`, `d = 0`.
    Failed,
    /// Empty hidden layer (no existing neuron): no δ (docs/tiny.md §2.11).
    EmptyLayer,
}

/// Best update of the existing weights of the consumer layer (docs/tiny.md §2.3).
#[derive(Clone, Debug)]
pub struct BestUpdate {
    /// `δ = (S⁻¹M)ᵀ`, `d×(d1+1)`; apply as `W_l ← W_l − γ·δ` (last column: bias).
    pub delta: Mat<f64>,
    /// First-order decrease `d = tr(Mᵀ S⁻¹ M) ≥ 0`: `L(W − tδ) = L − t·d + o(t)`.
    pub decrease: f64,
    /// Which solver produced δ.
    pub solver: DeltaSolver,
}

impl BestUpdate {
    /// `δ = 0` (`d×c1`) and `d = 0`, recorded as `solver`'s outcome.
    fn zero(d: usize, c1: usize, solver: DeltaSolver) -> Self {
        BestUpdate {
            delta: Mat::zeros(d, c1),
            decrease: 0.0,
            solver,
        }
    }
}

/// Best update of the existing weights, `δ = (S⁻¹M)ᵀ` and `d = tr(Mᵀ S⁻¹ M)` — docs/tiny.md §2.3.
///
/// Cholesky solve first; if `S` is numerically singular (a pivot `≤ numerical_threshold`)
/// or `d < 0`, the pseudo-inverse of `S` (eigenvalues `≤ numerical_threshold` dropped); if
/// `d` is still negative, `δ = 0`, `d = 0`. An empty hidden layer gives `δ = 0`
/// ([`DeltaSolver::EmptyLayer`]). Never panics on singular or non-finite statistics.
///
/// # Panics
/// If the shapes of `S` and `M` are inconsistent.
pub fn best_update(stats: &SiteStatistics, opts: &TinyOptions) -> BestUpdate {
    let (c1, d) = (stats.s.nrows(), stats.m.ncols());
    assert!(
        stats.s.ncols() == c1 && stats.m.nrows() == c1,
        "best_update: S is {:?} and M is {:?}",
        stats.s.shape(),
        stats.m.shape()
    );
    if stats.hidden_width() == 0 {
        return BestUpdate::zero(d, c1, DeltaSolver::EmptyLayer);
    }
    solve_update(stats.s.as_ref(), stats.m.as_ref(), opts)
}

/// `δ = (S⁻¹M)ᵀ` and `d = tr(Mᵀ S⁻¹ M)` by [`best_update`]'s solvers: Cholesky, then the
/// pseudo-inverse when `S` is singular or `d` is negative, then `δ = 0`.
fn solve_update(s: MatRef<'_, f64>, m: MatRef<'_, f64>, opts: &TinyOptions) -> BestUpdate {
    let (thr, on) = (opts.numerical_threshold, opts.backend);
    let zero = |solver| BestUpdate::zero(m.ncols(), s.nrows(), solver);
    // d = tr(Mᵀ X) with X = S⁻¹M (docs/tiny.md §2.3); accepted when finite and ≥ 0.
    let accept = |x: Mat<f64>, solver| {
        let dec = linalg::frobenius_inner(m, x.as_ref());
        (dec.is_finite() && dec >= 0.0).then(|| BestUpdate {
            delta: x.transpose().to_owned(),
            decrease: dec,
            solver,
        })
    };
    match linalg::solve_psd_on(s, m, thr, on) {
        None => zero(DeltaSolver::Failed),
        Some((x, SolveMethod::Cholesky)) => accept(x, DeltaSolver::Direct)
            .or_else(|| {
                linalg::solve_pinv_on(s, m, thr, on)
                    .and_then(|x| accept(x, DeltaSolver::PseudoInverse))
            })
            .unwrap_or_else(|| zero(DeltaSolver::ZeroedNegative)),
        Some((x, SolveMethod::PseudoInverse)) => accept(x, DeltaSolver::PseudoInverse)
            .unwrap_or_else(|| zero(DeltaSolver::ZeroedNegative)),
    }
}

/// The damped best update applied behind BatchNorm, docs/tiny.md §2.15:
/// `δ = ((S + μI)⁻¹M)ᵀ`, `μ = damping·tr(S)/n`, the ridge regression of the desired change on
/// the consumer's inputs, and its first-order decrease `tr(Mᵀ(S + μI)⁻¹M)` (`L(W − tδ) =
/// L − t·d + o(t)`: the gradient is `M`), by the same solvers as [`best_update`]. `None` when
/// they fail or `d` stays negative (`δ = 0`); then the exact update is applied.
pub fn damped_update(stats: &SiteStatistics, opts: &TinyOptions) -> Option<BestUpdate> {
    let n = stats.s.nrows();
    if n == 0 || stats.hidden_width() == 0 {
        return None;
    }
    let mu = opts.delta_damping * linalg::trace(stats.s.as_ref()).max(0.0) / n as f64;
    let mut s = stats.s.clone();
    for i in 0..n {
        s[(i, i)] += mu;
    }
    let u = solve_update(s.as_ref(), stats.m.as_ref(), opts);
    matches!(u.solver, DeltaSolver::Direct | DeltaSolver::PseudoInverse).then_some(u)
}

/// Optimal new neurons of one growth site, with δ and the first-order terms
/// (docs/tiny.md §2.4–2.7). `K = lambdas.len()` neurons, possibly 0.
#[derive(Clone, Debug)]
pub struct NeuronProposal {
    /// `K×(d2+1)`: fan-in rows for the producer layer (last column = their bias when the
    /// producer has one). Zero when `alpha_zero`.
    pub alpha: Mat<f64>,
    /// `d×K`: fan-out columns for the consumer layer.
    pub omega: Mat<f64>,
    /// `λ_k`, descending: singular values of `S₂^{-1/2}N` kept by the count rule (§2.7).
    pub lambdas: Vec<f64>,
    /// Every singular value of `S₂^{-1/2}N` (descending), before the count rule.
    pub all_lambdas: Vec<f64>,
    /// The δ to apply, `d×(d1+1)` (zeros when `compute_delta = false` or the layer is empty).
    pub delta: Mat<f64>,
    /// `d = tr(Mᵀ S⁻¹ M)` of the applied δ (0 when δ is not applied).
    pub decrease_delta: f64,
    /// How the full δ (used for the projection and Ψ) was solved.
    pub delta_solver: DeltaSolver,
    /// Expressivity bottleneck `Ψ = tr(E) − d` (docs/tiny.md §2.4), from the full δ whether or
    /// not it is applied (`d = 0` for an empty hidden layer).
    pub bottleneck: f64,
    /// Whether `N = −M₂ + Pδᵀ` (projection) was used; `false` means `N = −M₂`.
    pub projected: bool,
    /// Cross term `C = −Σ_k α_kᵀ P δᵀ ω_k` (docs/tiny.md §2.6), with the α before `alpha_zero`
    /// and the projection δ; exactly 0 without projection.
    pub cross_term: f64,
    /// GroMo's first-order improvement `d + σ'(0)Σλ²`, or `d + σ'(0)Σλ` when
    /// `ignore_singular_values` (GroMo #217 fixed by PR #261; docs/tiny.md §2.6). Without C.
    pub fo_gromo: f64,
    /// Exact first order of the (pre-`alpha_zero`) proposal: `d + σ'(0)(Σλ² + C)`, resp.
    /// `d + σ'(0)(Σλ + C)`: `L(s) = L − s²·fo_with_cross + o(s²)` for a smooth σ with
    /// `σ(0) = 0` (docs/tiny.md §2.6, §7 checks 8–9); only a heuristic for ReLU (§9).
    pub fo_with_cross: f64,
    /// Human-readable remarks for logging (fallbacks taken, why nothing is proposed).
    pub notes: Vec<String>,
}

impl NeuronProposal {
    /// Number of proposed neurons `K`.
    pub fn n_neurons(&self) -> usize {
        self.lambdas.len()
    }

    /// `Θ = Σ_k α_k ω_kᵀ = αᵀωᵀ`, `(d2+1)×d`: the linearised change of the consumer's
    /// pre-activation is `σ'(0)·Θᵀ b̃₋₂` per unit of `s²` (docs/tiny.md §2.5).
    pub fn theta(&self) -> Mat<f64> {
        self.alpha.transpose() * self.omega.transpose()
    }
}

/// Number of neurons to keep — docs/tiny.md §2.7. `lambdas` are descending singular values;
/// those `≤ zero_tol` are treated as zero and never kept (so an all-zero spectrum gives 0,
/// not a useless neuron). Among the others keep `λ_k ≥ min(statistical_threshold, λ_max)`
/// (at least one), then cap by `max_added_neurons`. The cap `min(d2+1, d)` holds because
/// `lambdas` comes from a thin SVD.
pub fn count_neurons(lambdas: &[f64], zero_tol: f64, opts: &TinyOptions) -> usize {
    let positive = lambdas.iter().take_while(|&&l| l > zero_tol).count();
    if positive == 0 {
        return 0;
    }
    let thr = opts.statistical_threshold.min(lambdas[0]);
    let k = lambdas[..positive]
        .iter()
        .take_while(|&&l| l >= thr)
        .count();
    opts.max_added_neurons.map_or(k, |cap| k.min(cap))
}

/// Optimal new neurons for the hidden layer between the producer `l-1` and the consumer
/// `l` — docs/tiny.md §2.4–2.7.
///
/// 1. δ and `d` (§2.3, [`best_update`]); `Ψ = tr E − d` (§2.4).
/// 2. `N = −M₂ + Pδᵀ` with projection, else `N = −M₂` (§2.4). Projection is forced off for
///    an empty hidden layer (§2.11).
/// 3. `S₂ = Q Λ Qᵀ`, eigenvalues `≤ numerical_threshold` dropped (§2.5 step 1); the SVD of
///    `S₂^{-1/2}N = Q_r·(Λ_r^{-1/2}Q_rᵀN)` is taken on the small `r×d` factor (step 2).
///    Without covariance (GradMax) the SVD of `N` itself.
/// 4. Count rule (§2.7, [`count_neurons`]); `α_k = √λ_k S₂^{-1/2}u_k`, `ω_k = √λ_k v_k`
///    (scale 1 instead of `√λ_k` when `ignore_singular_values`) (§2.5 step 3).
/// 5. `C`, `fo_gromo`, `fo_with_cross` (§2.6); then `α := 0` if `alpha_zero`.
///
/// Zero λ's (dead neurons, zero bottleneck, zero gradient; see [`ZERO_LAMBDA_REL`]) give an
/// empty proposal (`K = 0`, FO = `d`) rather than a useless neuron. Singular `S` / `S₂` and
/// non-finite statistics never panic: the latter give `K = 0`, `δ = 0` and a note.
///
/// # Panics
/// If the shapes are inconsistent ([`SiteStatistics::check_shapes`]): a programming error.
pub fn propose_neurons(
    stats: &SiteStatistics,
    sigma_prime0: f64,
    opts: &TinyOptions,
) -> NeuronProposal {
    if let Err(e) = stats.check_shapes() {
        panic!("propose_neurons: inconsistent statistics: {e}");
    }
    if stats.in_basis && !opts.use_covariance {
        // Without the whitening (GradMax) the SVD is of `N` in the producer's coordinates.
        return propose_neurons(&stats.to_full(), sigma_prime0, opts);
    }
    let (c1, d) = (stats.s.nrows(), stats.output_dim());
    let mut notes = Vec::new();
    if !stats.is_finite() {
        notes.push("non-finite statistics: nothing proposed".to_string());
        let delta = DeltaPart {
            full: BestUpdate::zero(d, c1, DeltaSolver::Failed),
            bottleneck: f64::NAN,
            delta: Mat::zeros(d, c1),
            decrease: 0.0,
        };
        return NeuronProposal::empty(stats, delta, notes);
    }

    // Step 1: δ, d (docs/tiny.md §2.3) and the bottleneck Ψ = tr E − d (§2.4).
    let dp = delta_part(stats, opts, &mut notes);

    // Step 2: N = −M₂ + Pδᵀ (projection, docs/tiny.md §2.4) or N = −M₂ (no projection or
    // empty hidden layer, §2.11). `p_delta = Pδᵀ`, when formed on its own, is kept for the
    // cross term C; else (deferred statistics, §3.2) N itself is.
    let projected = opts.use_projection && stats.hidden_width() > 0;
    let Some((n_mat, p_delta)) = stats.n_matrix(projected.then_some(&dp.full.delta)) else {
        notes.push("N could not be formed from the kept rows: nothing proposed".into());
        return NeuronProposal::empty(stats, dp, notes);
    };
    if !n_mat.is_all_finite() {
        notes.push("non-finite N: nothing proposed".to_string());
        return NeuronProposal::empty(stats, dp, notes);
    }
    let n_kept = (projected && p_delta.is_none()).then(|| n_mat.clone());

    // Step 3: SVD of S₂^{-1/2} N (docs/tiny.md §2.5), via the truncated eigen-factor of S₂.
    let Some((factor, svd)) = whitened_svd(stats, n_mat, opts, &mut notes) else {
        return NeuronProposal::empty(stats, dp, notes);
    };

    // Step 4: count rule (docs/tiny.md §2.7) and α, ω (§2.5 step 3).
    let lambda_scale = if opts.use_covariance {
        stats.trace_e.max(0.0).sqrt()
    } else {
        (stats.trace_e.max(0.0) * linalg::trace(stats.s2.as_ref()).max(0.0)).sqrt()
    };
    let k = count_neurons(&svd.s, ZERO_LAMBDA_REL * lambda_scale, opts);
    if k == 0 {
        notes.push("all λ are zero (zero bottleneck or dead units): nothing to add".into());
        let mut out = NeuronProposal::empty(stats, dp, notes);
        out.all_lambdas = svd.s;
        out.projected = projected;
        return out;
    }
    let (alpha_cols, omega) = neurons(&svd, factor.as_ref(), k, opts);
    let lambdas: Vec<f64> = svd.s[..k].to_vec();

    // Step 5: C = −Σ_k α_kᵀ P δᵀ ω_k and the first-order terms (docs/tiny.md §2.6); in the
    // basis `Q_r`, α_kᵀQ_r(Q_rᵀPδᵀ)ω_k; from N, −Σ_k α_kᵀ(N + M₂)ω_k.
    let cross_term = match (p_delta, n_kept) {
        (Some(pd), _) => match factor.as_ref().filter(|_| stats.in_basis) {
            Some(f) => cross_term(&pd, &(f.basis.transpose() * &alpha_cols), &omega),
            None => cross_term(&pd, &alpha_cols, &omega),
        },
        (None, Some(n)) => match stats.alpha_m2_omega(&alpha_cols, &omega) {
            Some(m2_part) => cross_term(&n, &alpha_cols, &omega) - m2_part,
            None => {
                notes
                    .push("α M₂ ω could not be formed from the kept rows: nothing proposed".into());
                return NeuronProposal::empty(stats, dp, notes);
            }
        },
        (None, None) => 0.0,
    };
    let lambda_term: f64 = if opts.ignore_singular_values {
        lambdas.iter().sum()
    } else {
        lambdas.iter().map(|l| l * l).sum()
    };
    let fo_gromo = dp.decrease + sigma_prime0 * lambda_term;
    let fo_with_cross = dp.decrease + sigma_prime0 * (lambda_term + cross_term);
    let alpha = if opts.alpha_zero {
        Mat::zeros(k, stats.s2.nrows())
    } else {
        alpha_cols.transpose().to_owned()
    };
    NeuronProposal {
        alpha,
        omega,
        lambdas,
        all_lambdas: svd.s,
        delta: dp.delta,
        decrease_delta: dp.decrease,
        delta_solver: dp.full.solver,
        bottleneck: dp.bottleneck,
        projected,
        cross_term,
        fo_gromo,
        fo_with_cross,
        notes,
    }
}

/// Step 1 of [`propose_neurons`]: the full best update (for the projection and Ψ), the
/// bottleneck, and the δ actually proposed.
struct DeltaPart {
    full: BestUpdate,
    bottleneck: f64,
    /// δ to apply and its decrease (zero when `compute_delta` is off).
    delta: Mat<f64>,
    decrease: f64,
}

/// δ, d (docs/tiny.md §2.3) and the bottleneck Ψ = tr E − d (§2.4), noting fallbacks.
fn delta_part(stats: &SiteStatistics, opts: &TinyOptions, notes: &mut Vec<String>) -> DeltaPart {
    let full = best_update(stats, opts);
    match full.solver {
        DeltaSolver::PseudoInverse => notes.push("S singular: δ from the pseudo-inverse".into()),
        DeltaSolver::ZeroedNegative => notes.push("negative d even with pinv: δ = 0".into()),
        DeltaSolver::Failed => notes.push("δ solve failed: δ = 0".into()),
        DeltaSolver::EmptyLayer | DeltaSolver::Direct => {}
    }
    let bottleneck = stats.trace_e - full.decrease;
    let damped = (opts.compute_delta && opts.delta_damping > 0.0)
        .then(|| damped_update(stats, opts))
        .flatten();
    let (delta, decrease) = if let Some(d) = damped {
        (d.delta, d.decrease)
    } else if opts.compute_delta {
        (full.delta.clone(), full.decrease)
    } else {
        (Mat::zeros(stats.output_dim(), stats.s.nrows()), 0.0)
    };
    DeltaPart {
        full,
        bottleneck,
        delta,
        decrease,
    }
}

/// Step 3 of [`propose_neurons`]: the thin SVD of `S₂^{-1/2}N` through the truncated
/// eigen-factor of `S₂` (eigenvalues `≤ numerical_threshold` dropped, docs/tiny.md §2.5 step 1),
/// or of `N` itself without covariance (GradMax). `None` (with a note) when a
/// decomposition fails.
fn whitened_svd(
    stats: &SiteStatistics,
    n_mat: Mat<f64>,
    opts: &TinyOptions,
    notes: &mut Vec<String>,
) -> Option<(Option<PsdFactor>, linalg::ThinSvd)> {
    // `M₂` in the factor's basis is read with that factor, whatever the threshold asked.
    let known = stats
        .s2_factor
        .as_ref()
        .filter(|k| stats.in_basis || k.threshold == opts.numerical_threshold)
        .map(|k| k.factor.clone());
    let factor = if opts.use_covariance {
        let Some(f) = known.or_else(|| {
            linalg::psd_factor_on(stats.s2.as_ref(), opts.numerical_threshold, opts.backend)
        }) else {
            notes.push("eigendecomposition of S₂ failed: nothing proposed".into());
            return None;
        };
        if f.dropped > 0 {
            notes.push(format!(
                "S₂: {} of {} eigen-directions ≤ {:.3e} dropped",
                f.dropped,
                f.dim(),
                f.cut
            ));
        }
        Some(f)
    } else {
        None
    };
    let whitened = match &factor {
        Some(f) if stats.in_basis => f.scale_rows_pow(n_mat.as_ref(), -0.5),
        Some(f) => f.whiten(n_mat.as_ref()),
        None => n_mat,
    };
    let Some(svd) = linalg::thin_svd_on(whitened.as_ref(), opts.backend) else {
        notes.push("SVD failed: nothing proposed".into());
        return None;
    };
    Some((factor, svd))
}

/// Step 4 of [`propose_neurons`]: the first `k` neurons, `α_k = √λ_k S₂^{-1/2}u_k` as columns
/// `(d2+1)×K` and `ω_k = √λ_k v_k` as columns `(d·taps)×K` (scale 1 instead of `√λ_k` when
/// `ignore_singular_values`; docs/tiny.md §2.5 step 3).
fn neurons(
    svd: &linalg::ThinSvd,
    factor: Option<&PsdFactor>,
    k: usize,
    opts: &TinyOptions,
) -> (Mat<f64>, Mat<f64>) {
    let amp: Vec<f64> = if opts.ignore_singular_values {
        vec![1.0; k]
    } else {
        svd.s[..k].iter().map(|l| l.sqrt()).collect()
    };
    // Columns u_k·amp_k in whitened coordinates, then α_k = S₂^{-1/2}u_k·amp_k.
    let u_scaled = Mat::from_fn(svd.u.nrows(), k, |i, j| svd.u[(i, j)] * amp[j]);
    let alpha_cols = match factor {
        Some(f) => f.unwhiten_pow(u_scaled.as_ref(), -0.5),
        None => u_scaled,
    };
    let omega = Mat::from_fn(svd.v.nrows(), k, |i, j| svd.v[(i, j)] * amp[j]);
    (alpha_cols, omega)
}

/// Step 5 of [`propose_neurons`]: the cross term `C = −Σ_k α_kᵀ P δᵀ ω_k` (docs/tiny.md §2.6),
/// from `Pδᵀ` and the neurons' columns.
fn cross_term(p_delta: &Mat<f64>, alpha_cols: &Mat<f64>, omega: &Mat<f64>) -> f64 {
    let pdw = p_delta * omega; // (d2+1)×K
    -(0..omega.ncols())
        .map(|j| {
            (0..alpha_cols.nrows())
                .map(|i| alpha_cols[(i, j)] * pdw[(i, j)])
                .sum::<f64>()
        })
        .sum::<f64>()
}

impl NeuronProposal {
    /// No neuron: only the δ part (docs/tiny.md §2.3–2.4), the first order `d`.
    fn empty(stats: &SiteStatistics, dp: DeltaPart, notes: Vec<String>) -> Self {
        NeuronProposal {
            alpha: Mat::zeros(0, stats.s2.nrows()),
            omega: Mat::zeros(stats.output_dim() * stats.taps, 0),
            lambdas: Vec::new(),
            all_lambdas: Vec::new(),
            delta: dp.delta,
            decrease_delta: dp.decrease,
            delta_solver: dp.full.solver,
            bottleneck: dp.bottleneck,
            projected: false,
            cross_term: 0.0,
            fo_gromo: dp.decrease,
            fo_with_cross: dp.decrease,
            notes,
        }
    }
}

/// The projection term `Pδᵀ` of `N` (docs/tiny.md §2.4), `(d2+1)×(d·taps)`: with one tap the
/// plain product; with several (full conv neuron, §3.2) column `(c, e)` is
/// `Σ_b P[e, a, b] δ[c, b]`, tap `e`'s block of `P` times `δᵀ`.
fn project(p: &Mat<f64>, delta: &Mat<f64>, taps: usize) -> Mat<f64> {
    if taps == 1 {
        return p * delta.transpose();
    }
    let c2 = p.nrows() / taps;
    let d = delta.nrows();
    let mut out = Mat::zeros(c2, d * taps);
    for e in 0..taps {
        let block = p.as_ref().subrows(e * c2, c2) * delta.transpose(); // (d2+1)×d
        for c in 0..d {
            for a in 0..c2 {
                out[(a, c * taps + e)] = block[(a, c)];
            }
        }
    }
    out
}

/// `σ'(0)` of common activations (GroMo's table, docs/tiny.md §1); `None` if unknown. For
/// ReLU the right derivative 1 is used (the linearisation is then a heuristic, §2.6).
pub fn sigma_prime_zero(activation: &str) -> Option<f64> {
    match activation.to_ascii_lowercase().as_str() {
        "relu" | "leaky_relu" | "leakyrelu" | "tanh" | "identity" | "linear" | "none" => Some(1.0),
        "gelu" | "silu" | "swish" => Some(0.5),
        "selu" => Some(1.050_700_987_355_480_5),
        "sigmoid" => Some(0.25),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    //! Checks of docs/tiny.md §7 on small explicit f64 networks
    //! `x → W1 → σ → W2 → out`, loss `(1/n) Σ ½‖out − y‖²`, so `G = out − y`.
    use super::*;
    use faer::linalg::solvers::SolveLstsq;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[derive(Clone, Copy, Debug)]
    enum Act {
        Tanh,
        HalfTanh,
        Identity,
    }

    impl Act {
        fn f(self, z: f64) -> f64 {
            match self {
                Act::Tanh => z.tanh(),
                Act::HalfTanh => 0.5 * z.tanh(),
                Act::Identity => z,
            }
        }
        fn d0(self) -> f64 {
            match self {
                Act::Tanh | Act::Identity => 1.0,
                Act::HalfTanh => 0.5,
            }
        }
    }

    /// Two-layer net; `w1` is `h×(din+bias)`, `w2` is `dout×(h+bias)` (bias = last column).
    #[derive(Clone, Debug)]
    struct Net {
        w1: Mat<f64>,
        w2: Mat<f64>,
        bias: bool,
        act: Act,
    }

    fn augment(a: &Mat<f64>, bias: bool) -> Mat<f64> {
        let c = a.ncols();
        Mat::from_fn(a.nrows(), c + usize::from(bias), |i, j| {
            if j < c {
                a[(i, j)]
            } else {
                1.0
            }
        })
    }

    fn rand_mat(rng: &mut ChaCha8Rng, r: usize, c: usize, scale: f64) -> Mat<f64> {
        Mat::from_fn(r, c, |_, _| scale * rng.random_range(-1.0..1.0))
    }

    fn scaled(a: &Mat<f64>, f: f64) -> Mat<f64> {
        Mat::from_fn(a.nrows(), a.ncols(), |i, j| f * a[(i, j)])
    }

    fn sub(a: &Mat<f64>, b: &Mat<f64>) -> Mat<f64> {
        Mat::from_fn(a.nrows(), a.ncols(), |i, j| a[(i, j)] - b[(i, j)])
    }

    fn max_abs(a: &Mat<f64>) -> f64 {
        a.norm_max()
    }

    fn sq_norm(a: &Mat<f64>) -> f64 {
        linalg::frobenius_inner(a.as_ref(), a.as_ref())
    }

    fn rel(a: f64, b: f64) -> f64 {
        (a - b).abs() / b.abs().max(1e-300)
    }

    impl Net {
        fn hidden(&self, x: &Mat<f64>) -> Mat<f64> {
            let a = augment(x, self.bias) * self.w1.transpose();
            Mat::from_fn(a.nrows(), a.ncols(), |i, j| self.act.f(a[(i, j)]))
        }
        fn output(&self, x: &Mat<f64>) -> Mat<f64> {
            augment(&self.hidden(x), self.bias) * self.w2.transpose()
        }
        fn grad(&self, x: &Mat<f64>, y: &Mat<f64>) -> Mat<f64> {
            sub(&self.output(x), y)
        }
        fn loss(&self, x: &Mat<f64>, y: &Mat<f64>) -> f64 {
            0.5 * sq_norm(&self.grad(x, y)) / x.nrows() as f64
        }
        /// (B̃₋₂, B̃₋₁, G) for the site "hidden layer between W1 and W2".
        fn samples(&self, x: &Mat<f64>, y: &Mat<f64>) -> (Mat<f64>, Mat<f64>, Mat<f64>) {
            (
                augment(x, self.bias),
                augment(&self.hidden(x), self.bias),
                self.grad(x, y),
            )
        }
        fn stats(&self, x: &Mat<f64>, y: &Mat<f64>) -> SiteStatistics {
            let (b2, b1, g) = self.samples(x, y);
            SiteStatistics::from_samples(b2.as_ref(), b1.as_ref(), g.as_ref(), self.bias, true)
        }
        /// Producer gets rows γ·α, consumer gets columns γ·ω, and `W2 ← W2 − delta_scale·δ`.
        fn grown(&self, p: &NeuronProposal, gamma: f64, delta_scale: f64) -> Net {
            self.grown_with(&p.alpha, &p.omega, &p.delta, gamma, delta_scale)
        }
        fn grown_with(
            &self,
            alpha: &Mat<f64>,
            omega: &Mat<f64>,
            delta: &Mat<f64>,
            gamma: f64,
            delta_scale: f64,
        ) -> Net {
            let (h, k) = (self.w1.nrows(), alpha.nrows());
            let cin = self.w1.ncols();
            let w1 = Mat::from_fn(h + k, cin, |i, j| {
                if i < h {
                    self.w1[(i, j)]
                } else {
                    gamma * alpha[(i - h, j)]
                }
            });
            let w2d = sub(&self.w2, &scaled(delta, delta_scale));
            let w2 = Mat::from_fn(self.w2.nrows(), self.w2.ncols() + k, |i, j| {
                if j < h {
                    w2d[(i, j)]
                } else if j < h + k {
                    gamma * omega[(i, j - h)]
                } else {
                    w2d[(i, j - k)]
                }
            });
            Net {
                w1,
                w2,
                bias: self.bias,
                act: self.act,
            }
        }
    }

    /// docs/tiny.md §7 setting: input 6, hidden 3, output 4, bias everywhere; targets from a
    /// wider tanh teacher plus noise, so that the hidden layer is a bottleneck.
    fn problem(seed: u64, n: usize, act: Act) -> (Net, Mat<f64>, Mat<f64>) {
        problem_dims(seed, n, act, 6, 3, 4)
    }

    fn problem_dims(
        seed: u64,
        n: usize,
        act: Act,
        din: usize,
        h: usize,
        dout: usize,
    ) -> (Net, Mat<f64>, Mat<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = rand_mat(&mut rng, n, din, 1.5);
        let ta = rand_mat(&mut rng, 8, din + 1, 1.0);
        let tb = rand_mat(&mut rng, dout, 9, 1.0);
        let th = {
            let a = augment(&x, true) * ta.transpose();
            Mat::from_fn(n, 8, |i, j| a[(i, j)].tanh())
        };
        let noise = rand_mat(&mut rng, n, dout, 0.1);
        let y = augment(&th, true) * tb.transpose() + noise;
        let net = Net {
            w1: rand_mat(&mut rng, h, din + 1, 0.8),
            w2: rand_mat(&mut rng, dout, h + 1, 0.5),
            bias: true,
            act,
        };
        (net, x, y)
    }

    /// V_proj = −G + B̃₋₁δᵀ (docs/tiny.md §2.4).
    fn v_proj(b1: &Mat<f64>, g: &Mat<f64>, delta: &Mat<f64>) -> Mat<f64> {
        sub(&(b1 * delta.transpose()), g)
    }

    // ---- §7 check 1: δ is the least-squares fit of G by B̃₋₁ δᵀ.
    #[test]
    fn check01_delta_is_least_squares() {
        let (net, x, y) = problem(1, 400, Act::Tanh);
        let (_, b1, g) = net.samples(&x, &y);
        let bu = best_update(&net.stats(&x, &y), &TinyOptions::tiny());
        assert_eq!(bu.solver, DeltaSolver::Direct);
        let ls = b1.qr().solve_lstsq(&g); // (d1+1)×d = δᵀ
        let diff = max_abs(&sub(&ls.transpose().to_owned(), &bu.delta));
        println!(
            "check 1: max |δ − lstsq| = {diff:.2e}, d = {:.6}",
            bu.decrease
        );
        assert!(diff < 1e-10, "δ differs from least squares by {diff}");
        // d = tr(M δ) = (1/n)(‖G‖² − ‖G − B̃δᵀ‖²)
        let resid = sub(&g, &(&b1 * bu.delta.transpose()));
        let d_ls = (sq_norm(&g) - sq_norm(&resid)) / x.nrows() as f64;
        assert!(rel(bu.decrease, d_ls) < 1e-10);
        assert!(bu.decrease > 0.0);
    }

    // ---- §2.15: the damped δ is the ridge regression of G on B̃₋₁, and applying it lowers
    // the loss at first order by its d.
    #[test]
    fn damped_delta_is_the_ridge_fit() {
        let (net, x, y) = problem(11, 300, Act::Tanh);
        let (_, b1, g) = net.samples(&x, &y);
        let stats = net.stats(&x, &y);
        let eps = 0.3;
        let ridge_opts = TinyOptions {
            delta_damping: eps,
            numerical_threshold: 1e-12,
            ..TinyOptions::tiny()
        };
        let du = damped_update(&stats, &ridge_opts).expect("damped solve");
        let (n, c1) = (b1.nrows(), b1.ncols());
        let mu = eps * (0..c1).map(|i| stats.s[(i, i)]).sum::<f64>() / c1 as f64;
        // Ridge by augmented least squares: [B̃; √(nμ) I] X = [G; 0].
        let a = Mat::from_fn(n + c1, c1, |i, j| {
            if i < n {
                b1[(i, j)]
            } else if i - n == j {
                (n as f64 * mu).sqrt()
            } else {
                0.0
            }
        });
        let rhs = Mat::from_fn(
            n + c1,
            g.ncols(),
            |i, j| if i < n { g[(i, j)] } else { 0.0 },
        );
        let ridge = a.qr().solve_lstsq(&rhs).transpose().to_owned();
        let diff = max_abs(&sub(&ridge, &du.delta));
        assert!(
            diff < 1e-10,
            "damped δ differs from the ridge fit by {diff}"
        );
        let exact = best_update(&stats, &TinyOptions::tiny());
        assert!(
            sq_norm(&du.delta) < sq_norm(&exact.delta),
            "damping shrinks δ"
        );
        assert!(du.decrease > 0.0 && du.decrease <= exact.decrease);
        let l0 = net.loss(&x, &y);
        let t = 1e-4;
        let mut moved = net.clone();
        moved.w2 = sub(&net.w2, &scaled(&du.delta, t));
        assert!(rel((l0 - moved.loss(&x, &y)) / t, du.decrease) < 0.01);
        // In a proposal only the applied δ is damped; Ψ and the projection keep the exact one.
        let opts = TinyOptions {
            delta_damping: eps,
            ..TinyOptions::tiny()
        };
        let p = propose_neurons(&stats, 1.0, &opts);
        let plain = propose_neurons(&stats, 1.0, &TinyOptions::tiny());
        assert!(max_abs(&sub(&p.delta, &du.delta)) < 1e-12);
        assert!(rel(p.decrease_delta, du.decrease) < 1e-12);
        assert_eq!(p.bottleneck, plain.bottleneck);
        assert_eq!(p.lambdas, plain.lambdas);
    }

    // ---- §7 check 2: (L(0) − L(W − tδ))/t → d.
    #[test]
    fn check02_delta_first_order() {
        let (net, x, y) = problem(2, 400, Act::Tanh);
        let l0 = net.loss(&x, &y);
        let bu = best_update(&net.stats(&x, &y), &TinyOptions::tiny());
        for (t, tol) in [(1e-2, 0.05), (1e-3, 0.01)] {
            let mut moved = net.clone();
            moved.w2 = sub(&net.w2, &scaled(&bu.delta, t));
            let measured = (l0 - moved.loss(&x, &y)) / t;
            println!(
                "check 2: t = {t:e}: measured {measured:.6} vs d = {:.6}",
                bu.decrease
            );
            assert!(rel(measured, bu.decrease) < tol);
        }
    }

    // ---- §7 checks 3 and 4: orthogonality of V_proj and the bottleneck identity.
    #[test]
    fn check03_04_orthogonality_and_bottleneck() {
        let (net, x, y) = problem(3, 300, Act::Tanh);
        let (_, b1, g) = net.samples(&x, &y);
        let stats = net.stats(&x, &y);
        let p = propose_neurons(&stats, 1.0, &TinyOptions::tiny());
        let v = v_proj(&b1, &g, &p.delta);
        let n = x.nrows() as f64;
        let ortho = max_abs(&scaled(&(b1.transpose() * &v), 1.0 / n));
        println!("check 3: max |B̃₋₁ᵀV_proj/n| = {ortho:.2e}");
        assert!(ortho < 1e-12);
        let psi = sq_norm(&v) / n;
        let trace_e = linalg::trace(stats.e.as_ref().unwrap().as_ref());
        println!(
            "check 4: ‖V_proj‖²/n = {psi:.8} vs Ψ = {:.8} (tr E = {trace_e:.6}, d = {:.6})",
            p.bottleneck, p.decrease_delta
        );
        assert!(rel(p.bottleneck, psi) < 1e-10);
        assert!(rel(stats.trace_e, trace_e) < 1e-12);
        assert!(rel(p.bottleneck, trace_e - p.decrease_delta) < 1e-12);
    }

    /// Reduction of the linearised bottleneck by Θ: (‖V‖² − ‖V − B̃₋₂Θ‖²)/n.
    fn reduction(b2: &Mat<f64>, v: &Mat<f64>, theta: &Mat<f64>) -> f64 {
        (sq_norm(v) - sq_norm(&sub(v, &(b2 * theta)))) / b2.nrows() as f64
    }

    /// N = −M₂ + Pδᵀ (docs/tiny.md §2.4), recomputed here from the statistics.
    fn n_projected(stats: &SiteStatistics, delta: &Mat<f64>) -> Mat<f64> {
        sub(&(&stats.p * delta.transpose()), &stats.m2)
    }

    // ---- §7 check 5: reconstruction Σλ², top-1 = λ₁², no rank-1 Θ beats it.
    #[test]
    fn check05_reconstruction_and_optimality() {
        let (net, x, y) = problem(5, 400, Act::Tanh);
        let (b2, b1, g) = net.samples(&x, &y);
        let stats = net.stats(&x, &y);
        let p = propose_neurons(&stats, 1.0, &TinyOptions::tiny());
        assert_eq!(p.n_neurons(), 4, "λ = {:?}", p.all_lambdas);
        let v = v_proj(&b1, &g, &p.delta);
        let sum_sq: f64 = p.lambdas.iter().map(|l| l * l).sum();
        let red = reduction(&b2, &v, &p.theta());
        println!(
            "check 5: reduction {red:.8} vs Σλ² {sum_sq:.8}; λ = {:?}",
            p.lambdas
        );
        assert!(rel(red, sum_sq) < 1e-9);

        let top1 = propose_neurons(
            &stats,
            1.0,
            &TinyOptions {
                max_added_neurons: Some(1),
                ..TinyOptions::tiny()
            },
        );
        let l1sq = top1.lambdas[0].powi(2);
        let red1 = reduction(&b2, &v, &top1.theta());
        println!("check 5: top-1 reduction {red1:.8} vs λ₁² {l1sq:.8}");
        assert!(rel(red1, l1sq) < 1e-9);

        // Best scaled reduction of Θ = a wᵀ: max_c 2c⟨Θ,N⟩ − c²⟨Θ,S₂Θ⟩ = ⟨Θ,N⟩²/⟨Θ,S₂Θ⟩.
        let nmat = n_projected(&stats, &p.delta);
        let best_scaled = |a: &Mat<f64>, w: &Mat<f64>| {
            let th = a * w.transpose();
            let num = linalg::frobenius_inner(th.as_ref(), nmat.as_ref());
            let den = linalg::frobenius_inner(th.as_ref(), (&stats.s2 * &th).as_ref());
            num * num / den
        };
        let mut rng = ChaCha8Rng::seed_from_u64(55);
        let mut best_random = 0.0_f64;
        for _ in 0..2000 {
            let a = rand_mat(&mut rng, 7, 1, 1.0);
            let w = rand_mat(&mut rng, 4, 1, 1.0);
            best_random = best_random.max(best_scaled(&a, &w));
        }
        let a1 = top1.alpha.transpose().to_owned();
        let w1 = top1.omega.clone();
        let mut best_perturbed = 0.0_f64;
        for _ in 0..500 {
            let a = a1.clone() + rand_mat(&mut rng, 7, 1, 0.05);
            let w = w1.clone() + rand_mat(&mut rng, 4, 1, 0.05);
            best_perturbed = best_perturbed.max(best_scaled(&a, &w));
        }
        println!("check 5: best random rank-1 {best_random:.6}, best perturbed {best_perturbed:.8}, λ₁² {l1sq:.8}");
        assert!(best_random <= l1sq * (1.0 + 1e-12));
        assert!(best_perturbed <= l1sq * (1.0 + 1e-12));
        assert!(
            best_perturbed > 0.9 * l1sq,
            "the perturbation test is meaningless"
        );
        assert!(rel(best_scaled(&a1, &w1), l1sq) < 1e-9);
    }

    // ---- §7 check 6: λ² are the eigenvalues of S₂⁻¹NNᵀ; S₂- and ℓ2-normalisation.
    #[test]
    fn check06_generalised_eigenproblem() {
        let (net, x, y) = problem(6, 400, Act::Tanh);
        let stats = net.stats(&x, &y);
        let p = propose_neurons(&stats, 1.0, &TinyOptions::tiny());
        let nmat = n_projected(&stats, &p.delta);
        let nnt = &nmat * nmat.transpose();
        let llt = stats
            .s2
            .llt(faer::Side::Lower)
            .expect("S₂ positive definite");
        let a = faer::linalg::solvers::Solve::solve(&llt, &nnt); // S₂⁻¹NNᵀ (non-symmetric)
        let mut eig: Vec<f64> = a.eigenvalues().expect("eig").iter().map(|c| c.re).collect();
        eig.sort_by(|u, v| v.total_cmp(u));
        for (k, l) in p.lambdas.iter().enumerate() {
            println!("check 6: μ_{k} = {:.10} vs λ² = {:.10}", eig[k], l * l);
            assert!(rel(eig[k], l * l) < 1e-8);
        }
        // Remaining eigenvalues are zero (rank N ≤ d).
        assert!(eig[p.lambdas.len()..].iter().all(|m| m.abs() < 1e-10));
        // N Nᵀ α_k = λ_k² S₂ α_k, αS₂αᵀ = diag(λ), ωᵀω = diag(λ) (docs/tiny.md §9).
        let at = p.alpha.transpose().to_owned();
        let lhs = &nnt * &at;
        let rhs = &stats.s2 * &at;
        let gram = &p.alpha * &rhs;
        let wtw = p.omega.transpose() * &p.omega;
        for (k, l) in p.lambdas.iter().enumerate() {
            for i in 0..lhs.nrows() {
                assert!((lhs[(i, k)] - l * l * rhs[(i, k)]).abs() < 1e-10);
            }
            for j in 0..p.lambdas.len() {
                let expect = if j == k { *l } else { 0.0 };
                assert!((gram[(k, j)] - expect).abs() < 1e-10);
                assert!((wtw[(k, j)] - expect).abs() < 1e-10);
            }
        }
    }

    // ---- §7 check 7: invariance to a diagonal rescaling of the producer's inputs.
    #[test]
    fn check07_reparametrisation_invariance() {
        let (net, x, y) = problem(7, 300, Act::Tanh);
        let (b2, b1, g) = net.samples(&x, &y);
        let mut rng = ChaCha8Rng::seed_from_u64(77);
        let dvec: Vec<f64> = (0..b2.ncols())
            .map(|_| rng.random_range(0.5..3.0))
            .collect();
        let b2d = Mat::from_fn(b2.nrows(), b2.ncols(), |i, j| b2[(i, j)] * dvec[j]);
        let s_a = SiteStatistics::from_samples(b2.as_ref(), b1.as_ref(), g.as_ref(), true, false);
        let s_b = SiteStatistics::from_samples(b2d.as_ref(), b1.as_ref(), g.as_ref(), true, false);
        let opts = TinyOptions::tiny();
        let pa = propose_neurons(&s_a, 1.0, &opts);
        let pb = propose_neurons(&s_b, 1.0, &opts);
        assert_eq!(pa.n_neurons(), pb.n_neurons());
        for (la, lb) in pa.lambdas.iter().zip(&pb.lambdas) {
            assert!(rel(*lb, *la) < 1e-9, "λ changed: {la} vs {lb}");
        }
        // Same linearised function: B̃₋₂Θ = (B̃₋₂D)Θ'.
        let fa = &b2 * pa.theta();
        let fb = &b2d * pb.theta();
        let diff = max_abs(&sub(&fa, &fb));
        println!("check 7: λ = {:?}, max |ΔB̃Θ| = {diff:.2e}", pa.lambdas);
        assert!(diff < 1e-9);
        // …and the same new pre-activations αᵀb̃ up to the sign of each neuron.
        let za = &b2 * pa.alpha.transpose();
        let zb = &b2d * pb.alpha.transpose();
        for k in 0..pa.n_neurons() {
            let sign = if (0..za.nrows())
                .map(|i| za[(i, k)] * zb[(i, k)])
                .sum::<f64>()
                < 0.0
            {
                -1.0
            } else {
                1.0
            };
            for i in 0..za.nrows() {
                assert!((za[(i, k)] - sign * zb[(i, k)]).abs() < 1e-8);
            }
        }
    }

    /// `(L0 − L(γ))/γ²` after growing with α, ω scaled by γ and δ by `delta_factor·γ²`.
    fn measured_fo(net: &Net, x: &Mat<f64>, y: &Mat<f64>, p: &NeuronProposal, gamma: f64) -> f64 {
        let l0 = net.loss(x, y);
        let grown = net.grown(p, gamma, gamma * gamma);
        (l0 - grown.loss(x, y)) / (gamma * gamma)
    }

    // ---- §7 check 8: new-neuron first order Σλ² + C (δ not applied, projected N).
    #[test]
    fn check08_new_neuron_first_order_with_cross_term() {
        for act in [Act::Tanh, Act::HalfTanh] {
            let (net, x, y) = problem(8, 400, act);
            let p = propose_neurons(&net.stats(&x, &y), act.d0(), &TinyOptions::tiny_paper());
            assert_eq!(p.decrease_delta, 0.0);
            assert!(max_abs(&p.delta) == 0.0);
            let sum_sq: f64 = p.lambdas.iter().map(|l| l * l).sum();
            let predicted = p.fo_with_cross;
            assert!(rel(predicted, act.d0() * (sum_sq + p.cross_term)) < 1e-12);
            for gamma in [1e-2, 3e-3] {
                let measured = measured_fo(&net, &x, &y, &p, gamma);
                println!(
                    "check 8 ({act:?}): γ = {gamma:e}: measured {measured:.7} vs σ'(0)(Σλ²+C) {predicted:.7} \
                     (Σλ² = {sum_sq:.6}, C = {:.6}, GroMo FO {:.6})",
                    p.cross_term, p.fo_gromo
                );
                assert!(rel(measured, predicted) < 1e-2);
                // The test can tell C apart: GroMo's FO (without C) is off by > 2%.
                assert!(rel(measured, p.fo_gromo) > 2e-2);
            }
        }
    }

    // ---- §7 check 9: joint first order d + Σλ² + C (δ applied with γ²).
    #[test]
    fn check09_joint_first_order() {
        let (net, x, y) = problem(8, 400, Act::Tanh);
        let p = propose_neurons(&net.stats(&x, &y), 1.0, &TinyOptions::tiny());
        let sum_sq: f64 = p.lambdas.iter().map(|l| l * l).sum();
        assert!(rel(p.fo_with_cross, p.decrease_delta + sum_sq + p.cross_term) < 1e-12);
        assert!(rel(p.fo_gromo, p.decrease_delta + sum_sq) < 1e-12);
        for gamma in [1e-2, 3e-3] {
            let measured = measured_fo(&net, &x, &y, &p, gamma);
            println!(
                "check 9: γ = {gamma:e}: measured {measured:.7} vs d+Σλ²+C {:.7} (d = {:.6}, GroMo FO {:.6})",
                p.fo_with_cross, p.decrease_delta, p.fo_gromo
            );
            assert!(rel(measured, p.fo_with_cross) < 1e-2);
        }
    }

    // ---- §7 check 10: without projection (N = −M₂) the FO Σλ² is exact, C = 0.
    #[test]
    fn check10_no_projection_first_order() {
        let (net, x, y) = problem(10, 400, Act::Tanh);
        let stats = net.stats(&x, &y);
        for compute_delta in [false, true] {
            let opts = TinyOptions {
                use_projection: false,
                compute_delta,
                ..TinyOptions::tiny()
            };
            let p = propose_neurons(&stats, 1.0, &opts);
            assert!(!p.projected);
            assert_eq!(p.cross_term, 0.0);
            assert_eq!(p.fo_gromo, p.fo_with_cross);
            let measured = measured_fo(&net, &x, &y, &p, 3e-3);
            println!(
                "check 10 (compute_delta={compute_delta}): measured {measured:.7} vs d+Σλ² {:.7}",
                p.fo_gromo
            );
            assert!(rel(measured, p.fo_gromo) < 1e-2);
        }
        // Σλ² without projection = best fit of −G (not V_proj): same as check 5 with δ = 0.
        let (b2, _, g) = net.samples(&x, &y);
        let p = propose_neurons(
            &stats,
            1.0,
            &TinyOptions {
                use_projection: false,
                ..TinyOptions::tiny()
            },
        );
        let v = scaled(&g, -1.0);
        let sum_sq: f64 = p.lambdas.iter().map(|l| l * l).sum();
        assert!(rel(reduction(&b2, &v, &p.theta()), sum_sq) < 1e-9);
    }

    // ---- ignore_singular_values (GroMo #217 / PR #261): FO uses Σλ, and it is exact
    // (with C) for α = S₂^{-1/2}u, ω = v.
    #[test]
    fn ignore_singular_values_first_order() {
        let (net, x, y) = problem(11, 400, Act::Tanh);
        let opts = TinyOptions {
            ignore_singular_values: true,
            ..TinyOptions::tiny()
        };
        let p = propose_neurons(&net.stats(&x, &y), 1.0, &opts);
        let sum: f64 = p.lambdas.iter().sum();
        assert!(rel(p.fo_gromo, p.decrease_delta + sum) < 1e-12);
        let wtw = p.omega.transpose() * &p.omega;
        assert!(max_abs(&sub(&wtw, &Mat::identity(p.n_neurons(), p.n_neurons()))) < 1e-12);
        let measured = measured_fo(&net, &x, &y, &p, 3e-3);
        println!(
            "ignore_singular_values: measured {measured:.7} vs d+Σλ+C {:.7} (GroMo {:.7})",
            p.fo_with_cross, p.fo_gromo
        );
        assert!(rel(measured, p.fo_with_cross) < 1e-2);
    }

    // ---- GradMax preset: S₂ = I, N = −M₂, α = 0, ω = right singular vectors of M₂; the
    // gradient of the loss w.r.t. the new fan-in has norm σ'(0)·λ_k.
    #[test]
    fn gradmax_preset() {
        let (net, x, y) = problem(12, 300, Act::Tanh);
        let stats = net.stats(&x, &y);
        let p = propose_neurons(&stats, 1.0, &TinyOptions::gradmax());
        let k = p.n_neurons();
        assert_eq!(k, 4);
        assert_eq!(p.alpha.shape(), (k, 7));
        assert_eq!(p.alpha.norm_max(), 0.0);
        assert_eq!(p.decrease_delta, 0.0);
        let sv = stats.m2.singular_values().expect("svd");
        for (l, s) in p.lambdas.iter().zip(&sv) {
            assert!(rel(*l, *s) < 1e-10);
        }
        assert!(rel(p.fo_gromo, p.lambdas.iter().sum::<f64>()) < 1e-12);
        // Finite difference: fan-in t·u with u = −M₂ω_k/λ_k, fan-out ω_k (unscaled).
        let l0 = net.loss(&x, &y);
        for kk in 0..k {
            let w = p.omega.as_ref().subcols(kk, 1).to_owned();
            let u = scaled(&(&stats.m2 * &w), -1.0 / p.lambdas[kk]);
            let t = 1e-5;
            let grown = net.grown_with(&u.transpose().to_owned(), &w, &Mat::zeros(4, 4), 1.0, 0.0);
            let mut grown_t = grown.clone();
            let h = net.w1.nrows();
            for j in 0..7 {
                grown_t.w1[(h, j)] *= t;
            }
            let slope = (l0 - grown_t.loss(&x, &y)) / t;
            println!(
                "gradmax: neuron {kk}: slope {slope:.7} vs λ {:.7}",
                p.lambdas[kk]
            );
            assert!(rel(slope, p.lambdas[kk]) < 1e-3);
        }
    }

    // ---- §7 check 11: zero bottleneck ⇒ N = 0, no neuron, FO = d.
    #[test]
    fn check11_zero_bottleneck() {
        let (mut net, x, _) = problem(13, 300, Act::Tanh);
        // Targets linear in the hidden features: G = (W2 − T)h̃ lies in span(B̃₋₁).
        let mut rng = ChaCha8Rng::seed_from_u64(1313);
        let t = rand_mat(&mut rng, 4, 4, 1.0);
        let y = augment(&net.hidden(&x), true) * t.transpose();
        net.w2 = rand_mat(&mut rng, 4, 4, 0.5);
        let p = propose_neurons(&net.stats(&x, &y), 1.0, &TinyOptions::tiny());
        println!(
            "check 11: Ψ = {:.2e}, all λ = {:?}, d = {:.6}, notes {:?}",
            p.bottleneck, p.all_lambdas, p.decrease_delta, p.notes
        );
        assert_eq!(p.n_neurons(), 0);
        assert_eq!(p.alpha.shape(), (0, 7));
        assert_eq!(p.omega.shape(), (4, 0));
        assert!(p.bottleneck.abs() < 1e-12);
        assert!(p.decrease_delta > 0.0);
        assert_eq!(p.fo_gromo, p.decrease_delta);
        assert_eq!(p.fo_with_cross, p.decrease_delta);
        // δ = W2 − T exactly: one δ step with t = 1 reaches the target.
        assert!(max_abs(&sub(&p.delta, &sub(&net.w2, &t))) < 1e-10);
    }

    // ---- §7 check 12: learning the identity in one growth step.
    #[test]
    fn check12_identity_in_one_step() {
        let k = 4;
        // indicator inputs, each repeated three times; identity target
        let x = Mat::from_fn(3 * k, k, |i, j| if i % k == j { 1.0 } else { 0.0 });
        let y = x.clone();
        for hidden in [0, 2] {
            let net = Net {
                w1: Mat::zeros(hidden, k),
                w2: Mat::zeros(k, hidden),
                bias: false,
                act: Act::Identity,
            };
            let opts = TinyOptions {
                use_projection: false,
                max_added_neurons: Some(k),
                ..TinyOptions::tiny()
            };
            let p = propose_neurons(&net.stats(&x, &y), 1.0, &opts);
            assert_eq!(p.n_neurons(), k);
            let expect_solver = if hidden == 0 {
                DeltaSolver::EmptyLayer
            } else {
                DeltaSolver::PseudoInverse // S = 0
            };
            assert_eq!(p.delta_solver, expect_solver);
            let grown = net.grown(&p, 1.0, 1.0);
            let err = max_abs(&sub(&grown.output(&x), &x));
            println!(
                "check 12 (hidden {hidden}): λ = {:?}, max |out − x| = {err:.2e}",
                p.lambdas
            );
            assert!(err < 1e-5);
            assert!(grown.loss(&x, &y) < 1e-10);
        }
    }

    // ---- §7 check 14: batching invariance of the averaged statistics.
    #[test]
    fn check14_batching_invariance() {
        let (net, x, y) = problem(14, 200, Act::Tanh);
        let n = x.nrows();
        let dup = |a: &Mat<f64>| Mat::from_fn(2 * n, a.ncols(), |i, j| a[(i % n, j)]);
        let s1 = net.stats(&x, &y);
        let s2 = net.stats(&dup(&x), &dup(&y));
        let half = |a: &Mat<f64>, lo: usize, hi: usize| a.as_ref().subrows(lo, hi - lo).to_owned();
        let sa = net.stats(&half(&x, 0, 70), &half(&y, 0, 70));
        let sb = net.stats(&half(&x, 70, n), &half(&y, 70, n));
        let s3 = sa.merge(&sb);
        assert_eq!((s2.n, s3.n), (2 * n, n));
        for other in [&s2, &s3] {
            for (a, b) in [
                (&s1.s, &other.s),
                (&s1.m, &other.m),
                (&s1.s2, &other.s2),
                (&s1.m2, &other.m2),
                (&s1.p, &other.p),
                (s1.e.as_ref().unwrap(), other.e.as_ref().unwrap()),
            ] {
                assert!(max_abs(&sub(a, b)) < 1e-13);
            }
            assert!(rel(other.trace_e, s1.trace_e) < 1e-13);
            let opts = TinyOptions::tiny();
            let (p1, p2) = (
                propose_neurons(&s1, 1.0, &opts),
                propose_neurons(other, 1.0, &opts),
            );
            assert!(max_abs(&sub(&p1.delta, &p2.delta)) < 1e-10);
            assert!(rel(p2.decrease_delta, p1.decrease_delta) < 1e-10);
            assert_eq!(p1.n_neurons(), p2.n_neurons());
            for (a, b) in p1.lambdas.iter().zip(&p2.lambdas) {
                assert!(rel(*b, *a) < 1e-10);
            }
        }
    }

    // ---- §7 check 18: singular S — finite δ through the pseudo-inverse, d ≥ 0.
    #[test]
    fn check18_singular_s() {
        let (mut net, x, y) = problem(18, 300, Act::Tanh);
        for j in 0..7 {
            net.w1[(2, j)] = net.w1[(0, j)]; // hidden unit 2 duplicates unit 0
        }
        let (_, b1, g) = net.samples(&x, &y);
        let stats = net.stats(&x, &y);
        let bu = best_update(&stats, &TinyOptions::tiny());
        assert_eq!(bu.solver, DeltaSolver::PseudoInverse);
        assert!(bu.delta.is_all_finite() && bu.decrease >= 0.0);
        // still the least-squares fit: orthogonality and the first order hold.
        let v = v_proj(&b1, &g, &bu.delta);
        assert!(max_abs(&(b1.transpose() * &v)) / (x.nrows() as f64) < 1e-10);
        let t = 1e-3;
        let mut moved = net.clone();
        moved.w2 = sub(&net.w2, &scaled(&bu.delta, t));
        let measured = (net.loss(&x, &y) - moved.loss(&x, &y)) / t;
        println!(
            "check 18: singular S: d = {:.6}, measured {measured:.6}",
            bu.decrease
        );
        assert!(rel(measured, bu.decrease) < 1e-2);
        let p = propose_neurons(&stats, 1.0, &TinyOptions::tiny());
        assert!(p.alpha.is_all_finite() && p.omega.is_all_finite() && p.n_neurons() > 0);
        assert!(rel(measured_fo(&net, &x, &y, &p, 3e-3), p.fo_with_cross) < 1e-2);
    }

    // ---- §7 check 18: singular S₂ (collinear inputs) — finite S₂^{-1/2} by truncation.
    #[test]
    fn check18_singular_s2() {
        let (net, mut x, y) = problem(19, 300, Act::Tanh);
        for i in 0..x.nrows() {
            x[(i, 5)] = 2.0 * x[(i, 0)]; // input 5 is collinear with input 0
        }
        let (b2, b1, g) = net.samples(&x, &y);
        let stats = net.stats(&x, &y);
        let p = propose_neurons(&stats, 1.0, &TinyOptions::tiny());
        println!(
            "check 18: singular S₂: λ = {:?}, notes {:?}",
            p.lambdas, p.notes
        );
        assert!(p.notes.iter().any(|n| n.contains("dropped")));
        assert!(p.alpha.is_all_finite() && p.omega.is_all_finite());
        assert!(p.n_neurons() > 0);
        let v = v_proj(&b1, &g, &p.delta);
        let sum_sq: f64 = p.lambdas.iter().map(|l| l * l).sum();
        assert!(rel(reduction(&b2, &v, &p.theta()), sum_sq) < 1e-8);
        assert!(rel(measured_fo(&net, &x, &y, &p, 3e-3), p.fo_with_cross) < 1e-2);
        // An S₂ whose small eigenvalue is below the threshold but not zero.
        let mut s = stats.clone();
        for i in 0..s.s2.nrows() {
            s.s2[(i, i)] += 1e-9;
        }
        let p2 = propose_neurons(&s, 1.0, &TinyOptions::tiny());
        assert!(p2.alpha.is_all_finite());
        assert_eq!(p2.n_neurons(), p.n_neurons());
    }

    // ---- §2.5 "In the input moment's basis": M₂ and P given as Q_rᵀM₂, Q_rᵀP.
    #[test]
    fn statistics_in_the_input_moments_basis_give_the_same_proposal() {
        let (net, mut x, y) = problem_dims(23, 300, Act::Tanh, 9, 3, 4);
        for i in 0..x.nrows() {
            x[(i, 7)] = 2.0 * x[(i, 0)] - x[(i, 1)]; // S₂ singular: a direction is dropped
        }
        let stats = net.stats(&x, &y);
        let opts = TinyOptions::tiny();
        let factor = linalg::psd_factor(stats.s2.as_ref(), opts.numerical_threshold).unwrap();
        assert!(factor.rank() < factor.dim());
        let known = Arc::new(S2Factor {
            threshold: opts.numerical_threshold,
            factor,
        });
        let full = SiteStatistics {
            s2_factor: Some(known.clone()),
            ..stats.clone()
        };
        let basis = stats.into_basis(known.clone());
        assert!(basis.check_shapes().is_ok());
        assert_eq!(
            (basis.rows(), basis.m2.nrows()),
            (known.factor.rank(), known.factor.rank())
        );
        let (a, b) = (
            propose_neurons(&full, 1.0, &opts),
            propose_neurons(&basis, 1.0, &opts),
        );
        assert!(a.n_neurons() > 1 && a.n_neurons() == b.n_neurons());
        assert!(a.cross_term.abs() > 1e-6, "the cross term is exercised");
        for (la, lb) in a.all_lambdas.iter().zip(&b.all_lambdas) {
            assert!(rel(*la, *lb) < 1e-10, "{la} {lb}");
        }
        assert!(max_abs(&sub(&a.theta(), &b.theta())) < 1e-10 * max_abs(&a.theta()));
        assert!(max_abs(&sub(&a.alpha, &b.alpha)) < 1e-10 * max_abs(&a.alpha).max(1.0));
        assert!(rel(a.cross_term, b.cross_term) < 1e-10);
        assert!(rel(a.fo_with_cross, b.fo_with_cross) < 1e-10);
        assert!(max_abs(&sub(&a.delta, &b.delta)) == 0.0);
        // GradMax reads `N` itself: from the basis, its part in the kept directions.
        let gm = TinyOptions::gradmax();
        let (c, e) = (
            propose_neurons(&basis.to_full(), 1.0, &gm),
            propose_neurons(&basis, 1.0, &gm),
        );
        assert!(c.n_neurons() > 0 && c.alpha.ncols() == e.alpha.ncols());
        assert!(max_abs(&c.omega) > 0.0 && max_abs(&sub(&c.omega, &e.omega)) == 0.0);
    }

    // ---- §7 check 18: count rule (§2.7) — thresholds, caps, rank limits.
    #[test]
    fn check18_count_rule() {
        let (net, x, y) = problem(20, 300, Act::Tanh);
        let stats = net.stats(&x, &y);
        let with = |f: &dyn Fn(&mut TinyOptions)| {
            let mut o = TinyOptions::tiny();
            f(&mut o);
            propose_neurons(&stats, 1.0, &o)
        };
        let all = with(&|o| o.statistical_threshold = 0.0);
        assert_eq!(all.n_neurons(), 4); // min(d2+1, d) = min(7, 4)
        assert_eq!(all.all_lambdas.len(), 4);
        let huge = with(&|o| o.statistical_threshold = 1e9);
        assert_eq!(huge.n_neurons(), 1, "at least one neuron is kept");
        let l = all.lambdas.clone();
        let mid = 0.5 * (l[1] + l[2]);
        let two = with(&|o| o.statistical_threshold = mid);
        assert_eq!(two.n_neurons(), 2);
        let capped = with(&|o| o.max_added_neurons = Some(3));
        assert_eq!(capped.n_neurons(), 3);
        assert_eq!((capped.alpha.nrows(), capped.omega.ncols()), (3, 3));
        let none = with(&|o| o.max_added_neurons = Some(0));
        assert_eq!(none.n_neurons(), 0);
        // Producer narrower than the output: at most d2+1 = 3 neurons.
        let (net, x, y) = problem_dims(21, 200, Act::Tanh, 2, 3, 5);
        let p = propose_neurons(&net.stats(&x, &y), 1.0, &TinyOptions::tiny());
        assert!(p.n_neurons() <= 3 && p.n_neurons() > 0);
        // Unit test of the rule itself.
        let o = TinyOptions::tiny();
        assert_eq!(count_neurons(&[0.5, 0.01, 5e-4, 0.0], 1e-12, &o), 2);
        assert_eq!(count_neurons(&[5e-4, 1e-4], 1e-12, &o), 1);
        assert_eq!(count_neurons(&[1e-15, 0.0], 1e-12, &o), 0);
        assert_eq!(count_neurons(&[], 0.0, &o), 0);
    }

    // ---- §7 check 18 / §2.11: empty hidden layer (width 0, with and without bias).
    #[test]
    fn check18_empty_hidden_layer() {
        for bias in [true, false] {
            let (mut net, x, y) = problem(22, 300, Act::Tanh);
            net.bias = bias;
            net.w1 = Mat::zeros(0, 6 + usize::from(bias));
            let mut rng = ChaCha8Rng::seed_from_u64(2222);
            net.w2 = rand_mat(&mut rng, 4, usize::from(bias), 0.5);
            let stats = net.stats(&x, &y);
            assert_eq!(stats.hidden_width(), 0);
            assert_eq!(stats.s.nrows(), usize::from(bias));
            let p = propose_neurons(&stats, 1.0, &TinyOptions::tiny());
            assert_eq!(p.delta_solver, DeltaSolver::EmptyLayer);
            assert_eq!(p.delta.shape(), (4, usize::from(bias)));
            assert!(!p.projected && p.cross_term == 0.0 && p.decrease_delta == 0.0);
            assert!(rel(p.bottleneck, stats.trace_e) < 1e-15);
            assert!(p.n_neurons() > 0);
            let measured = measured_fo(&net, &x, &y, &p, 3e-3);
            println!(
                "check 18: empty hidden layer (bias {bias}): λ = {:?}, measured {measured:.6} vs Σλ² {:.6}",
                p.lambdas, p.fo_gromo
            );
            assert!(rel(measured, p.fo_gromo) < 1e-2);
        }
    }

    // ---- degenerate statistics never panic.
    #[test]
    fn degenerate_statistics() {
        // zero gradient (dead consumer): no neuron, no δ.
        let (net, x, _) = problem(23, 100, Act::Tanh);
        let y = net.output(&x);
        let p = propose_neurons(&net.stats(&x, &y), 1.0, &TinyOptions::tiny());
        assert_eq!(p.n_neurons(), 0);
        assert_eq!(p.fo_gromo, 0.0);
        assert!(p.delta.norm_max() == 0.0);
        // dead producer side: all inputs zero ⇒ S₂ = 0 ⇒ nothing to add.
        let z = Mat::<f64>::zeros(50, 7);
        let (_, b1, g) = net.samples(
            &x.as_ref().subrows(0, 50).to_owned(),
            &y.as_ref().subrows(0, 50).to_owned(),
        );
        let s = SiteStatistics::from_samples(z.as_ref(), b1.as_ref(), g.as_ref(), true, false);
        let p = propose_neurons(&s, 1.0, &TinyOptions::tiny());
        assert_eq!(p.n_neurons(), 0);
        // no samples at all
        let e = |c: usize| Mat::<f64>::zeros(0, c);
        let s =
            SiteStatistics::from_samples(e(7).as_ref(), e(4).as_ref(), e(4).as_ref(), true, true);
        let p = propose_neurons(&s, 1.0, &TinyOptions::tiny());
        assert_eq!(p.n_neurons(), 0);
        // NaN in the statistics
        let mut s = net.stats(&x, &net.output(&x).as_ref().to_owned());
        s.m2[(0, 0)] = f64::NAN;
        let p = propose_neurons(&s, 1.0, &TinyOptions::gradmax());
        assert_eq!(p.n_neurons(), 0);
        assert!(!p.notes.is_empty());
        let mut s = net.stats(&x, &y);
        s.s[(1, 1)] = f64::INFINITY;
        let bu = best_update(&s, &TinyOptions::tiny());
        assert_eq!(bu.solver, DeltaSolver::Failed);
        assert!(bu.delta.is_all_finite());
        // width 0 without bias and an empty producer: everything 0-sized.
        let s =
            SiteStatistics::from_samples(e(0).as_ref(), e(0).as_ref(), e(3).as_ref(), false, false);
        let p = propose_neurons(&s, 1.0, &TinyOptions::tiny());
        assert_eq!(
            (p.n_neurons(), p.alpha.shape(), p.delta.shape()),
            (0, (0, 0), (3, 0))
        );
        assert_eq!(sigma_prime_zero("GELU"), Some(0.5));
        assert_eq!(sigma_prime_zero("mystery"), None);
    }

    // ---- §7 check 19: sign conventions.
    #[test]
    fn check19_sign_conventions() {
        let (net, x, y) = problem(24, 300, Act::Tanh);
        let l0 = net.loss(&x, &y);
        let stats = net.stats(&x, &y);
        let gamma = 0.05;
        let p = propose_neurons(&stats, 1.0, &TinyOptions::tiny());
        let down = net.grown(&p, gamma, gamma * gamma).loss(&x, &y);
        assert!(down < l0, "growth must lower the loss: {down} vs {l0}");
        let q = propose_neurons(&stats, 1.0, &TinyOptions::tiny_paper());
        let up =
            |a: &Mat<f64>, w: &Mat<f64>| net.grown_with(a, w, &q.delta, gamma, 0.0).loss(&x, &y);
        let base = up(&q.alpha, &q.omega);
        let flip_w = up(&q.alpha, &scaled(&q.omega, -1.0));
        let flip_a = up(&scaled(&q.alpha, -1.0), &q.omega);
        println!(
            "check 19: L0 {l0:.6}, grown {base:.6}, ω flipped {flip_w:.6}, α flipped {flip_a:.6}"
        );
        assert!(base < l0 && flip_w > l0 && flip_a > l0);
        let mut wrong = net.clone();
        wrong.w2 = net.w2.clone() + scaled(&p.delta, 1e-2);
        assert!(wrong.loss(&x, &y) > l0);
    }
}
