//! The automatic mode's defaults: the growth keys that `grownet train --grow-auto` sets *under*
//! the `--config` file and the other flags, one set for every dataset (`grow_auto.toml` beside
//! this file; docs/tiny.md §10 "The automatic mode's defaults"). A key the file or a flag sets
//! keeps that value; the others take the preset's, then the config's own defaults.
//!
//! ```
//! use grownet::config::presets;
//! let cfg = presets::layered(None, Some(&presets::grow_auto().unwrap())).unwrap();
//! let g = cfg.growth.unwrap();
//! assert!(g.auto);
//! assert_eq!((g.every_steps, g.numerical_threshold), (Some(35), 0.01));
//! ```
use std::path::Path;

use toml::{Table, Value};

use super::overrides::merge;
use super::RunConfig;
use crate::error::{Error, Result};

/// The preset's text (commented TOML, a `[growth]` table).
pub const GROW_AUTO_TOML: &str = include_str!("grow_auto.toml");

/// The automatic mode's defaults as a config table (`{ growth = { … } }`); an error only if
/// the shipped text were not TOML (a unit test parses it).
pub fn grow_auto() -> Result<Table> {
    toml::from_str(GROW_AUTO_TOML)
        .map_err(|e| Error::Config(format!("src/config/grow_auto.toml: {e}")))
}

/// A config from layers, lowest first: the config's defaults, `under` (a preset), then the
/// file at `file` (its keys win over the preset's). Without a preset this is
/// [`RunConfig::from_file`] (or the defaults).
pub fn layered(file: Option<&Path>, under: Option<&Table>) -> Result<RunConfig> {
    let Some(under) = under else {
        return match file {
            Some(p) => RunConfig::from_file(p),
            None => Ok(RunConfig::default()),
        };
    };
    let mut table = under.clone();
    match file {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
            let over: Table = toml::from_str(&text)
                .map_err(|e| Error::Config(format!("{}: {e}", p.display())))?;
            merge(&mut table, &over);
            RunConfig::from_table(table).map_err(|e| Error::Config(format!("{}: {e}", p.display())))
        }
        None => {
            let mut base = RunConfig::default().to_table()?;
            merge(&mut base, &table);
            table = base;
            RunConfig::from_table(table)
        }
    }
}

/// Whether `key` (dotted, e.g. `growth.every_steps`) is one the preset sets.
pub fn sets(preset: &Table, key: &str) -> bool {
    super::overrides::get_path(preset, key).is_some()
}

/// The preset's keys, dotted (`growth.auto`, `growth.every_steps`, …), in its order.
pub fn keys(preset: &Table) -> Vec<String> {
    fn walk(t: &Table, prefix: &str, out: &mut Vec<String>) {
        for (k, v) in t {
            let key = format!("{prefix}{k}");
            match v {
                Value::Table(sub) if prefix.is_empty() => walk(sub, &format!("{key}."), out),
                _ => out.push(key),
            }
        }
    }
    let mut out = Vec::new();
    walk(preset, "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::growth::config::MoreRounds;
    use crate::growth::GrowthConfig;
    use std::io::Write;

    #[test]
    fn the_preset_is_a_valid_growth_config_that_differs_from_the_defaults() {
        let cfg = layered(None, Some(&grow_auto().unwrap())).unwrap();
        let g = cfg.growth.clone().unwrap();
        g.validate().unwrap();
        assert_eq!(g.more_rounds, MoreRounds::Exhausted);
        assert_eq!((g.auto_rounds, g.judge_parts, g.end_shrink), (8, 9, 0.5));
        // Every key of the preset is read (none is misspelt and silently dropped), and each
        // differs from the plain default or states it (auto_rounds 8, threshold 0).
        let written = cfg.to_table().unwrap();
        let defaults = RunConfig {
            growth: Some(GrowthConfig::default()),
            ..RunConfig::default()
        }
        .to_table()
        .unwrap();
        let preset = grow_auto().unwrap();
        let mut differ = 0;
        for key in keys(&preset) {
            let ours = super::super::overrides::get_path(&written, &key);
            assert_eq!(
                ours,
                super::super::overrides::get_path(&preset, &key),
                "{key}"
            );
            differ += usize::from(ours != super::super::overrides::get_path(&defaults, &key));
        }
        assert!(keys(&preset).len() >= 20 && differ >= 18, "{differ}");
    }

    #[test]
    fn the_file_and_then_the_flags_win_over_the_preset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.toml");
        let mut f = std::fs::File::create(&path).unwrap();
        writeln!(
            f,
            "[train]\nepochs = 7\n[growth]\nevery_steps = 10\nend_shrink = 1.0"
        )
        .unwrap();
        let cfg = layered(Some(&path), Some(&grow_auto().unwrap())).unwrap();
        let g = cfg.growth.clone().unwrap();
        assert_eq!(
            (cfg.train.epochs, g.every_steps, g.end_shrink),
            (7, Some(10), 1.0)
        );
        assert_eq!((g.judge_parts, g.numerical_threshold), (9, 0.01)); // from the preset
        assert!(
            sets(&grow_auto().unwrap(), "growth.judge_parts")
                && !sets(&grow_auto().unwrap(), "growth.method")
        );
        // Without a preset the file alone, as RunConfig::from_file reads it.
        let plain = layered(Some(&path), None).unwrap().growth.unwrap();
        assert_eq!((plain.judge_parts, plain.every_steps), (1, Some(10)));
    }

    #[test]
    fn a_bad_file_under_a_preset_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "[growth]\nevery_steps = \"often\"\n").unwrap();
        let e = layered(Some(&path), Some(&grow_auto().unwrap()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.toml"), "{e}");
        let e = layered(
            Some(&dir.path().join("none.toml")),
            Some(&grow_auto().unwrap()),
        )
        .unwrap_err();
        assert!(e.to_string().contains("none.toml"), "{e}");
    }
}
