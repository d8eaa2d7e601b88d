//! The `grownet` binary: default run, info/eval, and clear errors instead of panics.
mod common;

use std::process::Command;

use common::{grownet, text};
use grownet::config::RunConfig;
use grownet::growth::LineSearch;
use grownet::optim::Schedule;

#[test]
fn train_info_eval_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = grownet(&[
        "train",
        "--dataset",
        "moons",
        "--hidden",
        "8",
        "--epochs",
        "3",
        "--threads",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("test  loss"), "{}", text(&o));
    let o = grownet(&["info", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("parameters   42"), "{}", text(&o)); // 2·8+8 + 8·2+2
    let o = grownet(&["eval", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("accuracy"), "{}", text(&o));
    // Training into an existing run directory is refused with advice.
    let o = grownet(&[
        "train",
        "--dataset",
        "moons",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("--resume"), "{}", text(&o));
}

#[test]
fn bad_inputs_give_messages_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["info", junk.to_str().unwrap()],
            "not a valid safetensors",
        ),
        (
            vec!["train", "--dataset", "mnist", "--epochs", "1"],
            "train-images-idx3-ubyte",
        ),
        (vec!["train", "--lr=-1"], "learning rate"),
        (vec!["train", "--lr", "-1"], "learning rate"),
        (
            vec!["train", "--activation", "swish2"],
            "unknown activation",
        ),
        (vec!["train", "--device", "tpu"], "unknown device"),
        (
            vec!["train", "--model", "cnn", "--dataset", "moons"],
            "image inputs",
        ),
        (
            vec!["train", "--resume", dir.path().to_str().unwrap()],
            "cannot resume",
        ),
    ];
    common::assert_fail_with_messages(&cases);
}

#[test]
fn no_arguments_runs_the_growth_demo() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_grownet"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("hidden widths [32, 32]"), "{t}");
    assert!(t.contains("growth:"), "{t}");
    let acc: f64 = t
        .lines()
        .find(|l| l.trim_start().starts_with("test  loss"))
        .and_then(|l| l.split("accuracy ").nth(1))
        .and_then(|a| a.trim_end_matches('%').parse().ok())
        .unwrap();
    assert!(acc > 85.0, "{t}");
    assert!(dir.path().join("runs").is_dir());
}

#[test]
fn senn_from_no_hidden_layer_runs_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("senn");
    let o = grownet(&[
        "train",
        "--dataset",
        "moons",
        "--hidden",
        "none",
        "--grow",
        "senn",
        "--grow-every",
        "1",
        "--epochs",
        "3",
        "--senn-tau",
        "0.5",
        "--senn-depth-cost",
        "1",
        "--senn-max-width",
        "8",
        "--stats-samples",
        "256",
        "--threads",
        "1",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let events = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert!(events.contains("\"method\":\"senn\""), "{events}");
    assert!(events.contains("\"eta_global\""), "{events}");
    let o = grownet(&["train", "--dataset", "moons", "--hidden", "4,x"]);
    assert!(
        !o.status.success() && text(&o).contains("is not a width"),
        "{}",
        text(&o)
    );
}

/// `grownet train --print-config ARGS…` (a fixed name, so that outputs compare), checked to
/// succeed.
fn resolved(args: &[&str]) -> String {
    let mut all = vec!["train", "--print-config", "--name", "x"];
    all.extend_from_slice(args);
    let o = grownet(&all);
    assert!(o.status.success(), "{args:?}: {}", text(&o));
    String::from_utf8(o.stdout).unwrap()
}

fn config_of(toml_text: &str) -> RunConfig {
    toml::from_str(toml_text).unwrap()
}

#[test]
fn set_reaches_nested_keys_and_is_recorded_in_config_toml() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = grownet(&[
        "train",
        "--dataset",
        "moons",
        "--epochs",
        "1",
        "--threads",
        "1",
        "--quiet",
        "--grow",
        "tiny",
        "--max-hidden",
        "4,4",
        "--set",
        "model.hidden=[2, 2]",
        "--set",
        "growth.senn.tau=0.05",
        "--set",
        "train.nesterov=true",
        "--set",
        "growth.line_search={kind=\"grid\",scales=[0.5,1]}",
        "--set",
        "data.synthetic_train=300",
        "--set",
        "train.schedule={kind=\"step\",every=1,gamma=0.5}",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let cfg = config_of(&std::fs::read_to_string(out.join("config.toml")).unwrap());
    let g = cfg.growth.unwrap();
    assert_eq!(g.senn.tau, 0.05);
    assert_eq!(
        g.line_search,
        LineSearch::Grid {
            scales: vec![0.5, 1.0]
        }
    );
    assert!(cfg.train.nesterov);
    assert_eq!(cfg.model.hidden, vec![2, 2]);
    assert_eq!(cfg.data.synthetic_train, 300);
    assert_eq!(
        cfg.train.schedule,
        Schedule::Step {
            every: 1,
            gamma: 0.5
        }
    );
    // A plain string needs no quotes; --set wins over the flag of the same key.
    let cfg = config_of(&resolved(&[
        "--dataset",
        "spirals",
        "--set",
        "data.name=moons",
        "--set",
        "device=cpu",
    ]));
    assert_eq!(
        (cfg.data.name.as_str(), cfg.device.as_deref()),
        ("moons", Some("cpu"))
    );
}

#[test]
fn set_rejects_unknown_keys_and_wrong_types_naming_them() {
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["train", "--set", "growth.senn.tua=0.1"],
            "--set growth.senn.tua=0.1",
        ),
        (
            vec!["train", "--set", "growth.senn.tua=0.1"],
            "unknown field `tua`",
        ),
        (
            vec!["train", "--set", "data.nmae=mnist"],
            "unknown key `data.nmae`",
        ),
        (vec!["train", "--set", "trian.lr=0.1"], "--set trian.lr=0.1"),
        (
            vec!["train", "--set", "train.lr=fast"],
            "--set train.lr=fast",
        ),
        (vec!["train", "--set", "train.lr=fast"], "invalid type"),
        (vec!["train", "--set", "train.epochs=[1]"], "train.epochs"),
        (vec!["train", "--set", "train.lr.x=1"], "not a table"),
        (vec!["train", "--set", "train.lr"], "expected KEY=VALUE"),
        (
            vec!["train", "--set", "growth.method=tony"],
            "growth.method",
        ),
    ];
    common::assert_fail_with_messages(&cases);
}

