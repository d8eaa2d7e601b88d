//! The TINY family's growth check (`tiny`, `tiny-paper`, `gradmax`, `random`): which sites
//! may grow and by how much, where to grow (best first-order site, round-robin or all,
//! docs/tiny.md §2.10), the statistics and proposals, then each proposal's amplitude, verdict and
//! application ([`super::verdict`]). In automatic mode a check repeats steps while some site
//! keeps its step and ends growth after `patience` fruitless checks (a fruitless check widens
//! one-unit layers instead).
use std::cell::RefCell;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

use super::config::{
    AutoRetry, GrowthConfig, MoreRounds, Selection, StatisticsPrecision, StatisticsSample,
};
use super::context::{Context, GrowthState};
use super::moment::{InputMoments, MomentRequest};
use super::proposal::{self, Method, Proposal};
use super::site::Site;
use super::stem::Stems;
use super::verdict::{self, Bottlenecks, Timings};
use super::{statistics, GrowthMethod};
use crate::error::Result;
use crate::events::{Event, Growth, GrowthFinished, NoSite, Widened};
use crate::nn::Network;

/// The TINY family of growth methods, with its fixed statistics sample when it has one.
#[derive(Debug, Default)]
pub struct TinyFamily {
    fixed: Option<FixedSample>,
    /// The current check's stems of fixed data ([`Stems`]).
    stems: RefCell<Stems>,
}

/// The statistics sample's size: `stats_samples`, or more where `stats_samples_per_row = r`
/// asks for `r` rows of unfolded producer inputs per row of each growth site's `S₂`: a sample
/// gives `oh·ow` rows at a site whose producer has fan-in `f`, so `⌈r·f / (oh·ow)⌉` samples
/// (docs/tiny.md §2.2, "How many samples"). A dense input layer of 784 pixels asks for
/// thousands, a conv site of a CIFAR network for a handful.
fn statistics_size(cfg: &GrowthConfig, net: &Network) -> usize {
    if cfg.stats_samples_per_row <= 0.0 {
        return cfg.stats_samples;
    }
    let sites = net.stages.len().saturating_sub(1);
    let need = (0..sites)
        .map(|k| {
            let rows = net.stages[k].layer.spec().fan_in() as f64;
            let positions = net.activations_per_unit(k).max(1) as f64;
            cfg.stats_samples_per_row * rows / positions
        })
        .fold(0.0, f64::max);
    cfg.stats_samples.max(need.ceil() as usize)
}

/// The statistics sample every step uses under `statistics_sample = "fixed"` (growth step 1's,
/// a function of the seed) and the input moment computed on it ([`InputMoments`]).
#[derive(Debug)]
struct FixedSample {
    indices: Vec<i64>,
    index: Tensor,
    moments: InputMoments,
}

impl FixedSample {
    fn new(cfg: &GrowthConfig, ctx: &Context) -> FixedSample {
        let n = statistics_size(cfg, ctx.net);
        let indices = ctx.statistics_indices(n, &mut step_rng(ctx.seed, 1));
        let index = Tensor::from_slice(&indices).to_device(ctx.net.device());
        FixedSample {
            indices,
            index,
            moments: InputMoments::default(),
        }
    }
}

impl TinyFamily {
    /// Forgets the stems of the last check, except the fixed statistics sample's inputs
    /// ([`Stems::clear_except_inputs_of`]).
    fn renew_stems(&self) {
        let mut stems = self.stems.borrow_mut();
        match &self.fixed {
            Some(f) => stems.clear_except_inputs_of(&f.index),
            None => stems.clear(),
        }
    }
}

impl GrowthMethod for TinyFamily {
    /// With a fixed statistics sample, draws it and starts computing the input moment.
    fn prepare(&mut self, cfg: &GrowthConfig, ctx: &Context) {
        let covariance = cfg.method.tiny_options().is_some_and(|o| o.use_covariance);
        if cfg.statistics_sample != StatisticsSample::Fixed || !covariance {
            return;
        }
        let Ok(site) = Site::new(ctx.net, 0, cfg.conv_neuron) else {
            return;
        };
        let f = self.fixed.get_or_insert_with(|| FixedSample::new(cfg, ctx));
        let request = MomentRequest {
            data: ctx.train,
            index: &f.index,
            batch: cfg.stats_batch_size,
            threshold: cfg.numerical_threshold,
            precision: statistics_kind(cfg, ctx.net),
        };
        f.moments.prefetch(ctx.net, &site, &request);
    }

