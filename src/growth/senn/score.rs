//! The natural expansion score of SENN and its cheap lower bound (docs/senn.md §1.2–1.4), in f64.
//!
//! Per consumer layer `z = W ā` (ā = [a; 1] with a bias), from per-sample inputs `Ā` (N×n̄),
//! loss gradients `G = ∂ℓ/∂z` (N×m) and the output-side K-FAC factor `S`:
//!
//! * `A = E[ā āᵀ]`, `∂W = E[g āᵀ]`, layer score `η_l = tr(S_d⁻¹ ∂W A⁺ ∂Wᵀ)` (§1.3), with `S`
//!   damped relative to its trace, `S_d = S + 0.1·mean(diag S)·I`;
//! * residual gradient `g_⊥ = g − ∂W A⁺ ā`, the part no existing input explains (§1.4);
//! * for new inputs `a_p` (k units), the exact increase `Δη = tr(S_d⁻¹ R Σ⁺ Rᵀ)` with
//!   `R = E[g_⊥ a_pᵀ]` and the Schur complement `Σ = A_pp − A_pc A⁺ A_cp`, and the lower bound
//!   `Δη' = tr(S_d⁻¹ R A_pp⁻¹ Rᵀ) ≤ Δη` that costs O(N·k·(n+m)) per proposal;
//! * the linearised maximiser of `Δη'`: the top singular vectors of `A_h^{-1/2} N_h S_d^{-1/2}`
//!   with `N_h = E[h̄ g_⊥ᵀ]`.
//!
//! Both `η_l` and `Δη'` use the same damped `S`, so accepting an addition with
//! `Δη'/η_l > τ` multiplies the layer score by more than `1 + τ` (the basis of the bound on
//! the number of additions, §1.5).
//!
//! ```
//! use grownet::growth::senn::score::Factors;
//! use tch::{Kind, Tensor};
//! let a = Tensor::randn([64, 3], (Kind::Double, tch::Device::Cpu));
//! let g = Tensor::randn([64, 2], (Kind::Double, tch::Device::Cpu));
//! let s = Tensor::eye(2, (Kind::Double, tch::Device::Cpu));
//! let f = Factors::new(&a, &g, &s, 0.0);
//! assert!(f.score() >= 0.0);
//! // The residual gradient is orthogonal to every existing input.
//! let r = f.residual(&a, &g);
//! assert!(r.tr().matmul(&a).abs().max().double_value(&[]) < 1e-10);
//! ```
use tch::{Kind, Tensor};

/// Relative eigenvalue cut-off of the pseudo-inverses.
pub const PINV_RTOL: f64 = 1e-10;

/// Damping of `S` relative to its mean diagonal (the official code's 0.1; defined with the
/// other defaults in [`crate::growth::config`]).
pub use crate::growth::config::DEFAULT_DAMPING;

/// `(X + Xᵀ)/2`.
fn sym(x: &Tensor) -> Tensor {
    (x + x.tr()) * 0.5
}

/// Eigen-decomposition of a symmetric matrix with eigenvalues at or below
/// `rtol · max(λ_max, scale)` set to zero; returns `(values, vectors)`.
fn eigh_clipped(x: &Tensor, rtol: f64, scale: f64) -> (Tensor, Tensor) {
    let (vals, vecs) = sym(x).linalg_eigh("L");
    let top = vals.max().double_value(&[]).max(scale).max(0.0);
    let keep = vals.gt(rtol * top).to_kind(Kind::Double);
    (vals * keep, vecs)
}

/// Pseudo-inverse of a positive semi-definite matrix; eigenvalues below
/// `rtol · max(λ_max, scale)` are treated as zero (`scale` lets a caller say what "zero" means
/// for a matrix that is itself tiny, e.g. a Schur complement).
pub fn pinv_psd(x: &Tensor, rtol: f64, scale: f64) -> Tensor {
    if x.size()[0] == 0 {
        return x.shallow_clone();
    }
    let (vals, vecs) = eigh_clipped(x, rtol, scale);
    let inv = vals.where_scalarother(&vals.gt(0.0), 1.0).reciprocal() * vals.gt(0.0);
    (&vecs * inv.unsqueeze(0)).matmul(&vecs.tr())
}