#[test]
fn old_flag_names_give_the_same_config_as_the_new_ones() {
    let pairs: [(&[&str], &[&str]); 9] = [
        (&["--grow-until", "7"], &["--stop-epoch", "7"]),
        (&["--grow-new-v", "zero"], &["--new-second-moment", "zero"]),
        (&["--grow-every", "2"], &["--every-epochs", "2"]),
        (&["--grow-every-steps", "10"], &["--every-steps", "10"]),
        (&["--grow-select", "all"], &["--selection", "all"]),
        (&["--max-params", "5000"], &["--max-parameters", "5000"]),
        (&["--grow-rounds", "3"], &["--auto-rounds", "3"]),
        (&["--grow-gain", "total"], &["--auto-gain", "total"]),
        (
            &["--grow-threshold-per-param", "1e-6"],
            &["--grow-threshold-per-parameter", "1e-6"],
        ),
    ];
    let base = [
        "--grow",
        "tiny",
        "--hidden",
        "1,1",
        "--max-hidden",
        "8,8",
        "--dataset",
        "moons",
    ];
    for (old, new) in pairs {
        let old_cfg = resolved(&[&base[..], old].concat());
        assert_eq!(old_cfg, resolved(&[&base[..], new].concat()), "{old:?}");
        assert_ne!(old_cfg, resolved(&base), "{old:?} changed nothing");
    }
    let one = ["--grow", "tiny", "--hidden", "1", "--max-hidden", "8"];
    let with = resolved(&[&one[..], &["--grow-bn-rescale"]].concat());
    assert_eq!(with, resolved(&[&one[..], &["--bn-rescale"]].concat()));
    assert!(config_of(&with).growth.unwrap().bn_rescale);
    // Each flag sets its key: the same config as `--set` of that key.
    let flags = resolved(&[
        "--grow",
        "gradmax",
        "--stop-epoch",
        "7",
        "--stop-fraction",
        "0.5",
        "--stats-samples-per-row",
        "4",
        "--more-rounds",
        "exhausted",
        "--max-parameters",
        "5000",
        "--seed",
        "3",
        "--hidden",
        "none",
        "--nesterov",
        "--no-augment",
    ]);
    let keys = resolved(&[
        "--set",
        "growth.method=gradmax",
        "--set",
        "growth.stop_epoch=7",
        "--set",
        "growth.stop_fraction=0.5",
        "--set",
        "growth.stats_samples_per_row=4.0",
        "--set",
        "growth.more_rounds=\"exhausted\"",
        "--set",
        "growth.max_parameters=5000",
        "--set",
        "train.seed=3",
        "--set",
        "data.seed=3",
        "--set",
        "model.hidden=[]",
        "--set",
        "train.nesterov=true",
        "--set",
        "train.augment=false",
    ]);
    assert_eq!(flags, keys);
}

