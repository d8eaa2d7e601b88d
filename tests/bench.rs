//! `grownet bench` and `grownet report`: a tiny bench runs in seconds, writes every file, its
//! CSV matches the runs' own metrics, a second call resumes instead of redoing, plots are valid.
mod common;

use std::path::Path;

use grownet::report::RunSeries;

use common::{grownet, text};

/// A tiny bench on the moons: fixed 6 neurons against TINY from 1 to 6 (and, when `from`,
/// a fixed network at TINY's final widths).
fn bench_file(dir: &Path, seeds: &str, from: bool) -> std::path::PathBuf {
    let mut t = format!(
        r#"
name = "test bench"
seeds = [{seeds}]
[base]
device = "cpu"
threads = 1
[base.data]
name = "moons"
synthetic_train = 300
synthetic_test = 150
[base.model]
hidden = [1]
[base.train]
epochs = 3
batch_size = 32
[growth]
selection = "all"
max_hidden = [6]
neurons_per_step = 2
stats_samples = 256
line_search_samples = 128
[[method]]
name = "fixed"
set = {{ model = {{ hidden = [6] }} }}
[[method]]
name = "tiny"
grow = "tiny"
"#
    );
    if from {
        t.push_str("[[method]]\nname = \"fixed-at-tiny\"\nfrom = \"tiny\"\n");
    }
    let path = dir.join("bench.toml");
    std::fs::write(&path, t).unwrap();
    path
}

/// Checks an SVG (XML root `svg`, closed) and a PNG (signature, IHDR of the expected size).
fn assert_valid_plot(stem: &Path) {
    let svg = std::fs::read_to_string(stem.with_extension("svg")).unwrap();
    let body = svg.trim_start();
    let body = match body.strip_prefix("<?xml") {
        Some(rest) => &rest[rest.find("?>").unwrap() + 2..],
        None => body,
    };
    assert!(body.trim_start().starts_with("<svg"), "{}", stem.display());
    assert!(svg.trim_end().ends_with("</svg>"), "{}", stem.display());
    assert!(svg.contains("<text"), "no text in {}", stem.display());
    let png = std::fs::read(stem.with_extension("png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{}", stem.display());
    assert_eq!(&png[12..16], b"IHDR");
    let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((w, h), grownet::report::plots::SIZE);
    assert!(
        png.len() > 5000,
        "suspiciously small PNG {}",
        stem.display()
    );
}

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(grownet::bench::CSV_HEADER));
    lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect()
}

#[test]
fn bench_writes_every_file_and_its_csv_matches_the_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = bench_file(dir.path(), "0, 1", false);
    let out = dir.path().join("out");
    let o = grownet(&[
        "bench",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--jobs",
        "2",
        "--threads",
        "1",
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("4 runs finished"), "{t}");
    for f in ["results.csv", "report.md", "bench.toml"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let plots = out.join("plots");
    for p in [
        "accuracy-vs-epoch",
        "accuracy-vs-time",
        "parameters-vs-epoch",
        "accuracy-vs-parameters",
        "bottleneck-tiny",
    ] {
        assert_valid_plot(&plots.join(p));
    }
    assert!(!plots.join("bottleneck-fixed.svg").exists());
    // One CSV row per run, equal to the run's own end-of-training metrics.
    let rows = csv_rows(&out.join("results.csv"));
    assert_eq!(rows.len(), 4);
    for row in &rows {
        let (method, seed, run) = (&row[0], &row[1], &row[2]);
        assert_eq!(run, &format!("{method}-s{seed}"));
        let series = RunSeries::load(&out.join("runs").join(run)).unwrap();
        let end = series.end.unwrap();
        assert_eq!(row[3], end.epochs.to_string());
        let widths: Vec<String> = end.hidden_widths.iter().map(|w| w.to_string()).collect();
        assert_eq!(row[4], widths.join("+"));
        assert_eq!(row[5], end.parameters.to_string());
        assert!(row[6].parse::<i64>().unwrap() > 0, "FLOPs: {row:?}");
        let num = |s: &str| s.parse::<f64>().unwrap();
        assert_eq!(num(&row[7]), end.train_accuracy.unwrap());
        assert_eq!(num(&row[8]), end.train_loss);
        assert_eq!(num(&row[9]), end.test_accuracy.unwrap());
        assert_eq!(num(&row[10]), end.test_loss);
        assert_eq!(num(&row[11]), end.seconds);
        assert_eq!(num(&row[12]), end.seconds_in_growth);
        assert_eq!(row[13], end.growth_steps.to_string());
        if method == "tiny" {
            assert!(end.growth_steps > 0 && end.hidden_widths[0] > 1, "{row:?}");
        } else {
            assert_eq!(end.hidden_widths, vec![6]);
        }
    }
    let seeds: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(seeds, ["0", "0", "1", "1"]);
    // The report: one line per method with mean ± std, and the plots linked.
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("# test bench"), "{md}");
    for m in ["| fixed | 2 | 6 |", "| tiny | 2 |"] {
        assert!(md.contains(m), "'{m}' not in {md}");
    }
    assert!(md.contains(" ± "), "{md}");
    assert!(md.contains("plots/accuracy-vs-parameters.png"), "{md}");
    // The bench file recorded in the output parses back.
    grownet::bench::BenchConfig::from_file(&out.join("bench.toml")).unwrap();
}

