//! The `grownet` binary: default run, info/eval, and clear errors instead of panics.
mod common;

use std::process::Command;

use common::{grownet, text};

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