/// `--grow-auto` puts the automatic mode's defaults (src/config/grow_auto.toml) under the
/// --config file and the flags; `--set growth.auto=true` is the mode without them.
#[test]
fn grow_auto_sets_the_automatic_defaults_under_the_file_and_the_flags() {
    let base = ["--grow", "tiny", "--hidden", "1,1", "--dataset", "moons"];
    let auto = config_of(&resolved(&[&base[..], &["--grow-auto"]].concat()))
        .growth
        .unwrap();
    assert!(auto.auto);
    assert_eq!((auto.every_steps, auto.judge_parts), (Some(35), 9));
    assert_eq!(
        (auto.numerical_threshold, auto.stop_fraction),
        (0.01, Some(0.25))
    );
    let bare = config_of(&resolved(
        &[&base[..], &["--set", "growth.auto=true"]].concat(),
    ))
    .growth
    .unwrap();
    assert!(bare.auto);
    assert_eq!((bare.every_steps, bare.judge_parts), (None, 1));
    assert_eq!((bare.numerical_threshold, bare.stop_fraction), (1e-6, None));
    // A flag wins over the preset, and so does the file.
    let flagged = resolved(&[&base[..], &["--grow-auto", "--judge-parts", "3"]].concat());
    assert_eq!(config_of(&flagged).growth.unwrap().judge_parts, 3);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("run.toml");
    std::fs::write(&file, "[growth]\nevery_steps = 10\ncompanions = 0.0\n").unwrap();
    let filed = resolved(
        &[
            &base[..],
            &["--grow-auto", "--config", file.to_str().unwrap()],
        ]
        .concat(),
    );
    let g = config_of(&filed).growth.unwrap();
    assert_eq!(
        (g.every_steps, g.companions, g.judge_parts),
        (Some(10), 0.0, 9)
    );
    // A file that is not TOML is named, under the preset as without it.
    std::fs::write(&file, "[growth\n").unwrap();
    let o = grownet(&["train", "--grow-auto", "--config", file.to_str().unwrap()]);
    assert!(
        !o.status.success() && text(&o).contains("run.toml"),
        "{}",
        text(&o)
    );
}

