//! Built-in synthetic datasets that need no files.
//!
//! Every generator is deterministic: the same arguments (including `seed`)
//! give the same data on every run, using a [`ChaCha8Rng`] seeded from
//! `seed`. Samples are drawn one after the other, so the first `m` samples of
//! a call with `n > m` equal those of the call with `n = m`: generate one set
//! and split it to get train and test data from the same distribution (for
//! [`teacher`] this also keeps the same teacher network).
//!
//! | generator | features | targets |
//! |---|---|---|
//! | [`spirals`] | 2-D points on `classes` interleaved spiral arms | classes |
//! | [`two_moons`] | 2-D points on two interleaved half circles | 2 classes |
//! | [`regression_1d`] | `x` uniform in `[-1, 1]` | `y = regression_curve(x) + noise` |
//! | [`teacher`] | standard-normal vectors | argmax of a random tanh MLP |
//!
//! Arguments are never rejected: class counts are clamped to `1..=256`
//! (labels are `u8`), dimensions to at least 1, and a negative `noise` acts
//! like its absolute value while a non-finite one acts like 0.
//!
//! ```
//! use grownet::data::synthetic::{two_moons, Targets};
//!
//! let data = two_moons(100, 0.1, 42);
//! assert_eq!(data.len(), 100);
//! assert_eq!(data.dim, 2);
//! assert_eq!(data.features.len(), 200);
//! match &data.targets {
//!     Targets::Classes { labels, num_classes } => {
//!         assert_eq!(*num_classes, 2);
//!         assert_eq!(labels.iter().filter(|&&l| l == 1).count(), 50);
//!     }
//!     Targets::Values { .. } => unreachable!("two moons is a classification set"),
//! }
//! // Same seed, same data.
//! assert_eq!(two_moons(100, 0.1, 42), data);
//! ```

use std::f32::consts::PI;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A generated dataset: `len()` samples of `dim` features each.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticData {
    /// Row-major `n × dim` features.
    pub features: Vec<f32>,
    /// Features per sample.
    pub dim: usize,
    /// One target per sample.
    pub targets: Targets,
}

/// The targets of a [`SyntheticData`].
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// Classification: one label in `0..num_classes` per sample.
    Classes {
        /// The labels.
        labels: Vec<u8>,
        /// Number of classes.
        num_classes: usize,
    },
    /// Regression: `dim` values per sample, row-major.
    Values {
        /// The target values.
        values: Vec<f32>,
        /// Values per sample.
        dim: usize,
    },
}