/// `X^{-1/2}` on the range of a positive semi-definite matrix (pseudo-inverse square root).
pub fn pinv_sqrt_psd(x: &Tensor, rtol: f64) -> Tensor {
    let (vals, vecs) = eigh_clipped(x, rtol, 0.0);
    let pos = vals.gt(0.0);
    let inv = vals.where_scalarother(&pos, 1.0).rsqrt() * pos;
    (&vecs * inv.unsqueeze(0)).matmul(&vecs.tr())
}

/// `(S + damping·mean(diag S)·I)⁻¹` (docs/senn.md §1.3: damping relative to the trace, not an
/// absolute floor; GroMo PR #267). A zero `S` is damped by the identity.
pub fn damped_inverse(s: &Tensor, damping: f64) -> Tensor {
    let m = s.size()[0];
    let mean_diag = if m > 0 {
        s.diagonal(0, 0, 1).mean(Kind::Double).double_value(&[])
    } else {
        0.0
    };
    let eps = if mean_diag > 0.0 {
        damping * mean_diag
    } else {
        1.0
    };
    let d = sym(s) + Tensor::eye(m, (Kind::Double, s.device())) * eps;
    if damping > 0.0 || mean_diag <= 0.0 {
        d.inverse()
    } else {
        pinv_psd(&d, PINV_RTOL, 0.0)
    }
}

/// The K-FAC factors of one consumer layer.
pub struct Factors {
    /// `A = E[ā āᵀ]` and its pseudo-inverse.
    pub a: Tensor,
    pub a_pinv: Tensor,
    /// `S_d⁻¹`, the damped inverse of the output-side factor.
    pub s_inv: Tensor,
    /// `∂W = E[g āᵀ]`.
    pub dw: Tensor,
}

impl Factors {
    /// From per-sample inputs `a` (N×n̄), gradients `g` (N×m) and the output factor `s`
    /// (m×m), damped by `damping` (0: pseudo-inverse).
    pub fn new(a: &Tensor, g: &Tensor, s: &Tensor, damping: f64) -> Self {
        let n = a.size()[0].max(1) as f64;
        let am = a.tr().matmul(a) / n;
        let a_pinv = pinv_psd(&am, PINV_RTOL, 0.0);
        Self::with_input_factor(am, a_pinv, a, g, s, damping)
    }

    /// As [`Factors::new`], reusing `A` and `A⁺` already computed from the same inputs `a`
    /// (the input side is the expensive one: n̄ × n̄).
    pub fn with_input_factor(
        am: Tensor,
        a_pinv: Tensor,
        a: &Tensor,
        g: &Tensor,
        s: &Tensor,
        damping: f64,
    ) -> Self {
        let n = a.size()[0].max(1) as f64;
        Factors {
            dw: g.tr().matmul(a) / n,
            a: am,
            a_pinv,
            s_inv: damped_inverse(s, damping),
        }
    }

    /// The layer score `η_l = tr(S_d⁻¹ ∂W A⁺ ∂Wᵀ)`.
    pub fn score(&self) -> f64 {
        let x = self.s_inv.matmul(&self.dw).matmul(&self.a_pinv);
        (x * &self.dw).sum(Kind::Double).double_value(&[])
    }

    /// Residual gradients `G_⊥ = G − Ā A⁺ ∂Wᵀ` (N×m).
    pub fn residual(&self, a: &Tensor, g: &Tensor) -> Tensor {
        g - a.matmul(&self.a_pinv).matmul(&self.dw.tr())
    }