#[test]
fn growth_flags_change_only_a_run_that_grows() {
    let o = grownet(&[
        "train",
        "--print-config",
        "--grow-until",
        "3",
        "--senn-tau",
        "0.5",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(config_of(&String::from_utf8_lossy(&o.stdout))
        .growth
        .is_none());
    assert!(
        text(&o).contains("--stop-epoch, --senn-tau ignored: this run does not grow"),
        "{}",
        text(&o)
    );
}

#[test]
fn set_and_flags_change_a_resumed_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let run = out.to_str().unwrap();
    let o = grownet(&[
        "train",
        "--dataset",
        "moons",
        "--hidden",
        "4",
        "--epochs",
        "1",
        "--threads",
        "1",
        "--quiet",
        "--out",
        run,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = grownet(&["train", "--resume", run, "--set", "train.lr=fast"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("--set train.lr=fast"), "{}", text(&o));
    let o = grownet(&[
        "train",
        "--resume",
        run,
        "--epochs",
        "2",
        "--set",
        "train.weight_decay=0.01",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("resuming"), "{}", text(&o));
    let cfg = config_of(&std::fs::read_to_string(out.join("config.toml")).unwrap());
    assert_eq!((cfg.train.epochs, cfg.train.weight_decay), (2, 0.01));
    assert_eq!(cfg.model.hidden, vec![4]);
}

#[test]
fn enum_flags_accept_every_alias_and_list_the_names() {
    let accepted: [(&str, &str, &str); 20] = [
        ("--model", "vgg", "kind = \"cnn\""),
        ("--model", "resnet-18", "kind = \"resnet18\""),
        ("--model", "ResNet18", "kind = \"resnet18\""),
        ("--grow", "gradmax", "method = \"grad-max\""),
        ("--grow", "grad-max", "method = \"grad-max\""),
        ("--grow", "tiny_paper", "method = \"tiny-paper\""),
        ("--grow", "TINY-PAPER", "method = \"tiny-paper\""),
        ("--selection", "roundrobin", "selection = \"round-robin\""),
        (
            "--grow-select",
            "round-robin",
            "selection = \"round-robin\"",
        ),
        ("--optimizer", "adam", "optimizer = \"adamw\""),
        ("--optimizer", "SGD", "optimizer = \"sgd\""),
        ("--activation", "linear", "activation = \"identity\""),
        ("--activation", "none", "activation = \"identity\""),
        ("--new-second-moment", "0", "new_second_moment = \"zero\""),
        (
            "--new-second-moment",
            "reset",
            "new_second_moment = \"reset\"",
        ),
        ("--conv-neuron", "full", "conv_neuron = \"full\""),
        ("--auto-gain", "total", "auto_gain = \"total\""),
        ("--auto-retry", "always", "auto_retry = \"always\""),
        (
            "--statistics-sample",
            "Fixed",
            "statistics_sample = \"fixed\"",
        ),
        (
            "--statistics-precision",
            "mixed",
            "statistics_precision = \"mixed\"",
        ),
    ];
    for (flag, value, written) in accepted {
        let t = resolved(&["--set", "growth.max_parameters=1", flag, value]);
        assert!(t.contains(written), "{flag} {value}: {t}");
    }
    let rejected: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["train", "--model", "mlpp"],
            "unknown model 'mlpp' (expected mlp, cnn, vgg, resnet-18 or resnet18)",
        ),
        (
            vec!["train", "--grow", "tony"],
            "(expected tiny, tiny-paper, tiny_paper, grad-max, gradmax, random or senn)",
        ),
        (
            vec!["train", "--selection", "x"],
            "(expected best, round-robin, roundrobin or all)",
        ),
        (
            vec!["train", "--optimizer", "x"],
            "(expected sgd, adam or adamw)",
        ),
        (
            vec!["train", "--new-second-moment", "x"],
            "(expected mean, 0, zero, reset or reset-at-end)",
        ),
        (
            vec!["train", "--conv-neuron", "x"],
            "(expected restricted or full)",
        ),
        (
            vec!["train", "--auto-gain", "x"],
            "(expected total, neurons or neurons-own-scale)",
        ),
        (
            vec!["train", "--auto-retry", "never"],
            "unknown automatic-growth retry rule 'never' (expected always or backoff)",
        ),
        (
            vec!["train", "--statistics-sample", "sometimes"],
            "unknown statistics sample 'sometimes' (expected fresh or fixed)",
        ),
        (
            vec!["train", "--statistics-precision", "half"],
            "unknown statistics precision 'half' (expected double or mixed)",
        ),
        (
            vec!["train", "--decompositions", "gpu"],
            "unknown place of the decompositions 'gpu' (expected host or device)",
        ),
        (
            vec!["train", "--activation", "x"],
            "(expected relu, selu, tanh, gelu, identity, linear, none or rational)",
        ),
        (
            vec!["train", "--bn-match", "maybe"],
            "invalid value 'maybe' for '--bn-match <BOOL>'",
        ),
    ];
    common::assert_fail_with_messages(&rejected);
}

#[test]
fn negative_numbers_reach_the_values_own_check() {
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["train", "--lr", "-0.1"],
            "learning rate must be positive, got -0.1",
        ),
        (
            vec!["train", "--set", "train.lr=-0.1"],
            "learning rate must be positive",
        ),
        (vec!["train", "--epochs", "-1"], "invalid digit"),
        (
            vec![
                "train",
                "--print-config",
                "--grow",
                "senn",
                "--senn-tau",
                "-1",
            ],
            "growth.senn.tau = -1.0: expected a finite number ≥ 0",
        ),
    ];
    common::assert_fail_with_messages(&cases);
}

#[test]
fn train_help_groups_the_flags() {
    let o = grownet(&["train", "--help"]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    let headings = [
        "Run:",
        "Data:",
        "Model:",
        "Training:",
        "Growth:",
        "Automatic growth:",
        "SENN (--grow senn):",
        "Overrides:",
    ];
    let mut at = 0;
    for h in headings {
        let i = t[at..]
            .find(&format!("\n{h}\n"))
            .unwrap_or_else(|| panic!("{h}: {t}"));
        at += i + 1;
    }
    for alias in [
        "--grow-until",
        "--grow-new-v",
        "--max-params",
        "--grow-select",
    ] {
        assert!(t.contains(&format!("[alias: {alias}]")), "{alias}: {t}");
    }
    assert!(t.contains("--set <KEY=VALUE>"), "{t}");
}

// ---- Resume, NaN, run directories and argument checks under abuse ----

/// `grownet train` of a small moons run into `out` with `extra` flags (by default
/// `--hidden 4 --epochs 2`).
fn moons_run(out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "train",
        "--dataset",
        "moons",
        "--threads",
        "1",
        "--quiet",
        "--set",
        "data.synthetic_train=300",
        "--out",
        out.to_str().unwrap(),
    ];
    for (flag, value) in [("--hidden", "4"), ("--epochs", "2")] {
        if !extra.contains(&flag) {
            args.extend([flag, value]);
        }
    }
    args.extend_from_slice(extra);
    grownet(&args)
}

fn events_of(run: &std::path::Path) -> Vec<grownet::events::Event> {
    grownet::events::read(&run.join("metrics.jsonl")).unwrap()
}

#[test]
fn a_diverging_run_keeps_a_checkpoint_that_evaluates_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    for (name, flags) in [
        (
            "a",
            &[
                "--lr",
                "1e6",
                "--limit",
                "64",
                "--batch-size",
                "64",
                "--epochs",
                "5",
            ][..],
        ),
        (
            "b",
            &["--lr", "1e30", "--batch-size", "100000", "--epochs", "3"][..],
        ),
    ] {
        let out = dir.path().join(name);
        let run = out.to_str().unwrap();
        let mut args = vec![
            "train",
            "--dataset",
            "moons",
            "--optimizer",
            "sgd",
            "--quiet",
            "--out",
            run,
        ];
        args.extend_from_slice(flags);
        let o = grownet(&args);
        assert!(!o.status.success(), "{name}: {}", text(&o));
        let t = text(&o);
        assert!(
            t.contains("non-finite") && t.contains("last good checkpoint"),
            "{t}"
        );
        assert!(!t.contains("panicked"), "{t}");
        assert!(matches!(
            events_of(&out).last(),
            Some(grownet::events::Event::Error(_))
        ));
        // The checkpoint left evaluates to a number and the run continues from it.
        let o = grownet(&["eval", run]);
        assert!(o.status.success(), "{name}: {}", text(&o));
        assert!(!text(&o).contains("NaN"), "{}", text(&o));
        let o = grownet(&[
            "train", "--resume", run, "--lr", "1e-4", "--epochs", "1", "--quiet",
        ]);
        assert!(o.status.success(), "{name}: {}", text(&o));
    }
}

