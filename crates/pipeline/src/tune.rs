//! "Find the best impulse": a search over the impulse for one board, within
//! a time budget.
//!
//! A coordinate search: it trains the impulse it starts from, then every
//! impulse one step away from the best so far in one setting (input side,
//! colour, width multiplier, dense width, augmentation, fine-tuned blocks,
//! learning rate), cheapest first, and moves to a neighbour as soon as one
//! beats the best. When no neighbour of the best is left to try and time is
//! left, it searches around the next best trials too (those within a few
//! points of the best), keeping back the time to check the leaders: at the
//! end it trains its leading trials again on other validation splits and
//! chooses by the mean, so the best is not one split's luck. The budget
//! stops it wherever it is. Why this rather than a Bayesian optimiser: the
//! settings are few and ordered, neighbours share the feature cache (same
//! side and colour), and each step is easy to explain in the trial table.
//!
//! Each trial is the training pipeline ([`crate::train`]) scored on the
//! training set's validation split (the same rows for every trial: the
//! split depends on the seed and the set only), never on the test set. Its
//! int8 model is estimated on the board (`tinystudio_deploy::footprint`):
//! a trial that does not fit the board's RAM or flash, or is slower than
//! the latency budget, is listed but never chosen. A trial far below the
//! best after half its epochs is stopped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tinystudio_deploy::Board;
use tinystudio_deploy::footprint::estimate;
use tinystudio_domain::ImpulseConfig;
use tinystudio_domain::impulse::{ALPHAS, ColorDepth};
use tinystudio_domain::jobs::{Trial, TrialOutcome, TuneOutput};
use tinystudio_ml::backbones::{is_on_disk, source_alpha};

use crate::train::{Cancelled, TrainInput, Update, train};

/// Input sides the search tries (square).
const SIDES: [u32; 5] = [48, 64, 96, 128, 160];
const DENSE: [u32; 4] = [0, 16, 32, 64];
const FINE_TUNED_BLOCKS: [u32; 3] = [0, 2, 4];
/// Learning rates: the starting impulse's, halved and doubled.
const LEARNING_RATE_STEPS: [i32; 3] = [-1, 0, 1];
/// A trial this far below the best (validation accuracy, 0..1) after half
/// its epochs is stopped.
const HOPELESS_MARGIN: f64 = 0.15;
/// When the search converges with time left, this many leading trials are
/// trained again on up to [`OTHER_SPLITS`] other validation splits (other
/// seeds), one split after the other while time lasts: on a small set one
/// split's accuracy is partly luck (CIFAR-3's 90 validation images chose a
/// trial 2.7 points below the best hand-picked).
const LEADERS: usize = 3;
const OTHER_SPLITS: u64 = 4;
/// Widening keeps back the time to check the leaders on this many splits.
const RESERVED_SPLITS: u64 = 2;
/// When the best trial's neighbours are all tried and time is left, the
/// search widens around the next best trial not yet searched around, if it
/// is within this much of the best (validation accuracy, 0..1).
const WIDEN_MARGIN: f64 = 0.05;

/// The training set a search and its trials share: the encoded files
/// (each trial preprocesses them for its own input) and their labels.
pub struct TrainingData {
    pub originals: Vec<Vec<u8>>,
    pub names: Vec<String>,
    pub labels: Vec<usize>,
    pub hashes: Vec<String>,
    pub class_names: Vec<String>,
}

/// Where trials train, and what their models must fit.
#[derive(Clone)]
pub struct TrialEnv {
    pub work_dir: PathBuf,
    pub backbones_dir: PathBuf,
    pub board: &'static Board,
    /// Trials slower than this on the board (estimated) are not chosen.
    pub latency_budget_ms: Option<f64>,
}

/// Everything a search needs.
pub struct TuneInput {
    pub base: ImpulseConfig,
    pub data: Arc<TrainingData>,
    pub env: TrialEnv,
    pub budget: Duration,
    pub cancel: Arc<AtomicBool>,
}

