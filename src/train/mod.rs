//! The training loop: minibatches, optimiser steps, evaluation, metrics, checkpoints, and the
//! growth hook between epochs.
//!
//! ```
//! use grownet::config::RunConfig;
//! use grownet::train::Trainer;
//! let mut cfg = RunConfig::default();
//! cfg.data.name = "moons".into();
//! cfg.data.synthetic_train = 400;
//! cfg.data.synthetic_test = 200;
//! cfg.model.hidden = vec![16];
//! cfg.train.epochs = 5;
//! cfg.device = Some("cpu".into());
//! let mut trainer = Trainer::new(cfg, None).unwrap();
//! trainer.quiet = true;
//! let summary = trainer.fit().unwrap();
//! assert!(summary.test.accuracy.unwrap() > 0.7);
//! ```
mod log;
pub mod shard;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind};

pub use crate::events::{Eval, Summary};
pub use log::{
    read_events, DirLock, Reporter, RunDir, CHECKPOINT_FILE, CONFIG_FILE, LOCK_FILE, METRICS_FILE,
};

use crate::checkpoint::{self, CheckpointMeta};
use crate::config::{parse_device, RunConfig};
use crate::data::{self, Dataset, Splits, Task};
use crate::distributed::World;
use crate::error::{Error, Result};
use crate::events::{End, EpochEnd, Event, EventSink, GrowthFinished, RunError, Start};
use crate::growth::{replicate, Clock, Context, Grower};
use crate::nn::{self, Loss, Network};
use crate::optim::{NewSecondMoment, Optimizer};

/// A training run in progress.
pub struct Trainer {
    pub config: RunConfig,
    pub net: Network,
    pub opt: Optimizer,
    pub data: Splits,
    pub loss: Loss,
    /// Completed epochs and optimisation steps.
    pub epoch: usize,
    pub step: usize,
    /// Training wall time so far (seconds, across resumptions).
    pub elapsed: f64,
    /// The run directory (none: nothing is written).
    pub run: Option<RunDir>,
    pub grower: Option<Grower>,
    /// No progress bars or per-epoch lines.
    pub quiet: bool,
    /// Testing resume: stop right after this optimisation step as a crash would (no
    /// checkpoint, no further event), with [`Error::Interrupted`].
    pub crash_after_step: Option<usize>,
    /// The ranks of a data-parallel run (a world of one by default; [`Trainer::join`]).
    pub world: World,
    device: Device,
    /// What the run is doing (for the `error` event): training, growth, evaluation,
    /// checkpoint.
    doing: &'static str,
}

