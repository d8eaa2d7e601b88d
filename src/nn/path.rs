//! Typed parameter paths: the stable name of every tensor of a [`super::Network`]
//! (`stages.{i}.layer.weight`, `stages.{i}.norm.running_var`, `stages.{i}.skip.conv.weight`,
//! …), written into checkpoints and used as the optimiser's state keys. Every name is made and
//! read here, so that renaming stages after an insertion is one typed operation.
//!
//! ```
//! use grownet::nn::{ParamPath, Part};
//! let p: ParamPath = "stages.3.norm.running_var".parse().unwrap();
//! assert_eq!(p, ParamPath::new(3, Part::Norm, "running_var"));
//! assert_eq!(p.shifted(2, 1).to_string(), "stages.4.norm.running_var");
//! assert_eq!(p.shifted(5, 1), p); // stages before the insertion keep their names
//! assert!("stages.x.layer.weight".parse::<ParamPath>().is_err());
//! ```
use std::fmt;
use std::str::FromStr;

/// Which part of a stage a tensor belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Part {
    /// The stage's linear or conv layer (`weight`, `bias`).
    Layer,
    /// Its BatchNorm (`weight`, `bias`, `running_mean`, `running_var`).
    Norm,
    /// Its rational activation (`theta`).
    Act,
    /// The 1×1 conv of its residual projection.
    SkipConv,
    /// The BatchNorm of its residual projection.
    SkipNorm,
}

impl Part {
    fn prefix(self) -> &'static str {
        match self {
            Part::Layer => "layer",
            Part::Norm => "norm",
            Part::Act => "act",
            Part::SkipConv => "skip.conv",
            Part::SkipNorm => "skip.norm",
        }
    }
}

/// The tensor names a part may hold.
const TENSORS: [&str; 5] = ["weight", "bias", "running_mean", "running_var", "theta"];

/// The path of one parameter or buffer: stage, part and tensor name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParamPath {
    pub stage: usize,
    pub part: Part,
    pub tensor: &'static str,
}

impl ParamPath {
    /// # Panics
    /// When `tensor` is not one of the tensor names of a stage (a programming error).
    pub fn new(stage: usize, part: Part, tensor: &str) -> Self {
        let tensor = TENSORS
            .into_iter()
            .find(|t| *t == tensor)
            .unwrap_or_else(|| panic!("unknown tensor name '{tensor}'"));
        ParamPath {
            stage,
            part,
            tensor,
        }
    }

    /// The path after `by` stages were inserted at position `from`: stages at or after it
    /// move by `by`, earlier ones keep their index.
    pub fn shifted(self, from: usize, by: usize) -> Self {
        let stage = if self.stage >= from {
            self.stage + by
        } else {
            self.stage
        };
        ParamPath { stage, ..self }
    }

    /// Whether this tensor belongs to stage `stage`.
    pub fn in_stage(&self, stage: usize) -> bool {
        self.stage == stage
    }
}

impl fmt::Display for ParamPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stages.{}.{}.{}",
            self.stage,
            self.part.prefix(),
            self.tensor
        )
    }
}

impl FromStr for ParamPath {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}' is not a parameter path (stages.I.PART.NAME)");
        let rest = s.strip_prefix("stages.").ok_or_else(bad)?;
        let (index, rest) = rest.split_once('.').ok_or_else(bad)?;
        let stage = index.parse::<usize>().map_err(|_| bad())?;
        let (prefix, tensor) = rest.rsplit_once('.').ok_or_else(bad)?;
        let part = [
            Part::Layer,
            Part::Norm,
            Part::Act,
            Part::SkipConv,
            Part::SkipNorm,
        ]
        .into_iter()
        .find(|p| p.prefix() == prefix)
        .ok_or_else(bad)?;
        let tensor = TENSORS.into_iter().find(|t| *t == tensor).ok_or_else(bad)?;
        Ok(ParamPath {
            stage,
            part,
            tensor,
        })
    }
}

/// A state key made of a parameter path and a suffix (`stages.1.layer.weight/0`, the
/// optimiser's convention) after `by` stages were inserted at `from`; keys that are not
/// parameter paths are unchanged.
pub fn shifted_key(key: &str, from: usize, by: usize) -> String {
    let (path, suffix) = match key.split_once('/') {
        Some((p, s)) => (p, Some(s)),
        None => (key, None),
    };
    match path.parse::<ParamPath>() {
        Ok(p) => {
            let moved = p.shifted(from, by).to_string();
            match suffix {
                Some(s) => format!("{moved}/{s}"),
                None => moved,
            }
        }
        Err(_) => key.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_round_trips() {
        for (part, tensor) in [
            (Part::Layer, "weight"),
            (Part::Layer, "bias"),
            (Part::Norm, "running_mean"),
            (Part::Act, "theta"),
            (Part::SkipConv, "weight"),
            (Part::SkipNorm, "running_var"),
        ] {
            let p = ParamPath::new(12, part, tensor);
            assert_eq!(p.to_string().parse::<ParamPath>(), Ok(p));
        }
        assert_eq!(
            ParamPath::new(2, Part::SkipConv, "weight").to_string(),
            "stages.2.skip.conv.weight"
        );
    }

    #[test]
    fn junk_is_refused() {
        for s in [
            "",
            "stages",
            "stages.1",
            "stages.1.layer",
            "stages.-1.layer.weight",
            "stages.1.lay.weight",
            "stages.1.layer.gamma",
            "blocks.1.layer.weight",
        ] {
            assert!(s.parse::<ParamPath>().is_err(), "{s}");
        }
    }

    #[test]
    fn keys_shift_with_their_suffix() {
        assert_eq!(
            shifted_key("stages.3.layer.weight/1", 2, 2),
            "stages.5.layer.weight/1"
        );
        assert_eq!(
            shifted_key("stages.1.act.theta", 2, 1),
            "stages.1.act.theta"
        );
        assert_eq!(shifted_key("other/0", 0, 1), "other/0");
    }
}
