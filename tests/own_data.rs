//! Datasets of your own end to end: a CSV table grown by TINY in a few seconds, a CSV
//! regression, the command line's summary, eval and its errors (messages, never panics).
mod common;

use std::path::Path;

use common::{assert_fail_with_messages, grownet, small_config, text};
use grownet::data::Task;
use grownet::growth::{GrowthConfig, Selection};
use grownet::train::Trainer;
use rand::{Rng, SeedableRng};

/// Two Gaussian blobs in 3-D plus a categorical column that also carries the class, as CSV:
/// `x1,x2,x3,colour,label` with labels `yes`/`no`.
fn blobs_csv(n: usize, seed: u64) -> String {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut text = String::from("x1,x2,x3,colour,label\n");
    for i in 0..n {
        let class = i % 2;
        let centre = if class == 0 { -1.0 } else { 1.0 };
        let v: Vec<f64> = (0..3)
            .map(|_| centre + rng.random_range(-1.2..1.2))
            .collect();
        let colour = if rng.random_bool(0.8) == (class == 0) {
            "red"
        } else {
            "blue"
        };
        let label = if class == 0 { "no" } else { "yes" };
        text.push_str(&format!(
            "{:.4},{:.4},{:.4},{colour},{label}\n",
            v[0], v[1], v[2]
        ));
    }
    text
}

/// y = x1² − 2·x2 + noise, as CSV.
fn curve_csv(n: usize) -> String {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut text = String::from("x1,x2,y\n");
    for _ in 0..n {
        let (a, b): (f64, f64) = (rng.random_range(-2.0..2.0), rng.random_range(-2.0..2.0));
        let y = 50.0 + 10.0 * (a * a - 2.0 * b) + rng.random_range(-0.5..0.5);
        text.push_str(&format!("{a:.4},{b:.4},{y:.4}\n"));
    }
    text
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn tiny_grows_an_mlp_on_a_csv_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "blobs.csv", &blobs_csv(600, 1));
    let mut cfg = small_config(&format!("csv:{path}"));
    cfg.data.target = Some("label".into());
    cfg.data.val_fraction = 0.1;
    cfg.model.hidden = vec![1];
    cfg.train.epochs = 6;
    cfg.growth = Some(GrowthConfig {
        selection: Selection::All,
        max_hidden: Some(vec![8]),
        every_epochs: 1,
        ..GrowthConfig::default()
    });
    let start = std::time::Instant::now();
    let mut t = Trainer::new(cfg, None).unwrap();
    t.quiet = true;
    assert_eq!(t.data.task, Task::Classification { classes: 2 });
    assert_eq!(t.data.input_shape, vec![5]); // 3 numbers + 2 colours
    let summary = t.data.summary();
    assert!(
        summary.contains("432 train / 48 val / 120 test samples"),
        "{summary}"
    );
    assert!(
        summary.contains("3 numeric + 1 categorical columns → 5 features"),
        "{summary}"
    );
    assert!(
        summary.contains("2 classes, training split: no "),
        "{summary}"
    );
    let s = t.fit().unwrap();
    assert!(
        s.hidden_widths[0] > 1,
        "did not grow: {:?}",
        s.hidden_widths
    );
    assert!(s.test.accuracy.unwrap() > 0.9, "{:?}", s.test);
    assert!(start.elapsed().as_secs() < 60, "{:?}", start.elapsed());
}

#[test]
fn a_csv_regression_with_a_test_file() {
    let dir = tempfile::tempdir().unwrap();
    let train = write(dir.path(), "train.tsv", &curve_csv(800).replace(',', "\t"));
    let test = write(dir.path(), "test.tsv", &curve_csv(200).replace(',', "\t"));
    let mut cfg = small_config(&format!("csv:{train}"));
    cfg.data.target = Some("y".into());
    cfg.data.test_file = Some(test);
    cfg.model.hidden = vec![32, 32];
    cfg.train.epochs = 40;
    cfg.train.lr = 0.003;
    let mut t = Trainer::new(cfg, None).unwrap();
    t.quiet = true;
    assert_eq!(t.data.task, Task::Regression { outputs: 1 });
    assert!(
        t.data.summary().contains("targets standardised"),
        "{}",
        t.data.summary()
    );
    let s = t.fit().unwrap();
    // In standardised units: the targets' variance is 1.
    assert!(s.test.loss < 0.05, "test mse {}", s.test.loss);
}

