//! What a dataset asks the network to predict, and the loss that goes with it.
//!
//! ```
//! use grownet::data::Task;
//! assert_eq!(Task::Classification { classes: 10 }.outputs(), 10);
//! ```
use serde::{Deserialize, Serialize};

use crate::nn::Loss;

/// What a dataset asks the network to predict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Task {
    Classification { classes: i64 },
    Regression { outputs: i64 },
}

impl Task {
    /// Width of the network's output layer.
    pub fn outputs(self) -> i64 {
        match self {
            Task::Classification { classes } => classes,
            Task::Regression { outputs } => outputs,
        }
    }

    /// The natural loss for the task.
    pub fn loss(self) -> Loss {
        match self {
            Task::Classification { .. } => Loss::CrossEntropy,
            Task::Regression { .. } => Loss::Mse,
        }
    }
}