    /// One growth step, or in automatic mode as many as keep finding useful neurons (at most
    /// `auto_rounds`).
    fn check(
        &mut self,
        cfg: &GrowthConfig,
        state: &mut GrowthState,
        ctx: &mut Context,
    ) -> Result<()> {
        let rounds = if cfg.auto { cfg.auto_rounds.max(1) } else { 1 };
        let backoff = cfg.auto && cfg.auto_retry == AutoRetry::Backoff;
        if backoff {
            state.backoff.next_check();
        }
        let mut added_any = false;
        let mut judged_any = false;
        let mut only: Option<Vec<usize>> = None; // every site may take the first round
        self.renew_stems(); // the network has trained since the last check
        for _ in 0..rounds {
            let fixed = (&mut self.fixed, &self.stems);
            let (outcome, exhausted) =
                grow_step(cfg, state, ctx, fixed, (backoff, only.as_deref()))?;
            added_any |= outcome == Outcome::Added;
            judged_any |= outcome != Outcome::AllResting;
            if outcome != Outcome::Added || state.finished {
                break;
            }
            if cfg.more_rounds == MoreRounds::Exhausted {
                if exhausted.is_empty() {
                    break;
                }
                only = Some(exhausted);
            }
        }
        self.renew_stems();
        if !judged_any {
            return Ok(()); // every site rests: this check judged nothing
        }
        if added_any {
            state.idle_checks = 0;
            return Ok(());
        }
        state.idle_checks += 1;
        if !cfg.auto || state.finished {
            return Ok(());
        }
        // The layers that may still grow, with their widths.
        let widths = ctx.net.hidden_widths();
        let growable: Vec<(usize, i64)> = capacities(cfg, ctx.net)
            .iter()
            .map(|&(k, _)| (k, widths[k]))
            .collect();
        if self.widen_lone_layers(&growable, state, ctx)? {
            state.idle_checks = 0; // the widened network's checks start afresh
            return Ok(());
        }
        let growable_widths: Vec<i64> = growable.iter().map(|&(_, w)| w).collect();
        let outputs = output_width(ctx.net);
        if ends_for_good(state.idle_checks, cfg.patience, &growable_widths, outputs) {
            state.finished = true;
            ctx.emit(Event::GrowthFinished(GrowthFinished {
                epoch: ctx.clock.epoch,
                step: ctx.clock.step,
                reason: format!(
                    "{} growth checks in a row found no useful neuron",
                    state.idle_checks
                ),
            }))?;
        }
        Ok(())
    }
}

impl TinyFamily {
    /// After a check that added nothing, the automatic mode widens every layer that may still
    /// grow and is a single unit by one unit with random fan-in and zero fan-out: the function
    /// is unchanged, and the next check's closed form gets a second direction to work with
    /// (docs/tiny.md §10, "A layer of one unit"). `growable`: the layers that may still grow,
    /// with their widths. Returns whether it widened any.
    fn widen_lone_layers(
        &self,
        growable: &[(usize, i64)],
        state: &GrowthState,
        ctx: &mut Context,
    ) -> Result<bool> {
        let lone: Vec<usize> = growable
            .iter()
            .filter(|&&(_, w)| w == 1)
            .map(|&(k, _)| k)
            .collect();
        if lone.is_empty() {
            return Ok(false);
        }
        let mut rng = lone_rng(ctx.seed, state.steps_done);
        for &k in &lone {
            verdict::add_zero_fan_out(ctx, k, 1, &mut rng, Some(&self.stems))?;
        }
        ctx.emit(Event::Widened(Widened {
            epoch: ctx.clock.epoch,
            step: ctx.clock.step,
            sites: lone,
            hidden_widths: ctx.net.hidden_widths(),
            reason: "a check kept nothing while these layers were a single unit".into(),
        }))?;
        Ok(true)
    }
}