#[test]
fn the_command_line_trains_evaluates_and_prints_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "blobs.csv", &blobs_csv(200, 2));
    let out = dir.path().join("run");
    let dataset = format!("csv:{path}");
    let args = [
        "train",
        "--dataset",
        &dataset,
        "--target",
        "label",
        "--hidden",
        "4",
    ];
    let o = grownet(
        &[
            &args[..],
            &[
                "--epochs",
                "2",
                "--threads",
                "1",
                "--out",
                out.to_str().unwrap(),
            ],
        ]
        .concat(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains(&format!(
            "data {dataset}: 160 train / 40 test samples; input [5]"
        )),
        "{t}"
    );
    let o = grownet(&["eval", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("40 test samples"), "{}", text(&o));
    // The file changed since training: eval says so.
    write(dir.path(), "blobs.csv", &blobs_csv(200, 3));
    let o = grownet(&["eval", out.to_str().unwrap()]);
    assert!(
        !o.status.success() && text(&o).contains("the files changed"),
        "{}",
        text(&o)
    );
    // --set reaches the new keys too.
    let o = grownet(&[
        "train",
        "--dataset",
        &dataset,
        "--set",
        "data.target=label",
        "--set",
        "data.test_fraction=0.5",
        "--print-config",
    ]);
    assert!(
        o.status.success() && text(&o).contains("test_fraction = 0.5"),
        "{}",
        text(&o)
    );
}

#[test]
fn user_errors_are_messages_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ragged = write(d, "ragged.csv", "a,b,y\n1,2,0\n3,4\n");
    let words = write(d, "words.csv", "a,y\n1,0\n2,1\n3,0\n");
    let missing = write(d, "missing.csv", "a,y\n1,0\nNA,1\n");
    let (ragged, words, missing) = (
        format!("csv:{ragged}"),
        format!("csv:{words}"),
        format!("csv:{missing}"),
    );
    let npy = write(d, "x.npy", "\u{93}NUMPY garbage");
    let npy = format!("npy:{npy},{npy}");
    std::fs::create_dir_all(d.join("pics/a")).unwrap();
    std::fs::create_dir_all(d.join("pics/b")).unwrap();
    std::fs::write(d.join("pics/a/broken.png"), b"not a png").unwrap();
    std::fs::write(d.join("pics/b/broken.jpg"), b"not a jpeg").unwrap();
    let pics = format!("images:{}", d.join("pics").display());
    std::fs::create_dir_all(d.join("empty/a")).unwrap();
    std::fs::create_dir_all(d.join("empty/b")).unwrap();
    let empty = format!("images:{}", d.join("empty").display());
    let data_dir = d.display().to_string();
    let junk = write(d, "junk.safetensors", "not a safetensors file");
    let junk = format!("safetensors:{junk}");
    let mut record = vec![3u8, 42];
    record.extend(std::iter::repeat_n(0u8, 3072));
    let mut bad_label = record.clone();
    bad_label[1] = 100;
    let cifar100 = |name: &str, train: &[u8], test: &[u8]| {
        let root = d.join(name);
        std::fs::create_dir_all(root.join("cifar-100")).unwrap();
        std::fs::write(root.join("cifar-100/train.bin"), train).unwrap();
        std::fs::write(root.join("cifar-100/test.bin"), test).unwrap();
        root.display().to_string()
    };
    let truncated = cifar100("c100", &record[..3000], &record);
    let out_of_range = cifar100("c100b", &record, &bad_label);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["train", "--dataset", &ragged, "--target", "y"],
            "ragged.csv: row 2 (line 3): 2 fields, but the header has 3",
        ),
        (
            vec!["train", "--dataset", &words, "--target", "z"],
            "words.csv: header: no column 'z' (the target, data.target)",
        ),
        (
            vec!["train", "--dataset", &words],
            "a CSV dataset needs the column to predict: --target COLUMN",
        ),
        (
            vec!["train", "--dataset", &missing, "--target", "y"],
            "missing.csv: row 2 (line 3), column 'a': missing value ('NA')",
        ),
        (
            vec!["train", "--dataset", "csv:nowhere.csv", "--target", "y"],
            "nowhere.csv: cannot read file: not found",
        ),
        (
            vec!["train", "--dataset", &npy],
            "x.npy: array: not a NumPy array",
        ),
        (
            vec!["train", "--dataset", &pics],
            "broken.png: image: cannot decode it",
        ),
        (
            vec!["train", "--dataset", &empty],
            "class folder: holds no .png, .jpg or .jpeg image",
        ),
        (
            vec!["train", "--dataset", "cifar-100", "--data-dir", &data_dir],
            "cifar-100-binary.tar.gz",
        ),
        (
            vec!["train", "--dataset", "parquet:t.parquet"],
            "data.name = parquet:t.parquet",
        ),
        (
            vec!["train", "--dataset", &junk],
            "junk.safetensors: file: not a valid safetensors file",
        ),
        (
            vec!["train", "--dataset", "cifar-100", "--data-dir", &truncated],
            "train.bin: file is truncated: expected 3074 bytes, found 3000",
        ),
        (
            vec![
                "train",
                "--dataset",
                "cifar-100",
                "--data-dir",
                &out_of_range,
            ],
            "test.bin: label 100 at index 0 is out of range 0..100",
        ),
        (
            vec![
                "train",
                "--dataset",
                &words,
                "--target",
                "y",
                "--task",
                "sorting",
            ],
            "unknown task 'sorting'",
        ),
        (
            vec![
                "train",
                "--dataset",
                &words,
                "--target",
                "y",
                "--test-fraction",
                "1.5",
            ],
            "data.test_fraction = 1.5",
        ),
        (
            vec!["train", "--dataset", "moons", "--target", "y"],
            "data.target applies to files of your own",
        ),
    ];
    assert_fail_with_messages(&cases);
}
