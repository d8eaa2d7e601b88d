//! Convolutions as linear maps on unfolded patches (docs/tiny.md §3.1–3.2), what conv growth sites
//! ([`super::site`]) are built from: the im2col view of a conv's input with the bias feature,
//! its statistics summed over output positions and divided by the number of images, and what
//! a consumer's kernel tap reads of the producer's patches ([`tap`]; the centre tap is the
//! restricted neuron's "bordered" input, all taps the full neuron's).
//!
//! ```
//! use grownet::growth::unfold::{unfold, Conv};
//! use tch::{Kind, Tensor};
//! let x = Tensor::randn([2, 3, 5, 5], (Kind::Double, tch::Device::Cpu));
//! let conv = Conv { kernel: 3, stride: 1, padding: 1 };
//! let u = unfold(&x, conv, true); // [images, positions, C·k² + 1]
//! assert_eq!(u.size(), vec![2, 25, 3 * 9 + 1]);
//! ```
use tch::{Kind, Tensor};

/// A convolution's geometry (square kernel, equal stride and padding on both axes).
pub use crate::nn::ConvGeometry as Conv;

/// The patches of `x` (`[N, C, H, W]`) that a conv reads, one row per output position:
/// `[N, L, C·k²]`, or `[N, L, C·k² + 1]` with a trailing 1 (one bias feature, docs/tiny.md §3.1)
/// when `bias`. Features are ordered (channel, kernel row, kernel column), as a conv weight
/// `[C_out, C, k, k]` flattens, so `unfold(x) · W_matᵀ` is the conv's pre-activation.
pub fn unfold(x: &Tensor, conv: Conv, bias: bool) -> Tensor {
    let k = conv.kernel;
    let s = x.size();
    if s[1] == 0 {
        // No input channel (an empty block): no feature but the bias (im2col refuses it).
        let l = conv.output_size(s[2]) * conv.output_size(s[3]);
        return Tensor::ones([s[0], l, i64::from(bias)], (x.kind(), x.device()));
    }
    let cols = x
        .im2col(
            [k, k],
            [1, 1],
            [conv.padding, conv.padding],
            [conv.stride, conv.stride],
        )
        .transpose(1, 2); // [N, L, C·k²]
    if bias {
        let s = cols.size();
        let ones = Tensor::ones([s[0], s[1], 1], (cols.kind(), cols.device()));
        Tensor::cat(&[cols, ones], 2)
    } else {
        cols
    }
}

/// `(1/n) Σ_i Σ_p a_ip b_ipᵀ` for per-position features `a` (`[n, L, D_a]`) and `b`
/// (`[n, L, D_b]`): the conv statistics (S, M, P, E of docs/tiny.md §3.1), summed over the `L`
/// positions and divided by the number of images `n`.
pub fn position_moment(a: &Tensor, b: &Tensor) -> Tensor {
    let n = a.size()[0].max(1) as f64;
    let a2 = a.flatten(0, 1);
    let b2 = b.flatten(0, 1);
    a2.tr().matmul(&b2) / n
}

/// The producer's unfolded input `u_prev` (`[N, L₁, D]`, L₁ = H₁·W₁ positions of the
/// intermediate map) as seen by a restricted neuron of the consumer `conv2`: its 1×1 fan-out
/// sits at the centre of conv2's kernel, so output position p reads the intermediate
/// position under the kernel centre. Returns `[N, L₂, D]`, zero rows where the centre falls in
/// the padding (docs/tiny.md §3.2, GroMo's bordered unfolded input, with conv2's input size
/// `(h1, w1)`: GroMo bug #142).
pub fn bordered(u_prev: &Tensor, h1: i64, w1: i64, conv2: Conv) -> Tensor {
    let s = u_prev.size();
    let (n, d) = (s[0], s[2]);
    let image = u_prev.transpose(1, 2).reshape([n, d, h1, w1]);
    let c = conv2.kernel / 2;
    tap(&image, conv2, c, c).to_kind(Kind::Double)
}