/// One trial the search wants run.
#[derive(Debug, Clone)]
pub struct TrialRequest {
    pub impulse: ImpulseConfig,
    /// The search's best validation accuracy when the trial was asked for:
    /// a trial far below it after half its epochs is stopped.
    pub best_so_far: Option<f64>,
    /// The trial stops here, whatever epoch it is at.
    pub deadline: Instant,
}

/// Runs a search's trials: one after the other here ([`OneAtATime`]), or
/// shared by several workers (the worker's search job queues them as jobs).
pub trait TrialRunner: Sync {
    /// Runs `batch`, in its order where trials run one at a time, calling
    /// `done` with each request's position in `batch` and its trial as each
    /// ends. Once `done` returns true the rest are abandoned: neither run
    /// nor reported. Errs only when the trials could not be run at all.
    fn run(
        &self,
        batch: &[TrialRequest],
        done: &mut dyn FnMut(usize, Trial) -> bool,
    ) -> anyhow::Result<()>;
}

/// Runs trials one after the other on this thread.
pub struct OneAtATime<'a> {
    pub data: &'a TrainingData,
    pub env: &'a TrialEnv,
    pub cancel: &'a AtomicBool,
}

impl TrialRunner for OneAtATime<'_> {
    fn run(
        &self,
        batch: &[TrialRequest],
        done: &mut dyn FnMut(usize, Trial) -> bool,
    ) -> anyhow::Result<()> {
        for (i, request) in batch.iter().enumerate() {
            if self.cancel.load(Ordering::Relaxed) {
                break;
            }
            if done(i, run_trial(self.data, self.env, request, self.cancel)) {
                break;
            }
        }
        Ok(())
    }
}

/// One point of the search space.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    width: u32,
    height: u32,
    gray: bool,
    alpha: f32,
    dense: u32,
    augmentation: bool,
    fine_tuned: u32,
    learning_rate_step: i32,
}

impl Point {
    fn of(impulse: &ImpulseConfig) -> Self {
        let l = &impulse.learning;
        Point {
            width: impulse.input.width,
            height: impulse.input.height,
            gray: impulse.image.color_depth == ColorDepth::Grayscale,
            alpha: l.alpha,
            dense: l.dense_neurons,
            augmentation: l.augmentation,
            fine_tuned: l.fine_tune_blocks,
            learning_rate_step: 0,
        }
    }

    fn impulse(&self, base: &ImpulseConfig) -> ImpulseConfig {
        let mut impulse = base.clone();
        impulse.input.width = self.width;
        impulse.input.height = self.height;
        impulse.image.color_depth = if self.gray {
            ColorDepth::Grayscale
        } else {
            ColorDepth::Rgb
        };
        let l = &mut impulse.learning;
        l.alpha = self.alpha;
        l.dense_neurons = self.dense;
        l.augmentation = self.augmentation;
        l.fine_tune_blocks = self.fine_tuned;
        l.learning_rate =
            (base.learning.learning_rate * 2f32.powi(self.learning_rate_step)).clamp(1e-5, 1.0);
        impulse
    }

    /// Relative training time: pixels through the backbone, more with
    /// augmentation (its variants) and with fine-tuning (every epoch).
    fn cost(&self) -> f64 {
        let pixels = f64::from(self.width * self.height * self.channels());
        let passes = if self.augmentation { 5.0 } else { 1.0 };
        let tuning = 1.0 + 2.0 * f64::from(self.fine_tuned);
        pixels * f64::from(self.alpha) * passes * tuning
    }

    fn channels(&self) -> u32 {
        if self.gray { 1 } else { 3 }
    }