impl Trainer {
    /// Prepares a new run: (when `out` is given) takes the run directory, locked, before
    /// anything slow; loads the data, builds the network from the seed, and writes the
    /// resolved config, the start event and the first checkpoint.
    pub fn new(mut config: RunConfig, out: Option<PathBuf>) -> Result<Self> {
        config.validate()?;
        config.resolve_paths()?;
        let device = parse_device(config.device.as_deref().unwrap_or("auto"))?;
        let run = out.as_deref().map(RunDir::create).transpose()?;
        tch::manual_seed(config.train.seed as i64);
        let data = data::load(&config.data, device)?;
        let arch = config.model.architecture(&data.input_shape, data.task)?;
        arch.check_buildable()?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.train.seed);
        let net = Network::new(&arch, &mut rng, device)?;
        if let Some(g) = &config.growth {
            g.check_network(&net, false)?;
        }
        let mut opt = Optimizer::new(config.train.optimizer_config());
        let grower = grower_for(&config, &mut opt)?;
        if let Some(r) = &run {
            r.write_config(&config.to_toml())?;
        }
        let loss = data.task.loss();
        let mut t = Trainer {
            config,
            net,
            opt,
            data,
            loss,
            epoch: 0,
            step: 0,
            elapsed: 0.0,
            run,
            grower,
            quiet: false,
            crash_after_step: None,
            world: World::single(),
            device,
            doing: "training",
        };
        if t.run.is_some() {
            let event = Event::Start(Start {
                epoch: 0,
                dataset: t.data.name.clone(),
                train_samples: t.data.train.len(),
                test_samples: t.data.test.len(),
                device: format!("{device:?}"),
                parameters: t.net.parameter_count(),
                hidden_widths: t.net.hidden_widths(),
                architecture: t.net.architecture(),
            });
            t.emit(event)?;
            t.save_checkpoint()?;
        }
        Ok(t)
    }

    /// Continues the run in `dir` from its checkpoint. `adjust` may change the configuration
    /// (e.g. raise the number of epochs) before training continues; changes a resumed run
    /// cannot take (the model, the data, the seed, the optimiser) are refused
    /// ([`crate::config::check_resumable`]). The directory is locked first: a run still
    /// training there is not disturbed.
    pub fn resume(dir: &Path, adjust: impl FnOnce(&mut RunConfig)) -> Result<Self> {
        Self::resume_locked(DirLock::acquire(dir)?, dir, adjust)
    }

    /// [`Trainer::resume`] with the directory's lock already taken.
    pub fn resume_locked(
        lock: DirLock,
        dir: &Path,
        adjust: impl FnOnce(&mut RunConfig),
    ) -> Result<Self> {
        let (mut t, m) = Self::load(dir, adjust)?;
        let run = RunDir::reopen(dir, lock, m.metrics_events, m.epoch, m.step)?;
        run.write_config(&t.config.to_toml())?;
        t.run = Some(run);
        Ok(t)
    }

    /// The run in `dir` as its checkpoint left it, for a rank other than 0 of a data-parallel
    /// run: no lock, and nothing is ever written ([`Trainer::resume`] for rank 0).
    pub fn resume_replica(dir: &Path, adjust: impl FnOnce(&mut RunConfig)) -> Result<Self> {
        Ok(Self::load(dir, adjust)?.0)
    }

    /// A trainer from the checkpoint in `dir` (without its run directory) and the
    /// checkpoint's metadata.
    fn load(dir: &Path, adjust: impl FnOnce(&mut RunConfig)) -> Result<(Self, CheckpointMeta)> {
        let ckpt = dir.join(CHECKPOINT_FILE);
        let probe = checkpoint::load(&ckpt, Device::Cpu)?;
        let mut config = probe.meta.config.clone();
        adjust(&mut config);
        config.validate()?;
        config.resolve_paths()?;
        crate::config::check_resumable(&probe.meta.config, &config)?;
        let device = parse_device(config.device.as_deref().unwrap_or("auto"))?;
        let loaded = if device == Device::Cpu {
            probe
        } else {
            checkpoint::load(&ckpt, device)?
        };
        let net = checkpoint::network_from(&loaded, &ckpt, device)?;
        let mut opt = Optimizer::new(config.train.optimizer_config());
        opt.load_state(loaded.optimizer, loaded.meta.optimizer_steps)
            .map_err(|e| Error::Checkpoint {
                path: ckpt.clone(),
                detail: format!(
                    "its optimiser state does not fit train.optimizer and train.momentum: {e}"
                ),
            })?;
        let data = data::load(&config.data, device)?;
        check_fits(&net, &data.name, &data.input_shape, data.task)?;
        if let Some(g) = &config.growth {
            g.check_network(&net, true)?;
        }
        let mut grower = grower_for(&config, &mut opt)?;
        if let Some(g) = grower.as_mut() {
            g.state = loaded.meta.growth.clone();
        }
        let loss = data.task.loss();
        let t = Trainer {
            config,
            net,
            opt,
            data,
            loss,
            epoch: loaded.meta.epoch,
            step: loaded.meta.step,
            elapsed: loaded.meta.elapsed,
            run: None,
            grower,
            quiet: false,
            crash_after_step: None,
            world: World::single(),
            device,
            doing: "training",
        };
        Ok((t, loaded.meta))
    }

    /// Makes this trainer one rank of `world`: every rank takes rank 0's network and
    /// optimiser state, and only rank 0 prints (only rank 0 should have been given a run
    /// directory).
    pub fn join(&mut self, world: World) -> Result<()> {
        replicate::from_root(&world, &self.net, &self.opt)?;
        self.net.sync_batch_norm(world.shared());
        self.quiet |= !world.is_root();
        self.world = world;
        Ok(())
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// Appends an event to `metrics.jsonl` (no-op without a run directory).
    pub fn emit(&mut self, event: Event) -> Result<()> {
        match self.run.as_mut() {
            Some(r) => r.log(&event),
            None => Ok(()),
        }
    }

    /// One growth check, through the narrow context growth works on.
    fn grow(&mut self) -> Result<()> {
        self.doing = "growth";
        // What `growth.new_second_moment`'s resets compare across the check (docs/tiny.md §2.17).
        let shape = |t: &Self| (t.net.parameter_count(), t.net.hidden_widths());
        let finished = |t: &Self| t.grower.as_ref().is_some_and(|g| g.state.finished);
        let mode = self.opt.new_second_moment;
        let before = (mode == NewSecondMoment::Reset).then(|| shape(self));
        let was_finished = finished(self);
        self.with_growth(|grower, ctx| grower.check(ctx))?;
        if mode == NewSecondMoment::Reset && before != Some(shape(self)) {
            self.opt.reset();
        }
        if !was_finished && finished(self) {
            self.growth_ended();
        }
        self.doing = "training";
        Ok(())
    }

    /// What follows the end of growth for good, once: the optimiser's reset under
    /// `reset-at-end` (docs/tiny.md §2.17), then shrink and perturb (§2.18).
    fn growth_ended(&mut self) {
        if self.opt.new_second_moment == NewSecondMoment::ResetAtEnd {
            self.opt.reset();
        }
        self.shrink_and_perturb();
    }

    /// Growth ends for good when the epoch reaches `growth.stop_epoch` (it trained its last
    /// check in the epoch before): logged, and what follows the end of growth
    /// ([`Trainer::growth_ended`]) happens here.
    fn end_growth_at_stop_epoch(&mut self) -> Result<()> {
        let epoch = self.epoch;
        let Some(g) = self.grower.as_mut() else {
            return Ok(());
        };
        let Some(stop) = g
            .config
            .stop_epoch
            .filter(|&e| epoch >= e && !g.state.finished)
        else {
            return Ok(());
        };
        g.state.finished = true;
        // The grower's stop epoch is the earlier of `stop_epoch` and the fraction's: name the
        // key that set it.
        let fraction = g
            .config
            .stop_fraction
            .filter(|_| g.config.fraction_stop_epoch(self.config.train.epochs) == Some(stop));
        let mut sink = Reporter {
            run: self.run.as_mut(),
            quiet: self.quiet,
        };
        sink.emit(Event::GrowthFinished(GrowthFinished {
            epoch,
            step: self.step,
            reason: match fraction {
                Some(f) => format!("epoch {stop} reached (growth.stop_fraction {f})"),
                None => format!("growth.stop_epoch {stop} reached"),
            },
        }))?;
        self.growth_ended();
        Ok(())
    }

    /// Shrink and perturb once growth has ended for good (`growth.end_shrink`,
    /// `growth.end_perturb`; docs/tiny.md §2.18), from a generator of the run's seed.
    fn shrink_and_perturb(&mut self) {
        let Some(g) = self.grower.as_ref().map(|g| &g.config) else {
            return;
        };
        if g.end_shrink != 1.0 || g.end_perturb > 0.0 {
            let mut rng = ChaCha8Rng::seed_from_u64(self.config.train.seed ^ 0x5be0_cd19);
            nn::shrink_perturb(&self.net, g.end_shrink, g.end_perturb, &mut rng);
            // Recalibration cannot fail; `with_growth` only passes the closure's result on.
            let _ = self.with_growth(|g, ctx| {
                g.recalibrate_after_shrink(ctx);
                Ok(())
            });
        }
    }

    /// Runs `f` on the grower (when there is one) and the narrow context growth works on.
    fn with_growth(
        &mut self,
        f: impl FnOnce(&mut Grower, &mut Context) -> Result<()>,
    ) -> Result<()> {
        let Some(grower) = self.grower.as_mut() else {
            return Ok(());
        };
        let mut sink = Reporter {
            run: self.run.as_mut(),
            quiet: self.quiet,
        };
        let mut ctx = Context {
            net: &mut self.net,
            opt: &mut self.opt,
            train: &self.data.train,
            val: self.data.val.as_ref(),
            loss: self.loss,
            seed: self.config.train.seed,
            clock: Clock {
                epoch: self.epoch,
                step: self.step,
            },
            events: &mut sink,
            world: &self.world,
        };
        f(grower, &mut ctx)
    }

    /// Seconds spent in growth so far.
    fn growth_seconds(&self) -> f64 {
        self.grower.as_ref().map_or(0.0, |g| g.state.seconds)
    }

    /// The last good checkpoint, for messages.
    fn checkpoint_note(&self) -> String {
        self.run.as_ref().map_or_else(
            || "none (no run directory)".to_string(),
            |r| r.checkpoint_path().display().to_string(),
        )
    }

    /// Writes the checkpoint of the current state (atomically; never weights that are not
    /// finite).
    pub fn save_checkpoint(&self) -> Result<()> {
        let Some(run) = &self.run else { return Ok(()) };
        let mut meta = CheckpointMeta::new(
            &self.net,
            self.config.clone(),
            self.epoch,
            self.step,
            self.opt.steps,
            self.elapsed,
        );
        if let Some(g) = &self.grower {
            meta.growth = g.state.clone();
        }
        meta.metrics_events = Some(run.events());
        meta.normalisation = Some(self.data.normalisation()?);
        checkpoint::save(&run.checkpoint_path(), &self.net, &self.opt, &meta)
    }

    fn steps_per_epoch(&self) -> usize {
        self.data.train.len().div_ceil(self.config.train.batch_size)
    }

    /// Trains until `config.train.epochs` epochs are done, growing between epochs when a grower
    /// is configured, and returns the final evaluation. An error stops the run with an
    /// `error` event (where it happened, the last good checkpoint) at the end of its log.
    pub fn fit(&mut self) -> Result<Summary> {
        self.fit_until(self.config.train.epochs)?;
        self.doing = "evaluation";
        let summary = self.reduced_summary()?;
        if let Some((what, v)) = non_finite(&[
            ("final training loss", summary.train.loss),
            ("final test loss", summary.test.loss),
        ]) {
            let e = Error::NonFiniteLoss {
                what: what.into(),
                loss: v,
                epoch: self.epoch,
                step: self.step,
                checkpoint: self.checkpoint_note(),
            };
            return Err(self.failed(e));
        }
        let event = Event::End(End {
            epoch: self.epoch,
            summary: summary.clone(),
        });
        self.emit(event)?;
        Ok(summary)
    }

    /// Trains until `epoch` epochs are complete (at most the configured number), as if the
    /// run were stopped there; `fit` or a resume continues it. An error ends the log with an
    /// `error` event and is returned with where it happened.
    pub fn fit_until(&mut self, epoch: usize) -> Result<()> {
        self.epochs_until(epoch).map_err(|e| self.failed(e))
    }

    /// Logs the `error` event of a run stopped by `e` (best effort: the error is what
    /// matters) and returns `e` with the place it happened, unless it already says so. A
    /// simulated crash logs nothing, as a real one could not.
    fn failed(&mut self, e: Error) -> Error {
        if matches!(e, Error::Interrupted { .. }) {
            return e;
        }
        let checkpoint = self.run.as_ref().map(|r| r.checkpoint_path());
        let e = match e {
            e @ (Error::NonFiniteLoss { .. } | Error::During { .. }) => e,
            e => Error::During {
                during: self.doing.to_string(),
                epoch: self.epoch,
                step: self.step,
                checkpoint: self.checkpoint_note(),
                source: Box::new(e),
            },
        };
        let message = match &e {
            Error::During { source, .. } => source.to_string(),
            e => e.to_string(),
        };
        let event = Event::Error(RunError {
            epoch: self.epoch,
            step: self.step,
            during: self.doing.to_string(),
            message,
            checkpoint: checkpoint.map(|p| p.display().to_string()),
        });
        if let Err(log_error) = self.emit(event) {
            tracing::warn!("could not log the error event: {log_error}");
        }
        self.doing = "training";
        e
    }

    fn epochs_until(&mut self, epoch: usize) -> Result<()> {
        let show = !self.quiet && std::io::stdout().is_terminal();
        while self.epoch < epoch.min(self.config.train.epochs) {
            let start = Instant::now();
            let growth_before = self.growth_seconds();
            self.end_growth_at_stop_epoch()?;
            // Growth's background work starts while the epoch trains (idempotent: once per run;
            // its time counts in the epoch's growth time).
            self.with_growth(|grower, ctx| {
                grower.prepare(ctx);
                Ok(())
            })?;
            let (train_loss, train_acc) = self.train_epoch(show)?;
            self.epoch += 1;
            let epochs = self.config.train.epochs;
            if self
                .grower
                .as_ref()
                .is_some_and(|g| g.due_after_epoch(self.epoch, epochs))
            {
                self.grow()?;
            }
            let growth_seconds = self.growth_seconds() - growth_before;
            let seconds = start.elapsed().as_secs_f64();
            self.elapsed += seconds;
            self.doing = "evaluation";
            shard::sync_buffers(&self.world, &self.net)?;
            let val = self
                .data
                .val
                .as_ref()
                .map(|v| self.evaluate_all(v))
                .transpose()?;
            let test = self.evaluate_all(&self.data.test)?;
            // A network that evaluates to NaN is not a state to continue from: no epoch event
            // and no checkpoint (the last one stays the last good one).
            if let Some((what, v)) = non_finite(&[
                ("training loss", train_loss),
                (
                    "validation loss after the epoch",
                    val.map_or(0.0, |v| v.loss),
                ),
                ("test loss after the epoch", test.loss),
            ]) {
                return Err(Error::NonFiniteLoss {
                    what: what.into(),
                    loss: v,
                    epoch: self.epoch,
                    step: self.step,
                    checkpoint: self.checkpoint_note(),
                });
            }
            self.doing = "training";
            let lr = self.current_lr();
            let event = Event::Epoch(EpochEnd {
                epoch: self.epoch,
                step: self.step,
                train_loss,
                train_accuracy: train_acc,
                val_loss: val.map(|v| v.loss),
                val_accuracy: val.and_then(|v| v.accuracy),
                test_loss: test.loss,
                test_accuracy: test.accuracy,
                lr,
                epoch_seconds: seconds,
                growth_seconds,
                wall_time: self.elapsed,
                parameters: self.net.parameter_count(),
                hidden_widths: self.net.hidden_widths(),
            });
            self.emit(event)?;
            self.doing = "checkpoint";
            self.save_checkpoint()?;
            self.doing = "training";
            if !self.quiet {
                println!(
                    "epoch {:>3}/{}  train loss {:.4}{}  test loss {:.4}{}  params {}  widths {:?}  {:.1}s",
                    self.epoch,
                    self.config.train.epochs,
                    train_loss,
                    fmt_acc(train_acc),
                    test.loss,
                    fmt_acc(test.accuracy),
                    self.net.parameter_count(),
                    self.net.hidden_widths(),
                    seconds
                );
            }
        }
        Ok(())
    }

    /// The final evaluation of the current network.
    pub fn summary(&self) -> Summary {
        Summary {
            train: self.evaluate(&self.data.train),
            val: self.data.val.as_ref().map(|v| self.evaluate(v)),
            test: self.evaluate(&self.data.test),
            ..self.summary_without_evaluation()
        }
    }

    /// [`Trainer::summary`], each rank evaluating its share in a data-parallel run.
    fn reduced_summary(&self) -> Result<Summary> {
        shard::sync_buffers(&self.world, &self.net)?;
        Ok(Summary {
            train: self.evaluate_all(&self.data.train)?,
            val: self
                .data
                .val
                .as_ref()
                .map(|v| self.evaluate_all(v))
                .transpose()?,
            test: self.evaluate_all(&self.data.test)?,
            ..self.summary_without_evaluation()
        })
    }

    fn summary_without_evaluation(&self) -> Summary {
        let nothing = Eval {
            loss: f64::NAN,
            accuracy: None,
        };
        Summary {
            epochs: self.epoch,
            train: nothing,
            val: None,
            test: nothing,
            parameters: self.net.parameter_count(),
            hidden_widths: self.net.hidden_widths(),
            seconds: self.elapsed,
            seconds_in_growth: self.growth_seconds(),
            growth_steps: self.grower.as_ref().map_or(0, |g| g.state.steps_done),
        }
    }

    fn current_lr(&self) -> f64 {
        let t = &self.config.train;
        let spe = self.steps_per_epoch();
        t.schedule.lr(t.lr, self.step, spe, spe * t.epochs)
    }

    /// One pass over the training set; returns mean loss and accuracy over its batches.
    pub fn train_epoch(&mut self, show_progress: bool) -> Result<(f64, Option<f64>)> {
        let cfg = self.config.train.clone();
        crate::runtime::set_threads(
            self.config.threads,
            self.net.flops_per_sample(),
            cfg.batch_size,
        );
        let mut rng = data::epoch_rng(cfg.seed, self.epoch);
        let batches = data::epoch_batches(
            self.data.train.len(),
            cfg.batch_size,
            true,
            &mut rng,
            self.device,
        );
        let spe = batches.len();
        let bar = progress_bar(show_progress, spe as u64, self.epoch + 1, cfg.epochs);
        let augment = cfg.augment && self.data.augmentable;
        let classify = matches!(self.data.task, Task::Classification { .. });
        let mut params = self.net.named_parameters();
        let (mut loss_sum, mut correct, mut seen) = (0.0, 0i64, 0usize);
        for idx in batches {
            let global = idx.size()[0];
            let idx = shard::local(&self.world, &idx);
            let (mut x, y) = self.data.train.select(&idx);
            if augment {
                x = data::augment_crop_flip(&x, 4, &mut rng)?;
            }
            Optimizer::zero_grad(&params);
            let out = self.net.forward(&x, true);
            self.world.check_shared()?;
            let loss = shard::batch_loss(&self.world, self.loss, &out, &y, global);
            let mut value = loss.double_value(&[]);
            let several = self.world.size() > 1;
            if several {
                shard::backward(&loss)?;
                value = shard::reduce_gradients(&self.world, &params, value)?;
            }
            if !value.is_finite() {
                bar.finish_and_clear();
                return Err(Error::NonFiniteLoss {
                    what: "training loss".into(),
                    loss: value,
                    epoch: self.epoch + 1,
                    step: self.step + 1,
                    checkpoint: self.checkpoint_note(),
                });
            }
            if !several {
                loss.backward();
            }
            let lr = cfg.schedule.lr(cfg.lr, self.step, spe, spe * cfg.epochs);
            self.opt.step(&params, lr)?;
            self.step += 1;
            if self
                .grower
                .as_ref()
                .is_some_and(|g| g.due_after_step(self.step, self.epoch))
            {
                bar.suspend(|| self.grow())?;
                params = self.net.named_parameters();
            }
            if self.crash_after_step == Some(self.step) {
                bar.finish_and_clear();
                return Err(Error::Interrupted { step: self.step });
            }
            let n = global as usize;
            loss_sum += value * n as f64;
            seen += n;
            if classify {
                correct += out
                    .argmax(-1, false)
                    .eq_tensor(&y)
                    .sum(Kind::Int64)
                    .int64_value(&[]);
            }
            bar.inc(1);
            bar.set_message(format!("loss {:.4}", loss_sum / seen as f64));
        }
        bar.finish_and_clear();
        if self.world.size() > 1 {
            correct = self.world.sum_f64(&[correct as f64])?[0] as i64;
        }
        let seen = seen.max(1) as f64;
        Ok((loss_sum / seen, classify.then(|| correct as f64 / seen)))
    }

    /// [`Trainer::evaluate`] over every rank's share of `data` in a data-parallel run.
    pub fn evaluate_all(&self, data: &Dataset) -> Result<Eval> {
        let batch = self.config.train.eval_batch_size;
        shard::evaluate(&self.world, &self.net, self.loss, data, batch)
    }

    /// Loss and accuracy of the current network on `data` (eval mode, no gradients).
    pub fn evaluate(&self, data: &Dataset) -> Eval {
        evaluate(
            &self.net,
            self.loss,
            data,
            self.config.train.eval_batch_size,
        )
    }
}

