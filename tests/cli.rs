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
    let with = resolved(&["--grow", "tiny", "--max-hidden", "8", "--grow-bn-rescale"]);
    assert_eq!(
        with,
        resolved(&["--grow", "tiny", "--max-hidden", "8", "--bn-rescale"])
    );
    assert!(config_of(&with).growth.unwrap().bn_rescale);
    // Each flag sets its key: the same config as `--set` of that key.
    let flags = resolved(&[
        "--grow",
        "gradmax",
        "--stop-epoch",
        "7",
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
    let accepted: [(&str, &str, &str); 16] = [
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
        ("--conv-neuron", "full", "conv_neuron = \"full\""),
        ("--auto-gain", "total", "auto_gain = \"total\""),
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
            "(expected mean, 0 or zero)",
        ),
        (
            vec!["train", "--conv-neuron", "x"],
            "(expected restricted or full)",
        ),
        (
            vec!["train", "--auto-gain", "x"],
            "(expected total or neurons)",
        ),
        (
            vec!["train", "--activation", "x"],
            "(expected relu, selu, tanh, gelu, identity, linear, none or rational)",
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
            "must be non-negative",
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