    /// Whether this point needs at least as much RAM, flash and time on the
    /// board as `other`: then it cannot fit where `other` did not.
    fn at_least_as_big_as(&self, other: &Point) -> bool {
        self.width >= other.width
            && self.height >= other.height
            && self.channels() >= other.channels()
            && self.alpha >= other.alpha
            && self.dense >= other.dense
    }

    /// Every point one step away in one setting.
    fn neighbours(&self, alphas: &[f32]) -> Vec<Point> {
        let mut out = Vec::new();
        let square = self.width == self.height;
        if square {
            for side in adjacent(&SIDES, self.width) {
                out.push(Point {
                    width: side,
                    height: side,
                    ..*self
                });
            }
        }
        out.push(Point {
            gray: !self.gray,
            ..*self
        });
        for alpha in adjacent(alphas, self.alpha) {
            out.push(Point { alpha, ..*self });
        }
        for dense in adjacent(&DENSE, self.dense) {
            out.push(Point { dense, ..*self });
        }
        out.push(Point {
            augmentation: !self.augmentation,
            ..*self
        });
        for fine_tuned in adjacent(&FINE_TUNED_BLOCKS, self.fine_tuned) {
            out.push(Point {
                fine_tuned,
                ..*self
            });
        }
        for learning_rate_step in adjacent(&LEARNING_RATE_STEPS, self.learning_rate_step) {
            out.push(Point {
                learning_rate_step,
                ..*self
            });
        }
        out
    }
}

/// The values next to `value` in an ordered list (its insertion point's
/// neighbours when it is not in the list).
fn adjacent<T: Copy + PartialOrd>(values: &[T], value: T) -> Vec<T> {
    let below = values.iter().rev().find(|&&v| v < value).copied();
    let above = values.iter().find(|&&v| v > value).copied();
    below.into_iter().chain(above).collect()
}

/// The trial's one-line description, for the job log.
fn describe(impulse: &ImpulseConfig) -> String {
    let l = &impulse.learning;
    format!(
        "{}x{} {}, MobileNetV1 {}, dense {}, {}augmentation, {} fine-tuned blocks, learning rate {}",
        impulse.input.width,
        impulse.input.height,
        match impulse.image.color_depth {
            ColorDepth::Rgb => "RGB",
            ColorDepth::Grayscale => "grayscale",
        },
        l.alpha,
        l.dense_neurons,
        if l.augmentation { "" } else { "no " },
        l.fine_tune_blocks,
        l.learning_rate
    )
}