    /// Exact score increase when inputs `a_p` (N×k) are appended: `tr(S_d⁻¹ R Σ⁺ Rᵀ)` with the
    /// Schur complement Σ (docs/senn.md §1.4).
    pub fn exact_increase(&self, a: &Tensor, g: &Tensor, a_p: &Tensor) -> f64 {
        let n = a.size()[0].max(1) as f64;
        let a_pp = a_p.tr().matmul(a_p) / n;
        let a_pc = a_p.tr().matmul(a) / n;
        let schur = &a_pp - a_pc.matmul(&self.a_pinv).matmul(&a_pc.tr());
        let scale = a_pp.diagonal(0, 0, 1).sum(Kind::Double).double_value(&[]);
        let r = self.residual(a, g).tr().matmul(a_p) / n;
        let x = self.s_inv.matmul(&r).matmul(&pinv_psd(&schur, 1e-9, scale));
        (x * r).sum(Kind::Double).double_value(&[])
    }
}

/// The lower bound `Δη' = tr(S_d⁻¹ R A_pp⁻¹ Rᵀ)` for k new inputs `a_p` (N×k), from the
/// residual gradients `g_perp` (N×m). Differentiable in `a_p`; `ridge` (relative to the mean
/// diagonal of `A_pp`) keeps the solve defined for degenerate proposals.
pub fn lower_bound(g_perp: &Tensor, s_inv: &Tensor, a_p: &Tensor, ridge: f64) -> Tensor {
    let n = a_p.size()[0].max(1) as f64;
    let k = a_p.size()[1];
    let r = g_perp.tr().matmul(a_p) / n; // m×k
    let a_pp = a_p.tr().matmul(a_p) / n;
    let mean = a_pp.diagonal(0, 0, 1).mean(Kind::Double).detach();
    let eye = Tensor::eye(k, (Kind::Double, a_p.device()));
    let reg = &a_pp + eye * (mean * ridge + 1e-300);
    let x = Tensor::linalg_solve(&reg, &r.tr(), true); // k×m = A_pp⁻¹ Rᵀ
    (s_inv.matmul(&r) * x.tr()).sum(Kind::Double)
}

/// `Δη'` of P single-unit proposals at once: column p of `a_p` (N×P) is one proposal;
/// returns a `[P]` tensor, `(R_pᵀ S_d⁻¹ R_p) / E[a_p²]`. Differentiable in `a_p`.
pub fn lower_bound_each(g_perp: &Tensor, s_inv: &Tensor, a_p: &Tensor) -> Tensor {
    let n = a_p.size()[0].max(1) as f64;
    let r = g_perp.tr().matmul(a_p) / n; // m×P
    let num = (s_inv.matmul(&r) * &r).sum_dim_intlist(0, false, Kind::Double);
    let den = a_p.square().sum_dim_intlist(0, false, Kind::Double) / n;
    num / (den + 1e-300)
}

/// The linearised maximiser of `Δη'` (docs/senn.md §1.4, "useful closed form"): the top-`k`
/// singular directions of `A_h^{-1/2} N_h S_d^{-1/2}` with `A_h = E[h̄h̄ᵀ]`,
/// `N_h = E[h̄ g_⊥ᵀ]`. Returns `Ψ` (k×n̄_h, one fan-in row per unit) and the squared singular
/// values, which are the `Δη'` of the linear units `Ψ h̄` taken together. Directions of `A_h`
/// with eigenvalues below `rtol·λ_max` are left out: whitening would blow up input directions
/// that barely vary in the sample (e.g. border pixels), giving huge fan-ins.
pub fn closed_form(
    h: &Tensor,
    g_perp: &Tensor,
    s_inv: &Tensor,
    k: i64,
    rtol: f64,
) -> (Tensor, Vec<f64>) {
    let n = h.size()[0].max(1) as f64;
    let a_h = h.tr().matmul(h) / n;
    let n_h = h.tr().matmul(g_perp) / n;
    let a_inv_sqrt = pinv_sqrt_psd(&a_h, rtol.max(PINV_RTOL));
    // S_d⁻¹ is symmetric positive definite: its square root whitens the output side.
    let s_half = pinv_sqrt_psd(&pinv_psd(s_inv, PINV_RTOL, 0.0), PINV_RTOL);
    let m = a_inv_sqrt.matmul(&n_h).matmul(&s_half);
    let (u, sv, _) = m.svd(true, true);
    let k = k.min(sv.size()[0]);
    let psi = a_inv_sqrt.matmul(&u.narrow(1, 0, k)).tr();
    let sv2 = Vec::<f64>::try_from(&sv.narrow(0, 0, k).square()).unwrap_or_default();
    (psi, sv2)
}

