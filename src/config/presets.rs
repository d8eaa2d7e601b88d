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

use toml::Table;

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
    match file {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
            let over: Table = toml::from_str(&text)
                .map_err(|e| Error::Config(format!("{}: {e}", p.display())))?;
            let mut table = under.clone();
            merge(&mut table, &over);
            RunConfig::from_table(table).map_err(|e| Error::Config(format!("{}: {e}", p.display())))
        }
        None => {
            let mut table = RunConfig::default().to_table()?;
            merge(&mut table, under);
            RunConfig::from_table(table)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::growth::config::MoreRounds;
    use crate::growth::GrowthConfig;
    use std::io::Write;

    use crate::config::overrides::get_path;
    use toml::Value;

    /// The preset's keys, dotted (`growth.auto`, …).
    fn keys(preset: &Table) -> Vec<String> {
        let mut out = Vec::new();
        for (section, v) in preset {
            if let Value::Table(t) = v {
                out.extend(t.keys().map(|k| format!("{section}.{k}")));
            }
        }
        out
    }

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
            let ours = get_path(&written, &key);
            assert_eq!(ours, get_path(&preset, &key), "{key}");
            differ += usize::from(ours != get_path(&defaults, &key));
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
        let preset = grow_auto().unwrap();
        assert!(get_path(&preset, "growth.judge_parts").is_some());
        assert!(get_path(&preset, "growth.method").is_none());
        // Without a preset the file alone, as RunConfig::from_file reads it.
        let plain = layered(Some(&path), None).unwrap().growth.unwrap();
        assert_eq!((plain.judge_parts, plain.every_steps), (1, Some(10)));
        // The file's line search, another variant than the preset's, is the one used.
        std::fs::write(
            &path,
            "[growth]\nline_search = { kind = \"armijo\", c = 0.001, max_iterations = 5 }\n",
        )
        .unwrap();
        let g = layered(Some(&path), Some(&preset)).unwrap().growth.unwrap();
        assert_eq!(
            g.line_search,
            crate::growth::LineSearch::Armijo {
                c: 0.001,
                max_iterations: 5
            }
        );
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
