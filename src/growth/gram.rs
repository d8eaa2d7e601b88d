//! `XᵀX` from the blocks on and above its diagonal: a symmetric rank-k update (BLAS's `syrk`)
//! through libtorch's matrix product, for the statistics' consumer moment `S = B̃₋₁ᵀB̃₋₁`
//! (docs/tiny.md §2.2, "Precision"). The columns are cut into `p` blocks; the `p(p+1)/2`
//! products `X_iᵀX_j` (i ≤ j) are formed and each block below the diagonal is the transpose
//! of its mirror: `(p+1)/(2p)` of the full product's operations, the same sums up to rounding.
//!
//! ```
//! use grownet::growth::gram::{blocks, gram};
//! use tch::{Device, Kind, Tensor};
//! let x = Tensor::randn([64, 700], (Kind::Double, Device::Cpu));
//! assert_eq!(blocks(700), 2);
//! let s = gram(&x);
//! assert!(s.allclose(&x.tr().matmul(&x), 1e-12, 1e-12, false));
//! ```
use tch::Tensor;

/// Columns a block holds at most. Measured on two cores (libtorch's f32 matmul, one statistics
/// minibatch at the CIFAR-10 bench's sites, `cargo run --release --example gram_blocks`,
/// `bench/results/gram-blocks.md`): the full product of 8 192 × 1 369 takes 0.28 s, in 4
/// blocks 0.16 s; of 32 768 × 451 about the same in 2 (0.79–0.98× in three runs); blocks
/// narrower than about 200 columns gain no more (docs/tiny.md §2.2).
pub const MAX_BLOCK: i64 = 450;

/// The number of column blocks [`gram`] cuts `d` columns into: `⌈d / MAX_BLOCK⌉`.
pub fn blocks(d: i64) -> i64 {
    ((d + MAX_BLOCK - 1) / MAX_BLOCK).max(1)
}

/// `xᵀx` for `x` `[rows, d]` from its blocks on and above the diagonal, as many as
/// [`blocks`] says.
pub fn gram(x: &Tensor) -> Tensor {
    in_blocks(x, blocks(x.size()[1]))
}

/// `xᵀx` from `p` column blocks (`p(p+1)/2` products); with one block, `x.tr().matmul(x)`
/// itself.
pub fn in_blocks(x: &Tensor, p: i64) -> Tensor {
    let d = x.size()[1];
    if p <= 1 {
        return x.tr().matmul(x);
    }
    let edges: Vec<i64> = (0..=p).map(|i| i * d / p).collect();
    let cols: Vec<Tensor> = (0..p as usize)
        .map(|i| x.narrow(1, edges[i], edges[i + 1] - edges[i]))
        .collect();
    let out = Tensor::empty([d, d], (x.kind(), x.device()));
    for i in 0..p as usize {
        for j in i..p as usize {
            let b = cols[i].tr().matmul(&cols[j]);
            let (ri, rj) = (edges[i], edges[j]);
            let (wi, wj) = (edges[i + 1] - ri, edges[j + 1] - rj);
            out.narrow(0, ri, wi).narrow(1, rj, wj).copy_(&b);
            if i != j {
                out.narrow(0, rj, wj).narrow(1, ri, wi).copy_(&b.tr());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::testing::max_relative;
    use tch::{Device, Kind};

    #[test]
    fn the_blocks_give_the_full_product_for_every_cut() {
        tch::manual_seed(3);
        for d in [1, 5, 450, 451, 900, 901, 963, 1370] {
            let x = Tensor::randn([37, d], (Kind::Double, Device::Cpu));
            let brute = x.tr().matmul(&x);
            let s = gram(&x);
            assert_eq!(s.size(), [d, d]);
            let rel = max_relative(&brute, &s);
            assert!(rel <= 1e-13, "d = {d}: {rel:e} relative");
        }
    }

    #[test]
    fn every_block_count_gives_the_full_product_even_with_empty_blocks() {
        tch::manual_seed(5);
        for (d, p) in [(37, 2), (37, 3), (37, 5), (38, 4), (3, 5)] {
            let x = Tensor::randn([11, d], (Kind::Double, Device::Cpu));
            let brute = x.tr().matmul(&x);
            let rel = max_relative(&brute, &in_blocks(&x, p));
            assert!(rel <= 1e-13, "{d}, {p}: {rel:e} relative");
        }
    }

    #[test]
    fn in_f32_the_blocks_stay_within_rounding_of_the_f64_product() {
        tch::manual_seed(4);
        let x = Tensor::randn([512, 1000], (Kind::Double, Device::Cpu));
        let exact = x.tr().matmul(&x);
        let s = gram(&x.to_kind(Kind::Float)).to_kind(Kind::Double);
        let rel = max_relative(&exact, &s);
        assert!(rel < 1e-6, "{rel:e}");
        assert_eq!(blocks(1000), 3);
    }

    #[test]
    fn block_counts_follow_the_width() {
        assert_eq!(
            [1, 450, 451, 900, 955, 1369, 3000].map(blocks),
            [1, 1, 2, 2, 3, 4, 7]
        );
    }
}