/// Runs the search, its trials through `runner`. Fails only when it
/// cannot start (or was cancelled); a trial that fails is listed with its
/// error.
pub fn tune(
    input: &TuneInput,
    runner: &dyn TrialRunner,
    report: &(dyn Fn(Update) + Sync),
) -> anyhow::Result<TuneOutput> {
    let started = Instant::now();
    let deadline = started + input.budget;
    let cancelled = || input.cancel.load(Ordering::Relaxed);
    let log = |line: String| report(Update::Log(line));
    // Widths trained on ImageNet as they are, and on disk. A width derived
    // by pruning a wider network is not trained at its width: in the
    // search it fell to chance on nine classes and 15 points behind on
    // three, a trial wasted each time.
    let published = |a: f32| source_alpha(a).is_ok_and(|s| (s - a).abs() < 1e-4);
    let alphas: Vec<f32> = ALPHAS
        .iter()
        .copied()
        .filter(|&a| {
            (published(a) && is_on_disk(a, &input.env.backbones_dir))
                || a == input.base.learning.alpha
        })
        .collect();
    log(format!(
        "searching the impulse for {} within {} s; MobileNetV1 widths trained on ImageNet here: {}",
        input.env.board.name,
        input.budget.as_secs(),
        alphas
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));

    let mut tried: Vec<(Point, Trial)> = Vec::new();
    let mut best: Option<f64> = None;
    let start = Point::of(&input.base);
    let mut queue = vec![start];
    let mut last_cost: Option<(f64, Duration)> = None;
    // The points whose neighbours were queued.
    let mut centres: Vec<Point> = Vec::new();
    let mut widening = false;
    // Trials stop here: the deadline, or while widening, the deadline less
    // the time to check the leaders.
    let mut explore_until = deadline;
    loop {
        if widening {
            explore_until = keep_time_to_check(deadline, tried.iter().map(|(_, t)| t));
        }
        // This step's batch: the queued points still worth training.
        let mut batch: Vec<Point> = Vec::new();
        for point in std::mem::take(&mut queue) {
            let impulse = point.impulse(&input.base);
            if impulse.validate().is_err()
                || tried.iter().any(|(p, _)| *p == point)
                || batch.contains(&point)
            {
                continue;
            }
            // Expected time from the last trial, scaled by cost.
            if let Some((cost, took)) = last_cost {
                let expected = took.mul_f64(point.cost() / cost);
                if Instant::now() + expected > explore_until {
                    log(format!(
                        "not trying {}: about {} s, more than the budget has left",
                        describe(&impulse),
                        expected.as_secs()
                    ));
                    continue;
                }
            }
            if let Some((smaller, _)) = tried.iter().find(|(p, t)| {
                matches!(t.outcome, TrialOutcome::OutOfBudget(_)) && point.at_least_as_big_as(p)
            }) {
                let reason = format!(
                    "{}x{} already did not fit with the same or smaller settings",
                    smaller.width, smaller.height
                );
                tried.push((
                    point,
                    Trial::unscored(impulse, TrialOutcome::Skipped(reason)),
                ));
                continue;
            }
            batch.push(point);
        }
        if batch.is_empty() {
            // Every neighbour of the best is tried. With time left beyond
            // what checking the leaders takes, search around the next best.
            if !widening {
                log(
                    "no neighbour of the best impulse is left to try: the search has converged"
                        .into(),
                );
                widening = true;
            }
            let next = best.and_then(|b| {
                tried
                    .iter()
                    .filter(|(p, t)| {
                        t.outcome == TrialOutcome::Scored
                            && !centres.contains(p)
                            && t.int8_accuracy.is_some_and(|a| a >= b - WIDEN_MARGIN)
                    })
                    .max_by(|(_, a), (_, b)| cmp_accuracy(a.int8_accuracy, b.int8_accuracy))
                    .map(|(p, _)| *p)
            });
            explore_until = keep_time_to_check(deadline, tried.iter().map(|(_, t)| t));
            match next {
                Some(centre) if Instant::now() < explore_until => {
                    log(format!(
                        "time is left: searching around {} too",
                        describe(&centre.impulse(&input.base))
                    ));
                    centres.push(centre);
                    queue = centre.neighbours(&alphas);
                    queue.sort_by(|a, b| a.cost().total_cmp(&b.cost()));
                    continue;
                }
                _ => break,
            }
        }
        let requests: Vec<TrialRequest> = batch
            .iter()
            .map(|p| TrialRequest {
                impulse: p.impulse(&input.base),
                best_so_far: best,
                deadline: explore_until,
            })
            .collect();
        let mut moved = false;
        runner.run(&requests, &mut |i, trial| {
            let point = batch[i];
            last_cost = Some((point.cost(), Duration::from_millis(trial.ms)));
            log(format!(
                "trial {}: {}: {}{}{}",
                tried.len() + 1,
                describe(&trial.impulse),
                summary(&trial),
                trial
                    .outcome
                    .reason()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default(),
                trial
                    .worker
                    .as_deref()
                    .map(|w| format!(" [{w}]"))
                    .unwrap_or_default()
            ));
            let score = (trial.outcome == TrialOutcome::Scored)
                .then_some(trial.int8_accuracy)
                .flatten();
            tried.push((point, trial));
            report(Update::Progress(
                (started.elapsed().as_secs_f64() / input.budget.as_secs_f64()).min(1.0),
            ));
            if let Some(score) = score
                && best.is_none_or(|b| score > b)
            {
                // Move: search around the new best, cheapest first.
                best = Some(score);
                centres.push(point);
                queue = point.neighbours(&alphas);
                queue.sort_by(|a, b| a.cost().total_cmp(&b.cost()));
                moved = true;
            }
            moved || Instant::now() >= explore_until || cancelled()
        })?;
        if cancelled() {
            return Err(Cancelled.into());
        }
        if Instant::now() >= explore_until {
            if widening {
                log("keeping the time left to check the leading trials".into());
            } else {
                log("the time budget is spent".into());
            }
            break;
        }
        if !moved && best.is_none() {
            // Nothing scored yet (the starting impulse did not): search
            // around the start anyway.
            queue = start.neighbours(&alphas);
            queue.sort_by(|a, b| a.cost().total_cmp(&b.cost()));
        }
    }
    let mut trials: Vec<Trial> = tried.into_iter().map(|(_, t)| t).collect();
    if Instant::now() < deadline {
        check_leaders(runner, &mut trials, deadline, &cancelled, &log)?;
    }
    if cancelled() {
        return Err(Cancelled.into());
    }
    mark_pareto(&mut trials);
    let best = best_trial(&trials);
    if let Some(b) = best {
        log(format!(
            "best: trial {}: {}: {}",
            b + 1,
            describe(&trials[b].impulse),
            summary(&trials[b])
        ));
    } else {
        log("no trial fits the board and its latency budget".into());
    }
    Ok(TuneOutput {
        board: input.env.board.name.to_owned(),
        best,
        baseline: (!trials.is_empty()).then_some(0),
        trials,
        elapsed_ms: started.elapsed().as_millis() as u64,
        budget_seconds: input.budget.as_secs() as u32,
    })
}