#[test]
fn a_crash_at_a_random_step_resumes_to_the_same_log() {
    let dir = tempfile::tempdir().unwrap();
    let flags = [
        "--hidden",
        "1,1",
        "--grow",
        "tiny",
        "--max-hidden",
        "8,8",
        "--grow-every-steps",
        "3",
        "--grow-select",
        "all",
        "--neurons-per-step",
        "2",
        "--stats-samples",
        "128",
        "--line-search-samples",
        "128",
        "--epochs",
        "3",
    ];
    let straight = dir.path().join("straight");
    let o = moons_run(&straight, &flags);
    assert!(o.status.success(), "{}", text(&o));
    let steps = 3 * 300usize.div_ceil(64);
    let step = common::random_step(steps);
    let run = dir.path().join("crashed");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_grownet"))
        .args(["train", "--dataset", "moons", "--threads", "1", "--quiet"])
        .args([
            "--set",
            "data.synthetic_train=300",
            "--out",
            run.to_str().unwrap(),
        ])
        .args(flags)
        .env("GROWNET_CRASH_AFTER_STEP", step.to_string())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(137), "{}", text(&o));
    // As after a kill -9: the lock file is left, its lock is not.
    assert!(run.join(grownet::train::LOCK_FILE).exists());
    let o = grownet(&["train", "--resume", run.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", text(&o));
    if let Err(e) = common::same_metrics(&straight, &run) {
        panic!("crash after step {step}: {e}");
    }
    let all = events_of(&run);
    let per_epoch: f64 = all
        .iter()
        .filter_map(|e| match e {
            grownet::events::Event::Epoch(e) => Some(e.growth_seconds),
            _ => None,
        })
        .sum();
    let Some(grownet::events::Event::End(end)) = all.last() else {
        panic!("no end event")
    };
    let total = end.summary.seconds_in_growth;
    assert!(
        total > 0.0 && (total - per_epoch).abs() <= 1e-9 * total,
        "{total} vs {per_epoch}"
    );
}

#[test]
fn an_edited_config_toml_is_used_on_resume_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let run = out.to_str().unwrap();
    assert!(moons_run(&out, &["--epochs", "1"]).status.success());
    let path = out.join("config.toml");
    let text0 = std::fs::read_to_string(&path).unwrap();
    let edited = text0
        .replace("epochs = 1\n", "epochs = 2\n")
        .replace("lr = 0.01\n", "lr = 0.002\n");
    assert_ne!(edited, text0);
    std::fs::write(&path, &edited).unwrap();
    let o = grownet(&["train", "--resume", run, "--quiet"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("differs from the checkpoint: train.epochs 1 → 2, train.lr 0.01 → 0.002"),
        "{t}"
    );
    let cfg = config_of(&std::fs::read_to_string(&path).unwrap());
    assert_eq!((cfg.train.epochs, cfg.train.lr), (2, 0.002));
    let epochs = events_of(&out)
        .iter()
        .filter(|e| matches!(e, grownet::events::Event::Epoch(_)))
        .count();
    assert_eq!(epochs, 2);
    // An edit a resumed run cannot take is refused, naming the file.
    std::fs::write(&path, edited.replace("hidden = [4]", "hidden = [9]")).unwrap();
    let o = grownet(&["train", "--resume", run, "--epochs", "3"]);
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(t.contains("model.hidden [4] → [9] (edited in"), "{t}");
}

#[test]
fn resume_refuses_flags_it_cannot_apply_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let run = out.to_str().unwrap();
    assert!(moons_run(&out, &["--epochs", "1"]).status.success());
    let files = |p: &std::path::Path| {
        ["config.toml", "checkpoint.safetensors", "metrics.jsonl"]
            .map(|f| std::fs::read(p.join(f)).unwrap())
    };
    let before = files(&out);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "train",
                "--resume",
                run,
                "--dataset",
                "spirals",
                "--epochs",
                "3",
            ],
            "data.name \"moons\" → \"spirals\" (from --dataset): a run keeps the data",
        ),
        (
            vec!["train", "--resume", run, "--hidden", "64"],
            "model.hidden [4] → [64] (from --hidden): the network comes from the checkpoint",
        ),
        (
            vec!["train", "--resume", run, "--model", "cnn"],
            "model.kind \"mlp\" → \"cnn\" (from --model)",
        ),
        (
            vec!["train", "--resume", run, "--seed", "5"],
            "train.seed 0 → 5 (from --seed): a run keeps the seed",
        ),
        (
            vec!["train", "--resume", run, "--optimizer", "sgd"],
            "train.optimizer \"adamw\" → \"sgd\"",
        ),
        (
            vec!["train", "--resume", run, "--config", "x.toml"],
            "--config starts a new run",
        ),
        (
            vec!["train", "--resume", run, "--out", "elsewhere"],
            "--out names a new run",
        ),
    ];
    common::assert_fail_with_messages(&cases);
    assert!(before == files(&out), "a refused resume changed the run");
    // `--resume` also takes the checkpoint file itself.
    let ckpt = out.join("checkpoint.safetensors");
    let o = grownet(&[
        "train",
        "--resume",
        ckpt.to_str().unwrap(),
        "--epochs",
        "2",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let file = out.join("config.toml");
    let o = grownet(&["train", "--resume", file.to_str().unwrap()]);
    assert!(
        text(&o).contains("it is a file; --resume takes a run directory"),
        "{}",
        text(&o)
    );
}

#[test]
fn eval_on_images_of_another_size_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    common::write_idx_set(&a, "mnist", 28);
    common::write_idx_set(&b, "mnist", 27);
    let out = dir.path().join("run");
    let o = grownet(&[
        "train",
        "--dataset",
        "mnist",
        "--data-dir",
        a.to_str().unwrap(),
        "--hidden",
        "4",
        "--epochs",
        "1",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "eval",
                out.to_str().unwrap(),
                "--data-dir",
                b.to_str().unwrap(),
            ],
            "the inputs are of shape [729], but the network takes [784]",
        ),
        (
            vec![
                "train",
                "--resume",
                out.to_str().unwrap(),
                "--data-dir",
                b.to_str().unwrap(),
                "--epochs",
                "2",
            ],
            "the inputs are of shape [729], but the network takes [784]",
        ),
    ];
    common::assert_fail_with_messages(&cases);
}

