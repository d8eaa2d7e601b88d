//! Growth: statistics → method → proposal → amplitude (line search) → apply.
//!
//! The TINY closed forms live in [`tiny`] (pure f64, faer), next to their tests.
pub mod linalg;
pub mod tiny;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::train::Trainer;

/// How and when the network grows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrowthConfig {
    /// Grow after every `every` epochs.
    pub every: usize,
}

impl Default for GrowthConfig {
    fn default() -> Self {
        GrowthConfig { every: 1 }
    }
}

impl GrowthConfig {
    pub fn validate(&self) -> Result<()> {
        if self.every == 0 {
            return Err(Error::Config("growth interval must be at least 1".into()));
        }
        Ok(())
    }
}

/// Drives growth during training.
#[derive(Debug)]
pub struct Grower {
    pub config: GrowthConfig,
    pub steps_done: usize,
    /// Seconds spent in growth so far.
    pub seconds: f64,
}

impl Grower {
    pub fn new(config: GrowthConfig) -> Result<Self> {
        config.validate()?;
        Ok(Grower {
            config,
            steps_done: 0,
            seconds: 0.0,
        })
    }

    /// Called after each epoch.
    pub fn after_epoch(&mut self, _trainer: &mut Trainer) -> Result<()> {
        Ok(())
    }
}