/// Whether the automatic mode's growth ends for good after a check that added nothing, given
/// the widths of the layers that may still grow and the network's output width: `patience`
/// such checks in a row, but never while one of those layers is a single unit or narrower than
/// the output (docs/tiny.md §10, "Rounds and patience"). Everything the layers above see passes
/// through that layer, and it cannot carry what the output needs: refusals then say that the
/// narrow network cannot judge its growth yet, not that its bottlenecks are exhausted.
fn ends_for_good(
    idle_checks: usize,
    patience: usize,
    growable_widths: &[i64],
    outputs: i64,
) -> bool {
    idle_checks >= patience && !growable_widths.iter().any(|&w| is_narrow(w, outputs))
}

/// Whether a layer of `width` units is narrower than the network's `outputs` (or a single
/// unit): the width below which refusals neither end growth ([`ends_for_good`]) nor rest a
/// site beyond its check ([`super::backoff`]).
fn is_narrow(width: i64, outputs: i64) -> bool {
    width < outputs.max(2)
}

/// Whether hidden layer `k` is narrow ([`is_narrow`]).
fn narrower_than_output(net: &Network, k: usize) -> bool {
    let outputs = output_width(net);
    net.hidden_widths()
        .get(k)
        .is_some_and(|&w| is_narrow(w, outputs))
}

/// The network's output width (classes, or regression targets).
fn output_width(net: &Network) -> i64 {
    net.stages.last().map_or(1, |s| s.layer.spec().outputs())
}

/// Sites that may still grow, with how many neurons each may take now: up to the target
/// width, a residual block's output width (GroMo's `target_hidden_channels`, docs/tiny.md §3.4),
/// `neurons_per_step` and the parameter budget.
pub fn capacities(cfg: &GrowthConfig, net: &Network) -> Vec<(usize, usize)> {
    (0..net.hidden_widths().len())
        .filter(|&k| Site::new(net, k, cfg.conv_neuron).is_ok())
        .filter_map(|k| {
            let cap = room(cfg, net, k).min(cfg.neurons_per_step.unwrap_or(usize::MAX));
            (cap > 0).then_some((k, cap))
        })
        .collect()
}

/// How many units site `k` may still take: up to its target width, a residual block's output
/// width, and the parameter budget (no per-step limit).
fn room(cfg: &GrowthConfig, net: &Network, k: usize) -> usize {
    let w = net.hidden_widths()[k];
    let mut cap = usize::MAX;
    if let Some(max) = &cfg.max_hidden {
        cap = max.get(k).map_or(0, |&m| (m - w).max(0) as usize);
    } else if !cfg.auto && Site::in_block(net, k) {
        let target = net.stages[k + 1].layer.spec().outputs();
        cap = (target - w).max(0) as usize;
    }
    if let Some(budget) = cfg.max_parameters {
        // One unit: its fan-in (and bias), its fan-out.
        let fan_in: i64 = net.stages[k].layer.weight().size()[1..].iter().product();
        let c = net.stages[k + 1].layer.weight().size();
        let fan_out = c[0] * c[2..].iter().product::<i64>();
        let per = fan_in + 1 + fan_out;
        let params = net.parameter_count();
        cap = cap.min(((budget - params).max(0) / per.max(1)) as usize);
    }
    cap
}

/// What a growth step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Some site kept its step.
    Added,
    /// Every site judged refused its step (or none could grow).
    Refused,
    /// Every site that may grow rests after refusals ([`super::backoff`]) or is left out of
    /// the round ([`MoreRounds`]): nothing judged.
    AllResting,
}