#[test]
fn a_run_directory_keeps_the_data_directory_absolute() {
    let dir = tempfile::tempdir().unwrap();
    common::write_idx_set(&dir.path().join("data"), "mnist", 6);
    std::fs::create_dir(dir.path().join("work")).unwrap();
    let run = |cwd: &std::path::Path, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_grownet"))
            .current_dir(cwd)
            .args(args)
            .env("GROWNET_DATA", "/nonexistent-grownet-data")
            .output()
            .unwrap()
    };
    let o = run(
        dir.path(),
        &[
            "train",
            "--dataset",
            "mnist",
            "--data-dir",
            "data",
            "--hidden",
            "4",
            "--epochs",
            "1",
            "--quiet",
            "--out",
            "run",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let cfg = config_of(&std::fs::read_to_string(dir.path().join("run/config.toml")).unwrap());
    assert!(cfg.data.data_dir.unwrap().is_absolute());
    let o = run(&dir.path().join("work"), &["eval", "../run"]);
    assert!(o.status.success(), "{}", text(&o));
    // The checkpoint keeps the normalisation: evaluation needs the test files only, and
    // gives the same numbers without the training files.
    for f in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"] {
        std::fs::remove_file(dir.path().join("data/mnist").join(f)).unwrap();
    }
    let again = run(&dir.path().join("work"), &["eval", "../run"]);
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(text(&o), text(&again));
}

#[test]
fn out_never_overwrites_a_run_or_a_users_files() {
    let dir = tempfile::tempdir().unwrap();
    // `--config config.toml --out .`: the user's commented file stays.
    let mine =
        "# my settings\n[data]\nname = \"moons\"\n[model]\nhidden = [4]\n[train]\nepochs = 1\n";
    std::fs::write(dir.path().join("config.toml"), mine).unwrap();
    let cfg = dir.path().join("config.toml");
    let o = grownet(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("already holds config.toml"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), mine);
    // A directory holding only a metrics file (a run that lost its checkpoint).
    let m = dir.path().join("m");
    std::fs::create_dir(&m).unwrap();
    std::fs::write(m.join("metrics.jsonl"), "").unwrap();
    let o = moons_run(&m, &[]);
    assert!(
        text(&o).contains("already holds metrics.jsonl"),
        "{}",
        text(&o)
    );
    // `--out` naming a file.
    let o = moons_run(&cfg, &[]);
    assert!(
        text(&o).contains("is a file, not a directory"),
        "{}",
        text(&o)
    );
}

