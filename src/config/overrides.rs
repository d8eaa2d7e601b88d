//! Changing a config by key. `grownet train --set growth.senn.tau=0.05`, every `train` flag
//! that stands for a key, and bench files' `set`/`unset` all edit the TOML form of the run
//! and deserialise it again, so a key has one name and one type everywhere: the config's.
//!
//! ```
//! use grownet::config::{Override, RunConfig};
//! let cfg = RunConfig::default()
//!     .with_overrides(&[
//!         Override::parse_assignment("growth.senn.tau=0.05").unwrap(),
//!         Override::parse_assignment("model.hidden=[64, 64]").unwrap(),
//!         Override::parse_assignment("data.name=moons").unwrap(), // not TOML: a string
//!     ])
//!     .unwrap();
//! assert_eq!(cfg.growth.unwrap().senn.tau, 0.05); // setting a growth key turns growth on
//! assert_eq!((cfg.model.hidden, cfg.data.name.as_str()), (vec![64, 64], "moons"));
//! let e = RunConfig::default()
//!     .with_overrides(&[Override::parse_assignment("train.lr=fast").unwrap()])
//!     .unwrap_err();
//! assert!(e.to_string().contains("--set train.lr=fast"), "{e}");
//! ```
use serde::Serialize;
use toml::{Table, Value};

use super::RunConfig;
use crate::error::{Error, Result};

/// Sets `value` at the dotted `key` of `table` (`growth.senn.tau`), creating the tables on the
/// way; refuses to go through a value that is not a table.
pub fn set_path(table: &mut Table, key: &str, value: Value) -> std::result::Result<(), String> {
    let parts = key_parts(key)?;
    let Some((last, path)) = parts.split_last() else {
        return Err(format!("`{key}` is not a key"));
    };
    let mut t = table;
    for (i, &k) in path.iter().enumerate() {
        let entry = t
            .entry(k.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        t = match entry {
            Value::Table(sub) => sub,
            other => {
                return Err(format!(
                    "`{}` is {}, not a table: it has no key `{}`",
                    path[..=i].join("."),
                    describe(other),
                    parts[i + 1..].join(".")
                ))
            }
        };
    }
    t.insert(last.to_string(), value);
    Ok(())
}

/// The value at the dotted `key`, if there is one.
pub fn get_path<'a>(table: &'a Table, key: &str) -> Option<&'a Value> {
    let (first, rest) = match key.split_once('.') {
        Some((first, rest)) => (first, Some(rest)),
        None => (key, None),
    };
    match (table.get(first)?, rest) {
        (v, None) => Some(v),
        (Value::Table(sub), Some(rest)) => get_path(sub, rest),
        _ => None,
    }
}

/// Removes the dotted `key` from `table` (nothing when it is absent).
pub fn remove_path(table: &mut Table, key: &str) {
    match key.split_once('.') {
        Some((head, rest)) => {
            if let Some(Value::Table(sub)) = table.get_mut(head) {
                remove_path(sub, rest);
            }
        }
        None => {
            table.remove(key);
        }
    }
}

/// Merges `over` into `base`, tables recursively, other values replaced.
pub fn merge(base: &mut Table, over: &Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// A value as written on the command line: TOML (`0.05`, `true`, `[64, 64]`, `"text"`,
/// `{ kind = "grid", scales = [0.5, 1] }`), or else the text itself as a string (`mnist`,
/// `cuda:0`, `/data`).
pub fn parse_value(text: &str) -> Value {
    toml::from_str::<Table>(&format!("value = {text}"))
        .ok()
        .and_then(|mut t| t.remove("value"))
        .unwrap_or_else(|| Value::String(text.to_string()))
}

fn key_parts(key: &str) -> std::result::Result<Vec<&str>, String> {
    let parts: Vec<&str> = key.split('.').map(str::trim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!(
            "`{key}` is not a key (expected a dotted path such as train.lr or growth.senn.tau)"
        ));
    }
    Ok(parts)
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Table(_) => "a table".into(),
        other => format!("{} {other}", other.type_str()),
    }
}