/// One growth step: statistics, proposals, line search, apply (or roll back), log. With
/// `backoff`, resting sites are left out and each judged site's verdict is recorded; with
/// `only`, the sites not listed are left out. Returns the outcome and the sites whose kept
/// step took every unit the closed form offered, fewer than the step's cap ([`MoreRounds`]).
fn grow_step(
    cfg: &GrowthConfig,
    state: &mut GrowthState,
    ctx: &mut Context,
    (fixed, stems): (&mut Option<FixedSample>, &RefCell<Stems>),
    (backoff, only): (bool, Option<&[usize]>),
) -> Result<(Outcome, Vec<usize>)> {
    let mut caps = capacities(cfg, ctx.net);
    if caps.is_empty() {
        state.finished = true;
        return Ok((Outcome::Refused, Vec::new()));
    }
    if let Some(only) = only {
        caps.retain(|(k, _)| only.contains(k));
    }
    if backoff {
        caps.retain(|&(k, _)| !state.backoff.resting(k));
    }
    if caps.is_empty() {
        return Ok((Outcome::AllResting, Vec::new()));
    }
    let mut rng = step_rng(ctx.seed, state.steps_done + 1);
    let (stats_idx, ls_data) = match cfg.statistics_sample {
        StatisticsSample::Fresh => {
            let n = statistics_size(cfg, ctx.net);
            ctx.samples(n, cfg.line_search_samples, &mut rng)
        }
        StatisticsSample::Fixed => {
            let f = fixed.get_or_insert_with(|| FixedSample::new(cfg, ctx));
            let ls = ctx.held_out_beside(&f.indices, cfg.line_search_samples, &mut rng);
            (f.index.shallow_clone(), ls)
        }
    };
    let mut moments = fixed.as_mut().map(|f| &mut f.moments);
    let step = state.steps_done + 1;
    let mut added_any = false;
    let mut exhausted = Vec::new();
    let mut bottlenecks = Bottlenecks::new();
    if cfg.selection == Selection::All {
        // Every site in turn, statistics recomputed after each.
        for &(k, cap) in &caps {
            // Re-read the capacity: a parameter budget shrinks as earlier sites grow.
            let cap = capacities(cfg, ctx.net)
                .iter()
                .find(|c| c.0 == k)
                .map_or(0, |c| c.1.min(cap));
            if cap == 0 {
                continue;
            }
            let mut tm = Timings::default();
            let p = propose(
                cfg,
                ctx,
                moments.as_deref_mut(),
                &[(k, cap)],
                (&stats_idx, stems),
                &mut rng,
                &mut tm,
                &mut bottlenecks,
            )?;
            if let Some(p) = p.into_iter().next() {
                let offered = p.neurons();
                let judged = verdict::Judged {
                    step,
                    tm,
                    bottlenecks: &bottlenecks,
                    companions: companions(cfg, ctx.net, (k, cap), &mut rng),
                };
                let added =
                    verdict::amplitude_and_apply(cfg, ctx, p, &ls_data, judged, Some(stems))?;
                let kept = added > 0;
                if backoff {
                    state
                        .backoff
                        .record(k, kept, narrower_than_output(ctx.net, k));
                }
                if ran_out(added, offered, cap) {
                    exhausted.push(k);
                }
                added_any |= kept;
            }
        }
    } else {
        // Best narrows the candidates after the proposals; round-robin takes one site.
        let sites = match cfg.selection {
            Selection::RoundRobin => vec![caps[state.steps_done % caps.len()]],
            _ => caps,
        };
        let mut tm = Timings::default();
        let proposals = propose(
            cfg,
            ctx,
            moments,
            &sites,
            (&stats_idx, stems),
            &mut rng,
            &mut tm,
            &mut bottlenecks,
        )?;
        match pick(cfg.method, proposals, &mut rng) {
            Some(p) => {
                let site = p.site;
                let cap = sites.iter().find(|c| c.0 == site).map_or(0, |c| c.1);
                let judged = verdict::Judged {
                    step,
                    tm,
                    bottlenecks: &bottlenecks,
                    companions: companions(cfg, ctx.net, (site, cap), &mut rng),
                };
                let offered = p.neurons();
                let added =
                    verdict::amplitude_and_apply(cfg, ctx, p, &ls_data, judged, Some(stems))?;
                let kept = added > 0;
                if backoff {
                    state
                        .backoff
                        .record(site, kept, narrower_than_output(ctx.net, site));
                }
                if ran_out(added, offered, cap) {
                    exhausted.push(site);
                }
                added_any = kept;
            }
            None => ctx.emit(Event::Growth(Growth::NoSite(NoSite {
                epoch: ctx.clock.epoch,
                step: ctx.clock.step,
                growth_step: step,
                accepted: false,
                reason: "no site has a non-zero bottleneck direction".into(),
                bottlenecks: bottlenecks.clone(),
            })))?,
        }
    }
    state.steps_done += 1;
    let outcome = if added_any {
        Outcome::Added
    } else {
        Outcome::Refused
    };
    Ok((outcome, exhausted))
}

