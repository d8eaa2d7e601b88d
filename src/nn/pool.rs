//! 2×2 max pooling without argmax indices, for tensors nothing will differentiate.
//!
//! libtorch's CPU `max_pool2d` always runs its kernel with indices, one output element at a
//! time; for evaluation and growth's previews (no gradient) two element-wise maxima of strided
//! views give the same values several times faster (`cargo run --release --example max_pool`).
//! A maximum is exact, so the result is the same bit for bit, NaN included (both propagate it).
//!
//! ```
//! use grownet::nn::pool::max_pool2x2;
//! let x = tch::Tensor::arange(16, (tch::Kind::Float, tch::Device::Cpu)).view([1, 1, 4, 4]);
//! let y = max_pool2x2(&x);
//! assert_eq!(Vec::<f32>::try_from(y.flatten(0, -1)).unwrap(), vec![5.0, 7.0, 13.0, 15.0]);
//! ```
use tch::Tensor;

/// 2×2 max pooling with stride 2 in floor mode (an odd last row or column is dropped) of an
/// `[N, C, H, W]` tensor: `max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)`'s values.
pub fn max_pool2x2(a: &Tensor) -> Tensor {
    let s = a.size();
    let (h, w) = (s[2] / 2 * 2, s[3] / 2 * 2);
    let rows = a.slice(2, 0, h, 2).maximum(&a.slice(2, 1, h, 2));
    rows.slice(3, 0, w, 2).maximum(&rows.slice(3, 1, w, 2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn max_pool2x2_is_max_pool2d_bit_for_bit() {
        tch::manual_seed(0);
        for (h, w) in [(4, 4), (5, 7), (3, 2), (8, 2)] {
            let x = Tensor::randn([2, 3, h, w], (Kind::Float, Device::Cpu)).relu();
            // Ties (ReLU zeros), a NaN, and a non-contiguous input.
            let _ = x.get(0).get(1).get(0).get(0).fill_(f64::NAN);
            for x in [
                x.shallow_clone(),
                x.transpose(2, 3).contiguous().transpose(2, 3),
            ] {
                let want = x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false);
                let got = max_pool2x2(&x);
                assert_eq!(got.size(), want.size(), "{h}×{w}");
                let same = got.isnan().eq_tensor(&want.isnan()).all().int64_value(&[]) == 1;
                let equal = got
                    .nan_to_num(0.0, None, None)
                    .equal(&want.nan_to_num(0.0, None, None));
                assert!(same && equal, "{h}×{w}");
            }
        }
    }
}
