//! The bench file: a base run, the methods (each the base plus overrides), seeds and jobs.
use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::{Table, Value};

pub use crate::config::overrides::merge;
use crate::config::overrides::{get_path, remove_path, set_path};
use crate::config::{ModelKind, RunConfig};
use crate::error::{Error, Result};

fn default_seeds() -> Vec<u64> {
    vec![0, 1, 2]
}

/// One method of a bench: the base run changed by `grow`, `set`, `unset` and `from`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MethodSpec {
    /// Name used in tables, plots and run directories (letters, digits, `-`, `_`).
    pub name: String,
    /// Turn growth on with this method (`tiny`, `gradmax`, `random`, …): the run's `[growth]`
    /// is the bench's shared `[growth]` table with `method` set to it.
    #[serde(default)]
    pub grow: Option<String>,
    /// Values merged into the run config (same layout as a run's TOML: `model.hidden`, …).
    #[serde(default)]
    pub set: Table,
    /// Dotted keys removed after merging (e.g. `growth.max_hidden` for automatic growth).
    #[serde(default)]
    pub unset: Vec<String>,
    /// A fixed network with the final hidden widths of this (growing) method's run of the
    /// same seed, trained from scratch: runs after that run has finished.
    #[serde(default)]
    pub from: Option<String>,
}

/// A comparison bench, read from TOML.
///
/// ```
/// use grownet::bench::BenchConfig;
/// let b = BenchConfig::parse(r#"
///     seeds = [0, 1]
///     [base.data]
///     name = "moons"
///     [base.model]
///     hidden = [1]
///     [growth]
///     max_hidden = [8]
///     [[method]]
///     name = "fixed"
///     set = { model = { hidden = [8] } }
///     [[method]]
///     name = "tiny"
///     grow = "tiny"
///     [[method]]
///     name = "fixed-final"
///     from = "tiny"
/// "#).unwrap();
/// let cfg = b.run_config(&b.methods[1], 1, None).unwrap();
/// assert_eq!(cfg.growth.unwrap().max_hidden, Some(vec![8]));
/// assert_eq!(cfg.train.seed, 1);
/// let fixed = b.run_config(&b.methods[2], 0, Some(&[5])).unwrap();
/// assert_eq!((fixed.model.hidden, fixed.growth), (vec![5], None));
/// ```
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BenchConfig {
    /// Title of the report.
    #[serde(default)]
    pub name: Option<String>,
    /// Training seeds; every method runs once per seed.
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    /// Runs at once (child processes); the command line may override it.
    #[serde(default)]
    pub jobs: Option<usize>,
    /// libtorch CPU threads per run (default: the cores shared among the jobs).
    #[serde(default)]
    pub threads: Option<usize>,
    /// Also vary the data seed (validation split, synthetic data) with the seed; by default
    /// every run sees the same data.
    #[serde(default)]
    pub vary_data_seed: bool,
    /// The run every method starts from (a run config: `[base.data]`, `[base.model]`, …).
    #[serde(default)]
    pub base: Table,
    /// Growth settings shared by every method that grows.
    #[serde(default)]
    pub growth: Table,
    #[serde(default, rename = "method")]
    pub methods: Vec<MethodSpec>,
    /// Grow versus search: the fixed widths of a search and the growing methods held against
    /// it ([`super::search`]).
    #[serde(default)]
    pub search: Option<super::search::SearchSpec>,
}

