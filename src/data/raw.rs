//! A dataset as its reader gives it, before splitting and normalisation, and the test split
//! drawn from it when it has no test set of its own.
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

use super::config::{DataConfig, DEFAULT_TEST_FRACTION};
use super::formats::Images;
use super::task::Task;
use crate::error::{Error, Result};

/// Mixed into the seed of the test split drawn from files without a test set.
const TEST_SALT: u64 = 0x7e57_5911;

/// What the built-in datasets give: training and test inputs and targets, the task, the
/// shape of a sample and whether it is a colour image.
pub(crate) type Builtin = (Tensor, Tensor, Tensor, Tensor, Task, Vec<i64>, bool);

/// A dataset as read, before splitting and normalisation.
pub(crate) struct Raw {
    /// Inputs (`[n, …]`, float) and targets.
    pub train: (Tensor, Tensor),
    /// The test set, when the dataset has one (else drawn from `train`).
    pub test: Option<(Tensor, Tensor)>,
    pub task: Task,
    /// Shape of one sample.
    pub input_shape: Vec<i64>,
    /// Colour images: normalised per channel, kept as images, crop + flip augmentation.
    pub augmentable: bool,
    pub class_names: Option<Vec<String>>,
    /// The inputs hold NaN where a value is missing, to impute with the training means.
    pub impute: bool,
    /// Regression targets standardised with the training split's statistics.
    pub standardise_target: bool,
    /// What was read (for the summary), e.g. `4 numeric + 1 categorical columns → 7 features`.
    pub description: Option<String>,
}

impl Raw {
    pub(crate) fn from_builtin(
        (train_x, train_y, test_x, test_y, task, input_shape, augmentable): Builtin,
    ) -> Raw {
        Raw {
            train: (train_x, train_y),
            test: Some((test_x, test_y)),
            task,
            input_shape,
            augmentable,
            class_names: None,
            impute: false,
            standardise_target: false,
            description: None,
        }
    }

    /// The training and test sets: the dataset's own, or `data.test_fraction` (default
    /// [`DEFAULT_TEST_FRACTION`]) of the samples drawn with the seed.
    #[allow(clippy::type_complexity)]
    pub(crate) fn split_test(
        &self,
        cfg: &DataConfig,
    ) -> Result<((Tensor, Tensor), (Tensor, Tensor))> {
        let (x, y) = (&self.train.0, &self.train.1);
        if let Some((tx, ty)) = &self.test {
            if cfg.test_fraction.is_some() {
                return Err(Error::Config(format!(
                    "{}: data.test_fraction is set, but the dataset has its own test set",
                    cfg.name
                )));
            }
            return Ok((
                (x.shallow_clone(), y.shallow_clone()),
                (tx.shallow_clone(), ty.shallow_clone()),
            ));
        }
        let n = x.size()[0];
        let fraction = cfg.test_fraction.unwrap_or(DEFAULT_TEST_FRACTION);
        let k = ((n as f64 * fraction).round() as i64).clamp(1, (n - 1).max(1));
        if n < 2 {
            return Err(Error::Config(format!(
                "{}: {n} sample(s): too few to draw a test split from",
                cfg.name
            )));
        }
        let mut perm: Vec<i64> = (0..n).collect();
        perm.shuffle(&mut ChaCha8Rng::seed_from_u64(cfg.seed ^ TEST_SALT));
        let (mut test, mut train) = (perm[..k as usize].to_vec(), perm[k as usize..].to_vec());
        test.sort_unstable();
        train.sort_unstable();
        let pick = |idx: &[i64]| {
            let idx = Tensor::from_slice(idx);
            (x.index_select(0, &idx), y.index_select(0, &idx))
        };
        Ok((pick(&train), pick(&test)))
    }
}

pub(crate) fn images_tensor(images: &Images) -> Tensor {
    first_images_tensor(images, None)
}

/// The first `limit` images (all without one) as floats in `[0, 1]`, `n × c × h × w`: the
/// others are never converted (CIFAR-10's 50 000 training images are 600 MB as floats, a
/// limit of 15 000 needs 180 MB), and the division is done in place.
pub(crate) fn first_images_tensor(images: &Images, limit: Option<usize>) -> Tensor {
    let n = limit.map_or(images.n, |l| l.min(images.n));
    let shape = [
        n as i64,
        images.channels as i64,
        images.height as i64,
        images.width as i64,
    ];
    // Grey-scale sets are flattened into vectors after normalisation (see `load`).
    let mut x = Tensor::from_slice(&images.pixels[..n * images.image_len()])
        .view(shape)
        .to_kind(Kind::Float);
    let _ = x.g_div_scalar_(255.0);
    x
}

/// The first `limit` images ([`first_images_tensor`]) and their labels (as many as images,
/// as the readers check).
pub(crate) fn first_samples(
    images: &Images,
    labels: &[u8],
    limit: Option<usize>,
) -> (Tensor, Tensor) {
    let x = first_images_tensor(images, limit);
    let y = labels_tensor(&labels[..x.size()[0] as usize]);
    (x, y)
}

pub(crate) fn labels_tensor(labels: &[u8]) -> Tensor {
    Tensor::from_slice(labels).to_kind(Kind::Int64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_images_are_the_whole_conversion_cut_short() {
        let pixels: Vec<u8> = (0..5 * 3 * 2 * 2).map(|i| (i * 37 % 256) as u8).collect();
        let images = Images {
            n: 5,
            channels: 3,
            height: 2,
            width: 2,
            pixels,
        };
        let all = images_tensor(&images);
        assert_eq!(all.size(), [5, 3, 2, 2]);
        // Image 1, channel 2, row 0, column 1: pixel 12 + 8 + 1 = 21, divided in f32.
        let expected = f64::from(f32::from(images.pixels[21]) / 255.0);
        assert_eq!(all.double_value(&[1, 2, 0, 1]), expected);
        let first = first_images_tensor(&images, Some(2));
        assert_eq!(first.size(), [2, 3, 2, 2]);
        assert!(first.equal(&all.narrow(0, 0, 2)));
        // A limit above the count takes every image.
        assert!(first_images_tensor(&images, Some(9)).equal(&all));
    }
}