/// Whether a step that kept `added` of the `offered` units under the cap `cap` leaves its site
/// exhausted ([`MoreRounds::Exhausted`]): it kept some, every unit offered, and the closed form
/// offered fewer than the cap.
fn ran_out(added: i64, offered: i64, cap: usize) -> bool {
    added > 0 && added == offered && usize::try_from(offered).is_ok_and(|o| o < cap)
}

/// The companions of a step at site `k` with cap `cap` (`growth.companions`,
/// `growth.rank_fill`), drawn from the step's generator.
fn companions<'a>(
    cfg: &GrowthConfig,
    net: &Network,
    (k, cap): (usize, usize),
    rng: &'a mut ChaCha8Rng,
) -> Option<verdict::Companions<'a>> {
    (cfg.companions > 0.0 || cfg.rank_fill).then(|| verdict::Companions {
        per_unit: cfg.companions,
        fill_to: cfg.rank_fill.then_some(cap),
        room: room(cfg, net, k),
        rng,
    })
}

/// The precision of the statistics' per-minibatch products (docs/tiny.md §2.2 "Precision").
fn statistics_kind(cfg: &GrowthConfig, net: &Network) -> tch::Kind {
    match cfg.statistics_precision {
        StatisticsPrecision::Double => tch::Kind::Double,
        StatisticsPrecision::Mixed => net.stages[0].layer.weight().kind(),
    }
}

/// The random generator of growth step `step` (1-based): its statistics and line-search
/// samples, random neurons and picks.
fn step_rng(seed: u64, step: usize) -> ChaCha8Rng {
    keyed_rng(seed, 0x6a09_e667, step)
}

/// The generator of the units [`TinyFamily::widen_lone_layers`] adds after `steps_done` growth
/// steps (a stream apart from the steps' own).
fn lone_rng(seed: u64, steps_done: usize) -> ChaCha8Rng {
    keyed_rng(seed, 0x3c6e_f372, steps_done)
}

/// The generator of the sample [`super::Grower::check`] recalibrates BatchNorms on (one
/// stream for the whole run).
pub(super) fn recalibration_rng(seed: u64) -> ChaCha8Rng {
    keyed_rng(seed, 0xbb67_ae85, 0)
}

/// Stream `stream` of the run's generator for one purpose (`key`).
fn keyed_rng(seed: u64, key: u64, stream: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ key);
    rng.set_stream(stream as u64);
    rng
}

/// The proposal to try among several sites': a random one for random growth, else the one
/// with the largest first-order improvement (docs/tiny.md §2.10).
fn pick(method: Method, proposals: Vec<Proposal>, rng: &mut ChaCha8Rng) -> Option<Proposal> {
    if method == Method::Random && proposals.len() > 1 {
        let i = rand::Rng::random_range(rng, 0..proposals.len());
        return proposals.into_iter().nth(i);
    }
    proposals
        .into_iter()
        .filter(|p| p.neurons() > 0)
        .max_by(|a, b| a.info.first_order().total_cmp(&b.info.first_order()))
}

