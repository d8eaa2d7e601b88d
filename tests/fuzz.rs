//! Bounded fuzzing of everything that reads user files: the IDX, CIFAR-10 and CIFAR-100
//! readers (gzip included), CSV tables, NumPy and safetensors arrays, checkpoints, run
//! configs, `--set` overrides and bench files. A mutation fuzzer
//! (seeded, so a failure can be replayed): each target starts from valid inputs and applies
//! random byte- and token-level damage; every input must give `Ok` or an error, never a
//! panic. `GROWNET_FUZZ_SECONDS` sets the time per target (default 1.5), `GROWNET_FUZZ_SEED`
//! replays a run.
mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use grownet::bench::BenchConfig;
use grownet::checkpoint::{self, CheckpointMeta};
use grownet::config::{Override, RunConfig};
use grownet::data::formats::{decompress_if_gz, parse_cifar10, parse_idx_images, parse_idx_labels};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn budget() -> Duration {
    let secs = std::env::var("GROWNET_FUZZ_SECONDS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(1.5);
    Duration::from_secs_f64(secs)
}

fn seed() -> u64 {
    std::env::var("GROWNET_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        })
}

const INTERESTING: [u32; 9] = [0, 1, 2, 0x7f, 0x80, 0xff, 0xffff, 0x7fff_ffff, 0xffff_ffff];

/// One random damage to `b`.
fn mutate(b: &mut Vec<u8>, rng: &mut ChaCha8Rng) {
    let n = b.len();
    match rng.random_range(0..8) {
        0 if n > 0 => {
            let i = rng.random_range(0..n);
            b[i] ^= 1 << rng.random_range(0..8);
        }
        1 if n > 0 => {
            let i = rng.random_range(0..n);
            b[i] = INTERESTING[rng.random_range(0..INTERESTING.len())] as u8;
        }
        2 if n >= 4 => {
            let i = rng.random_range(0..n - 3);
            let v = INTERESTING[rng.random_range(0..INTERESTING.len())];
            b[i..i + 4].copy_from_slice(&v.to_be_bytes());
        }
        3 if n > 0 => b.truncate(rng.random_range(0..n)),
        4 => {
            let i = rng.random_range(0..=n);
            let extra: Vec<u8> = (0..rng.random_range(1..16)).map(|_| rng.random()).collect();
            b.splice(i..i, extra);
        }
        5 if n > 1 => {
            let i = rng.random_range(0..n);
            let j = rng.random_range(i..n.min(i + 64) + 1).min(n);
            b.drain(i..j);
        }
        6 if n > 1 => {
            let i = rng.random_range(0..n);
            let j = rng.random_range(i..n.min(i + 32) + 1).min(n);
            let chunk = b[i..j].to_vec();
            let at = rng.random_range(0..=b.len());
            b.splice(at..at, chunk);
        }
        _ => {
            if n > 0 {
                let i = rng.random_range(0..n);
                b[i] = rng.random();
            }
        }
    }
}

/// Text damage: byte damage, or a number or word replaced by a troublesome one.
fn mutate_text(t: &str, rng: &mut ChaCha8Rng) -> String {
    const WORDS: [&str; 16] = [
        "nan",
        "inf",
        "-inf",
        "-1",
        "0",
        "1e30",
        "-0.0",
        "18446744073709551616",
        "[]",
        "[0]",
        "[-1, 2]",
        "\"\"",
        "{}",
        "true",
        "\"x\"",
        "[[1]]",
    ];
    if rng.random_bool(0.5) {
        let mut b = t.as_bytes().to_vec();
        for _ in 0..rng.random_range(1..4) {
            mutate(&mut b, rng);
        }
        return String::from_utf8_lossy(&b).into_owned();
    }
    // Replace the value of one `key = value` line.
    let lines: Vec<&str> = t.lines().collect();
    let candidates: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains(" = "))
        .collect();
    if candidates.is_empty() {
        return t.to_string();
    }
    let i = candidates[rng.random_range(0..candidates.len())];
    let (key, _) = lines[i].split_once(" = ").unwrap_or((lines[i], ""));
    let word = WORDS[rng.random_range(0..WORDS.len())];
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    out[i] = format!("{key} = {word}");
    out.join("\n")
}

/// Runs `target` on mutations of `seeds` until the budget is spent; a panic fails with the
/// seed and the input.
fn fuzz<T: Clone + std::fmt::Debug>(
    name: &str,
    seeds: &[T],
    mutate: impl Fn(&T, &mut ChaCha8Rng) -> T,
    target: impl Fn(&T),
) {
    let s = seed();
    let mut rng = ChaCha8Rng::seed_from_u64(s);
    let start = Instant::now();
    let mut runs = 0usize;
    while start.elapsed() < budget() {
        let base = &seeds[rng.random_range(0..seeds.len())];
        let mut input = base.clone();
        for _ in 0..rng.random_range(1..4) {
            input = mutate(&input, &mut rng);
        }
        if catch_unwind(AssertUnwindSafe(|| target(&input))).is_err() {
            let shown = format!("{input:?}");
            panic!(
                "{name}: panic after {runs} inputs (GROWNET_FUZZ_SEED={s}) on {}",
                &shown[..shown.len().min(2000)]
            );
        }
        runs += 1;
    }
    eprintln!(
        "{name}: {runs} inputs in {:.1}s, no panic",
        start.elapsed().as_secs_f64()
    );
}

#[allow(clippy::ptr_arg)] // the mutator of a `fuzz` over `Vec<u8>` inputs
fn bytes_mutator(b: &Vec<u8>, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut b = b.clone();
    mutate(&mut b, rng);
    b
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn idx_and_gzip_readers_never_panic() {
    let p = Path::new("fuzz-idx");
    let seeds = vec![
        common::idx_images(3, 4, 5),
        common::idx_labels(&[0, 9, 3, 200]),
        gzip(&common::idx_images(2, 3, 3)),
        gzip(&common::idx_labels(&[1, 2])),
    ];
    fuzz("idx", &seeds, bytes_mutator, |b| {
        let raw = decompress_if_gz(b.clone(), p).unwrap_or_else(|_| b.clone());
        let _ = parse_idx_images(&raw, p);
        let _ = parse_idx_labels(&raw, p, 10);
    });
}

#[test]
fn cifar_reader_never_panics() {
    let p = Path::new("fuzz-cifar");
    let record = |l: u8| {
        let mut r = vec![l];
        r.extend((0..3072).map(|j| (j % 256) as u8));
        r
    };
    let seeds = vec![record(3), [record(1), record(9)].concat(), gzip(&record(2))];
    fuzz("cifar", &seeds, bytes_mutator, |b| {
        let raw = decompress_if_gz(b.clone(), p).unwrap_or_else(|_| b.clone());
        let _ = parse_cifar10(&raw, p);
        let text = String::from_utf8_lossy(b);
        let _ = grownet::data::formats::cifar::parse_cifar10_meta(&text, p);
    });
}

/// A small valid checkpoint's bytes.
fn checkpoint_bytes(dir: &Path) -> Vec<u8> {
    use grownet::nn::{Activation, Architecture, Network};
    use grownet::optim::{Optimizer, OptimizerConfig};
    let arch = Architecture::mlp(2, &[3], 2, Activation::Relu);
    let net = Network::new(&arch, &mut ChaCha8Rng::seed_from_u64(0), tch::Device::Cpu).unwrap();
    let path = dir.join("seed.safetensors");
    let meta = CheckpointMeta::new(&net, RunConfig::default(), 1, 2, 0, 0.5);
    checkpoint::save(
        &path,
        &net,
        &Optimizer::new(OptimizerConfig::sgd(0.9)),
        &meta,
    )
    .unwrap();
    std::fs::read(&path).unwrap()
}

fn load_and_build(path: &Path) {
    if let Ok(loaded) = checkpoint::load(path, tch::Device::Cpu) {
        let _ = checkpoint::network_from(&loaded, path, tch::Device::Cpu);
    }
}

#[test]
fn checkpoint_reader_never_panics_on_damaged_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = vec![checkpoint_bytes(dir.path())];
    let path = dir.path().join("fuzzed.safetensors");
    fuzz("checkpoint bytes", &seeds, bytes_mutator, |b| {
        std::fs::write(&path, b).unwrap();
        load_and_build(&path);
    });
}

/// The metadata of a checkpoint without its checksum (as older files are), damaged as
/// text: reaches the metadata and architecture checks behind the checksum.
#[test]
fn checkpoint_metadata_never_panics() {
    use safetensors::SafeTensors;
    let dir = tempfile::tempdir().unwrap();
    let bytes = checkpoint_bytes(dir.path());
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let json = header.metadata().as_ref().unwrap()["grownet"].clone();
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = st
        .iter()
        .map(|(n, v)| (n.to_string(), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    let path = dir.path().join("meta.safetensors");
    // Numbers in the JSON made troublesome, or the text damaged.
    let mutate_json = |t: &String, rng: &mut ChaCha8Rng| -> String {
        if rng.random_bool(0.3) {
            return mutate_text(t, rng);
        }
        let digits: Vec<usize> = t
            .char_indices()
            .filter(|(_, c)| c.is_ascii_digit())
            .map(|(i, _)| i)
            .collect();
        let Some(&i) = digits.get(rng.random_range(0..digits.len().max(1))) else {
            return t.clone();
        };
        let value = ["0", "-1", "99999999999", "4294967296", "1e30", "3"][rng.random_range(0..6)];
        format!("{}{value}{}", &t[..i], &t[i + 1..])
    };
    fuzz("checkpoint metadata", &[json], mutate_json, |j| {
        let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
            .iter()
            .map(|(n, s, d)| {
                let v = safetensors::tensor::TensorView::new(
                    safetensors::tensor::Dtype::F32,
                    s.clone(),
                    d,
                )
                .unwrap();
                (n.clone(), v)
            })
            .collect();
        let meta = std::collections::HashMap::from([("grownet".to_string(), j.clone())]);
        let file = safetensors::serialize(views, Some(meta)).unwrap();
        std::fs::write(&path, file).unwrap();
        load_and_build(&path);
    });
}

#[test]
fn run_config_and_overrides_never_panic() {
    let mut seeds: Vec<String> = vec![RunConfig::default().to_toml(), RunConfig::demo().to_toml()];
    let with_growth = RunConfig {
        growth: Some(Default::default()),
        ..RunConfig::default()
    };
    seeds.push(with_growth.to_toml());
    fuzz(
        "run config",
        &seeds,
        |t, rng| mutate_text(t, rng),
        |t| {
            if let Ok(cfg) = toml::from_str::<RunConfig>(t) {
                if cfg.validate().is_ok() {
                    let _ = cfg.model.architecture(
                        &[3, 8, 8],
                        grownet::data::Task::Classification { classes: 3 },
                    );
                    let _ = cfg
                        .model
                        .architecture(&[2], grownet::data::Task::Regression { outputs: 1 });
                }
            }
            // The same text as a `--set` value of some keys.
            for key in [
                "train.lr",
                "model.hidden",
                "growth.line_search",
                "train.schedule",
                "data",
            ] {
                let line = t.lines().next().unwrap_or_default();
                if let Ok(o) = Override::parse_assignment(&format!("{key}={line}")) {
                    if let Ok(cfg) = RunConfig::default().with_overrides(&[o]) {
                        let _ = cfg.validate();
                    }
                }
            }
        },
    );
}

#[test]
fn bench_files_never_panic() {
    let seeds: Vec<String> = std::fs::read_dir("bench")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "toml"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(!seeds.is_empty());
    fuzz(
        "bench",
        &seeds,
        |t, rng| mutate_text(t, rng),
        |t| {
            if let Ok(b) = BenchConfig::parse(t) {
                for m in &b.methods {
                    let _ = b.run_config(m, 0, Some(&[3]));
                }
            }
        },
    );
}

#[test]
fn table_array_and_cifar100_readers_never_panic() {
    use grownet::data::formats::csv::{parse_table, CsvOptions};
    use grownet::data::formats::{cifar100, npy, safetensors};
    use grownet::data::{Cifar100Label, Missing};
    let p = Path::new("fuzz-table");
    let tables = vec![
        b"a,b,kind\n1.5,red,x\n2,blue,y\nNA,red,x\n".to_vec(),
        b"x\ty\n1\t0.5\n2\t1e3\n".to_vec(),
        b"\"q,uoted\",y\n\"a\"\"b\",1\n,2\n".to_vec(),
    ];
    let mut opts = CsvOptions::new("kind");
    let train = parse_table(&tables[0], p, &opts, None)
        .ok()
        .map(|t| t.schema);
    fuzz("csv", &tables, bytes_mutator, |b| {
        for target in ["kind", "y"] {
            let mut o = opts.clone();
            o.target = target.into();
            o.missing = if b.len() % 2 == 0 {
                Missing::Impute
            } else {
                Missing::Refuse
            };
            o.delimiter = if b.contains(&b'\t') { b'\t' } else { b',' };
            let _ = parse_table(b, p, &o, None);
            let _ = parse_table(b, p, &o, train.as_ref());
        }
    });
    opts.target = "y".into();
    let x = tch::Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).view([2, 2]);
    let y = tch::Tensor::from_slice(&[0i64, 1]);
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("s.safetensors");
    tch::Tensor::write_safetensors(&[("x", &x), ("y", &y)], &st).unwrap();
    let arrays = vec![
        npy::npy_bytes(&x),
        npy::npy_bytes(&y),
        std::fs::read(&st).unwrap(),
    ];
    fuzz("npy-safetensors", &arrays, bytes_mutator, |b| {
        let _ = npy::parse_npy(b, p, "array");
        let _ = safetensors::parse_safetensors(b, p, &["x", "y"]);
    });
    let npz = dir.path().join("a.npz");
    tch::Tensor::write_npz(&[("x", &x), ("y", &y)], &npz).unwrap();
    let zips = vec![std::fs::read(&npz).unwrap()];
    let damaged = dir.path().join("d.npz");
    fuzz("npz", &zips, bytes_mutator, |b| {
        std::fs::write(&damaged, b).unwrap();
        let _ = npy::read_npz(&damaged, &["x", "y"]);
    });
    let mut record = vec![3u8, 42];
    record.extend((0..3072).map(|j| (j % 256) as u8));
    let records = vec![record.clone(), [record.clone(), record].concat()];
    fuzz("cifar-100", &records, bytes_mutator, |b| {
        let _ = cifar100::parse_cifar100(b, p, Cifar100Label::Fine);
        let _ = cifar100::parse_cifar100(b, p, Cifar100Label::Coarse);
    });
}
