//! Enum values from text (command-line flags, `--set`, bench files' `grow`), read through the
//! enums' serde names: the names a config file accepts, `#[serde(alias)]`es included, are the
//! only definition. The `FromStr` impls at the bottom all come from [`parse_enum`].
//!
//! ```
//! use grownet::config::{parse_enum, ModelKind};
//! use grownet::growth::Method;
//! assert_eq!("VGG".parse::<ModelKind>(), Ok(ModelKind::Cnn)); // serde alias, any case
//! assert_eq!(parse_enum::<Method>("growth method", "gradmax"), Ok(Method::GradMax));
//! let e = "tony".parse::<Method>().unwrap_err();
//! assert!(e.starts_with("unknown growth method 'tony' (expected tiny, tiny-paper"), "{e}");
//! ```
use std::cell::Cell;

use serde::de::value::{Error as ValueError, StrDeserializer};
use serde::de::{DeserializeOwned, Deserializer, IntoDeserializer, Visitor};

/// Parses `text` (case-insensitive, trimmed) as a unit variant of `T` through `T`'s
/// `Deserialize`, so it accepts exactly a config file's names for it. The error names `what`
/// and lists every accepted name: `unknown activation 'swish' (expected relu, selu, …)`.
pub fn parse_enum<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, String> {
    let lower = text.trim().to_ascii_lowercase();
    let variants = Cell::new(&[][..]);
    T::deserialize(Probe {
        text: &lower,
        variants: &variants,
    })
    .map_err(|e| match variants.get() {
        [] => format!("'{text}' is not a {what}: {e}"),
        names => format!(
            "unknown {what} '{}' (expected {})",
            text.trim(),
            or_list(names)
        ),
    })
}

/// Every name `T` accepts (each variant's serde name and aliases), in declaration order.
pub fn enum_names<T: DeserializeOwned>() -> &'static [&'static str] {
    let variants = Cell::new(&[][..]);
    let _ = T::deserialize(Probe {
        text: "",
        variants: &variants,
    });
    variants.get()
}

/// `a, b or c`.
fn or_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// A string deserializer that remembers the variant names an enum asks for.
struct Probe<'a> {
    text: &'a str,
    variants: &'a Cell<&'static [&'static str]>,
}

impl<'de> Deserializer<'de> for Probe<'_> {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_str(self.text)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.variants.set(variants);
        let text: StrDeserializer<'_, ValueError> = self.text.into_deserializer();
        visitor.visit_enum(text)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier
        ignored_any
    }
}

/// `FromStr` (clap's flags, `str::parse`) by [`parse_enum`], with the noun of its messages.
macro_rules! from_str_by_serde {
    ($($ty:ty => $what:literal),* $(,)?) => {$(
        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                parse_enum($what, s)
            }
        }
    )*};
}

