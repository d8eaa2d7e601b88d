//! Seeded shuffling into minibatches, and CIFAR-style augmentation (random crop with padding,
//! horizontal flip), vectorised over the batch.
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

/// The generator for epoch `epoch` of a run seeded with `seed`: derived, not carried, so that a
/// run resumed at an epoch boundary draws exactly what the uninterrupted run drew.
pub fn epoch_rng(seed: u64, epoch: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch as u64 + 1);
    rng
}

/// Index tensors of the minibatches of one epoch over `n` samples (shuffled when `shuffle`).
/// The last batch may be smaller.
pub fn epoch_batches(
    n: usize,
    batch_size: usize,
    shuffle: bool,
    rng: &mut impl Rng,
    device: Device,
) -> Vec<Tensor> {
    let mut idx: Vec<i64> = (0..n as i64).collect();
    if shuffle {
        idx.shuffle(rng);
    }
    idx.chunks(batch_size.max(1))
        .map(|c| Tensor::from_slice(c).to_device(device))
        .collect()
}

/// The rows of `x` in consecutive minibatches of `batch` rows (views, in order; the last may be
/// smaller).
pub fn consecutive_batches(x: &Tensor, batch: i64) -> impl Iterator<Item = Tensor> + '_ {
    let n = x.size()[0];
    let batch = batch.max(1);
    (0..n)
        .step_by(batch as usize)
        .map(move |start| x.narrow(0, start, batch.min(n - start)))
}

/// Random crop (after zero-padding by `pad` pixels) and random horizontal flip of each image in
/// `x` (`[b, c, h, w]`), with offsets and flips drawn from `rng`.
pub fn augment_crop_flip(x: &Tensor, pad: i64, rng: &mut impl Rng) -> crate::Result<Tensor> {
    let (b, c, h, w) = x.size4()?;
    let device = x.device();
    let padded = x.constant_pad_nd([pad, pad, pad, pad]);
    let dy: Vec<i64> = (0..b).map(|_| rng.random_range(0..=2 * pad)).collect();
    let dx: Vec<i64> = (0..b).map(|_| rng.random_range(0..=2 * pad)).collect();
    let flip: Vec<bool> = (0..b).map(|_| rng.random_bool(0.5)).collect();
    let ar = |n: i64| Tensor::arange(n, (Kind::Int64, device));
    // Row indices [b, 1, h, 1] → gather rows, then column indices [b, 1, 1, w] → gather columns.
    let rows = (Tensor::from_slice(&dy).to_device(device).view([b, 1, 1, 1])
        + ar(h).view([1, 1, h, 1]))
    .expand([b, c, h, w + 2 * pad], false);
    let cols_base = ar(w).view([1, 1, 1, w]);
    let flip_t = Tensor::from_slice(&flip)
        .to_device(device)
        .view([b, 1, 1, 1]);
    let cols = cols_base.where_self(&flip_t.logical_not(), &(cols_base.flip([3])));
    let cols = (cols + Tensor::from_slice(&dx).to_device(device).view([b, 1, 1, 1]))
        .expand([b, c, h, w], false);
    Ok(padded.gather(2, &rows, false).gather(3, &cols, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_batches_split_the_rows_in_order() {
        let x = Tensor::arange(10, (Kind::Int64, Device::Cpu));
        let sizes: Vec<i64> = consecutive_batches(&x, 4).map(|b| b.size()[0]).collect();
        assert_eq!(sizes, vec![4, 4, 2]);
        let again = Tensor::cat(&consecutive_batches(&x, 4).collect::<Vec<_>>(), 0);
        assert!(again.equal(&x));
        assert_eq!(
            consecutive_batches(&x, 0).count(),
            10,
            "at least one row per batch"
        );
    }

    #[test]
    fn batches_cover_every_sample_once() {
        let mut rng = epoch_rng(3, 0);
        let batches = epoch_batches(10, 4, true, &mut rng, Device::Cpu);
        assert_eq!(batches.len(), 3);
        let mut all: Vec<i64> = batches
            .iter()
            .flat_map(|b| Vec::<i64>::try_from(b).unwrap())
            .collect();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        let again = epoch_batches(10, 4, true, &mut epoch_rng(3, 0), Device::Cpu);
        assert!(again[0].equal(&batches[0]));
        let other = epoch_batches(10, 4, true, &mut epoch_rng(3, 1), Device::Cpu);
        assert!(!other
            .iter()
            .zip(&batches)
            .all(|(a, b)| a.size() == b.size() && a.equal(b)));
    }

    #[test]
    fn crop_and_flip_match_explicit_indexing() {
        let x = Tensor::arange(2 * 3 * 5 * 5, (Kind::Float, Device::Cpu)).view([2, 3, 5, 5]);
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let y = augment_crop_flip(&x, 2, &mut rng).unwrap();
        // Replay the same draws and build the result by hand.
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let dy: Vec<i64> = (0..2).map(|_| rng.random_range(0..=4)).collect();
        let dx: Vec<i64> = (0..2).map(|_| rng.random_range(0..=4)).collect();
        let flip: Vec<bool> = (0..2).map(|_| rng.random_bool(0.5)).collect();
        let padded = x.constant_pad_nd([2, 2, 2, 2]);
        for i in 0..2 {
            let mut img = padded
                .get(i)
                .narrow(1, dy[i as usize], 5)
                .narrow(2, dx[i as usize], 5);
            if flip[i as usize] {
                img = img.flip([2]);
            }
            assert!(y.get(i).equal(&img), "image {i}");
        }
    }
}
