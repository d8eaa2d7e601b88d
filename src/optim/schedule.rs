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
    /// Checks the schedule's numbers (keys as in config.toml).
    pub fn validate(&self) -> crate::error::Result<()> {
        use crate::error::check;
        match *self {
            Schedule::Constant => Ok(()),
            Schedule::Step { every, gamma } => {
                check::at_least("train.schedule.every", every, 1)?;
                check::positive("train.schedule.gamma", gamma)
            }
            Schedule::Cosine { warmup, min_factor } => {
                check::non_negative("train.schedule.warmup", warmup)?;
                check::in_range("train.schedule.min_factor", min_factor, 0.0, 1.0, false)
            }
        }
    }

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
        let most = match parts.first().copied() {
            Some("constant") => 1,
            _ => 3,
        };
        if parts.len() > most {
            return Err(format!(
                "schedule '{s}': too many fields (expected constant, step:EVERY:GAMMA or \
                 cosine[:WARMUP[:MIN_FACTOR]])"
            ));
        }
        match parts.first().copied().unwrap_or_default() {
            "constant" => Ok(Schedule::Constant),
            "step" => Ok(Schedule::Step {
                every: match parts.get(1) {
                    Some(p) => p.parse::<usize>().map_err(|_| {
                        format!("schedule '{s}': EVERY must be a whole number of epochs, got '{p}'")
                    })?,
                    None => 10,
                },
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
        assert!("step:1.5".parse::<Schedule>().is_err());
        assert!("step:2:0.5:9".parse::<Schedule>().is_err());
        // Parsed as written, refused by the check (no silent 1 for 0).
        let zero: Schedule = "step:0:0.5".parse().unwrap();
        let e = zero.validate().unwrap_err().to_string();
        assert!(
            e.contains("train.schedule.every = 0: expected at least 1"),
            "{e}"
        );
        let e = "cosine:1:2"
            .parse::<Schedule>()
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(
            e.to_string().contains("train.schedule.min_factor = 2.0"),
            "{e}"
        );
        assert!("step:3:0.5".parse::<Schedule>().unwrap().validate().is_ok());
    }
}