impl BenchConfig {
    /// Reads and checks a bench file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text).map_err(|e| match e {
            Error::Config(m) => Error::Config(format!("{}: {m}", path.display())),
            e => e,
        })
    }

    /// The bench as TOML (what `OUT/bench.toml` records).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# could not serialise: {e}\n"))
    }

    /// Sets `value` at the dotted `key` of the base run (e.g. `train.epochs`).
    pub fn set_base(&mut self, key: &str, value: Value) -> Result<()> {
        set_path(&mut self.base, key, value).map_err(|e| Error::Config(format!("[base]: {e}")))
    }

    /// Parses and checks bench TOML.
    pub fn parse(text: &str) -> Result<Self> {
        let b: BenchConfig = toml::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        b.validate()?;
        Ok(b)
    }

    pub(crate) fn method(&self, name: &str) -> Option<&MethodSpec> {
        self.methods.iter().find(|m| m.name == name)
    }

    /// Whether `m` grows (has `grow` or a `growth` table in `set`).
    pub fn grows(m: &MethodSpec) -> bool {
        m.grow.is_some() || m.set.contains_key("growth")
    }

    /// Keeps only the methods named in `names` and the methods they take their widths from
    /// (`from`, transitively), e.g. to add one method to a finished bench. A `[search]` keeps
    /// the kept methods among its own, and goes when no width or no growing method is left.
    pub fn select_methods(&mut self, names: &[String]) -> Result<()> {
        if let Some(n) = names
            .iter()
            .find(|n| !self.methods.iter().any(|m| &m.name == *n))
        {
            return Err(Error::Config(format!("the bench has no method '{n}'")));
        }
        let mut keep: HashSet<&str> = names.iter().map(String::as_str).collect();
        loop {
            let before = keep.len();
            for m in &self.methods {
                if let (true, Some(from)) = (keep.contains(m.name.as_str()), &m.from) {
                    keep.insert(from.as_str());
                }
            }
            if keep.len() == before {
                break;
            }
        }
        let keep: HashSet<String> = keep.into_iter().map(String::from).collect();
        self.methods.retain(|m| keep.contains(&m.name));
        if let Some(search) = &mut self.search {
            search.methods.retain(|m| keep.contains(m));
            search.growth.retain(|m| keep.contains(m));
            if search.methods.is_empty() || search.growth.is_empty() {
                self.search = None;
            }
        }
        Ok(())
    }

    /// Checks names, seeds, dependencies and that every method makes a valid run.
    pub fn validate(&self) -> Result<()> {
        let err = |m: String| Err(Error::Config(m));
        if self.methods.is_empty() {
            return err("the bench has no [[method]]".into());
        }
        if self.seeds.is_empty() {
            return err("the bench has no seeds".into());
        }
        if self.seeds.iter().collect::<HashSet<_>>().len() != self.seeds.len() {
            return err(format!("repeated seed in {:?}", self.seeds));
        }
        if self.jobs == Some(0) || self.threads == Some(0) {
            return err("jobs and threads must be at least 1".into());
        }
        if self.base.contains_key("growth") {
            return err(
                "put growth settings in the bench's [growth] table (shared by the methods with \
                 `grow`), not in [base.growth]"
                    .into(),
            );
        }
        let mut names = HashSet::new();
        for m in &self.methods {
            let ok = !m.name.is_empty()
                && m.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                return err(format!(
                    "method name '{}': use letters, digits, '-' and '_' only",
                    m.name
                ));
            }
            if !names.insert(&m.name) {
                return err(format!("method '{}' is listed twice", m.name));
            }
        }
        if let Some(search) = &self.search {
            for name in search.methods.iter().chain(&search.growth) {
                if self.method(name).is_none() {
                    return err(format!(
                        "[search] names '{name}', which is no method of the bench"
                    ));
                }
            }
        }
        for m in &self.methods {
            if let Some(from) = &m.from {
                let Some(src) = self.method(from) else {
                    return err(format!(
                        "method '{}': from = '{from}' names no method of the bench",
                        m.name
                    ));
                };
                if Self::grows(m) {
                    return err(format!(
                        "method '{}': `from` trains a fixed network, it cannot also grow",
                        m.name
                    ));
                }
                if !Self::grows(src) || src.from.is_some() {
                    return err(format!(
                        "method '{}': from = '{from}' must name a method that grows",
                        m.name
                    ));
                }
            }
            let widths = m.from.as_ref().map(|_| vec![1i64]);
            self.run_config(m, self.seeds[0], widths.as_deref())
                .map_err(|e| {
                    let msg = match e {
                        Error::Config(msg) => msg,
                        e => e.to_string(),
                    };
                    Error::Config(format!("method '{}': {msg}", m.name))
                })?;
        }
        Ok(())
    }

    /// The run config of method `m` for `seed`; `final_widths` are those of the `from` run.
    pub fn run_config(
        &self,
        m: &MethodSpec,
        seed: u64,
        final_widths: Option<&[i64]>,
    ) -> Result<RunConfig> {
        let mut t = self.base.clone();
        if Self::grows(m) {
            let mut g = self.growth.clone();
            if let Some(name) = &m.grow {
                // The command line's spelling (`gradmax`), written as the config's.
                let method: crate::growth::Method = name.parse().map_err(Error::Config)?;
                let value = Value::try_from(method).map_err(|e| Error::Config(e.to_string()))?;
                g.insert("method".into(), value);
            }
            t.insert("growth".into(), Value::Table(g));
        }
        merge(&mut t, &m.set);
        for key in &m.unset {
            if get_path(&t, key).is_none() {
                return Err(Error::Config(format!(
                    "method '{}': unset = \"{key}\" removes nothing: the method's run (the \
                     base, the shared [growth] when it grows, and its `set`) has no such key",
                    m.name
                )));
            }
            remove_path(&mut t, key);
        }
        let mut cfg = RunConfig::from_table(t)?;
        if m.from.is_some() {
            let widths = final_widths.ok_or_else(|| {
                Error::Config(format!(
                    "method '{}' needs the final widths of its `from` run",
                    m.name
                ))
            })?;
            match cfg.model.kind {
                ModelKind::Mlp => cfg.model.hidden = widths.to_vec(),
                ModelKind::Cnn => cfg.model.channels = widths.to_vec(),
                ModelKind::Resnet18 => {
                    return Err(Error::Config(format!(
                        "method '{}': a ResNet-18 grows to full width, compare it with \
                         model.width_fraction = 1 instead of `from`",
                        m.name
                    )))
                }
            }
            cfg.growth = None;
        }
        cfg.train.seed = seed;
        if self.vary_data_seed {
            cfg.data.seed = seed;
        }
        cfg.name = Some(run_name(&m.name, seed));
        cfg.validate()?;
        Ok(cfg)
    }
}

