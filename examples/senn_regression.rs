//! SENN on 1-D regression (docs/senn.md §2, experiment 1): one hidden layer of rational units that
//! starts with a single neuron and grows where the fit is poor. Trains the grown network, the
//! same recipe at one neuron and at the grown width from scratch, and writes `fit.svg/png`
//! (target, training points, fits, and where each neuron was added: the centre `−b/w` of its
//! rational bump, in input units) plus `fit.csv`.
//!
//! `cargo run --release --example senn_regression -- [OUT_DIR] [SEED]`
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use grownet::config::RunConfig;
use grownet::growth::senn::SennConfig;
use grownet::growth::{GrowthConfig, Method};
use grownet::nn::Activation;
use grownet::optim::OptimizerKind;
use grownet::report::plots::{Marker, Plot, Series};
use grownet::train::{Summary, Trainer};
use tch::{Kind, Tensor};

fn config(seed: u64, hidden: i64, grow: bool) -> RunConfig {
    let mut cfg = RunConfig::default();
    cfg.data.name = "regression".into();
    cfg.data.synthetic_train = 256;
    cfg.data.synthetic_test = 1000;
    cfg.device = Some("cpu".into());
    cfg.threads = Some(1);
    cfg.model.hidden = vec![hidden];
    cfg.model.activation = Activation::Rational;
    cfg.train.epochs = 3000; // full batch: one step per epoch
    cfg.train.batch_size = 256;
    cfg.train.optimizer = OptimizerKind::AdamW;
    cfg.train.lr = 0.01;
    cfg.train.weight_decay = 0.0;
    cfg.train.seed = seed;
    cfg.growth = grow.then(|| GrowthConfig {
        method: Method::Senn,
        every_epochs: 30,
        stats_samples: 256,
        line_search_samples: 256,
        senn: SennConfig {
            tau: 1.0,
            alpha: 2.5e-3,
            max_layers: 1, // width only, as in the paper's experiment
            ..SennConfig::default()
        },
        ..GrowthConfig::default()
    });
    cfg
}

fn train(cfg: RunConfig, out: Option<PathBuf>) -> anyhow::Result<(Trainer, Summary)> {
    let mut t = Trainer::new(cfg, out)?;
    t.quiet = true;
    let s = t.fit()?;
    Ok((t, s))
}

/// Predictions of `t`'s network at raw inputs `x` (`[n, 1]`).
fn predict(t: &Trainer, x: &Tensor) -> Vec<f64> {
    let y = tch::no_grad(|| t.net.forward(&t.data.normalise(x), false));
    Vec::<f64>::try_from(y.to_kind(Kind::Double).flatten(0, -1)).unwrap_or_default()
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().unwrap_or_else(|| "runs/senn-regression".into()));
    let seed: u64 = args.next().map_or(Ok(0), |s| s.parse()).context("SEED")?;
    std::fs::create_dir_all(&out)?;
    let (grown, s_grown) = train(config(seed, 1, true), Some(out.join("senn")))?;
    let width = s_grown.hidden_widths[0];
    let (one, s_one) = train(config(seed, 1, false), None)?;
    let (fixed, s_fixed) = train(config(seed, width, false), None)?;

    let grid: Vec<f32> = (0..401).map(|i| -1.0 + i as f32 / 200.0).collect();
    let x = Tensor::from_slice(&grid).view([-1, 1]);
    let target: Vec<f64> = grid
        .iter()
        .map(|&v| grownet::data::synthetic::regression_curve(v) as f64)
        .collect();
    let (p_grown, p_one, p_fixed) = (predict(&grown, &x), predict(&one, &x), predict(&fixed, &x));
    let xs: Vec<f64> = grid.iter().map(|&v| v as f64).collect();
    let pts = |ys: &[f64]| {
        xs.iter()
            .copied()
            .zip(ys.iter().copied())
            .collect::<Vec<_>>()
    };

    // Training points in raw units: undo the normalisation of the inputs.
    let (mean, std) = (
        grown.data.input_mean.double_value(&[0, 0]),
        grown.data.input_std.double_value(&[0, 0]),
    );
    let tx = Vec::<f64>::try_from(grown.data.train.x.to_kind(Kind::Double).flatten(0, -1))?;
    let ty = Vec::<f64>::try_from(grown.data.train.y.to_kind(Kind::Double).flatten(0, -1))?;
    let train_pts: Vec<(f64, f64)> = tx.iter().map(|v| v * std + mean).zip(ty).collect();

    // Where each neuron sits: the centre of its rational bump, w·z + b = 0, in raw units.
    let w = Vec::<f64>::try_from(
        grown.net.stages[0]
            .layer
            .weight()
            .to_kind(Kind::Double)
            .flatten(0, -1),
    )?;
    let b = match grown.net.stages[0].layer.bias() {
        Some(b) => Vec::<f64>::try_from(b.to_kind(Kind::Double))?,
        None => vec![0.0; w.len()],
    };
    let centres: Vec<(usize, f64)> = w
        .iter()
        .zip(&b)
        .enumerate()
        .map(|(i, (w, b))| (i, -b / w * std + mean))
        .collect();
    let y_floor = target.iter().cloned().fold(f64::INFINITY, f64::min) - 0.35;
    let marks = |first: bool| {
        centres
            .iter()
            .filter(|(i, c)| (*i == 0) == first && c.abs() <= 1.2)
            .map(|&(_, c)| (c, y_floor))
            .collect::<Vec<_>>()
    };

    let mut plot = Plot::new(
        &format!(
            "SENN, 1-D regression: grown from 1 to {width} rational neurons (test MSE {:.4})",
            s_grown.test.loss
        ),
        "x",
        "y",
    );
    let mut points = Series::scatter("training points", train_pts, 7);
    points.marker = Marker::Circle;
    plot.series.push(points);
    plot.series
        .push(Series::line("target curve", pts(&target), 0));
    plot.series.push(Series::line(
        &format!("SENN grown ({width} neurons)"),
        pts(&p_grown),
        3,
    ));
    plot.series
        .push(Series::line("fixed, 1 neuron", pts(&p_one), 1));
    plot.series.push(Series::line(
        &format!("fixed, {width} neurons from scratch"),
        pts(&p_fixed),
        2,
    ));
    plot.series
        .push(Series::scatter("initial neuron (centre)", marks(true), 4));
    let mut added = Series::scatter("added neurons (centre)", marks(false), 3);
    added.marker = Marker::Cross;
    plot.series.push(added);
    plot.y_range = Some((y_floor - 0.1, 1.6));
    let files = plot.render(&out.join("fit"))?;

    let mut csv = std::fs::File::create(out.join("fit.csv"))?;
    writeln!(csv, "x,target,senn,fixed_1,fixed_{width}")?;
    for i in 0..xs.len() {
        writeln!(
            csv,
            "{},{},{},{},{}",
            xs[i], target[i], p_grown[i], p_one[i], p_fixed[i]
        )?;
    }
    println!("| network | hidden neurons | parameters | test MSE | train MSE |");
    println!("|---|---|---|---|---|");
    for (name, s) in [
        ("SENN, grown from 1", &s_grown),
        ("fixed, 1 neuron", &s_one),
        ("fixed at the grown width", &s_fixed),
    ] {
        println!(
            "| {name} | {} | {} | {:.4} | {:.4} |",
            s.hidden_widths[0], s.parameters, s.test.loss, s.train.loss
        );
    }
    println!(
        "neuron centres (order of addition): {:?}",
        centres
            .iter()
            .map(|(_, c)| (c * 100.0).round() / 100.0)
            .collect::<Vec<_>>()
    );
    println!(
        "wrote {}",
        files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}