/// The leading trials (by int8 validation accuracy, best first).
fn leaders(trials: &[&Trial]) -> Vec<usize> {
    let mut leaders: Vec<usize> = (0..trials.len())
        .filter(|&i| trials[i].outcome == TrialOutcome::Scored && trials[i].int8_accuracy.is_some())
        .collect();
    leaders.sort_by(|&a, &b| cmp_accuracy(trials[b].int8_accuracy, trials[a].int8_accuracy));
    leaders.truncate(LEADERS);
    leaders
}

/// The deadline less the time checking today's leaders on
/// [`RESERVED_SPLITS`] other splits would take, one trial at a time.
fn keep_time_to_check<'a>(deadline: Instant, trials: impl Iterator<Item = &'a Trial>) -> Instant {
    let trials: Vec<&Trial> = trials.collect();
    let ms: u64 = leaders(&trials).iter().map(|&i| trials[i].ms).sum();
    let checks = Duration::from_millis(ms * RESERVED_SPLITS);
    deadline.checked_sub(checks).unwrap_or_else(Instant::now)
}

/// Trains the leading trials again on other validation splits, while the
/// budget lasts, recording each one's int8 validation accuracy.
fn check_leaders(
    runner: &dyn TrialRunner,
    trials: &mut [Trial],
    deadline: Instant,
    cancelled: &dyn Fn() -> bool,
    log: &dyn Fn(String),
) -> anyhow::Result<()> {
    let leaders = leaders(&trials.iter().collect::<Vec<_>>());
    if leaders.len() < 2 {
        return Ok(());
    }
    log(format!(
        "checking the {} leading trials on {OTHER_SPLITS} other validation splits",
        leaders.len()
    ));
    let mut checked = Vec::new();
    let mut requests = Vec::new();
    for split in 1..=OTHER_SPLITS {
        for &i in &leaders {
            let mut impulse = trials[i].impulse.clone();
            impulse.learning.seed = impulse.learning.seed.wrapping_add(split);
            checked.push((i, split));
            requests.push(TrialRequest {
                impulse,
                best_so_far: None,
                deadline,
            });
        }
    }
    runner.run(&requests, &mut |r, check| {
        let (i, split) = checked[r];
        if check.outcome == TrialOutcome::Scored
            && let Some(accuracy) = check.int8_accuracy
        {
            trials[i].checks.push(accuracy);
            log(format!(
                "trial {} on split {}: int8 {:.1}%",
                i + 1,
                split + 1,
                accuracy * 100.0
            ));
        }
        Instant::now() >= deadline || cancelled()
    })
}