/// One change to a run's config: `value` at the dotted `key`.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    pub key: String,
    pub value: Value,
    /// What asked for it, for messages: `--set train.lr=0.1`, `--stop-epoch`.
    pub source: String,
}

impl Override {
    /// `KEY=VALUE` as given to `--set`; the value is read by [`parse_value`].
    pub fn parse_assignment(arg: &str) -> std::result::Result<Override, String> {
        let Some((key, value)) = arg.split_once('=') else {
            return Err(format!(
                "'{arg}': expected KEY=VALUE, e.g. growth.senn.tau=0.05"
            ));
        };
        let key = key_parts(key)?.join(".");
        Ok(Override {
            value: parse_value(value.trim()),
            source: format!("--set {key}={}", value.trim()),
            key,
        })
    }

    /// A typed value (a flag's) for `key`, written as the config writes it.
    pub fn typed<T: Serialize + ?Sized>(
        source: &str,
        key: &str,
        value: &T,
    ) -> std::result::Result<Override, String> {
        let value = Value::try_from(value).map_err(|e| format!("{source}: {e}"))?;
        Ok(Override {
            key: key.into(),
            value,
            source: source.into(),
        })
    }

    /// Whether this sets `key` or something inside it.
    pub fn touches(&self, key: &str) -> bool {
        self.key == key
            || self
                .key
                .strip_prefix(key)
                .is_some_and(|rest| rest.starts_with('.'))
    }
}

impl RunConfig {
    /// The config as a TOML table (what `config.toml` holds).
    pub fn to_table(&self) -> Result<Table> {
        match Value::try_from(self) {
            Ok(Value::Table(t)) => Ok(t),
            Ok(_) => Err(Error::Config("the config is not a table".into())),
            Err(e) => Err(Error::Config(format!("cannot write the config: {e}"))),
        }
    }

    /// The config from a TOML table; unknown keys and wrong types are errors.
    pub fn from_table(table: Table) -> Result<Self> {
        Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| {
                // One line: `invalid type: …, expected f64 in `train.lr``.
                Error::Config(
                    e.to_string()
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" "),
                )
            })
    }

    /// This config with `overrides` applied in order (a later one wins). Every key must be
    /// one of the config's and every value of its type; the error names the override.
    /// Nothing is validated beyond types ([`RunConfig::validate`] does that).
    pub fn with_overrides(&self, overrides: &[Override]) -> Result<RunConfig> {
        if overrides.is_empty() {
            return Ok(self.clone());
        }
        let base = self.to_table()?;
        let apply = |list: &[&Override]| -> Result<RunConfig> {
            let mut t = base.clone();
            for o in list {
                set_path(&mut t, &o.key, o.value.clone())
                    .map_err(|e| Error::Config(format!("{}: {e}", o.source)))?;
            }
            RunConfig::from_table(t)
        };
        let all: Vec<&Override> = overrides.iter().collect();
        let cfg = match apply(&all) {
            Ok(cfg) => cfg,
            Err(e) => return Err(blame(overrides, e, apply)),
        };
        // Keys that deserialising ignored (tables without `deny_unknown_fields`, fields of
        // another variant) are not in the result: an override that a later one does not
        // replace must be found there.
        let written = cfg.to_table()?;
        for (i, o) in overrides.iter().enumerate() {
            let replaced = overrides[i + 1..].iter().any(|later| o.touches(&later.key));
            if !replaced && get_path(&written, &o.key).is_none() {
                return Err(Error::Config(format!(
                    "{}: unknown key `{}`{}",
                    o.source,
                    o.key,
                    known_keys_hint(&written, &o.key)
                )));
            }
        }
        Ok(cfg)
    }
}

