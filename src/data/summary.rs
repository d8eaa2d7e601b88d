//! The line a run prints about its data before training: samples per split, the shape of a
//! sample, the task, and the class balance of the training split.
//!
//! ```
//! use grownet::data::{load, DataConfig};
//! let cfg = DataConfig { name: "moons".into(), val_fraction: 0.25, ..DataConfig::default() };
//! let s = load(&cfg, tch::Device::Cpu).unwrap().summary();
//! assert!(s.starts_with("data moons: 3000 train / 1000 val / 1000 test samples; input [2]; \
//!                        2 classes, training split: 0 "), "{s}");
//! ```
use tch::Kind;

use super::dataset::Splits;
use super::task::Task;

/// Classes listed one by one up to this many; beyond, the smallest and the largest.
const LISTED_CLASSES: usize = 10;

impl Splits {
    /// One line: `data NAME: N train / N val / N test samples; input [...]; TASK; loaded in S s`.
    pub fn summary(&self) -> String {
        let val = self
            .val
            .as_ref()
            .map_or(String::new(), |v| format!(" / {} val", v.len()));
        let input = match &self.description {
            Some(d) => format!("input {:?} ({d})", self.input_shape),
            None => format!("input {:?}", self.input_shape),
        };
        format!(
            "data {}: {} train{val} / {} test samples; {input}; {}; loaded in {:.2} s",
            self.name,
            self.train.len(),
            self.test.len(),
            self.task_summary(),
            self.load_seconds
        )
    }

    fn task_summary(&self) -> String {
        match self.task {
            Task::Regression { outputs } => match &self.target_scale {
                Some((mean, std)) => format!(
                    "regression, {outputs} output(s), targets standardised with the training \
                     split's mean {} and std {} (losses are in these units)",
                    short(mean),
                    short(std)
                ),
                None => format!("regression, {outputs} output(s)"),
            },
            Task::Classification { classes } => {
                format!(
                    "{classes} classes, training split: {}",
                    self.balance(classes)
                )
            }
        }
    }

    /// Training samples per class, with their share.
    fn balance(&self, classes: i64) -> String {
        let y = self
            .train
            .y
            .to_device(tch::Device::Cpu)
            .to_kind(Kind::Int64);
        let counts =
            Vec::<i64>::try_from(&y.bincount(None::<&tch::Tensor>, classes)).unwrap_or_default();
        let n = self.train.len().max(1) as f64;
        let name = |c: usize| {
            (self.class_names.as_ref())
                .and_then(|names| names.get(c).cloned())
                .unwrap_or_else(|| c.to_string())
        };
        let item = |c: usize| {
            format!(
                "{} {} ({:.1}%)",
                name(c),
                counts[c],
                100.0 * counts[c] as f64 / n
            )
        };
        if counts.len() <= LISTED_CLASSES {
            return (0..counts.len()).map(item).collect::<Vec<_>>().join(", ");
        }
        let (lo, hi) = (0..counts.len()).fold((0, 0), |(lo, hi), c| {
            (
                if counts[c] < counts[lo] { c } else { lo },
                if counts[c] > counts[hi] { c } else { hi },
            )
        });
        format!("smallest class {}, largest {}", item(lo), item(hi))
    }
}

/// `[152.13]` with 4 significant digits.
fn short(values: &[f32]) -> String {
    let v: Vec<String> = values.iter().map(|v| format!("{v:.4}")).collect();
    format!("[{}]", v.join(", "))
}