fn summary(trial: &Trial) -> String {
    let pct = |a: Option<f64>| {
        a.map(|a| format!("{:.1}%", a * 100.0))
            .unwrap_or_else(|| "n/a".into())
    };
    let mut out = format!(
        "{}: int8 {} (float {})",
        trial.outcome.label(),
        pct(trial.int8_accuracy),
        pct(trial.float_accuracy)
    );
    if let Some(f) = &trial.footprint {
        out.push_str(&format!(
            ", RAM {:.1} KB, flash {:.1} KB",
            f.ram_bytes as f64 / 1024.0,
            f.flash_bytes as f64 / 1024.0
        ));
        if let Some(l) = &f.latency {
            out.push_str(&format!(", {:.0} ms", l.ms));
        }
    }
    out
}

/// Trains and scores one impulse on `data`; `cancel` stops it. Keeps no
/// model: the search only needs the scores and the footprint.
pub fn run_trial(
    data: &TrainingData,
    env: &TrialEnv,
    request: &TrialRequest,
    cancel: &AtomicBool,
) -> Trial {
    let started = Instant::now();
    let model_dir = env
        .work_dir
        .join("tune")
        .join(uuid::Uuid::new_v4().to_string());
    let trial = train_and_score(data, env, request, cancel, &model_dir);
    let _ = std::fs::remove_dir_all(&model_dir);
    Trial {
        ms: started.elapsed().as_millis() as u64,
        ..trial
    }
}