/// The error of a failed [`RunConfig::with_overrides`], naming the override at fault: the
/// one without which the others apply, else the first that fails on its own.
fn blame(
    overrides: &[Override],
    error: Error,
    apply: impl Fn(&[&Override]) -> Result<RunConfig>,
) -> Error {
    let named = |o: &Override, e: Error| {
        let msg = match e {
            Error::Config(m) => m,
            e => e.to_string(),
        };
        if msg.starts_with(&o.source) {
            Error::Config(msg)
        } else if o.source.contains(&o.key) {
            Error::Config(format!("{}: {msg}", o.source))
        } else {
            Error::Config(format!("{} (key `{}`): {msg}", o.source, o.key))
        }
    };
    for (i, o) in overrides.iter().enumerate() {
        let others: Vec<&Override> = overrides
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, o)| o)
            .collect();
        if apply(&others).is_ok() {
            return match apply(&[o]) {
                Err(e) => named(o, e),
                Ok(_) => named(o, error),
            };
        }
    }
    for o in overrides {
        if let Err(e) = apply(&[o]) {
            return named(o, e);
        }
    }
    let sources: Vec<&str> = overrides.iter().map(|o| o.source.as_str()).collect();
    match error {
        Error::Config(m) => Error::Config(format!("{m} (after {})", sources.join(", "))),
        e => e,
    }
}