/// Loss and accuracy of `net` on `data`, in batches of `batch_size`.
pub fn evaluate(net: &Network, loss: Loss, data: &Dataset, batch_size: usize) -> Eval {
    let (total, correct) = eval_sums(net, loss, data, batch_size);
    eval_from_sums(loss, total, correct, data.len() as f64)
}

/// The summed loss and the number of correct predictions of `net` on `data` (eval mode, no
/// gradients). Its batches' activations come from the heap and are reused from one batch to
/// the next ([`crate::runtime::HeapOnly`]): at the default 1 000 images of a 32×32 CNN they
/// are larger than the mmap threshold, and every batch would otherwise map fresh pages for them
/// (docs/tiny.md §8, "The allocator").
fn eval_sums(net: &Network, loss: Loss, data: &Dataset, batch_size: usize) -> (f64, i64) {
    let _heap = crate::runtime::HeapOnly::new();
    tch::no_grad(|| {
        let n = data.len() as i64;
        let (mut total, mut correct) = (0.0, 0i64);
        let mut start = 0;
        while start < n {
            let len = (batch_size as i64).min(n - start);
            let x = data.x.narrow(0, start, len);
            let y = data.y.narrow(0, start, len);
            let out = net.forward(&x, false);
            total += loss
                .per_sample(&out, &y)
                .sum(Kind::Double)
                .double_value(&[]);
            if loss == Loss::CrossEntropy {
                correct += out
                    .argmax(-1, false)
                    .eq_tensor(&y)
                    .sum(Kind::Int64)
                    .int64_value(&[]);
            }
            start += len;
        }
        (total, correct)
    })
}