fn train_and_score(
    data: &TrainingData,
    env: &TrialEnv,
    request: &TrialRequest,
    cancel: &AtomicBool,
    model_dir: &Path,
) -> Trial {
    let impulse = &request.impulse;
    let (best, deadline) = (request.best_so_far, request.deadline);
    let failed = |reason: String| Trial::unscored(impulse.clone(), TrialOutcome::Failed(reason));
    let pixels = match crate::preprocess_all(&data.originals, &data.names, impulse) {
        Ok(p) => p,
        Err(e) => return failed(format!("{e:#}")),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let why_stopped: Mutex<Option<String>> = Mutex::new(None);
    let epochs = impulse.learning.epochs;
    let stop_with = |reason: String| {
        if let Ok(mut why) = why_stopped.lock() {
            why.get_or_insert(reason);
        }
        stop.store(true, Ordering::Relaxed);
    };
    let result = train(
        TrainInput {
            impulse: impulse.clone(),
            pixels,
            labels: data.labels.clone(),
            hashes: data.hashes.clone(),
            class_names: data.class_names.clone(),
            model_dir: model_dir.to_owned(),
            work_dir: env.work_dir.clone(),
            backbones_dir: env.backbones_dir.clone(),
            cancel: stop.clone(),
        },
        &|update| {
            let Update::Epoch(epoch) = update else {
                return;
            };
            if cancel.load(Ordering::Relaxed) {
                stop_with("the search was cancelled".into());
            } else if Instant::now() >= deadline {
                stop_with(format!(
                    "the time budget ran out at epoch {} of {epochs}",
                    epoch.epoch
                ));
            } else if let (Some(best), Some(acc)) = (best, epoch.val_accuracy)
                && epoch.epoch >= (epochs / 2).max(3)
                && f64::from(acc) < best - HOPELESS_MARGIN
            {
                stop_with(format!(
                    "validation accuracy {:.1}% at epoch {} of {epochs}, more than {:.0} points below the best trial",
                    acc * 100.0,
                    epoch.epoch,
                    HOPELESS_MARGIN * 100.0
                ));
            }
        },
    );
    let trained = match result {
        Ok(t) => t,
        Err(e) if e.is::<Cancelled>() => {
            let why = why_stopped
                .lock()
                .ok()
                .and_then(|w| w.clone())
                .unwrap_or_else(|| "stopped".into());
            return Trial::unscored(impulse.clone(), TrialOutcome::Stopped(why));
        }
        Err(e) => return failed(format!("{e:#}")),
    };
    let footprint = match estimate(env.board, &trained.blob) {
        Ok(f) => f,
        Err(e) => return failed(format!("estimating the model on the board: {e}")),
    };
    let mut problems = Vec::new();
    if footprint.ram_bytes > footprint.ram_limit {
        problems.push(format!(
            "needs {:.1} KB of RAM of {:.1} KB",
            footprint.ram_bytes as f64 / 1024.0,
            footprint.ram_limit as f64 / 1024.0
        ));
    }
    if footprint.flash_bytes > footprint.flash_limit {
        problems.push(format!(
            "needs {:.1} KB of flash of {:.1} KB",
            footprint.flash_bytes as f64 / 1024.0,
            footprint.flash_limit as f64 / 1024.0
        ));
    }
    if let (Some(budget), Some(latency)) = (env.latency_budget_ms, &footprint.latency)
        && latency.ms > budget
    {
        problems.push(format!(
            "{:.0} ms per inference, over the {budget:.0} ms budget",
            latency.ms
        ));
    }
    Trial {
        impulse: impulse.clone(),
        outcome: if problems.is_empty() {
            TrialOutcome::Scored
        } else {
            TrialOutcome::OutOfBudget(problems.join("; "))
        },
        float_accuracy: trained.metrics.validation_accuracy.map(f64::from),
        int8_accuracy: trained.metrics.int8_validation_accuracy,
        checks: Vec::new(),
        footprint: Some(footprint),
        ms: 0,
        worker: None,
        pareto: false,
    }
}

fn latency_ms(trial: &Trial) -> f64 {
    trial
        .footprint
        .as_ref()
        .and_then(|f| f.latency.as_ref())
        .map_or(f64::INFINITY, |l| l.ms)
}

/// Marks the scored trials no other scored trial beats on both int8
/// accuracy (the mean over the splits it was scored on) and latency.
fn mark_pareto(trials: &mut [Trial]) {
    let points: Vec<Option<(f64, f64)>> = trials
        .iter()
        .map(|t| {
            (t.outcome == TrialOutcome::Scored)
                .then(|| t.mean_accuracy().map(|a| (a, latency_ms(t))))
                .flatten()
        })
        .collect();
    for (i, trial) in trials.iter_mut().enumerate() {
        let Some((acc, ms)) = points[i] else {
            continue;
        };
        trial.pareto = !points.iter().enumerate().any(|(j, other)| {
            j != i && other.is_some_and(|(a, l)| a >= acc && l <= ms && (a > acc || l < ms))
        });
    }
}

/// The most accurate trial that fits (by its mean over the splits it was
/// scored on); the faster one on a tie.
fn best_trial(trials: &[Trial]) -> Option<usize> {
    trials
        .iter()
        .enumerate()
        .filter(|(_, t)| t.outcome == TrialOutcome::Scored && t.int8_accuracy.is_some())
        .max_by(|(_, a), (_, b)| {
            cmp_accuracy(a.mean_accuracy(), b.mean_accuracy())
                .then(latency_ms(b).total_cmp(&latency_ms(a)))
        })
        .map(|(i, _)| i)
}

/// Orders optional accuracies, `None` lowest.
fn cmp_accuracy(a: Option<f64>, b: Option<f64>) -> std::cmp::Ordering {
    a.unwrap_or(f64::NEG_INFINITY)
        .total_cmp(&b.unwrap_or(f64::NEG_INFINITY))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point() -> Point {
        Point::of(&ImpulseConfig::default())
    }

    #[test]
    fn neighbours_change_one_setting_by_one_step() {
        let p = point();
        let n = p.neighbours(&[0.1, 0.2, 0.25]);
        assert!(n.contains(&Point {
            width: 64,
            height: 64,
            ..p
        }));
        assert!(n.contains(&Point {
            width: 128,
            height: 128,
            ..p
        }));
        assert!(n.contains(&Point { alpha: 0.2, ..p }));
        assert!(!n.iter().any(|q| q.alpha == 0.1), "one step at a time");
        assert!(n.contains(&Point { dense: 0, ..p }));
        assert!(n.contains(&Point { dense: 32, ..p }));
        assert!(n.contains(&Point { gray: true, ..p }));
        assert!(n.contains(&Point { fine_tuned: 2, ..p }));
        assert!(n.contains(&Point {
            learning_rate_step: -1,
            ..p
        }));
        assert!(!n.contains(&p));
        for q in &n {
            assert!(q.impulse(&ImpulseConfig::default()).validate().is_ok());
        }
    }

    #[test]
    fn a_bigger_point_is_known_not_to_fit_where_a_smaller_did_not() {
        let p = point();
        let bigger = Point {
            width: 128,
            height: 128,
            dense: 32,
            ..p
        };
        assert!(bigger.at_least_as_big_as(&p));
        assert!(!p.at_least_as_big_as(&bigger));
        let gray = Point { gray: true, ..p };
        assert!(p.at_least_as_big_as(&gray), "RGB needs more than gray");
        assert!(!gray.at_least_as_big_as(&p));
    }

    fn scored(acc: f64, ms: f64) -> Trial {
        let mut footprint = tinystudio_domain::footprint::Footprint {
            board: "nano33ble".into(),
            basis: tinystudio_domain::footprint::Basis::Estimated,
            flash_bytes: 1,
            flash_limit: 2,
            model_bytes: 1,
            ram_bytes: 1,
            ram_limit: 2,
            arena_bytes: 1,
            stack_reserve: 0,
            stack_used: None,
            latency: None,
        };
        footprint.latency = Some(tinystudio_domain::footprint::Latency {
            ms,
            instructions: 0,
            cycles: 0,
            basis: tinystudio_domain::footprint::Basis::Estimated,
            how: String::new(),
        });
        Trial {
            impulse: ImpulseConfig::default(),
            outcome: TrialOutcome::Scored,
            float_accuracy: Some(acc),
            int8_accuracy: Some(acc),
            checks: Vec::new(),
            footprint: Some(footprint),
            ms: 0,
            worker: None,
            pareto: false,
        }
    }

    #[test]
    fn the_pareto_front_and_the_best_trial() {
        let mut trials = vec![
            scored(0.80, 100.0),
            scored(0.85, 300.0),
            scored(0.75, 200.0), // slower and worse than the first
            scored(0.85, 250.0), // as accurate as the second, faster
            Trial {
                outcome: TrialOutcome::OutOfBudget("too big".into()),
                ..scored(0.99, 10.0)
            },
        ];
        mark_pareto(&mut trials);
        let front: Vec<bool> = trials.iter().map(|t| t.pareto).collect();
        assert_eq!(front, [true, false, false, true, false]);
        assert_eq!(best_trial(&trials), Some(3), "most accurate, then fastest");

        // Checked on other splits, the second is the better on average.
        trials[1].checks = vec![0.84, 0.86];
        trials[3].checks = vec![0.70, 0.74];
        assert_eq!(best_trial(&trials), Some(1), "by the mean over splits");
        assert!((trials[1].mean_accuracy().unwrap() - 0.85).abs() < 1e-9);
    }
}