#[test]
fn bench_resumes_and_never_redoes_finished_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = bench_file(dir.path(), "3", true);
    let out = dir.path().join("out");
    let args = [
        "bench",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--jobs",
        "1",
    ];
    let o = grownet(&args);
    assert!(o.status.success(), "{}", text(&o));
    let runs = out.join("runs");
    // The fixed network at TINY's final widths.
    let tiny = RunSeries::load(&runs.join("tiny-s3")).unwrap().end.unwrap();
    let at = RunSeries::load(&runs.join("fixed-at-tiny-s3"))
        .unwrap()
        .end
        .unwrap();
    assert_eq!(at.hidden_widths, tiny.hidden_widths);
    assert_eq!((at.parameters, at.growth_steps), (tiny.parameters, 0));
    let metrics = |run: &str| std::fs::read(runs.join(run).join("metrics.jsonl")).unwrap();
    let before = metrics("tiny-s3");
    // Everything finished: a second call trains nothing.
    let o = grownet(&args);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("3 of 3 runs already finished"), "{t}");
    assert!(!t.contains("starting"), "{t}");
    assert_eq!(metrics("tiny-s3"), before);
    // A deleted run is trained again; an interrupted one (no `end` event) is resumed from its
    // checkpoint; the finished one is left alone.
    std::fs::remove_dir_all(runs.join("fixed-s3")).unwrap();
    let m = runs.join("fixed-at-tiny-s3").join("metrics.jsonl");
    let kept: Vec<String> = std::fs::read_to_string(&m)
        .unwrap()
        .lines()
        .filter(|l| !l.contains("\"event\":\"end\""))
        .map(String::from)
        .collect();
    std::fs::write(&m, kept.join("\n") + "\n").unwrap();
    let o = grownet(&args);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("1 of 3 runs already finished: tiny-s3"), "{t}");
    assert!(t.contains("starting fixed-s3"), "{t}");
    assert!(t.contains("resuming fixed-at-tiny-s3"), "{t}");
    assert_eq!(metrics("tiny-s3"), before);
    assert_eq!(csv_rows(&out.join("results.csv")).len(), 3);
    // A changed recipe is refused rather than mixed with the finished runs.
    let changed = std::fs::read_to_string(&file)
        .unwrap()
        .replace("epochs = 3", "epochs = 4");
    std::fs::write(&file, changed).unwrap();
    let o = grownet(&args);
    assert!(!o.status.success());
    assert!(text(&o).contains("different configuration"), "{}", text(&o));
}

#[test]
fn report_plots_a_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let o = grownet(&[
        "train",
        "--dataset",
        "moons",
        "--hidden",
        "1",
        "--grow",
        "tiny",
        "--max-hidden",
        "4",
        "--epochs",
        "3",
        "--threads",
        "1",
        "--quiet",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = grownet(&["report", run.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    for p in [
        "accuracy-vs-epoch",
        "accuracy-vs-time",
        "parameters-vs-epoch",
        "accuracy-vs-parameters",
        "bottleneck",
    ] {
        assert_valid_plot(&run.join("plots").join(p));
    }
}

#[test]
fn bad_bench_inputs_give_messages_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[method]]\nname = \"x\"\nfrom = \"nope\"\n").unwrap();
    let junk = dir.path().join("junk.jsonl");
    std::fs::write(&junk, "{\"event\":\"epoch\"\n").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["bench", "/nonexistent/bench.toml"], "No such file"),
        (vec!["bench", bad.to_str().unwrap()], "names no method"),
        (vec!["report", "/nonexistent/run"], "No such file"),
        (vec!["report", junk.to_str().unwrap()], "invalid JSON"),
    ];
    common::assert_fail_with_messages(&cases);
}