#[test]
fn two_runs_or_benches_never_share_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    // A long run, then a second one into the same directory while it trains.
    let mut first = Command::new(env!("CARGO_BIN_EXE_grownet"))
        .args([
            "train",
            "--dataset",
            "moons",
            "--epochs",
            "100000",
            "--threads",
            "1",
            "--quiet",
        ])
        .args(["--out", out.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lock = out.join(grownet::train::LOCK_FILE);
    let start = std::time::Instant::now();
    while !(lock.exists() && out.join("checkpoint.safetensors").exists()) {
        assert!(
            start.elapsed().as_secs() < 20,
            "the first run did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let busy = format!("in use by another grownet process (process {})", first.id());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "train",
                "--dataset",
                "moons",
                "--out",
                out.to_str().unwrap(),
            ],
            &busy,
        ),
        (vec!["train", "--resume", out.to_str().unwrap()], &busy),
    ];
    common::assert_fail_with_messages(&cases);
    first.kill().unwrap();
    first.wait().unwrap();
    // Killed: its stale lock file does not stop the resume.
    let o = grownet(&[
        "train",
        "--resume",
        out.to_str().unwrap(),
        "--epochs",
        "1",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // A bench output directory in use (held here) refuses a second bench.
    let bench = dir.path().join("bench.toml");
    std::fs::write(
        &bench,
        "seeds = [0]\n[base.data]\nname = \"moons\"\n[[method]]\nname = \"a\"\n",
    )
    .unwrap();
    let bout = dir.path().join("bench-out");
    std::fs::create_dir(&bout).unwrap();
    let held = grownet::train::DirLock::acquire(&bout).unwrap();
    let o = grownet(&[
        "bench",
        bench.to_str().unwrap(),
        "--out",
        bout.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("in use by another grownet process"),
        "{}",
        text(&o)
    );
    drop(held);
}

/// The checks themselves are tested on the library (config::tests); here: values reach them
/// from the flags (negative numbers, NaN, short forms) and the message names the flag.
#[test]
fn values_out_of_range_name_the_value_and_the_range() {
    let dir = tempfile::tempdir().unwrap();
    let grow = [
        "train",
        "--grow",
        "tiny",
        "--hidden",
        "4,4",
        "--max-hidden",
        "8,8",
    ];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut v: Vec<&'static str> = grow.to_vec();
        v.extend_from_slice(extra);
        v
    };
    let bench = dir.path().join("b.toml");
    std::fs::write(
        &bench,
        "[base.data]\nname = \"moons\"\n[[method]]\nname = \"a\"\nunset = [\"growth.max_hiden\"]\n",
    )
    .unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["train", "--hidden", "4,0"],
            "model.hidden = [4, 0]: expected widths of at least 1 (entry 2 is 0: a layer of width 0 passes nothing on",
        ),
        (vec!["train", "--hidden", "4,0"], "(set by --hidden)"),
        (
            vec!["train", "--grow", "tiny", "--hidden", "4", "--max-hidden", "-3"],
            "growth.max_hidden = [-3]: expected widths of at least 1",
        ),
        (
            vec!["train", "--grow", "tiny", "--hidden", "4", "--max-params", "-5"],
            "growth.max_parameters = -5: expected at least 1",
        ),
        (with(&["--line-search", "grid:nan,1e30"]), "growth.line_search.scales = [NaN, 1e30]: expected scales in [0, 1000]"),
        (with(&["--line-search", "descend:0,-1"]), "growth.line_search.scales = [0.0, -1.0]: expected scales in [0, 1000]"),
        (with(&["--line-search", "down:1"]), "expected 'armijo', 'grid:S1,S2,…' or 'descend:S1,S2,…', got 'down:1'"),
        (vec!["train", "--momentum", "nan"], "train.momentum = NaN: expected a number in [0, 1)"),
        (with(&["--fan-in-noise", "-1"]), "growth.fan_in_noise = -1.0: expected a finite number ≥ 0 (set by --fan-in-noise)"),
        (with(&["--grow-threshold-per-flop", "-0.5"]), "growth.threshold_per_flop = -0.5: expected a finite number ≥ 0 (set by --grow-threshold-per-flop)"),
        (with(&["--grow-threshold-per-activation", "nan"]), "growth.threshold_per_activation = NaN: expected a finite number ≥ 0 (set by --grow-threshold-per-activation)"),
        (vec!["train", "--grow", "gradmax", "--hidden", "4", "--max-hidden", "8", "--fan-in-noise", "1"], "growth.fan_in_noise = 1.0: expected 0 unless growth.method is tiny or tiny-paper"),
        (with(&["--companions", "-1"]), "growth.companions = -1.0: expected a finite number ≥ 0 (set by --companions)"),
        (vec!["train", "--grow", "gradmax", "--hidden", "4", "--max-hidden", "8", "--mirrors"], "growth.mirrors = true: expected false unless growth.method is tiny or tiny-paper (the mirrors of the closed form's units) (set by --mirrors)"),
        (with(&["--end-shrink", "0"]), "growth.end_shrink = 0.0: expected a finite number > 0 (set by --end-shrink)"),
        (with(&["--end-perturb", "nan"]), "growth.end_perturb = NaN: expected a finite number ≥ 0 (set by --end-perturb)"),
        (with(&["--linalg-threads", "0"]), "growth.linalg_threads = 0: expected at least 1"),
        (with(&["--judge-fraction", "1"]), "growth.judge_fraction = 1.0: expected a number in (0, 1): both the choosing and the judging samples need some (set by --judge-fraction)"),
        (with(&["--judge-parts", "0"]), "growth.judge_parts = 0: expected at least 1 (set by --judge-parts)"),
        (with(&["--stop-fraction", "1.5"]), "growth.stop_fraction = 1.5: expected a number in (0, 1): a share of the run (set by --stop-fraction)"),
        (with(&["--stats-samples-per-row", "-4"]), "growth.stats_samples_per_row = -4.0: expected a finite number ≥ 0 (set by --stats-samples-per-row)"),
        (with(&["--more-rounds", "some"]), "invalid value 'some' for '--more-rounds <RULE>'"),
        (with(&["--delta-damping", "-0.5"]), "growth.delta_damping = -0.5: expected a finite number ≥ 0 (set by --delta-damping)"),
        (vec!["train", "--grow", "random", "--hidden", "4", "--max-hidden", "8", "--companions", "1"], "growth.companions = 1.0: expected 0 unless growth.method is tiny, tiny-paper or gradmax"),
        (vec!["train", "--grow", "random", "--hidden", "4", "--max-hidden", "8", "--rank-fill", "true"], "growth.rank_fill = true: expected false unless growth.method is tiny, tiny-paper or gradmax (the fill goes with the closed form's units) (set by --rank-fill)"),
        (vec!["train", "--schedule", "step:0:0.5"], "train.schedule.every = 0: expected at least 1 (set by --schedule)"),
        (vec!["train", "--threads", "0"], "threads = 0: expected at least 1"),
        (
            vec!["train", "--test-limit", "0"],
            "data.test_limit = 0: expected at least 1 (or leave it unset: every test sample) (set by --test-limit)",
        ),
        (
            vec!["bench", bench.to_str().unwrap()],
            "unset = \"growth.max_hiden\" removes nothing",
        ),
    ];
    common::assert_fail_with_messages(&cases);
}

