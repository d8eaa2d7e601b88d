//! Test helpers: finite-difference gradient checks in f64, relative differences of tensors.
#![cfg(test)]

use tch::{Kind, Tensor};

/// Checks autograd's gradient of `f` at `x` against central finite differences (f64).
pub fn finite_difference_check(x: &Tensor, f: impl Fn(&Tensor) -> Tensor) {
    let x = x.to_kind(Kind::Double).detach().set_requires_grad(true);
    let y = f(&x);
    y.backward();
    let analytic = Vec::<f64>::try_from(&x.grad().flatten(0, -1)).unwrap();
    let base = Vec::<f64>::try_from(&x.detach().flatten(0, -1)).unwrap();
    let h = 1e-6;
    for i in 0..base.len() {
        let eval = |delta: f64| {
            let mut v = base.clone();
            v[i] += delta;
            let xp = Tensor::from_slice(&v).view(x.size().as_slice());
            tch::no_grad(|| f(&xp).double_value(&[]))
        };
        let numeric = (eval(h) - eval(-h)) / (2.0 * h);
        let tol = 1e-6 * (1.0 + numeric.abs());
        assert!(
            (numeric - analytic[i]).abs() < tol,
            "gradient mismatch at {i}: autograd {} vs finite difference {numeric}",
            analytic[i]
        );
    }
}

/// The largest absolute difference between `a` and `b`, relative to `a`'s largest magnitude.
pub fn max_relative(a: &Tensor, b: &Tensor) -> f64 {
    let scale = a.abs().max().double_value(&[]).max(1e-12);
    (a - b).abs().max().double_value(&[]) / scale
}