from_str_by_serde! {
    super::ModelKind => "model",
    crate::nn::Activation => "activation",
    crate::optim::OptimizerKind => "optimizer",
    crate::optim::NewSecondMoment => "second-moment fill",
    crate::growth::Method => "growth method",
    crate::growth::Selection => "site selection",
    crate::growth::AutoGain => "automatic-growth gain",
    crate::growth::site::ConvNeuron => "conv neuron",
    crate::growth::config::StatisticsSample => "statistics sample",
    crate::growth::config::AutoRetry => "automatic-growth retry rule",
    crate::growth::config::MoreRounds => "automatic-growth rounds rule",
    crate::growth::config::StatisticsPrecision => "statistics precision",
    crate::growth::config::Decompositions => "place of the decompositions",
    crate::data::TaskChoice => "task",
    crate::data::Missing => "missing-value rule",
    crate::data::Layout => "array layout",
    crate::data::ImageFit => "image fit",
    crate::data::Cifar100Label => "CIFAR-100 label",
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelKind;
    use crate::growth::site::ConvNeuron;
    use crate::growth::{AutoGain, Method, Selection};
    use crate::nn::Activation;
    use crate::optim::{NewSecondMoment, OptimizerKind};

    /// Every accepted name parses, in any case, to a variant whose written name is accepted.
    fn round_trips<T>(what: &str)
    where
        T: DeserializeOwned + serde::Serialize + std::str::FromStr<Err = String> + PartialEq,
        T: std::fmt::Debug,
    {
        let names = enum_names::<T>();
        assert!(!names.is_empty(), "{what}");
        for name in names {
            let v: T = name.parse().unwrap();
            assert_eq!(name.to_uppercase().parse::<T>().unwrap(), v, "{name}");
            let written = toml::Value::try_from(&v).unwrap();
            assert!(names.contains(&written.as_str().unwrap()), "{name}");
        }
        let e = "junk".parse::<T>().unwrap_err();
        assert!(
            e.starts_with(&format!("unknown {what} 'junk' (expected ")),
            "{e}"
        );
        for name in names {
            assert!(e.contains(name), "{e} lacks {name}");
        }
    }

    #[test]
    fn every_enum_parses_its_serde_names_and_aliases() {
        round_trips::<ModelKind>("model");
        round_trips::<Activation>("activation");
        round_trips::<OptimizerKind>("optimizer");
        round_trips::<NewSecondMoment>("second-moment fill");
        round_trips::<Method>("growth method");
        round_trips::<Selection>("site selection");
        round_trips::<AutoGain>("automatic-growth gain");
        round_trips::<ConvNeuron>("conv neuron");
        round_trips::<crate::data::TaskChoice>("task");
        round_trips::<crate::data::Missing>("missing-value rule");
        round_trips::<crate::data::Layout>("array layout");
        round_trips::<crate::data::ImageFit>("image fit");
        round_trips::<crate::data::Cifar100Label>("CIFAR-100 label");
    }

    #[test]
    fn the_aliases_of_the_former_parsers_are_kept() {
        let ok = |r: bool, what: &str| assert!(r, "{what}");
        ok("vgg".parse() == Ok(ModelKind::Cnn), "vgg");
        ok("resnet-18".parse() == Ok(ModelKind::Resnet18), "resnet-18");
        ok("resnet18".parse() == Ok(ModelKind::Resnet18), "resnet18");
        ok("adam".parse() == Ok(OptimizerKind::AdamW), "adam");
        ok("AdamW".parse() == Ok(OptimizerKind::AdamW), "AdamW");
        ok("0".parse() == Ok(NewSecondMoment::Zero), "0");
        ok("linear".parse() == Ok(Activation::Identity), "linear");
        ok("none".parse() == Ok(Activation::Identity), "none");
        ok("tiny_paper".parse() == Ok(Method::TinyPaper), "tiny_paper");
        ok("tiny-paper".parse() == Ok(Method::TinyPaper), "tiny-paper");
        ok("gradmax".parse() == Ok(Method::GradMax), "gradmax");
        ok("grad-max".parse() == Ok(Method::GradMax), "grad-max");
        ok(
            "roundrobin".parse() == Ok(Selection::RoundRobin),
            "roundrobin",
        );
        ok(
            "round-robin".parse() == Ok(Selection::RoundRobin),
            "round-robin",
        );
        ok(" Full ".parse() == Ok(ConvNeuron::Full), "full");
        ok("neurons".parse() == Ok(AutoGain::Neurons), "neurons");
    }

    #[test]
    fn written_names_are_unchanged() {
        // What config.toml and checkpoints hold: renaming any of these breaks old runs.
        let written = |v: toml::Value| v.as_str().unwrap().to_string();
        assert_eq!(
            written(toml::Value::try_from(Method::GradMax).unwrap()),
            "grad-max"
        );
        assert_eq!(
            written(toml::Value::try_from(Method::TinyPaper).unwrap()),
            "tiny-paper"
        );
        assert_eq!(
            written(toml::Value::try_from(ModelKind::Resnet18).unwrap()),
            "resnet18"
        );
        assert_eq!(
            written(toml::Value::try_from(ModelKind::Cnn).unwrap()),
            "cnn"
        );
        assert_eq!(
            written(toml::Value::try_from(OptimizerKind::AdamW).unwrap()),
            "adamw"
        );
        assert_eq!(
            written(toml::Value::try_from(Selection::RoundRobin).unwrap()),
            "round-robin"
        );
        assert_eq!(
            written(toml::Value::try_from(NewSecondMoment::Zero).unwrap()),
            "zero"
        );
        assert_eq!(
            written(toml::Value::try_from(Activation::Identity).unwrap()),
            "identity"
        );
    }

    #[test]
    fn messages_list_every_name() {
        assert_eq!(
            "sgdd".parse::<OptimizerKind>().unwrap_err(),
            "unknown optimizer 'sgdd' (expected sgd, adam or adamw)"
        );
        assert_eq!(or_list(&["a"]), "a");
        assert_eq!(or_list(&["a", "b", "c"]), "a, b or c");
    }
}