/// The run directory name of `method` with `seed`.
pub fn run_name(method: &str, seed: u64) -> String {
    format!("{method}-s{seed}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BENCH: &str = r#"
        [base.data]
        name = "moons"
        [base.model]
        hidden = [1]
        [growth]
        max_hidden = [8]
        every_steps = 5
        [[method]]
        name = "tiny-auto"
        grow = "tiny"
        unset = ["growth.max_hidden"]
        set = { growth = { auto = true }, data = { val_fraction = 0.1 } }
    "#;

    #[test]
    fn overrides_merge_and_unset() {
        let b = BenchConfig::parse(BENCH).unwrap();
        assert_eq!(b.seeds, vec![0, 1, 2]);
        let c = b.run_config(&b.methods[0], 2, None).unwrap();
        let g = c.growth.unwrap();
        assert!(g.auto);
        assert_eq!(g.max_hidden, None);
        assert_eq!(g.every_steps, Some(5));
        assert_eq!(c.data.val_fraction, 0.1);
        assert_eq!(c.name.as_deref(), Some("tiny-auto-s2"));
    }

    #[test]
    fn selecting_methods_keeps_their_sources() {
        let text = format!(
            "{BENCH}\n[[method]]\nname = \"fixed\"\n[[method]]\nname = \"at-auto\"\nfrom = \"tiny-auto\""
        );
        let mut b = BenchConfig::parse(&text).unwrap();
        b.select_methods(&["at-auto".to_string()]).unwrap();
        let names: Vec<&str> = b.methods.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, vec!["tiny-auto", "at-auto"]);
        assert!(b.validate().is_ok());
        assert!(b.select_methods(&["nope".to_string()]).is_err());
    }

    #[test]
    fn selecting_methods_narrows_the_search() {
        let text = format!(
            "{BENCH}\n[search]\nmethods = [\"w1\", \"w2\"]\ngrowth = [\"tiny-auto\"]\n\
             [[method]]\nname = \"w1\"\n[[method]]\nname = \"w2\""
        );
        let mut b = BenchConfig::parse(&text).unwrap();
        let mut one = b.clone();
        one.select_methods(&["w2".to_string(), "tiny-auto".to_string()])
            .unwrap();
        let search = one.search.as_ref().unwrap();
        assert_eq!(search.methods, vec!["w2"]);
        assert_eq!(search.growth, vec!["tiny-auto"]);
        assert!(one.validate().is_ok());
        b.select_methods(&["w1".to_string()]).unwrap();
        assert!(b.search.is_none(), "no growing method left: no search");
        assert!(b.validate().is_ok());
    }

    #[test]
    fn mistakes_are_reported() {
        let cases = [
            ("seeds = []\n[[method]]\nname = \"a\"", "no seeds"),
            ("[[method]]\nname = \"a b\"", "letters"),
            (
                "[[method]]\nname = \"a\"\n[[method]]\nname = \"a\"",
                "twice",
            ),
            ("[[method]]\nname = \"a\"\nfrom = \"b\"", "names no method"),
            (
                "[[method]]\nname = \"a\"\n[[method]]\nname = \"b\"\nfrom = \"a\"",
                "must name a method that grows",
            ),
            ("[[method]]\nname = \"a\"\ngrow = \"tony\"", "unknown"),
            (
                "[[method]]\nname = \"a\"\nset = { train = { lr = -1.0 } }",
                "learning rate",
            ),
            (
                "[[method]]\nname = \"a\"\nset = { train = { epoch = 3 } }",
                "unknown field",
            ),
            (
                "[base.growth]\nauto = true\n[[method]]\nname = \"a\"",
                "[growth]",
            ),
            ("", "no [[method]]"),
            (
                "[[method]]\nname = \"a\"\nunset = [\"growth.max_hiden\"]",
                "unset = \"growth.max_hiden\" removes nothing",
            ),
            (
                "[[method]]\nname = \"a\"\nset = { train = { momentum = 2.0 } }",
                "train.momentum = 2.0",
            ),
            ("seeds = \"x\"", "invalid type"),
        ];
        for (text, expected) in cases {
            let e = BenchConfig::parse(text).unwrap_err().to_string();
            assert!(
                e.contains(expected),
                "{text:?}: expected '{expected}' in '{e}'"
            );
        }
    }
}