/// What tap `(row, col)` of `conv2`'s kernel reads from `image` (`[N, D, H₁, W₁]`, one
/// feature vector per intermediate position) at each of conv2's output positions:
/// `[N, L₂, D]`, zero rows where the tap falls in the padding. The centre tap is the
/// restricted neuron's input ([`bordered`]); all `k²` taps are the full neuron's `Bt`
/// (docs/tiny.md §3.2, the mask tensor `T` applied one tap at a time).
pub fn tap(image: &Tensor, conv2: Conv, row: i64, col: i64) -> Tensor {
    let s = image.size();
    let (n, d, h1, w1) = (s[0], s[1], s[2], s[3]);
    let p = conv2.padding;
    let padded = image.constant_pad_nd([p, p, p, p]);
    let (h2, w2) = (conv2.output_size(h1), conv2.output_size(w1));
    let rows = padded.narrow(2, row, (h2 - 1) * conv2.stride + 1);
    let taps = rows.narrow(3, col, (w2 - 1) * conv2.stride + 1);
    let taps = taps
        .slice(2, 0, i64::MAX, conv2.stride)
        .slice(3, 0, i64::MAX, conv2.stride);
    taps.reshape([n, d, h2 * w2]).transpose(1, 2)
}

/// `Σ_rows tap_e(image)ᵀ y` for every tap `e = row·k + col` of `conv2`'s kernel: `[k², D, C]`
/// for `image` `[N, D, H₁, W₁]` and `y` `[N·L₂, C]`, one row per (image, conv2 output
/// position) as [`tap`]'s rows. The full neuron's `M₂` and `P` (docs/tiny.md §3.2) without the
/// `k²` tap copies: a tap's product is a correlation of the padded image with `y` laid out
/// over conv2's output grid, which is one convolution with images and channels swapped
/// (`y` as a kernel of conv2's output size, dilated by conv2's stride), conv2's weight
/// gradient.
pub fn tap_products(image: &Tensor, y: &Tensor, conv2: Conv) -> Tensor {
    let s = image.size();
    let (n, d, h1, w1) = (s[0], s[1], s[2], s[3]);
    let (h2, w2) = (conv2.output_size(h1), conv2.output_size(w1));
    let (k, c) = (conv2.kernel, y.size()[1]);
    if d == 0 || c == 0 || n == 0 {
        return Tensor::zeros([k * k, d, c], (image.kind(), image.device()));
    }
    let p = conv2.padding;
    let input = image.constant_pad_nd([p, p, p, p]).transpose(0, 1); // [D, N, H₁+2p, W₁+2p]
    let kernel = y.reshape([n, h2, w2, c]).permute([3, 0, 1, 2]); // [C, N, H₂, W₂]
    let dilation = [conv2.stride, conv2.stride];
    let out = input.conv2d(&kernel, None::<Tensor>, [1, 1], [0, 0], dilation, 1); // [D, C, ≥k, ≥k]
    out.narrow(2, 0, k)
        .narrow(3, 0, k)
        .permute([2, 3, 0, 1])
        .reshape([k * k, d, c])
}