/// The mean loss and the accuracy over `n` samples from their sums.
fn eval_from_sums(loss: Loss, total: f64, correct: i64, n: f64) -> Eval {
    if n == 0.0 {
        // Nothing to measure: no number rather than a made-up 0.
        return Eval {
            loss: f64::NAN,
            accuracy: None,
        };
    }
    Eval {
        loss: total / n,
        accuracy: (loss == Loss::CrossEntropy).then(|| correct as f64 / n),
    }
}

/// The run's grower (`None` without `[growth]`), its epochs from the training's, and the
/// optimiser's policy for new units' second moments from the growth config (docs/tiny.md
/// §2.17); the same for a new run and a resumed one.
fn grower_for(config: &RunConfig, opt: &mut Optimizer) -> Result<Option<Grower>> {
    let Some(g) = &config.growth else {
        return Ok(None);
    };
    opt.new_second_moment = g.new_second_moment;
    Grower::new(g.for_epochs(config.train.epochs)).map(Some)
}

/// Whether `data` is what `net` was built for: the same input shape and as many outputs as
/// the task has classes or targets (a checkpoint evaluated on, or resumed with, other data).
pub fn check_fits(net: &Network, name: &str, input_shape: &[i64], task: Task) -> Result<()> {
    if net.input_shape() != input_shape {
        return Err(Error::Config(format!(
            "{name}: the inputs are of shape {input_shape:?}, but the network takes {:?}: these \
             are not the data it was trained on (check --data-dir)",
            net.input_shape()
        )));
    }
    let outputs = net
        .architecture()
        .stages
        .last()
        .map_or(0, |s| s.layer.outputs());
    if outputs != task.outputs() {
        return Err(Error::Config(format!(
            "{name}: the task has {} outputs (classes or targets), but the network gives \
             {outputs}: these are not the data it was trained on (check --data-dir)",
            task.outputs()
        )));
    }
    Ok(())
}

/// The first of the named values that is not finite.
fn non_finite(values: &[(&'static str, f64)]) -> Option<(&'static str, f64)> {
    values.iter().copied().find(|(_, v)| !v.is_finite())
}

fn fmt_acc(acc: Option<f64>) -> String {
    acc.map(|a| format!(" acc {:.2}%", 100.0 * a))
        .unwrap_or_default()
}

fn progress_bar(show: bool, len: u64, epoch: usize, epochs: usize) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} batches {msg} ({elapsed}<{eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(format!("epoch {epoch}/{epochs}"));
    bar
}