impl SyntheticData {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.features.len().checked_div(self.dim).unwrap_or(0)
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The features of sample `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn sample(&self, i: usize) -> &[f32] {
        &self.features[i * self.dim..(i + 1) * self.dim]
    }
}

/// Number of turns each spiral arm makes from the centre to radius 1.
pub const SPIRAL_TURNS: f32 = 1.5;

/// Points on `classes` interleaved spiral arms in the plane.
///
/// Sample `i` belongs to class `c = i % classes` (so classes are balanced to
/// within one sample). With `t` uniform in `[0, 1)`, its point is at radius
/// `t` and angle `2π (c / classes + SPIRAL_TURNS · t)`, then each coordinate
/// gets Gaussian noise of standard deviation `noise`. Without noise all
/// points lie in the unit disc; arms are `2π t / classes` radians apart.
/// `classes` is clamped to `1..=256`.
pub fn spirals(n: usize, classes: usize, noise: f32, seed: u64) -> SyntheticData {
    let classes = classes.clamp(1, 256);
    let noise = sanitize_noise(noise);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut features = Vec::with_capacity(2 * n);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % classes;
        let t: f32 = rng.random();
        let angle = 2.0 * PI * (c as f32 / classes as f32 + SPIRAL_TURNS * t);
        let (x, y) = (t * angle.cos(), t * angle.sin());
        features.push(x + noise * normal(&mut rng));
        features.push(y + noise * normal(&mut rng));
        // c < classes <= 256.
        labels.push(c as u8);
    }
    SyntheticData {
        features,
        dim: 2,
        targets: Targets::Classes {
            labels,
            num_classes: classes,
        },
    }
}

/// Side of the square images of [`patterns`].
pub const PATTERN_SIDE: usize = 12;

/// Colour images (`3 × 12 × 12`, channel-major) of four textures, for conv tests and demos
/// that need no download: class 0 horizontal stripes, 1 vertical stripes, 2 diagonal
/// stripes, 3 a checkerboard. Sample `i` has class `i % 4`, a random period (2–4 pixels), a
/// random phase, a random colour, and Gaussian pixel noise of standard deviation `noise`.
/// Telling the classes apart needs local spatial filters.
pub fn patterns(n: usize, noise: f32, seed: u64) -> SyntheticData {
    let noise = sanitize_noise(noise);
    let side = PATTERN_SIDE;
    let dim = 3 * side * side;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut features = Vec::with_capacity(n * dim);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let class = i % 4;
        let period = rng.random_range(2..=4usize);
        let phase = rng.random_range(0..period);
        let colour: [f32; 3] = [rng.random(), rng.random(), rng.random()];
        for ch in colour {
            for r in 0..side {
                for c in 0..side {
                    let on = match class {
                        0 => (r + phase) % period < period / 2 + period % 2,
                        1 => (c + phase) % period < period / 2 + period % 2,
                        2 => (r + c + phase) % period < period / 2 + period % 2,
                        _ => ((r + phase) / period + (c + phase) / period) % 2 == 0,
                    };
                    let v = if on { 0.5 + ch } else { -0.5 - ch };
                    features.push(v + noise * normal(&mut rng));
                }
            }
        }
        labels.push(class as u8);
    }
    SyntheticData {
        features,
        dim,
        targets: Targets::Classes {
            labels,
            num_classes: 4,
        },
    }
}

/// Two interleaved half circles ("moons") in the plane, as in
/// scikit-learn's `make_moons`.
///
/// Sample `i` belongs to class `i % 2`. With `t` uniform in `[0, π]`,
/// class 0 lies on the upper half circle `(cos t, sin t)` and class 1 on the
/// lower half circle `(1 − cos t, 0.5 − sin t)`; each coordinate then gets
/// Gaussian noise of standard deviation `noise`. The classes are not
/// linearly separable.
pub fn two_moons(n: usize, noise: f32, seed: u64) -> SyntheticData {
    let noise = sanitize_noise(noise);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut features = Vec::with_capacity(2 * n);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let c = (i % 2) as u8;
        let t = PI * rng.random::<f32>();
        let (x, y) = if c == 0 {
            (t.cos(), t.sin())
        } else {
            (1.0 - t.cos(), 0.5 - t.sin())
        };
        features.push(x + noise * normal(&mut rng));
        features.push(y + noise * normal(&mut rng));
        labels.push(c);
    }
    SyntheticData {
        features,
        dim: 2,
        targets: Targets::Classes {
            labels,
            num_classes: 2,
        },
    }
}

/// The noiseless curve of [`regression_1d`]:
/// `sin(3πx) · exp(−x²) + 0.3x`.
///
/// On `[-1, 1]` it has three bumps of decreasing height towards the ends and
/// a slight upward trend, so a small network underfits it visibly.
pub fn regression_curve(x: f32) -> f32 {
    (3.0 * PI * x).sin() * (-x * x).exp() + 0.3 * x
}

/// A 1-D regression set: `x` uniform in `[-1, 1]`,
/// `y = regression_curve(x) + noise · N(0, 1)`.
///
/// Features have `dim = 1` and targets are [`Targets::Values`] with `dim = 1`.
pub fn regression_1d(n: usize, noise: f32, seed: u64) -> SyntheticData {
    let noise = sanitize_noise(noise);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut features = Vec::with_capacity(n);
    let mut values = Vec::with_capacity(n);
    for _ in 0..n {
        let x: f32 = rng.random_range(-1.0..=1.0);
        features.push(x);
        values.push(regression_curve(x) + noise * normal(&mut rng));
    }
    SyntheticData {
        features,
        dim: 1,
        targets: Targets::Values { values, dim: 1 },
    }
}

/// Number of inputs used to balance the classes of the [`teacher`].
const TEACHER_REFERENCE_POINTS: usize = 2048;
/// Rounds of output-bias adjustment when balancing the [`teacher`].
const TEACHER_BALANCE_ROUNDS: usize = 60;

/// A "teacher" classification set whose ideal hidden width is known.
///
/// A random network `input_dim → teacher_width (tanh) → num_classes` is drawn
/// first: weights Gaussian with standard deviation `1/sqrt(fan_in)`, hidden
/// biases Gaussian with standard deviation 0.5. Its output biases are then
/// chosen on 2048 extra standard-normal inputs so that the classes come out
/// about equally often (centred outputs, then a few rounds of nudging the
/// biases of over- and under-represented classes). Then `n` inputs are drawn
/// from the standard normal distribution in `input_dim` dimensions, each
/// labelled with the argmax of the teacher's output (the lowest index on
/// ties).
///
/// A student with one hidden layer of `teacher_width` tanh units can fit the
/// labels exactly. The classes are roughly, not exactly, balanced.
/// `input_dim` and `teacher_width` are at least 1; `num_classes` is clamped
/// to `1..=256`.
pub fn teacher(
    n: usize,
    input_dim: usize,
    teacher_width: usize,
    num_classes: usize,
    seed: u64,
) -> SyntheticData {
    let input_dim = input_dim.max(1);
    let width = teacher_width.max(1);
    let classes = num_classes.clamp(1, 256);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);

    let gaussian = |len: usize, std: f32, rng: &mut ChaCha8Rng| -> Vec<f32> {
        (0..len).map(|_| std * normal(rng)).collect()
    };
    let w1 = gaussian(width * input_dim, 1.0 / (input_dim as f32).sqrt(), &mut rng);
    let b1 = gaussian(width, 0.5, &mut rng);
    let w2 = gaussian(classes * width, 1.0 / (width as f32).sqrt(), &mut rng);
    let net = TeacherNet {
        input_dim,
        w1,
        b1,
        w2,
        b2: vec![0.0; classes],
    };

    // Balance the classes on a reference sample: start from centred outputs,
    // then nudge the output biases towards equal class frequencies.
    let mut hidden = vec![0.0f32; width];
    let mut out = vec![0.0f32; classes];
    let mut reference = Vec::with_capacity(TEACHER_REFERENCE_POINTS * classes);
    for _ in 0..TEACHER_REFERENCE_POINTS {
        let x = gaussian(input_dim, 1.0, &mut rng);
        net.forward(&x, &mut hidden, &mut out);
        reference.extend_from_slice(&out);
    }
    let net = TeacherNet {
        b2: balanced_biases(&reference, classes),
        ..net
    };
    let mut features = Vec::with_capacity(n * input_dim);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let x = gaussian(input_dim, 1.0, &mut rng);
        net.forward(&x, &mut hidden, &mut out);
        labels.push(argmax(&out) as u8);
        features.extend_from_slice(&x);
    }
    SyntheticData {
        features,
        dim: input_dim,
        targets: Targets::Classes {
            labels,
            num_classes: classes,
        },
    }
}

/// Output biases that make the argmax classes of `outputs` (row-major
/// `m × classes`, computed without biases) about equally frequent.
fn balanced_biases(outputs: &[f32], classes: usize) -> Vec<f32> {
    let m = outputs.len() / classes;
    if m == 0 || classes < 2 {
        return vec![0.0; classes];
    }
    // Centre each output and measure its spread.
    let mut mean = vec![0.0f64; classes];
    for row in outputs.chunks_exact(classes) {
        for (s, &o) in mean.iter_mut().zip(row) {
            *s += f64::from(o);
        }
    }
    mean.iter_mut().for_each(|s| *s /= m as f64);
    let var = outputs
        .chunks_exact(classes)
        .flat_map(|row| {
            row.iter()
                .zip(&mean)
                .map(|(&o, &mu)| (f64::from(o) - mu).powi(2))
        })
        .sum::<f64>()
        / outputs.len() as f64;
    let mut step = 0.5 * var.sqrt() as f32;
    let mut bias: Vec<f32> = mean.iter().map(|&mu| -mu as f32).collect();
    let target = 1.0 / classes as f32;
    let mut shifted = vec![0.0f32; classes];
    for _ in 0..TEACHER_BALANCE_ROUNDS {
        let mut freq = vec![0.0f32; classes];
        for row in outputs.chunks_exact(classes) {
            for ((s, &o), &b) in shifted.iter_mut().zip(row).zip(&bias) {
                *s = o + b;
            }
            freq[argmax(&shifted)] += 1.0 / m as f32;
        }
        for (b, f) in bias.iter_mut().zip(&freq) {
            *b += step * (target - f) * classes as f32;
        }
        // A shrinking step settles instead of oscillating.
        step *= 0.9;
    }
    bias
}

/// The teacher network of [`teacher`].
struct TeacherNet {
    input_dim: usize,
    /// `width × input_dim`, row-major.
    w1: Vec<f32>,
    b1: Vec<f32>,
    /// `classes × width`, row-major.
    w2: Vec<f32>,
    b2: Vec<f32>,
}

impl TeacherNet {
    fn forward(&self, x: &[f32], hidden: &mut [f32], out: &mut [f32]) {
        for ((h, row), b) in hidden
            .iter_mut()
            .zip(self.w1.chunks_exact(self.input_dim))
            .zip(&self.b1)
        {
            *h = (dot(row, x) + b).tanh();
        }
        for ((o, row), b) in out
            .iter_mut()
            .zip(self.w2.chunks_exact(hidden.len()))
            .zip(&self.b2)
        {
            *o = dot(row, hidden) + b;
        }
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Index of the largest value, the first one on ties (0 for an empty slice).
fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// A standard normal sample (Box–Muller).
fn normal(rng: &mut ChaCha8Rng) -> f32 {
    // u1 in (0, 1] so that its logarithm is finite.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

fn sanitize_noise(noise: f32) -> f32 {
    if noise.is_finite() {
        noise.abs()
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(data: &SyntheticData) -> (&[u8], usize) {
        match &data.targets {
            Targets::Classes {
                labels,
                num_classes,
            } => (labels, *num_classes),
            Targets::Values { .. } => panic!("expected classes"),
        }
    }

    fn counts(labels: &[u8], k: usize) -> Vec<usize> {
        let mut c = vec![0; k];
        for &l in labels {
            c[usize::from(l)] += 1;
        }
        c
    }

    #[test]
    fn deterministic_per_seed_and_different_across_seeds() {
        type Gen = fn(u64) -> SyntheticData;
        let gens: [(&str, Gen); 5] = [
            ("spirals", |s| spirals(200, 3, 0.1, s)),
            ("patterns", |s| patterns(200, 0.1, s)),
            ("two_moons", |s| two_moons(200, 0.1, s)),
            ("regression_1d", |s| regression_1d(200, 0.1, s)),
            ("teacher", |s| teacher(200, 5, 8, 4, s)),
        ];
        for (name, gen) in gens {
            let a = gen(7);
            assert_eq!(a, gen(7), "{name} is not deterministic");
            let b = gen(8);
            assert_ne!(a.features, b.features, "{name} ignores the seed");
            assert!(a.features.iter().all(|v| v.is_finite()), "{name}");
            assert_eq!(a.len(), 200, "{name}");
        }
    }

    #[test]
    fn prefix_stable() {
        let big = spirals(100, 4, 0.2, 3);
        let small = spirals(40, 4, 0.2, 3);
        assert_eq!(big.features[..80], small.features[..]);
        let big = teacher(100, 3, 6, 3, 3);
        let small = teacher(40, 3, 6, 3, 3);
        assert_eq!(big.features[..120], small.features[..]);
        assert_eq!(labels(&big).0[..40], *labels(&small).0);
        let big = regression_1d(100, 0.1, 3);
        assert_eq!(big.features[..10], regression_1d(10, 0.1, 3).features[..]);
    }

    #[test]
    fn spirals_shape_and_balance() {
        let data = spirals(301, 3, 0.0, 1);
        assert_eq!((data.dim, data.len()), (2, 301));
        let (l, k) = labels(&data);
        assert_eq!(k, 3);
        assert_eq!(counts(l, 3), vec![101, 100, 100]);
        // Without noise every point is on its arm: radius t, angle known.
        for (i, (p, &c)) in data.features.chunks_exact(2).zip(l).enumerate() {
            let [x, y] = [p[0], p[1]];
            let r = x.hypot(y);
            assert!(r <= 1.0 + 1e-5);
            if r > 0.05 {
                let expected = 2.0 * PI * (f32::from(c) / 3.0 + SPIRAL_TURNS * r);
                let diff = (y.atan2(x) - expected).rem_euclid(2.0 * PI);
                let diff = diff.min(2.0 * PI - diff);
                assert!(diff < 1e-3, "sample {i}: angle off by {diff}");
            }
        }
    }

    #[test]
    fn spirals_noise_spreads_points() {
        let clean = spirals(500, 2, 0.0, 5);
        let noisy = spirals(500, 2, 0.3, 5);
        let max_r = |d: &SyntheticData| {
            (0..d.len())
                .map(|i| d.sample(i)[0].hypot(d.sample(i)[1]))
                .fold(0.0f32, f32::max)
        };
        assert!(max_r(&clean) <= 1.0 + 1e-5);
        assert!(max_r(&noisy) > 1.2);
    }

    #[test]
    fn two_moons_geometry_and_balance() {
        let data = two_moons(400, 0.0, 11);
        let (l, k) = labels(&data);
        assert_eq!(k, 2);
        assert_eq!(counts(l, 2), vec![200, 200]);
        for (p, &c) in data.features.chunks_exact(2).zip(l) {
            let [x, y] = [p[0], p[1]];
            if c == 0 {
                assert!((x.hypot(y) - 1.0).abs() < 1e-5);
                assert!(y >= -1e-6);
            } else {
                assert!(((x - 1.0).hypot(y - 0.5) - 1.0).abs() < 1e-5);
                assert!(y <= 0.5 + 1e-6);
            }
        }
    }

    /// Accuracy of a logistic regression trained by full-batch gradient
    /// descent: the best a linear classifier gets, roughly.
    fn linear_accuracy(data: &SyntheticData) -> f32 {
        let (l, _) = labels(data);
        let n = data.len() as f32;
        let (mut w, mut b) = ([0.0f32; 2], 0.0f32);
        for _ in 0..3000 {
            let (mut gw, mut gb) = ([0.0f32; 2], 0.0f32);
            for (x, &c) in data.features.chunks_exact(2).zip(l) {
                let p = 1.0 / (1.0 + (-(w[0] * x[0] + w[1] * x[1] + b)).exp());
                let e = p - f32::from(c);
                gw[0] += e * x[0];
                gw[1] += e * x[1];
                gb += e;
            }
            w[0] -= 1.0 * gw[0] / n;
            w[1] -= 1.0 * gw[1] / n;
            b -= 1.0 * gb / n;
        }
        let correct = (0..data.len())
            .filter(|&i| {
                let x = data.sample(i);
                (w[0] * x[0] + w[1] * x[1] + b > 0.0) == (l[i] == 1)
            })
            .count();
        correct as f32 / n
    }

    /// Leave-one-out accuracy of the 1-nearest-neighbour classifier.
    fn nn_accuracy(data: &SyntheticData) -> f32 {
        let (l, _) = labels(data);
        let correct = (0..data.len())
            .filter(|&i| {
                let xi = data.sample(i);
                let nearest = (0..data.len())
                    .filter(|&j| j != i)
                    .min_by(|&a, &b| {
                        let d = |j: usize| {
                            let xj = data.sample(j);
                            (xi[0] - xj[0]).powi(2) + (xi[1] - xj[1]).powi(2)
                        };
                        d(a).total_cmp(&d(b))
                    })
                    .unwrap();
                l[nearest] == l[i]
            })
            .count();
        correct as f32 / data.len() as f32
    }

    #[test]
    fn two_moons_is_not_linearly_separable_but_learnable() {
        let data = two_moons(400, 0.05, 2);
        let lin = linear_accuracy(&data);
        let nn = nn_accuracy(&data);
        assert!(lin > 0.75 && lin < 0.93, "linear accuracy {lin}");
        assert!(nn > 0.98, "1-NN accuracy {nn}");
    }

    #[test]
    fn spirals_are_not_linearly_separable_but_learnable() {
        let data = spirals(400, 2, 0.02, 4);
        let lin = linear_accuracy(&data);
        let nn = nn_accuracy(&data);
        assert!(lin < 0.8, "linear accuracy {lin}");
        assert!(nn > 0.95, "1-NN accuracy {nn}");
    }

    #[test]
    fn regression_follows_curve() {
        let clean = regression_1d(1000, 0.0, 9);
        let Targets::Values { values, dim } = &clean.targets else {
            panic!("expected values")
        };
        assert_eq!((*dim, clean.dim, values.len()), (1, 1, 1000));
        for (x, y) in clean.features.iter().zip(values) {
            assert!((-1.0..=1.0).contains(x));
            assert_eq!(*y, regression_curve(*x));
        }
        // x covers the interval.
        let min = clean.features.iter().copied().fold(f32::MAX, f32::min);
        let max = clean.features.iter().copied().fold(f32::MIN, f32::max);
        assert!(min < -0.99 && max > 0.99);

        let noisy = regression_1d(20000, 0.1, 9);
        let Targets::Values { values, .. } = &noisy.targets else {
            panic!("expected values")
        };
        let resid: Vec<f32> = noisy
            .features
            .iter()
            .zip(values)
            .map(|(x, y)| y - regression_curve(*x))
            .collect();
        let mean = resid.iter().sum::<f32>() / resid.len() as f32;
        let std =
            (resid.iter().map(|r| (r - mean).powi(2)).sum::<f32>() / resid.len() as f32).sqrt();
        assert!(mean.abs() < 0.005, "noise mean {mean}");
        assert!((std - 0.1).abs() < 0.005, "noise std {std}");
    }

    #[test]
    fn regression_curve_is_non_trivial() {
        assert_eq!(regression_curve(0.0), 0.0);
        // sin(3π/6) = 1 at x = 1/6.
        let x = 1.0f32 / 6.0;
        assert!((regression_curve(x) - ((-x * x).exp() + 0.3 * x)).abs() < 1e-6);
        assert!(regression_curve(0.5) < -0.4);
        assert!((regression_curve(1.0) - 0.3).abs() < 1e-5);
        // Several sign changes on [-1, 1].
        let signs = (0..=200)
            .map(|i| regression_curve(-1.0 + i as f32 / 100.0) > 0.0)
            .collect::<Vec<_>>();
        let changes = signs.windows(2).filter(|w| w[0] != w[1]).count();
        assert!(changes >= 4, "{changes} sign changes");
    }

    #[test]
    fn teacher_shapes_and_balance() {
        for seed in 0..5 {
            let k = 4;
            let data = teacher(4000, 10, 16, k, seed);
            assert_eq!((data.dim, data.len()), (10, 4000));
            let (l, nk) = labels(&data);
            assert_eq!(nk, k);
            let c = counts(l, k);
            for &ci in &c {
                assert!(ci > 4000 / (2 * k), "seed {seed}: class counts {c:?}");
            }
        }
    }

    #[test]
    fn teacher_inputs_are_standard_normal() {
        let data = teacher(5000, 4, 8, 3, 1);
        let n = data.features.len() as f32;
        let mean = data.features.iter().sum::<f32>() / n;
        let var = data
            .features
            .iter()
            .map(|x| (x - mean).powi(2))
            .sum::<f32>()
            / n;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "variance {var}");
    }

    #[test]
    fn teacher_labels_depend_on_width() {
        // Same inputs stream but another teacher: labels must differ a lot.
        let a = teacher(1000, 5, 4, 3, 2);
        let b = teacher(1000, 5, 32, 3, 2);
        let same = labels(&a)
            .0
            .iter()
            .zip(labels(&b).0)
            .filter(|(x, y)| x == y)
            .count();
        assert!(same < 800, "{same} equal labels");
    }

    #[test]
    fn degenerate_arguments_do_not_panic() {
        assert!(spirals(0, 3, 0.1, 0).is_empty());
        let d = spirals(10, 0, 0.1, 0);
        assert_eq!(labels(&d), (&[0u8; 10][..], 1));
        let d = spirals(600, 1000, 0.1, 0);
        assert_eq!(labels(&d).1, 256);
        assert!(labels(&d).0.contains(&255));
        let d = two_moons(10, f32::NAN, 0);
        assert!(d.features.iter().all(|v| v.is_finite()));
        assert_eq!(two_moons(10, -0.2, 0), two_moons(10, 0.2, 0));
        let d = regression_1d(5, f32::INFINITY, 0);
        assert!(d.features.iter().all(|v| v.is_finite()));
        let d = teacher(10, 0, 0, 0, 0);
        assert_eq!((d.dim, d.len()), (1, 10));
        assert_eq!(labels(&d).1, 1);
        assert!(teacher(0, 3, 3, 3, 0).is_empty());
    }

    #[test]
    fn patterns_are_images_of_four_balanced_textures() {
        let d = patterns(40, 0.0, 3);
        assert_eq!(d.dim, 3 * PATTERN_SIDE * PATTERN_SIDE);
        let (labels, k) = labels(&d);
        assert_eq!(k, 4);
        assert_eq!(counts(labels, 4), vec![10; 4]);
        // Without noise, horizontal stripes are constant along rows and vertical ones along
        // columns.
        let at = |i: usize, r: usize, c: usize| d.sample(i)[r * PATTERN_SIDE + c];
        assert!((0..PATTERN_SIDE).all(|c| at(0, 3, c) == at(0, 3, 0)));
        assert!((0..PATTERN_SIDE).all(|r| at(1, r, 5) == at(1, 0, 5)));
        assert!((0..PATTERN_SIDE).any(|c| at(1, 0, c) != at(1, 0, 0)));
    }
}