#[test]
fn data_that_would_make_up_numbers_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let train = |name: &str| {
        grownet(&[
            "train",
            "--dataset",
            name,
            "--data-dir",
            d.to_str().unwrap(),
            "--hidden",
            "4",
            "--epochs",
            "1",
            "--quiet",
            "--out",
            d.join(format!("run-{name}")).to_str().unwrap(),
        ])
    };
    // A custom IDX folder with a stray label 200.
    common::write_idx_set(d, "stray", 4);
    let mut labels: Vec<u8> = (0..40).map(|i| (i % 10) as u8).collect();
    labels[7] = 200;
    std::fs::write(
        d.join("stray/train-labels-idx1-ubyte"),
        common::idx_labels(&labels),
    )
    .unwrap();
    let o = train("stray");
    assert!(
        text(&o).contains("label 200 at index 7 would make 201 classes, but classes 10–199 have no training sample"),
        "{}",
        text(&o)
    );
    // An empty test set.
    common::write_idx_set(d, "empty", 4);
    std::fs::write(
        d.join("empty/t10k-images-idx3-ubyte"),
        common::idx_images(0, 4, 4),
    )
    .unwrap();
    std::fs::write(
        d.join("empty/t10k-labels-idx1-ubyte"),
        common::idx_labels(&[]),
    )
    .unwrap();
    let o = train("empty");
    assert!(!o.status.success());
    assert!(
        text(&o).contains("the test split holds no samples"),
        "{}",
        text(&o)
    );
    assert!(
        !d.join("run-empty").exists(),
        "a failed start left its directory"
    );
}

#[test]
fn misleading_messages_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::write_idx_set(d, "mnist", 4);
    let labels = d.join("mnist/t10k-labels-idx1-ubyte");
    // A directory where a data file should be.
    std::fs::remove_file(&labels).unwrap();
    std::fs::create_dir(&labels).unwrap();
    let args = [
        "train",
        "--dataset",
        "mnist",
        "--data-dir",
        d.to_str().unwrap(),
        "--epochs",
        "1",
    ];
    let o = grownet(&args);
    assert!(
        text(&o).contains("is a directory, not a file"),
        "{}",
        text(&o)
    );
    // Junk after a valid gzip stream.
    std::fs::remove_dir(&labels).unwrap();
    let mut gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&common::idx_labels(&[0; 20])).unwrap();
        e.finish().unwrap()
    };
    gz.extend(b"junk");
    std::fs::write(d.join("mnist/t10k-labels-idx1-ubyte.gz"), gz).unwrap();
    let o = grownet(&args);
    assert!(
        text(&o).contains("4 bytes of unexpected data after the end of the compressed stream"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_damaged_checkpoint_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    assert!(moons_run(&out, &["--epochs", "1"]).status.success());
    let path = out.join("checkpoint.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 0x40; // a bit of a weight
    std::fs::write(&path, bytes).unwrap();
    let run = out.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["info", run],
            "damaged: its checksum does not match its contents",
        ),
        (vec!["eval", run], "damaged"),
        (vec!["train", "--resume", run, "--epochs", "2"], "damaged"),
    ];
    common::assert_fail_with_messages(&cases);
}

#[test]
fn the_op_by_op_optimiser_step_is_a_config_key_and_agrees_with_the_fused_one() {
    let dir = tempfile::tempdir().unwrap();
    for optimizer in ["adamw", "sgd"] {
        let loss = |fused: &str| {
            let out = dir.path().join(format!("{optimizer}-{fused}"));
            let set = format!("train.fused_optimizer={fused}");
            let o = moons_run(&out, &["--optimizer", optimizer, "--set", &set]);
            assert!(o.status.success(), "{}", text(&o));
            let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
            assert!(
                config.contains(&format!("fused_optimizer = {fused}")),
                "{config}"
            );
            let Some(grownet::events::Event::End(end)) = events_of(&out).last().cloned() else {
                panic!("no end event");
            };
            end.summary.test.loss
        };
        let (fused, op_by_op) = (loss("true"), loss("false"));
        assert!(
            (fused - op_by_op).abs() < 1e-4 * op_by_op.abs(),
            "{optimizer}: test loss {fused} fused, {op_by_op} op by op"
        );
    }
}
