//! A job's own page: status, progress, live log, and what the job made,
//! each kind in its own words: a training's epoch curves and validation
//! confusion matrix, a test's scores, a build's downloads and footprint, a
//! run's board output. While the job runs, the page follows its event
//! stream (`static/app.js`), or without JavaScript reloads itself.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{Html, Redirect};
use tinystudio_domain::artifacts::{MODEL_BLOB, MODEL_TFLITE};
use tinystudio_domain::jobs::{
    Deploy, Import, Library, Run, Test, Train, Tune, TuneOutput, TuneTrial,
};
use tinystudio_domain::{JobKind, JobStatus, Report};
use tinystudio_storage::jobs::{self, Job, JobEvent};

use super::view::{Confusion, FootprintView, kb, percent};
use super::{Nav, PageError, human_time, render};
use crate::actions::jobs::load;
use crate::auth::{PageProject, Person};
use crate::{AppError, AppState};

#[derive(Template)]
#[template(path = "jobs/show.html")]
struct JobPage {
    nav: Nav,
    job: Job,
    log: Vec<String>,
    epochs: Vec<EpochRow>,
    confusion: Option<Confusion>,
    summary: Vec<(String, String)>,
    /// A build's files: (name, size).
    /// (file name, size, URL)
    downloads: Vec<(String, String, String)>,
    footprint: Option<FootprintView>,
    /// A run's serial output.
    board_lines: String,
    /// Where to go next: (link, text).
    next: Option<(String, String)>,
    /// A search's trials.
    trials: Option<TrialsView>,
    /// An imported model's operators: index, name, MACs, instructions on
    /// the emulated Cortex-M4, instructions per MAC, kernel.
    operators: Vec<[String; 6]>,
}

pub struct EpochRow {
    pub epoch: u32,
    pub loss: String,
    pub accuracy: String,
    pub val_loss: String,
    pub val_accuracy: String,
}

impl JobPage {
    fn title(&self) -> &'static str {
        match self.job.kind {
            JobKind::Train => "Training",
            JobKind::Test => "Test",
            JobKind::Deploy => "Firmware build",
            JobKind::Run => "Run on the emulated board",
            JobKind::Tune => "Find the best impulse",
            JobKind::Trial => "Trial of an impulse search",
            JobKind::Explore => "Map of the samples",
            JobKind::Import => "Import of a model",
            JobKind::Library => "Library build",
        }
    }

    fn created(&self) -> String {
        human_time(self.job.created_at)
    }

    /// A job that succeeded is done, whatever its last progress report said.
    fn progress_percent(&self) -> i64 {
        if self.job.status == JobStatus::Succeeded {
            return 100;
        }
        (self.job.progress * 100.0).round() as i64
    }

    /// Cancelling is what someone asked for, not a failure.
    fn cancelled(&self) -> bool {
        self.job.status == JobStatus::Cancelled
    }

    /// The status in words, capitalised.
    fn status_words(&self) -> String {
        capitalised(&self.job.status.to_string())
    }

    fn running(&self) -> bool {
        !self.job.status.is_finished()
    }

    fn is_training(&self) -> bool {
        self.job.kind == JobKind::Train
    }
}

/// A name as a heading: "decoding" → "Decoding".
fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn describe(events: &[JobEvent]) -> (Vec<String>, Vec<EpochRow>) {
    let mut log = Vec::new();
    let mut epochs = Vec::new();
    for e in events {
        match &e.report {
            Report::Log(line) => log.push(format!(
                "{}  {line}",
                human_time(e.at).get(11..16).unwrap_or("")
            )),
            Report::Epoch(m) => epochs.push(EpochRow {
                epoch: m.epoch,
                loss: format!("{:.4}", m.loss),
                accuracy: percent(m.accuracy.into()),
                val_loss: m.val_loss.map(|v| format!("{v:.4}")).unwrap_or_default(),
                val_accuracy: m
                    .val_accuracy
                    .map(|v| percent(v.into()))
                    .unwrap_or_default(),
            }),
        }
    }
    (log, epochs)
}