#[test]
fn shipped_bench_files_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench");
    for name in ["mnist.toml", "teacher.toml", "cifar.toml"] {
        let b = grownet::bench::BenchConfig::from_file(&dir.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(b.seeds, vec![0, 1, 2], "{name}");
        assert!(b.methods.iter().any(|m| m.name == "fixed-big"), "{name}");
    }
    for name in [
        "cifar-vgg.toml",
        "cifar-resnet.toml",
        "cifar-resnet-cpu.toml",
        "tabular/breast_cancer.toml",
        "tabular/wine.toml",
    ] {
        let b = grownet::bench::BenchConfig::from_file(&dir.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(b.methods.iter().any(|m| m.grow.is_some()), "{name}");
    }
}

/// A growing run interrupted in the middle of its training (its process stops after step 17
/// of 30, as a crash would) and resumed by the next `bench` call ends with the metrics of the
/// same run never interrupted, timings aside.
#[test]
fn bench_resumes_an_interrupted_growing_run_as_if_uninterrupted() {
    let dir = tempfile::tempdir().unwrap();
    let file = bench_file(dir.path(), "5", false);
    let bench = |out: &Path, crash: Option<&str>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_grownet"));
        c.args(["bench", file.to_str().unwrap(), "--out"])
            .arg(out)
            .args(["--jobs", "1", "--methods", "tiny"])
            .env("GROWNET_DATA", "/nonexistent-grownet-data");
        if let Some(step) = crash {
            c.env("GROWNET_CRASH_AFTER_STEP", step);
        }
        c.output().unwrap()
    };
    let straight = dir.path().join("straight");
    let o = bench(&straight, None);
    assert!(o.status.success(), "{}", text(&o));
    let out = dir.path().join("out");
    let o = bench(&out, Some("17"));
    assert!(
        !o.status.success(),
        "the simulated crash did not stop the run"
    );
    let o = bench(&out, None);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("resuming tiny-s5"), "{t}");
    let run = |d: &Path| d.join("runs").join("tiny-s5");
    let compared = common::same_metrics(&run(&straight), &run(&out)).unwrap();
    assert!(compared > 0);
    let growth = |d: &Path| {
        grownet::train::read_events(&run(d).join("metrics.jsonl"))
            .unwrap()
            .iter()
            .filter(|e| e["event"] == "growth" && e["step"].as_u64().unwrap() > 17)
            .count()
    };
    assert!(growth(&out) > 0, "no growth after the resumption");
}

/// A bench file whose base is a CSV table of your own (its path relative to the data
/// directory, as the shipped tabular benches have it) parses, and its one tiny run trains.
#[test]
fn a_bench_on_a_csv_table_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut table = String::from("a,b,kind\n");
    for i in 0..120 {
        let (a, b) = ((i % 7) as f64 / 7.0, (i % 5) as f64 / 5.0);
        let kind = if a + b > 0.8 { "big" } else { "small" };
        table.push_str(&format!("{a},{b},{kind}\n"));
    }
    std::fs::write(dir.path().join("table.csv"), table).unwrap();
    let file = dir.path().join("bench.toml");
    std::fs::write(
        &file,
        r#"
name = "csv bench"
seeds = [0]
[base]
device = "cpu"
threads = 1
[base.data]
name = "csv:table.csv"
target = "kind"
test_fraction = 0.25
[base.model]
hidden = [4]
[base.train]
epochs = 2
batch_size = 16
[[method]]
name = "fixed"
"#,
    )
    .unwrap();
    let b = grownet::bench::BenchConfig::from_file(&file).unwrap();
    assert_eq!(b.base["data"]["target"].as_str(), Some("kind"));
    let out = dir.path().join("out");
    let data_dir = dir.path().display().to_string();
    let args = [
        "bench",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--data-dir",
        &data_dir,
    ];
    let o = grownet(&args);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("1 runs finished") || t.contains("1 run finished"),
        "{t}"
    );
    let rows = csv_rows(&out.join("results.csv"));
    assert_eq!(rows.len(), 1);
}

/// `--sbatch` trains nothing and writes a job array and a report job; run by hand (no Slurm:
/// `SLURM_ARRAY_TASK_ID` set per task), they train every run and write the report.
#[test]
fn a_bench_as_a_slurm_job_array_runs_task_by_task() {
    let dir = tempfile::tempdir().unwrap();
    let file = bench_file(dir.path(), "0, 1", true);
    let out = dir.path().join("out");
    let o = grownet(&[
        "bench",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--sbatch",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("4 runs in a Slurm array"), "{}", text(&o));
    assert!(!out.join("runs").exists(), "--sbatch trained something");
    let array = std::fs::read_to_string(out.join("bench.sbatch")).unwrap();
    assert!(array.contains("#SBATCH --array=0-3"), "{array}");
    for task in 0..4 {
        let o = std::process::Command::new("bash")
            .arg(out.join("bench.sbatch"))
            .env("SLURM_ARRAY_TASK_ID", task.to_string())
            .output()
            .unwrap();
        assert!(o.status.success(), "task {task}: {}", text(&o));
    }
    for run in ["fixed-s0", "tiny-s0", "fixed-s1", "tiny-s1"] {
        assert!(
            RunSeries::load(&out.join("runs").join(run))
                .unwrap()
                .is_complete(),
            "{run}"
        );
    }
    let o = std::process::Command::new("bash")
        .arg(out.join("report.sbatch"))
        .output()
        .unwrap();
    assert!(o.status.success(), "report: {}", text(&o));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("fixed-at-tiny"), "{report}");
    // Without a task number the array script says what is missing.
    let o = std::process::Command::new("bash")
        .arg(out.join("bench.sbatch"))
        .env_remove("SLURM_ARRAY_TASK_ID")
        .output()
        .unwrap();
    assert!(!o.status.success() && text(&o).contains("set SLURM_ARRAY_TASK_ID"));
}