/// Proposals for `sites` (with their neuron caps); the statistics pass is shared by all. With
/// a fixed statistics sample the input moment comes from `moments`.
#[allow(clippy::too_many_arguments)] // the step's parts, each borrowed differently
fn propose(
    cfg: &GrowthConfig,
    ctx: &Context,
    moments: Option<&mut InputMoments>,
    sites: &[(usize, usize)],
    (stats_idx, stems): (&Tensor, &RefCell<Stems>),
    rng: &mut ChaCha8Rng,
    tm: &mut Timings,
    bottlenecks: &mut Bottlenecks,
) -> Result<Vec<Proposal>> {
    let net = &*ctx.net;
    if !cfg.method.needs_statistics() {
        let per_step = cfg.neurons_per_step.unwrap_or(8);
        return sites
            .iter()
            .map(|&(k, cap)| {
                let n = cap.min(per_step) as i64;
                proposal::random(net, k, n, cfg.random_fan_out_std, rng)
            })
            .collect();
    }
    let t0 = Instant::now();
    let ks = sites
        .iter()
        .map(|s| Site::new(net, s.0, cfg.conv_neuron))
        .collect::<Result<Vec<_>>>()?;
    let batch = cfg.stats_batch_size;
    let covariance = cfg.method.tiny_options().is_some_and(|o| o.use_covariance);
    let precision = statistics_kind(cfg, net);
    let request = MomentRequest {
        data: ctx.train,
        index: stats_idx,
        batch,
        threshold: cfg.numerical_threshold,
        precision,
    };
    let known = match moments {
        Some(moments) if covariance => ks
            .iter()
            .map(|s| moments.get(net, s, &request))
            .collect::<Result<Vec<_>>>()?,
        _ => vec![None; ks.len()],
    };
    let plan = statistics::Plan {
        sites: &ks,
        keep_samples: 1024,
        known,
        precision,
        // A fixed sample is the same at every round of a check: its stems are kept.
        stems: (cfg.statistics_sample == StatisticsSample::Fixed).then_some(stems),
        defer_projection: true,
        kept_rows_bytes: super::projection::KEPT_ROWS_BYTES,
    };
    let data = (ctx.train, stats_idx, batch);
    let collected = statistics::collect_on(ctx.world, net, ctx.loss, data, &plan)?;
    tm.statistics += t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let numerics = cfg.numerics();
    let mut out = Vec::new();
    for (i, &(k, cap)) in sites.iter().enumerate() {
        let samples = collected.samples[i].as_ref();
        let stats = &collected.stats[i];
        let mut p = proposal::closed_form(net, &ks[i], stats, samples, cfg.method, cap, numerics)?;
        if cfg.fan_in_noise > 0.0 {
            p = p.with_fan_in_noise(cfg.fan_in_noise, rng);
        }
        let psi = p.info.bottleneck;
        bottlenecks.insert(k, Some(psi).filter(|v| v.is_finite()));
        out.push(p);
    }
    tm.decomposition += t1.elapsed().as_secs_f64();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{Activation, Architecture};

    #[test]
    fn the_statistics_sample_fills_the_widest_input_moment() {
        let net = |a: &Architecture| {
            let mut rng = ChaCha8Rng::seed_from_u64(0);
            Network::new(a, &mut rng, tch::Device::Cpu).unwrap()
        };
        let cfg = |n, r| GrowthConfig {
            stats_samples: n,
            stats_samples_per_row: r,
            ..GrowthConfig::default()
        };
        // A dense input layer: one row per sample, 785 rows (784 pixels and the bias).
        let mlp = net(&Architecture::mlp(784, &[3, 5], 10, Activation::Relu));
        assert_eq!(statistics_size(&cfg(512, 0.0), &mlp), 512);
        assert_eq!(statistics_size(&cfg(512, 4.0), &mlp), 3140);
        assert_eq!(statistics_size(&cfg(4096, 4.0), &mlp), 4096);
        // Convs: 8×8 positions per sample at the first stage (3·9 rows, no bias), 4×4 after
        // the pool (2·9 rows): ⌈4 · 27 / 64⌉ = 2 and ⌈4 · 18 / 16⌉ = 5 samples.
        let cnn = net(&Architecture::vgg(
            [3, 8, 8],
            &[2, 3],
            1,
            10,
            Activation::Relu,
            true,
        ));
        assert_eq!(statistics_size(&cfg(1, 4.0), &cnn), 5);
        assert_eq!(statistics_size(&cfg(64, 4.0), &cnn), 64);
    }

    #[test]
    fn patience_never_ends_growth_while_a_growable_layer_is_one_unit_or_narrower_than_the_output() {
        // `patience` fruitless checks in a row end growth, fewer do not (one output).
        assert!(ends_for_good(3, 3, &[2, 5], 1));
        assert!(ends_for_good(4, 3, &[256], 1));
        assert!(!ends_for_good(2, 3, &[2, 5], 1));
        // A layer that may still grow and is a single unit keeps growth going, however long.
        assert!(!ends_for_good(3, 3, &[7, 1], 1));
        assert!(!ends_for_good(1000, 3, &[1], 1));
        // So does one narrower than the output (ten classes), not one as wide.
        assert!(!ends_for_good(3, 3, &[6, 2], 10));
        assert!(!ends_for_good(3, 3, &[12, 9], 10));
        assert!(ends_for_good(3, 3, &[12, 10], 10));
        // No layer may grow: nothing holds growth (the caller ends it when no site has room).
        assert!(ends_for_good(3, 3, &[], 10));
    }
}