/// `(data has: name, seed, …)` for a key whose table exists.
fn known_keys_hint(written: &Table, key: &str) -> String {
    let (parent, table) = match key.rsplit_once('.') {
        Some((parent, _)) => match get_path(written, parent) {
            Some(Value::Table(t)) => (parent, t),
            _ => return String::new(),
        },
        None => ("the config", written),
    };
    let keys: Vec<&str> = table.keys().map(String::as_str).collect();
    format!(" ({parent} has: {})", keys.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        toml::from_str(text).unwrap()
    }

    fn set(key: &str, value: &str) -> Override {
        Override::parse_assignment(&format!("{key}={value}")).unwrap()
    }

    #[test]
    fn set_path_creates_nested_tables() {
        let mut t = Table::new();
        set_path(&mut t, "growth.senn.tau", Value::Float(0.5)).unwrap();
        assert_eq!(t, table("[growth.senn]\ntau = 0.5"));
        set_path(&mut t, "growth.method", Value::String("senn".into())).unwrap();
        assert_eq!(
            t,
            table("[growth]\nmethod = \"senn\"\n[growth.senn]\ntau = 0.5")
        );
    }

    #[test]
    fn set_path_replaces_values_and_tables() {
        let mut t = table("lr = 0.1\n[schedule]\nkind = \"step\"\nevery = 3");
        set_path(&mut t, "lr", Value::Integer(2)).unwrap();
        set_path(&mut t, "schedule", parse_value("{ kind = \"cosine\" }")).unwrap();
        assert_eq!(t, table("lr = 2\n[schedule]\nkind = \"cosine\""));
    }

    #[test]
    fn set_path_refuses_to_index_into_a_non_table() {
        let mut t = table("[train]\nlr = 0.1\n");
        let e = set_path(&mut t, "train.lr.x", Value::Integer(1)).unwrap_err();
        assert!(e.contains("`train.lr` is float 0.1, not a table"), "{e}");
        let e = set_path(&mut t, "train..lr", Value::Integer(1)).unwrap_err();
        assert!(e.contains("not a key"), "{e}");
        assert_eq!(t, table("[train]\nlr = 0.1\n"), "unchanged");
    }

    #[test]
    fn get_and_remove_paths() {
        let mut t = table("[a.b]\nc = 1\nd = 2");
        assert_eq!(get_path(&t, "a.b.c"), Some(&Value::Integer(1)));
        assert_eq!(get_path(&t, "a.b.c.e"), None);
        assert_eq!(get_path(&t, "a.x"), None);
        remove_path(&mut t, "a.b.c");
        remove_path(&mut t, "a.nothing.c");
        assert_eq!(t, table("[a.b]\nd = 2"));
    }

    #[test]
    fn values_are_toml_or_else_strings() {
        assert_eq!(parse_value("0.05"), Value::Float(0.05));
        assert_eq!(parse_value("-3"), Value::Integer(-3));
        assert_eq!(parse_value("true"), Value::Boolean(true));
        assert_eq!(parse_value("[64,64]"), parse_value("[64, 64]"));
        assert!(parse_value("{kind=\"grid\",scales=[0.5,1]}").is_table());
        assert_eq!(parse_value("\"1e3\""), Value::String("1e3".into()));
        for s in ["mnist", "cifar-10", "cuda:0", "/data/x", "grad-max", ""] {
            assert_eq!(parse_value(s), Value::String(s.into()));
        }
        let o = Override::parse_assignment(" train.lr = 0.5 ").unwrap();
        assert_eq!((o.key.as_str(), &o.value), ("train.lr", &Value::Float(0.5)));
        assert_eq!(o.source, "--set train.lr=0.5");
        assert!(Override::parse_assignment("train.lr").is_err());
        assert!(Override::parse_assignment(".lr=1").is_err());
    }

    #[test]
    fn overrides_set_nested_keys_and_turn_growth_on() {
        let cfg = RunConfig::default()
            .with_overrides(&[
                set("train.nesterov", "true"),
                set("growth.line_search", "{kind=\"grid\",scales=[0.5,1]}"),
                set("growth.senn.tau", "0.05"),
                set("train.schedule.kind", "cosine"),
                set("train.schedule.warmup", "2"),
                set("train.schedule.min_factor", "0"),
                set("model.kind", "vgg"),
            ])
            .unwrap();
        assert!(cfg.train.nesterov);
        let g = cfg.growth.unwrap();
        assert_eq!(
            g.line_search,
            crate::growth::LineSearch::Grid {
                scales: vec![0.5, 1.0]
            }
        );
        assert_eq!(g.senn.tau, 0.05);
        assert_eq!(cfg.model.kind, super::super::ModelKind::Cnn);
        assert_eq!(
            cfg.train.schedule,
            crate::optim::Schedule::Cosine {
                warmup: 2.0,
                min_factor: 0.0
            }
        );
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_the_override() {
        let cases = [
            (
                vec![set("growth.senn.tua", "1")],
                "--set growth.senn.tua=1",
                "tua",
            ),
            (
                vec![set("data.nmae", "x")],
                "--set data.nmae=x",
                "unknown key `data.nmae`",
            ),
            (vec![set("trian.lr", "1")], "--set trian.lr=1", "trian"),
            (
                vec![set("train.schedule.gama", "0.5")],
                "--set train.schedule.gama=0.5",
                "unknown key",
            ),
            (
                vec![set("train.lr", "0.2"), set("train.epochs", "many")],
                "--set train.epochs=many",
                "invalid type",
            ),
            (
                vec![set("model.hidden", "[1, \"x\"]"), set("train.lr", "0.2")],
                "--set model.hidden=[1, \"x\"]",
                "model.hidden",
            ),
            (
                vec![set("train.lr.x", "1")],
                "--set train.lr.x=1",
                "not a table",
            ),
        ];
        for (list, source, detail) in cases {
            let e = RunConfig::default()
                .with_overrides(&list)
                .unwrap_err()
                .to_string();
            assert!(e.contains(source) && e.contains(detail), "{source}: {e}");
        }
        // Two keys valid only together (a variant's tag and its field) are fine.
        let cfg = RunConfig::default()
            .with_overrides(&[
                set("growth.line_search.kind", "grid"),
                set("growth.line_search.scales", "[1]"),
            ])
            .unwrap();
        assert!(cfg.growth.is_some());
    }

    #[test]
    fn a_typed_override_is_written_as_the_config_writes_it() {
        let o =
            Override::typed("--grow", "growth.method", &crate::growth::Method::GradMax).unwrap();
        assert_eq!(o.value, Value::String("grad-max".into()));
        assert!(o.touches("growth") && o.touches("growth.method") && !o.touches("grow"));
        assert!(Override::typed("--seed", "train.seed", &u64::MAX).is_err());
    }
}