/// Appends a column of ones when `bias` (augmented vectors, docs/tiny.md §1).
pub fn augment(x: &Tensor, bias: bool) -> Tensor {
    if bias {
        let ones = Tensor::ones([x.size()[0], 1], (x.kind(), x.device()));
        Tensor::cat(&[x, &ones], 1)
    } else {
        x.shallow_clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn tap_products_are_the_tap_rows_products() {
        for (stride, padding, hw) in [(1, 1, 7), (2, 1, 7), (1, 0, 6), (2, 0, 7), (2, 1, 8)] {
            let conv2 = Conv {
                kernel: 3,
                stride,
                padding,
            };
            let image = randn(&[3, 4, hw, hw + 1], 1);
            let l2 = conv2.output_size(hw) * conv2.output_size(hw + 1);
            let y = randn(&[3 * l2, 5], 2);
            let fast = tap_products(&image, &y, conv2);
            for e in 0..9 {
                let rows = tap(&image, conv2, e / 3, e % 3).flatten(0, 1);
                let brute = rows.tr().matmul(&y);
                let diff = (fast.get(e) - &brute).abs().max().double_value(&[]);
                assert!(
                    diff < 1e-12,
                    "stride {stride} padding {padding} tap {e}: {diff}"
                );
            }
        }
    }

    fn randn(shape: &[i64], seed: i64) -> Tensor {
        tch::manual_seed(seed);
        Tensor::randn(shape, (Kind::Double, Device::Cpu))
    }

    /// `x` convolved with `kernel` (and `bias`) at `conv`'s stride and padding.
    fn conv_with(x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>, conv: Conv) -> Tensor {
        x.conv2d(
            kernel,
            bias,
            [conv.stride, conv.stride],
            [conv.padding, conv.padding],
            [1, 1],
            1,
        )
    }

    const GEOMETRIES: [Conv; 4] = [
        Conv {
            kernel: 3,
            stride: 1,
            padding: 1,
        },
        Conv {
            kernel: 3,
            stride: 2,
            padding: 1,
        },
        Conv {
            kernel: 3,
            stride: 1,
            padding: 0,
        },
        Conv {
            kernel: 3,
            stride: 2,
            padding: 0,
        },
    ];

    #[test]
    fn unfolded_product_is_the_convolution() {
        for (i, conv) in GEOMETRIES.into_iter().enumerate() {
            let x = randn(&[2, 3, 7, 6], 1 + i as i64);
            let w = randn(&[4, 3, 3, 3], 10 + i as i64);
            let b = randn(&[4], 20 + i as i64);
            let direct = conv_with(&x, &w, Some(&b), conv);
            let wmat = Tensor::cat(&[w.reshape([4, 27]), b.unsqueeze(1)], 1);
            let via = unfold(&x, conv, true).matmul(&wmat.tr()); // [N, L, 4]
            let (h2, w2) = (conv.output_size(7), conv.output_size(6));
            let via = via.transpose(1, 2).reshape([2, 4, h2, w2]);
            assert!(
                (direct - via).abs().max().double_value(&[]) < 1e-12,
                "{conv:?}"
            );
        }
    }

    #[test]
    fn statistics_equal_explicit_loops_over_positions() {
        // docs/tiny.md §7 check 16: S and M from im2col equal explicit loops over positions.
        for (i, conv) in GEOMETRIES.into_iter().enumerate() {
            let x = randn(&[3, 2, 5, 5], 30 + i as i64);
            let (h2, w2) = (conv.output_size(5), conv.output_size(5));
            let g = randn(&[3, h2 * w2, 4], 40 + i as i64); // gradient per output position
            let u = unfold(&x, conv, true);
            let s = position_moment(&u, &u);
            let m = position_moment(&u, &g);
            let xp = x.constant_pad_nd([conv.padding, conv.padding, conv.padding, conv.padding]);
            let mut s_loop = Tensor::zeros([19, 19], (Kind::Double, Device::Cpu));
            let mut m_loop = Tensor::zeros([19, 4], (Kind::Double, Device::Cpu));
            for img in 0..3 {
                for r in 0..h2 {
                    for c in 0..w2 {
                        let patch = xp
                            .get(img)
                            .narrow(1, r * conv.stride, 3)
                            .narrow(2, c * conv.stride, 3)
                            .reshape([18]);
                        let v = Tensor::cat(
                            &[patch, Tensor::ones([1], (Kind::Double, Device::Cpu))],
                            0,
                        );
                        s_loop += v.outer(&v);
                        m_loop += v.outer(&g.get(img).get(r * w2 + c));
                    }
                }
            }
            s_loop /= 3.0;
            m_loop /= 3.0;
            assert!(
                (&s - s_loop).abs().max().double_value(&[]) < 1e-10,
                "{conv:?}"
            );
            assert!(
                (&m - m_loop).abs().max().double_value(&[]) < 1e-10,
                "{conv:?}"
            );
        }
    }

    #[test]
    fn bordered_input_reads_the_centre_tap() {
        // docs/tiny.md §7 check 16: the bordered unfolded input equals unfolding at the
        // centre-tap positions, for strides 1 and 2 and paddings 0 and 1.
        let conv1 = Conv {
            kernel: 3,
            stride: 1,
            padding: 1,
        };
        let x = randn(&[2, 2, 6, 5], 50);
        let u1 = unfold(&x, conv1, true); // [2, 30, 19] on the 6×5 intermediate grid
        for conv2 in GEOMETRIES {
            let b = bordered(&u1, 6, 5, conv2);
            let (h2, w2) = (conv2.output_size(6), conv2.output_size(5));
            assert_eq!(b.size(), vec![2, h2 * w2, 19]);
            for r in 0..h2 {
                for c in 0..w2 {
                    // Centre of conv2's kernel at output (r, c), in intermediate coordinates.
                    let (q_r, q_c) = (
                        r * conv2.stride - conv2.padding + 1,
                        c * conv2.stride - conv2.padding + 1,
                    );
                    let row = b.select(1, r * w2 + c);
                    let expected = if (0..6).contains(&q_r) && (0..5).contains(&q_c) {
                        u1.select(1, q_r * 5 + q_c)
                    } else {
                        row.zeros_like()
                    };
                    assert!(
                        (row - expected).abs().max().double_value(&[]) < 1e-15,
                        "{conv2:?} at ({r}, {c})"
                    );
                }
            }
        }
    }

    #[test]
    fn restricted_neuron_through_the_bordered_input_is_the_two_convolutions() {
        // A new channel (α filter, identity σ) with a 1×1 fan-out at the centre of conv2's
        // kernel: bordered(u₁)·α·ω equals conv2(conv1_α(x)) with that centre-only kernel.
        let conv1 = Conv {
            kernel: 3,
            stride: 1,
            padding: 1,
        };
        let x = randn(&[2, 2, 6, 6], 60);
        let alpha = randn(&[1, 2, 3, 3], 61);
        let alpha_b = randn(&[1], 62);
        let omega = randn(&[3, 1], 63);
        for conv2 in GEOMETRIES {
            let hidden = x.conv2d(&alpha, Some(&alpha_b), [1, 1], [1, 1], [1, 1], 1);
            let kernel = Tensor::zeros([3, 1, 3, 3], (Kind::Double, Device::Cpu));
            kernel
                .narrow(2, 1, 1)
                .narrow(3, 1, 1)
                .copy_(&omega.view([3, 1, 1, 1]));
            let direct = conv_with(&hidden, &kernel, None, conv2);
            let a = Tensor::cat(&[alpha.reshape([1, 18]), alpha_b.view([1, 1])], 1);
            let via = bordered(&unfold(&x, conv1, true), 6, 6, conv2)
                .matmul(&a.tr())
                .matmul(&omega.tr());
            let (h2, w2) = (conv2.output_size(6), conv2.output_size(6));
            let via = via.transpose(1, 2).reshape([2, 3, h2, w2]);
            // Where the centre falls in conv2's zero padding, the direct path reads 0 while the
            // bordered row is 0 too (bias included): equal everywhere.
            assert!(
                (direct - via).abs().max().double_value(&[]) < 1e-12,
                "{conv2:?}"
            );
        }
    }

    #[test]
    fn full_neuron_through_every_tap_is_the_two_convolutions() {
        // docs/tiny.md §7 check 16: the mask-tensor composition (here one tap at a time)
        // reproduces conv2∘conv1 for a new channel with a full k×k fan-out.
        let conv1 = Conv {
            kernel: 3,
            stride: 1,
            padding: 1,
        };
        let x = randn(&[2, 2, 6, 6], 70);
        let alpha = randn(&[1, 2, 3, 3], 71);
        let alpha_b = randn(&[1], 72);
        let kernel = randn(&[3, 1, 3, 3], 73);
        let a = Tensor::cat(&[alpha.reshape([1, 18]), alpha_b.view([1, 1])], 1);
        let image = unfold(&x, conv1, true)
            .transpose(1, 2)
            .reshape([2, 19, 6, 6]);
        for conv2 in GEOMETRIES {
            let hidden = x.conv2d(&alpha, Some(&alpha_b), [1, 1], [1, 1], [1, 1], 1);
            let direct = conv_with(&hidden, &kernel, None, conv2);
            let (h2, w2) = (conv2.output_size(6), conv2.output_size(6));
            let mut via = Tensor::zeros([2, h2 * w2, 3], (Kind::Double, Device::Cpu));
            for r in 0..3 {
                for c in 0..3 {
                    let w_tap = kernel.select(3, c).select(2, r); // [3, 1]
                    via += tap(&image, conv2, r, c).matmul(&a.tr()).matmul(&w_tap.tr());
                }
            }
            let via = via.transpose(1, 2).reshape([2, 3, h2, w2]);
            assert!(
                (direct - via).abs().max().double_value(&[]) < 1e-12,
                "{conv2:?}"
            );
        }
    }
}