/// What a finished job made, in words and links.
#[derive(Default)]
struct Outcome {
    summary: Vec<(String, String)>,
    confusion: Option<Confusion>,
    /// (file name, size, URL)
    downloads: Vec<(String, String, String)>,
    footprint: Option<FootprintView>,
    board_lines: String,
    next: Option<(String, String)>,
    trials: Option<TrialsView>,
    operators: Vec<[String; 6]>,
}

fn outcome(job: &Job, project: &str) -> Result<Outcome, AppError> {
    let mut out = Outcome::default();
    let mut add = |name: &str, value: String| out.summary.push((name.to_owned(), value));
    match job.kind {
        JobKind::Train => {
            let Some(r) = job.output::<Train>()? else {
                return Ok(out);
            };
            let m = &r.metrics;
            add("Model", format!("v{}", r.model_version));
            if let Some(a) = m.validation_accuracy {
                add("Validation accuracy (float)", percent(a.into()));
            }
            if let Some(a) = m.int8_validation_accuracy {
                add("Validation accuracy (int8, as on the board)", percent(a));
            }
            let stages: Vec<String> = m
                .timing_ms
                .stages()
                .iter()
                .map(|(stage, ms)| format!("{} {ms} ms", capitalised(stage)))
                .collect();
            add("Time", stages.join(", "));
            if let Some(w) = &m.warning {
                add("Warning", w.clone());
            }
            out.confusion = Confusion::new(&m.labels, &m.confusion_matrix);
            // The model itself, for other tools and one's own firmware.
            out.downloads = [
                (MODEL_TFLITE, "int8 TensorFlow Lite"),
                (MODEL_BLOB, "the TinyStudio engine's blob"),
            ]
            .into_iter()
            .map(|(name, what)| {
                let url = format!("/api/projects/{project}/models/{}/files/{name}", r.model_id);
                (name.to_owned(), what.to_owned(), url)
            })
            .collect();
            out.next = Some((
                format!("/projects/{project}/test?model={}", r.model_id),
                "Test this model".into(),
            ));
        }
        JobKind::Test => {
            let Some(r) = job.output::<Test>()? else {
                return Ok(out);
            };
            add("Model", format!("v{} ({})", r.model_version, r.precision));
            add(
                "Accuracy",
                format!(
                    "{} of {} test samples",
                    percent(r.accuracy),
                    r.samples.len()
                ),
            );
            add(
                "Uncertain",
                format!(
                    "{} samples whose top score is below {:.2}",
                    r.uncertain, r.threshold
                ),
            );
            add("Time", format!("Inference {} ms", r.timing_ms.inference));
            out.confusion = Confusion::of_test(&r.labels, &r.samples, r.threshold);
            out.next = Some((
                format!("/projects/{project}/test?model={}", r.model_id),
                "Back to the Test page".into(),
            ));
        }
        JobKind::Deploy => {
            let Some(r) = job.output::<Deploy>()? else {
                return Ok(out);
            };
            add("Board", r.board_title.clone());
            add("Model", format!("v{}", r.model_version));
            add(
                "Built",
                format!("in {:.1} s with {}", r.build_seconds, r.toolchain),
            );
            add("Flash it", r.flashing.clone());
            if let Some(board) = tinystudio_deploy::board(&r.board) {
                out.footprint = Some(FootprintView::new(&tinystudio_deploy::footprint::measured(
                    board,
                    &r.size,
                    r.measured.as_ref(),
                )));
            }
            out.downloads = r
                .artifacts
                .iter()
                .map(|a| {
                    let url = format!(
                        "/api/projects/{project}/deployments/{}/artifacts/{}",
                        job.id, a.name
                    );
                    (a.name.clone(), kb(a.bytes), url)
                })
                .collect();
            out.next = Some((
                format!("/projects/{project}/deploy?model={}", r.model_id),
                "Back to the Deploy page".into(),
            ));
        }
        JobKind::Library => {
            let Some(r) = job.output::<Library>()? else {
                return Ok(out);
            };
            add("Library", r.title.clone());
            add("Model", format!("v{}", r.model_version));
            if let Some(toolchain) = &r.toolchain {
                add(
                    "Built",
                    format!(
                        "static libraries in {:.1} s with {toolchain}",
                        r.build_seconds
                    ),
                );
            }
            add("Contents", format!("{}/: {}", r.folder, r.files.join(", ")));
            out.downloads = vec![(
                r.file.name.clone(),
                kb(r.file.bytes),
                format!("/api/projects/{project}/libraries/{}/download", job.id),
            )];
            out.next = Some((
                format!("/projects/{project}/deploy?model={}", r.model_id),
                "Back to the Deploy page".into(),
            ));
        }
        JobKind::Tune => {
            let Some(r) = job.output::<Tune>()? else {
                return Ok(out);
            };
            add("Board", r.board.clone());
            add(
                "Trials",
                format!(
                    "{} in {:.0} s of a {} s budget, scored on the training set's validation split",
                    r.trials.len(),
                    r.elapsed_ms as f64 / 1000.0,
                    r.budget_seconds
                ),
            );
            if let Some(b) = r.best {
                add("Best", trial_summary(&r, b));
            }
            if let Some(b) = r.baseline {
                add("Started from", trial_summary(&r, b));
            }
            out.trials = Some(TrialsView::new(&r));
        }
        JobKind::Explore => {
            out.next = Some((
                format!("/projects/{project}/explore"),
                "Open the data explorer".into(),
            ));
        }
        JobKind::Import => {
            let Some(r) = job.output::<Import>()? else {
                return Ok(out);
            };
            let p = &r.profile;
            add("Model", format!("v{}", r.model_version));
            add("MACs", p.macs.to_string());
            add(
                "On the Cortex-M4's fast kernels",
                format!(
                    "{:.1} % of the MACs (the rest run the portable kernels)",
                    100.0 * p.fast_path_macs as f64 / p.macs.max(1) as f64
                ),
            );
            add("Parameters", p.parameters.to_string());
            add("Tensor arena", kb(p.arena_bytes));
            add("Model blob", kb(p.blob_bytes));
            match (p.instructions, &p.profile_note) {
                (Some(i), _) => add(
                    "One inference on the emulated Cortex-M4",
                    format!(
                        "{i} instructions ({:.2} per MAC)",
                        i as f64 / p.macs.max(1) as f64
                    ),
                ),
                (None, Some(note)) => add("On the emulated Cortex-M4", note.clone()),
                (None, None) => {}
            }
            out.operators = p
                .operators
                .iter()
                .map(|o| {
                    [
                        o.index.to_string(),
                        o.name.clone(),
                        o.macs.to_string(),
                        o.instructions.map(|i| i.to_string()).unwrap_or_default(),
                        match o.instructions {
                            Some(i) if o.macs > 0 => format!("{:.2}", i as f64 / o.macs as f64),
                            _ => String::new(),
                        },
                        o.kernel.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            out.next = Some((
                format!("/projects/{project}/test?model={}", r.model_id),
                "Test this model".into(),
            ));
        }
        JobKind::Trial => {
            let search = job.payload::<TuneTrial>()?.search;
            out.next = Some((
                format!("/projects/{project}/jobs/{search}"),
                "The search this trial belongs to".into(),
            ));
            let Some(t) = job.output::<TuneTrial>()? else {
                return Ok(out);
            };
            add("Impulse", settings(&t.impulse));
            add(
                "Outcome",
                match t.outcome.reason() {
                    Some(reason) => format!("{} ({reason})", t.outcome.label()),
                    None => t.outcome.label().to_owned(),
                },
            );
            if let Some(a) = t.int8_accuracy {
                add("Validation accuracy (int8, as on the board)", percent(a));
            }
        }
        JobKind::Run => {
            let Some(r) = job.output::<Run>()? else {
                return Ok(out);
            };
            add(
                "Sample",
                r.input_name
                    .clone()
                    .unwrap_or_else(|| "an uploaded image".into()),
            );
            add(
                "True label",
                r.true_label
                    .clone()
                    .unwrap_or_else(|| "none (an image without a label)".into()),
            );
            let predicted = r.predicted.clone().unwrap_or_else(|| "nothing".into());
            add(
                "The board predicts",
                match (&r.true_label, &r.predicted) {
                    (Some(t), Some(p)) if t == p => format!("{predicted} (right)"),
                    (Some(_), Some(_)) => format!("{predicted} (wrong)"),
                    _ => predicted,
                },
            );
            add(
                "Board and host engine",
                if r.matches_host {
                    "the board's int8 output equals the host engine's, byte for byte".into()
                } else {
                    format!("DIFFER: board {:?}, host {:?}", r.raw, r.host_raw)
                },
            );
            if let Some(i) = r.instructions {
                add(
                    "Inference",
                    format!(
                        "{:.2} M instructions on the emulated Cortex-M4",
                        i as f64 / 1e6
                    ),
                );
            }
            out.board_lines = r.lines.join("\n");
            let payload = job.payload::<Run>()?;
            out.next = Some((
                format!(
                    "/projects/{project}/deploy#deployment-{}",
                    payload.deployment_id
                ),
                "Run another image".into(),
            ));
        }
    }
    Ok(out)
}

pub async fn page(
    State(state): State<AppState>,
    PageProject(project): PageProject,
    Path((_, id)): Path<(String, String)>,
) -> Result<Html<String>, PageError> {
    let job = load(&state, project.id, &id).await?;
    let events = jobs::events_since(&state.db, job.id, 0, 10_000).await?;
    let (log, epochs) = describe(&events);
    let o = outcome(&job, &project.id.to_string())?;
    let active = match job.kind {
        JobKind::Train | JobKind::Tune | JobKind::Trial => "impulse",
        JobKind::Explore => "explore",
        JobKind::Test => "test",
        JobKind::Deploy | JobKind::Run | JobKind::Import | JobKind::Library => "deploy",
    };
    render(&JobPage {
        nav: Nav::new(&project, active),
        job,
        log,
        epochs,
        confusion: o.confusion,
        summary: o.summary,
        downloads: o.downloads,
        footprint: o.footprint,
        board_lines: o.board_lines,
        trials: o.trials,
        operators: o.operators,
        next: o.next,
    })
}

pub async fn cancel(
    State(state): State<AppState>,
    _user: Person,
    PageProject(project): PageProject,
    Path((_, id)): Path<(String, String)>,
) -> Result<Redirect, PageError> {
    let job = load(&state, project.id, &id).await?;
    jobs::request_cancel(&state.db, project.id, job.id)
        .await
        .map_err(AppError::from)?;
    Ok(Redirect::to(&format!(
        "/projects/{}/jobs/{}",
        project.id, job.id
    )))
}

fn trial_summary(r: &TuneOutput, i: usize) -> String {
    let t = &r.trials[i];
    let mut out = format!(
        "trial {}: {}, int8 {}",
        i + 1,
        settings(&t.impulse),
        t.int8_accuracy.map(percent).unwrap_or_else(|| "n/a".into())
    );
    if let Some(l) = t.footprint.as_ref().and_then(|f| f.latency.as_ref()) {
        out.push_str(&format!(", {:.0} ms on the board (estimated)", l.ms));
    }
    out
}

fn settings(impulse: &tinystudio_domain::ImpulseConfig) -> String {
    let l = &impulse.learning;
    format!(
        "{}x{} {}, α {}, dense {}{}{}, lr {}",
        impulse.input.width,
        impulse.input.height,
        match impulse.image.color_depth {
            tinystudio_domain::impulse::ColorDepth::Rgb => "RGB",
            tinystudio_domain::impulse::ColorDepth::Grayscale => "gray",
        },
        l.alpha,
        l.dense_neurons,
        if l.augmentation { ", augmented" } else { "" },
        if l.fine_tune_blocks > 0 {
            format!(", {} blocks fine-tuned", l.fine_tune_blocks)
        } else {
            String::new()
        },
        l.learning_rate
    )
}

/// A search's trials as a table and an accuracy-against-latency plot.
pub struct TrialsView {
    pub rows: Vec<TrialRow>,
    /// Plot marks: (x, y, class, title).
    pub points: Vec<(f64, f64, &'static str, String)>,
    /// The Pareto front as SVG polyline points.
    pub front: String,
    /// Axis ticks: (position, label).
    pub x_ticks: Vec<(f64, String)>,
    pub y_ticks: Vec<(f64, String)>,
}

pub struct TrialRow {
    pub number: usize,
    pub settings: String,
    pub outcome: &'static str,
    pub reason: String,
    pub int8: String,
    pub float: String,
    pub ram: String,
    pub flash: String,
    pub latency: String,
    pub seconds: String,
    /// The worker that ran it, when several shared the search.
    pub worker: String,
    pub pareto: bool,
    pub best: bool,
    pub can_apply: bool,
}

/// Plot area inside the 600x300 view box.
const PLOT: (f64, f64, f64, f64) = (60.0, 20.0, 580.0, 260.0);

impl TrialsView {
    fn new(r: &TuneOutput) -> Self {
        let latency = |t: &tinystudio_domain::jobs::Trial| {
            t.footprint
                .as_ref()
                .and_then(|f| f.latency.as_ref())
                .map(|l| l.ms)
        };
        let workers: std::collections::BTreeSet<_> = r
            .trials
            .iter()
            .filter_map(|t| t.worker.as_deref())
            .collect();
        let rows = r
            .trials
            .iter()
            .enumerate()
            .map(|(i, t)| TrialRow {
                number: i + 1,
                settings: settings(&t.impulse),
                outcome: t.outcome.label(),
                reason: t.outcome.reason().unwrap_or_default().to_owned(),
                int8: match (t.int8_accuracy, t.mean_accuracy()) {
                    (Some(a), Some(mean)) if !t.checks.is_empty() => format!(
                        "{} (mean of {} splits: {})",
                        percent(a),
                        t.checks.len() + 1,
                        percent(mean)
                    ),
                    (a, _) => a.map(percent).unwrap_or_default(),
                },
                float: t.float_accuracy.map(percent).unwrap_or_default(),
                ram: t
                    .footprint
                    .as_ref()
                    .map(|f| kb(f.ram_bytes))
                    .unwrap_or_default(),
                flash: t
                    .footprint
                    .as_ref()
                    .map(|f| kb(f.flash_bytes))
                    .unwrap_or_default(),
                latency: latency(t)
                    .map(|ms| format!("{ms:.0} ms"))
                    .unwrap_or_default(),
                seconds: format!("{:.1}", t.ms as f64 / 1000.0),
                worker: match &t.worker {
                    Some(w) if workers.len() > 1 => w.clone(),
                    _ => String::new(),
                },
                pareto: t.pareto,
                best: r.best == Some(i),
                can_apply: t.int8_accuracy.is_some(),
            })
            .collect();
        let plotted: Vec<(usize, f64, f64)> = r
            .trials
            .iter()
            .enumerate()
            .filter_map(|(i, t)| Some((i, latency(t)?, t.mean_accuracy()?)))
            .collect();
        let max_ms = plotted.iter().map(|p| p.1).fold(1.0, f64::max) * 1.1;
        let (x0, y0, x1, y1) = PLOT;
        let x = |ms: f64| x0 + (x1 - x0) * ms / max_ms;
        let y = |acc: f64| y1 - (y1 - y0) * acc;
        let points = plotted
            .iter()
            .map(|&(i, ms, acc)| {
                let t = &r.trials[i];
                let class = if r.best == Some(i) {
                    "best"
                } else if t.pareto {
                    "pareto"
                } else if t.outcome == tinystudio_domain::jobs::TrialOutcome::Scored {
                    "scored"
                } else {
                    "out"
                };
                let title = format!(
                    "trial {}: {}, int8 {}, {ms:.0} ms",
                    i + 1,
                    settings(&t.impulse),
                    percent(acc)
                );
                (x(ms), y(acc), class, title)
            })
            .collect();
        let mut front: Vec<(f64, f64)> = plotted
            .iter()
            .filter(|p| r.trials[p.0].pareto)
            .map(|p| (p.1, p.2))
            .collect();
        front.sort_by(|a, b| a.0.total_cmp(&b.0));
        let front = front
            .iter()
            .map(|&(ms, acc)| format!("{:.1},{:.1}", x(ms), y(acc)))
            .collect::<Vec<_>>()
            .join(" ");
        let x_ticks = (0..=4)
            .map(|k| {
                let ms = max_ms * f64::from(k) / 4.0;
                (x(ms), format!("{ms:.0}"))
            })
            .collect();
        let y_ticks = (0..=4)
            .map(|k| {
                let acc = f64::from(k) / 4.0;
                (y(acc), format!("{:.0}%", acc * 100.0))
            })
            .collect();
        TrialsView {
            rows,
            points,
            front,
            x_ticks,
            y_ticks,
        }
    }
}