/// Brute-force natural score from the stacked per-sample Jacobian `J` (N·O × P) and output
/// gradients `r` (N·O): `η = ĝᵀ F⁺ ĝ` with `ĝ = Jᵀr/N`, `F = JᵀJ/N` (docs/senn.md §1.2). A
/// reference for tests and small diagnostics, cubic in the parameter count.
pub fn natural_score_exact(j: &Tensor, r: &Tensor, samples: i64) -> f64 {
    let n = samples.max(1) as f64;
    let g = j.tr().matmul(&r.view([-1, 1])) / n;
    let f = j.tr().matmul(j) / n;
    let x = pinv_psd(&f, 1e-12, 0.0).matmul(&g);
    (g * x).sum(Kind::Double).double_value(&[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use tch::Device;

    fn randn(shape: &[i64], seed: i64) -> Tensor {
        tch::manual_seed(seed);
        Tensor::randn(shape, (Kind::Double, Device::Cpu))
    }

    fn eye(m: i64) -> Tensor {
        Tensor::eye(m, (Kind::Double, Device::Cpu))
    }

    fn spd(m: i64, seed: i64) -> Tensor {
        let x = randn(&[m, m], seed);
        x.matmul(&x.tr()) / m as f64 + eye(m) * 0.5
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
    }

    /// A tiny two-layer MLP in f64 with explicit parameters, its per-sample Jacobian and the
    /// MSE residuals r = y − t (docs/senn.md §6 check 5).
    fn tiny_mlp_jacobian(params: &[Tensor], x: &Tensor, t: &Tensor) -> (Tensor, Tensor) {
        let forward = |p: &[Tensor], x: &Tensor| {
            x.linear(&p[0], Some(&p[1]))
                .tanh()
                .linear(&p[2], Some(&p[3]))
        };
        let y = forward(params, x);
        let (n, o) = (y.size()[0], y.size()[1]);
        let mut rows = Vec::new();
        for i in 0..n {
            for k in 0..o {
                let ps: Vec<Tensor> = params
                    .iter()
                    .map(|p| p.detach().set_requires_grad(true))
                    .collect();
                let yi = forward(&ps, &x.narrow(0, i, 1));
                let grads = Tensor::run_backward(&[yi.get(0).get(k)], &ps, false, false);
                rows.push(Tensor::cat(
                    &grads.iter().map(|g| g.flatten(0, -1)).collect::<Vec<_>>(),
                    0,
                ));
            }
        }
        (Tensor::stack(&rows, 0), (y - t).flatten(0, -1).detach())
    }

    #[test]
    fn brute_force_score_is_a_projection_bounded_by_lambda() {
        // docs/senn.md §6 check 5: η = ĝᵀF⁺ĝ = (1/N)‖P_J r‖², 0 ≤ η ≤ λ, and η never decreases
        // when parameters (Jacobian columns) are added.
        let (n, d, h, o) = (12, 3, 2, 2);
        let params = vec![
            randn(&[h, d], 1),
            randn(&[h], 2),
            randn(&[o, h], 3),
            randn(&[o], 4),
        ];
        let x = randn(&[n, d], 5);
        let t = randn(&[n, o], 6);
        let (j, r) = tiny_mlp_jacobian(&params, &x, &t);
        let eta = natural_score_exact(&j, &r, n);
        let proj = j
            .matmul(&pinv_psd(&j.tr().matmul(&j), 1e-12, 0.0))
            .matmul(&j.tr());
        let pr = proj.matmul(&r.view([-1, 1]));
        let eta_proj = pr.square().sum(Kind::Double).double_value(&[]) / n as f64;
        let lambda = r.square().sum(Kind::Double).double_value(&[]) / n as f64;
        assert!(close(eta, eta_proj, 1e-8), "{eta} vs {eta_proj}");
        assert!(eta >= -1e-12 && eta <= lambda + 1e-12, "η {eta} λ {lambda}");
        let wider = Tensor::cat(&[&j, &randn(&[n * o, 3], 7)], 1);
        assert!(natural_score_exact(&wider, &r, n) >= eta - 1e-10);
    }

    #[test]
    fn kfac_is_exact_for_a_single_linear_layer() {
        // docs/senn.md §6 check 6: for y = W ā under the Euclidean metric F = A ⊗ I exactly, so the
        // K-FAC score with S = I equals the brute-force η.
        let (n, d, o) = (20, 3, 2);
        let x = randn(&[n, d], 11);
        let abar = Tensor::cat(&[&x, &Tensor::ones([n, 1], (Kind::Double, Device::Cpu))], 1);
        let w = randn(&[o, d + 1], 12);
        let t = randn(&[n, o], 13);
        let r = abar.matmul(&w.tr()) - &t; // per-sample ∂ℓ/∂y for ℓ = ½‖y − t‖²
                                           // J rows: ∂y_ik/∂W = e_k ⊗ ā_i.
        let mut rows = Vec::new();
        for i in 0..n {
            for k in 0..o {
                let row = Tensor::zeros([o, d + 1], (Kind::Double, Device::Cpu));
                row.get(k).copy_(&abar.get(i));
                rows.push(row.flatten(0, -1));
            }
        }
        let j = Tensor::stack(&rows, 0);
        let exact = natural_score_exact(&j, &r.flatten(0, -1), n);
        let kfac = Factors::new(&abar, &r, &eye(o), 0.0).score();
        assert!(close(exact, kfac, 1e-10), "{exact} vs {kfac}");
    }

    #[test]
    fn exact_increase_equals_direct_enlarged_inverse() {
        // docs/senn.md §6 check 7: η(Ã) − η(A) = tr(S⁻¹ R Σ⁻¹ Rᵀ).
        let (n, d, m, k) = (50, 4, 3, 2);
        let a = randn(&[n, d], 21);
        let g = randn(&[n, m], 22);
        let ap = randn(&[n, k], 23).tanh() + a.narrow(1, 0, k) * 0.3;
        let s = spd(m, 24);
        let old = Factors::new(&a, &g, &s, 0.1);
        let big = Factors::new(&Tensor::cat(&[&a, &ap], 1), &g, &s, 0.1);
        let direct = big.score() - old.score();
        let schur = old.exact_increase(&a, &g, &ap);
        assert!(close(direct, schur, 1e-10), "{direct} vs {schur}");
        // The lower bound never exceeds it (check 8).
        let r = old.residual(&a, &g);
        let bound = lower_bound(&r, &old.s_inv, &ap, 0.0).double_value(&[]);
        assert!(bound <= schur + 1e-12, "{bound} > {schur}");
        assert!(bound > 0.0);
    }

    #[test]
    fn bound_is_tight_for_uncorrelated_proposals() {
        // docs/senn.md §6 check 8, equality case: a_p orthogonal to every existing input.
        let (n, d, m) = (40, 3, 2);
        let a = randn(&[n, d], 31);
        let g = randn(&[n, m], 32);
        let raw = randn(&[n, 2], 33);
        let q = a
            .matmul(&pinv_psd(&a.tr().matmul(&a), 1e-12, 0.0))
            .matmul(&a.tr());
        let ap = &raw - q.matmul(&raw); // Āᵀ a_p = 0
        let f = Factors::new(&a, &g, &spd(m, 34), 0.1);
        let r = f.residual(&a, &g);
        let bound = lower_bound(&r, &f.s_inv, &ap, 0.0).double_value(&[]);
        let exact = f.exact_increase(&a, &g, &ap);
        assert!(close(bound, exact, 1e-9), "{bound} vs {exact}");
    }

    #[test]
    fn residual_is_orthogonal_to_the_inputs() {
        // docs/senn.md §6 check 9 (also with a rank-deficient A).
        let (n, m) = (30, 3);
        let base = randn(&[n, 2], 41);
        let a = Tensor::cat(&[&base, &(base.narrow(1, 0, 1) * 2.0)], 1);
        let g = randn(&[n, m], 42);
        let f = Factors::new(&a, &g, &eye(m), 0.1);
        let cross = f.residual(&a, &g).tr().matmul(&a) / n as f64;
        assert!(cross.abs().max().double_value(&[]) < 1e-12);
    }

    #[test]
    fn redundant_proposals_score_zero() {
        // docs/senn.md §6 check 10: a copy (or scaled copy) of an existing unit adds nothing.
        let (n, d, m) = (40, 4, 3);
        let a = randn(&[n, d], 51);
        let g = randn(&[n, m], 52);
        let f = Factors::new(&a, &g, &spd(m, 53), 0.1);
        let r = f.residual(&a, &g);
        for ap in [a.narrow(1, 1, 1), a.narrow(1, 2, 1) * -3.5] {
            let exact = f.exact_increase(&a, &g, &ap);
            let bound = lower_bound_each(&r, &f.s_inv, &ap).double_value(&[0]);
            assert!(
                exact.abs() < 1e-10 && bound.abs() < 1e-10,
                "{exact} {bound}"
            );
        }
    }

    #[test]
    fn bound_is_invariant_to_mixing_proposals_and_output_scaling() {
        // docs/senn.md §6 check 11.
        let (n, d, m, k) = (60, 3, 3, 2);
        let a = randn(&[n, d], 61);
        let g = randn(&[n, m], 62);
        let ap = randn(&[n, k], 63);
        let mix = randn(&[k, k], 64) + eye(k) * 2.0;
        let s = spd(m, 65);
        let f = Factors::new(&a, &g, &s, 0.1);
        let r = f.residual(&a, &g);
        let b1 = lower_bound(&r, &f.s_inv, &ap, 0.0).double_value(&[]);
        let b2 = lower_bound(&r, &f.s_inv, &ap.matmul(&mix), 0.0).double_value(&[]);
        assert!(close(b1, b2, 1e-10), "{b1} vs {b2}");
        // η_l under an invertible reparameterisation of the inputs.
        let mix_in = randn(&[d, d], 66) + eye(d) * 2.0;
        let f2 = Factors::new(&a.matmul(&mix_in), &g, &s, 0.1);
        assert!(close(f.score(), f2.score(), 1e-9));
        // Output rescaling z → c·z: g → g/c, S → S/c² (covariant).
        let c = 3.0;
        let f3 = Factors::new(&a, &(&g / c), &(&s / (c * c)), 0.1);
        assert!(close(f.score(), f3.score(), 1e-9));
        let r3 = f3.residual(&a, &(&g / c));
        let b3 = lower_bound(&r3, &f3.s_inv, &ap, 0.0).double_value(&[]);
        assert!(close(b1, b3, 1e-9));
    }

    #[test]
    fn closed_form_maximises_the_linear_bound() {
        // docs/senn.md §6 check 12: Δη' of the SVD solution equals Σ top-k σ² and beats random Ψ.
        let (n, dh, d, m, k) = (80, 5, 3, 3, 2);
        let h = randn(&[n, dh], 71);
        let a = randn(&[n, d], 72);
        let g = randn(&[n, m], 73) + h.narrow(1, 0, m) * 0.7;
        let f = Factors::new(&a, &g, &spd(m, 74), 0.1);
        let r = f.residual(&a, &g);
        let (psi, sv2) = closed_form(&h, &r, &f.s_inv, k, PINV_RTOL);
        let best = lower_bound(&r, &f.s_inv, &h.matmul(&psi.tr()), 0.0).double_value(&[]);
        let total: f64 = sv2.iter().sum();
        assert!(close(best, total, 1e-9), "{best} vs {total}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(75);
        for _ in 0..1000 {
            let v: Vec<f64> = (0..k * dh)
                .map(|_| crate::nn::rational::standard_normal(&mut rng))
                .collect();
            let p = Tensor::from_slice(&v).view([k, dh]);
            let b = lower_bound(&r, &f.s_inv, &h.matmul(&p.tr()), 0.0).double_value(&[]);
            assert!(b <= best + 1e-10, "random {b} > closed form {best}");
        }
    }

    #[test]
    fn bound_gradient_matches_finite_differences() {
        // docs/senn.md §6 check 13, through a tanh unit.
        let (n, dh, m) = (25, 3, 2);
        let h = randn(&[n, dh], 81);
        let g = randn(&[n, m], 82);
        let a = randn(&[n, 2], 83);
        let f = Factors::new(&a, &g, &spd(m, 84), 0.1);
        let r = f.residual(&a, &g);
        let psi = randn(&[2, dh], 85);
        crate::nn::testing::finite_difference_check(&psi, |p| {
            lower_bound(&r, &f.s_inv, &h.matmul(&p.tr()).tanh(), 1e-9)
        });
        crate::nn::testing::finite_difference_check(&psi, |p| {
            lower_bound_each(&r, &f.s_inv, &h.matmul(&p.tr()).tanh()).sum(Kind::Double)
        });
    }

    #[test]
    fn greedy_additions_respect_the_threshold_bound() {
        // docs/senn.md §6 check 14: a greedy add-loop on a fixed batch (single linear layer, MSE,
        // S = I, so η ≤ λ exactly) accepts at most 1 + ln(λ/α)/ln(1+τ) additions, and each
        // accepted addition multiplies η by at least 1 + τ.
        let (n, d, o) = (64, 2, 2);
        let (tau, alpha) = (0.3, 1e-3);
        let x = randn(&[n, d], 91);
        let target = (x.narrow(1, 0, 1) * 3.0).sin() + (x.narrow(1, 1, 1) * 2.0).cos();
        let t = Tensor::cat(&[&target, &(&target * -0.5)], 1);
        let mut a = Tensor::cat(&[&x, &Tensor::ones([n, 1], (Kind::Double, Device::Cpu))], 1);
        let r = t.shallow_clone(); // residual of the zero predictor: fixed during the loop
        let lambda = r.square().sum(Kind::Double).double_value(&[]) / n as f64;
        let pool = x.matmul(&randn(&[d, 200], 92)).sin();
        let mut accepted = 0;
        for _ in 0..200 {
            let f = Factors::new(&a, &r, &eye(o), 0.0);
            let eta = f.score();
            let res = f.residual(&a, &r);
            let scores = lower_bound_each(&res, &f.s_inv, &pool);
            let best = scores.argmax(0, false).int64_value(&[]);
            let db = scores.double_value(&[best]);
            if !(db > tau * eta && db > alpha * lambda) {
                break;
            }
            a = Tensor::cat(&[&a, &pool.narrow(1, best, 1)], 1);
            let eta_new = Factors::new(&a, &r, &eye(o), 0.0).score();
            assert!(
                eta_new >= (1.0 + tau) * eta - 1e-12,
                "{eta_new} < (1+τ){eta}"
            );
            assert!(eta_new <= lambda + 1e-9);
            accepted += 1;
        }
        let bound = 1.0 + (lambda / (alpha * lambda)).ln() / (1.0 + tau).ln();
        assert!(
            accepted >= 1 && (accepted as f64) < bound,
            "{accepted} vs {bound}"
        );
    }
}
