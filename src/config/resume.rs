//! What a resumed run may change. The network, its optimiser state and the position in
//! training come from the checkpoint; the configuration may change what happens next (more
//! epochs, another learning rate or schedule, growth settings, the device, the data
//! directory), but not what the checkpoint was made of: the model, the data and its splits,
//! the seed, the optimiser. [`changes`] lists the keys two configs differ in and
//! [`check_resumable`] refuses those a resumed run cannot take, naming them.
//!
//! ```
//! use grownet::config::{changes, check_resumable, RunConfig};
//! let stored = RunConfig::default();
//! let mut longer = stored.clone();
//! longer.train.epochs = 40;
//! longer.train.lr = 0.02;
//! let c = check_resumable(&stored, &longer).unwrap();
//! assert_eq!(c.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
//!            ["train.epochs 20 → 40", "train.lr 0.01 → 0.02"]);
//! let mut other = stored.clone();
//! other.model.hidden = vec![64];
//! let e = check_resumable(&stored, &other).unwrap_err().to_string();
//! assert!(e.contains("model.hidden [32, 32] → [64]: the network comes from the checkpoint"), "{e}");
//! assert_eq!(changes(&stored, &stored).unwrap(), []);
//! ```
use std::fmt;

use toml::{Table, Value};

use super::RunConfig;
use crate::error::{Error, Result};

/// One key whose value differs between two configs (`None`: absent).
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub key: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

impl Change {
    /// Why a resumed run cannot take this change (`None`: it can).
    pub fn refusal(&self) -> Option<&'static str> {
        let under = |section: &str| {
            self.key == section
                || self
                    .key
                    .strip_prefix(section)
                    .is_some_and(|r| r.starts_with('.'))
        };
        if under("model") {
            Some("the network comes from the checkpoint")
        } else if self.key == "data.data_dir" {
            None
        } else if under("data") {
            Some("a run keeps the data and splits it started with")
        } else if self.key == "train.seed" {
            Some("a run keeps the seed it started with")
        } else if self.key == "train.optimizer" {
            Some("the checkpoint holds this optimiser's state")
        } else {
            None
        }
    }
}

fn show(v: &Option<Value>) -> String {
    match v {
        None => "(unset)".into(),
        Some(Value::Table(_)) => "{…}".into(),
        Some(v) => v.to_string(),
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.old, &self.new) {
            (None, Some(Value::Table(_))) => write!(f, "{} added", self.key),
            (Some(Value::Table(_)), None) => write!(f, "{} removed", self.key),
            _ => write!(f, "{} {} → {}", self.key, show(&self.old), show(&self.new)),
        }
    }
}

/// The keys `new` changes from `old`, in key order (tables compared key by key).
pub fn changes(old: &RunConfig, new: &RunConfig) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    diff(&old.to_table()?, &new.to_table()?, "", &mut out);
    Ok(out)
}

fn diff(a: &Table, b: &Table, prefix: &str, out: &mut Vec<Change>) {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let key = format!("{prefix}{k}");
        match (a.get(k), b.get(k)) {
            (Some(Value::Table(x)), Some(Value::Table(y))) => {
                diff(x, y, &format!("{key}."), out);
            }
            (x, y) if x != y => out.push(Change {
                key,
                old: x.cloned(),
                new: y.cloned(),
            }),
            _ => {}
        }
    }
}

/// The changes from a checkpoint's config `stored` to `new`, or an error listing every one a
/// resumed run cannot take and why.
pub fn check_resumable(stored: &RunConfig, new: &RunConfig) -> Result<Vec<Change>> {
    let all = changes(stored, new)?;
    let refused: Vec<String> = all
        .iter()
        .filter_map(|c| c.refusal().map(|why| format!("{c}: {why}")))
        .collect();
    if refused.is_empty() {
        Ok(all)
    } else {
        Err(Error::Config(format!(
            "a resumed run cannot change {}; start a new run (another --out) for that",
            refused.join("; ")
        )))
    }
}
