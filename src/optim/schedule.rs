//! Learning-rate schedules: constant, step decay, cosine with linear warm-up.
use serde::{Deserialize, Serialize};

/// How the learning rate evolves over training (evaluated per step).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Schedule {
    Constant,
    /// Multiply by `gamma` every `every` epochs.
    Step {
        every: usize,
        gamma: f64,
    },
    /// Linear warm-up over `warmup` epochs, then cosine decay to `min_factor·lr`.
    Cosine {
        warmup: f64,
        min_factor: f64,
    },
}

impl Schedule {
    /// The learning rate at `step` (0-based) of `total_steps`, with `steps_per_epoch`.
    pub fn lr(&self, base: f64, step: usize, steps_per_epoch: usize, total_steps: usize) -> f64 {
        let epoch = step as f64 / steps_per_epoch.max(1) as f64;
        match *self {
            Schedule::Constant => base,
            Schedule::Step { every, gamma } => {
                base * gamma.powi((step / (every.max(1) * steps_per_epoch.max(1))) as i32)
            }
            Schedule::Cosine { warmup, min_factor } => {
                if epoch < warmup {
                    return base * (step + 1) as f64 / (warmup * steps_per_epoch as f64).max(1.0);
                }
                let warm_steps = warmup * steps_per_epoch as f64;
                let progress = ((step as f64 - warm_steps)
                    / (total_steps as f64 - warm_steps).max(1.0))
                .clamp(0.0, 1.0);
                let cos = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
                base * (min_factor + (1.0 - min_factor) * cos)
            }
        }
    }
}

impl std::str::FromStr for Schedule {
    type Err = String;
    /// `constant`, `step:EVERY:GAMMA` (e.g. `step:10:0.1`), `cosine` or `cosine:WARMUP_EPOCHS`.
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let num = |i: usize, default: f64| -> Result<f64, String> {
            parts
                .get(i)
                .map(|p| p.parse::<f64>().map_err(|e| format!("schedule '{s}': {e}")))
                .unwrap_or(Ok(default))
        };
        match parts[0] {
            "constant" => Ok(Schedule::Constant),
            "step" => Ok(Schedule::Step {
                every: num(1, 10.0)?.max(1.0) as usize,
                gamma: num(2, 0.1)?,
            }),
            "cosine" => Ok(Schedule::Cosine {
                warmup: num(1, 0.0)?,
                min_factor: num(2, 0.0)?,
            }),
            o => Err(format!(
                "unknown schedule '{o}' (expected constant, step:EVERY:GAMMA or cosine[:WARMUP])"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_and_cosine_values() {
        let s: Schedule = "step:2:0.5".parse().unwrap();
        assert_eq!(s.lr(1.0, 0, 10, 100), 1.0);
        assert_eq!(s.lr(1.0, 20, 10, 100), 0.5);
        assert_eq!(s.lr(1.0, 45, 10, 100), 0.25);
        let c: Schedule = "cosine:1".parse().unwrap();
        assert!((c.lr(1.0, 9, 10, 110) - 1.0).abs() < 1e-12); // end of warm-up
        assert!(c.lr(1.0, 0, 10, 110) < 0.2);
        assert!((c.lr(1.0, 60, 10, 110) - 0.5).abs() < 1e-12); // half-way
        assert!(c.lr(1.0, 110, 10, 110).abs() < 1e-12);
        assert!("wobble".parse::<Schedule>().is_err());
        assert!("step:x".parse::<Schedule>().is_err());
    }
}
