//! The Impulse step: design the input and learning blocks, see what the
//! model will cost on the board, train.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::{Html, Redirect};
use serde::Deserialize;
use tinystudio_domain::estimate::{Estimate, estimate};
use tinystudio_domain::impulse::{ColorDepth, ResizeMode};
use tinystudio_domain::{ImpulseConfig, JobKind};
use tinystudio_storage::jobs::{self, Job};
use tinystudio_storage::models::{self, Model};

use super::view::{kb, percent};
use super::{Nav, PageError, human_time, render};
use crate::actions::training::{current_impulse, start_training, training_labels};
use crate::actions::tuning::{DEFAULT_BOARD, TuneRequest, apply_trial, start_tuning};
use crate::auth::{PageProject, Person};
use crate::{AppError, AppState};
use tinystudio_domain::jobs::DEFAULT_BUDGET_SECONDS;

#[derive(Template)]
#[template(path = "impulse/design.html")]
struct ImpulsePage {
    nav: Nav,
    config: ImpulseConfig,
    version: i64,
    estimate: Estimate,
    labels: Vec<String>,
    jobs: Vec<Job>,
    /// Recent impulse searches.
    searches: Vec<Job>,
    models: Vec<Model>,
    error: Option<String>,
}

/// Which widths have ImageNet weights and which are derived from a wider one.
pub fn backbone_note(alpha: f32) -> &'static str {
    match alpha {
        a if a == 0.25 || a == 0.5 => "ImageNet-pretrained (Keras Applications)",
        a if a == 0.1 || a == 0.2 => {
            "derived from the ImageNet 0.25 backbone (channels with the largest weight norms)"
        }
        _ => "derived from the ImageNet 0.5 backbone (channels with the largest weight norms)",
    }
}

impl ImpulsePage {
    /// The boards a search can aim at: (name, title, chosen).
    fn boards(&self) -> Vec<(&'static str, &'static str, bool)> {
        tinystudio_deploy::BOARDS
            .iter()
            .map(|b| (b.name, b.title, b.name == DEFAULT_BOARD))
            .collect()
    }

    fn default_budget_minutes(&self) -> u32 {
        DEFAULT_BUDGET_SECONDS / 60
    }

    fn alphas(&self) -> Vec<(String, bool, &'static str)> {
        tinystudio_domain::impulse::ALPHAS
            .iter()
            .map(|a| {
                (
                    a.to_string(),
                    *a == self.config.learning.alpha,
                    backbone_note(*a),
                )
            })
            .collect()
    }

    fn resize_is(&self, mode: &str) -> bool {
        mode == self.config.input.resize_mode.as_str()
    }

    fn grayscale(&self) -> bool {
        self.config.image.color_depth == ColorDepth::Grayscale
    }

    fn kb(&self, bytes: &u64) -> String {
        kb(*bytes)
    }

    fn thousands(&self, n: &u64) -> String {
        let s = n.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    }

    fn when(&self, ms: &i64) -> String {
        human_time(*ms)
    }

    fn accuracy(&self, model: &Model) -> String {
        model
            .metrics
            .validation_accuracy
            .map(|a| percent(a.into()))
            .unwrap_or_else(|| "—".into())
    }
}

pub async fn page(
    State(state): State<AppState>,
    PageProject(project): PageProject,
) -> Result<Html<String>, PageError> {
    show(&state, &project, None, None).await
}

async fn show(
    state: &AppState,
    project: &tinystudio_storage::projects::Project,
    config: Option<ImpulseConfig>,
    error: Option<String>,
) -> Result<Html<String>, PageError> {
    let (version, saved) = current_impulse(state, project.id).await?;
    let config = config.unwrap_or(saved);
    let labels = training_labels(state, project.id).await?;
    render(&ImpulsePage {
        nav: Nav::new(project, "impulse"),
        estimate: estimate(&config, labels.len() as u32),
        config,
        version,
        labels,
        jobs: jobs::list(&state.db, project.id, Some(JobKind::Train), 5).await?,
        searches: jobs::list(&state.db, project.id, Some(JobKind::Tune), 5).await?,
        models: models::list(&state.db, project.id).await?,
        error,
    })
}

/// The form, field by field (HTML forms send strings).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImpulseForm {
    width: String,
    height: String,
    resize_mode: String,
    color_depth: String,
    alpha: String,
    dense_neurons: String,
    dropout: String,
    epochs: String,
    learning_rate: String,
    batch_size: String,
    validation_share: String,
    augmentation: Option<String>,
    fine_tune_blocks: String,
    seed: String,
    calibration_samples: String,
    action: Option<String>,
}

fn number<T: std::str::FromStr>(field: &str, raw: &str) -> Result<T, AppError> {
    raw.trim()
        .parse()
        .map_err(|_| AppError::BadRequest(format!("{field}: {raw:?} is not a number")))
}

impl ImpulseForm {
    fn to_config(&self) -> Result<ImpulseConfig, AppError> {
        let mut c = ImpulseConfig::default();
        c.input.width = number("width", &self.width)?;
        c.input.height = number("height", &self.height)?;
        c.input.resize_mode = match self.resize_mode.as_str() {
            "squash" => ResizeMode::Squash,
            "fitShortest" => ResizeMode::FitShortest,
            "fitLongest" => ResizeMode::FitLongest,
            other => {
                return Err(AppError::BadRequest(format!(
                    "unknown resize mode {other:?}"
                )));
            }
        };
        c.image.color_depth = match self.color_depth.as_str() {
            "rgb" => ColorDepth::Rgb,
            "grayscale" => ColorDepth::Grayscale,
            other => {
                return Err(AppError::BadRequest(format!(
                    "unknown colour depth {other:?}"
                )));
            }
        };
        let l = &mut c.learning;
        l.alpha = number("alpha", &self.alpha)?;
        l.dense_neurons = number("dense neurons", &self.dense_neurons)?;
        l.dropout = number("dropout", &self.dropout)?;
        l.epochs = number("epochs", &self.epochs)?;
        l.learning_rate = number("learning rate", &self.learning_rate)?;
        l.batch_size = number("batch size", &self.batch_size)?;
        l.validation_share = number::<f32>("validation share", &self.validation_share)? / 100.0;
        l.augmentation = self.augmentation.is_some();
        l.fine_tune_blocks = number("fine-tuned blocks", &self.fine_tune_blocks)?;
        l.seed = number("seed", &self.seed)?;
        l.calibration_samples = number("calibration images", &self.calibration_samples)?;
        c.validate()?;
        Ok(c)
    }
}

/// Saves the impulse; "Save and train" also starts training and opens the job.
pub async fn save(
    State(state): State<AppState>,
    _user: Person,
    PageProject(project): PageProject,
    Form(form): Form<ImpulseForm>,
) -> Result<axum::response::Response, PageError> {
    use axum::response::IntoResponse;
    let config = match form.to_config() {
        Ok(c) => c,
        Err(e) => {
            return Ok(show(&state, &project, None, Some(e.public_message()))
                .await?
                .into_response());
        }
    };
    tinystudio_storage::impulses::save(&state.db, project.id, &config).await?;
    if form.action.as_deref() == Some("train") {
        return match start_training(&state, project.id).await {
            Ok(job) => Ok(
                Redirect::to(&format!("/projects/{}/jobs/{}", project.id, job.id)).into_response(),
            ),
            Err(e) => Ok(
                show(&state, &project, Some(config), Some(e.public_message()))
                    .await?
                    .into_response(),
            ),
        };
    }
    Ok(Redirect::to(&format!("/projects/{}/impulse", project.id)).into_response())
}

/// The "Find the best impulse" form.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TuneForm {
    board: String,
    budget_minutes: String,
    latency_budget_ms: String,
}

/// Starts a search and opens its job page.
pub async fn tune(
    State(state): State<AppState>,
    _user: Person,
    PageProject(project): PageProject,
    Form(form): Form<TuneForm>,
) -> Result<Redirect, PageError> {
    let minutes: f64 = number("minutes", &form.budget_minutes)?;
    let latency_budget_ms = match form.latency_budget_ms.trim() {
        "" => None,
        raw => Some(number("latency budget", raw)?),
    };
    let request = TuneRequest {
        board: Some(form.board),
        budget_seconds: Some((minutes * 60.0).round().clamp(0.0, f64::from(u32::MAX)) as u32),
        latency_budget_ms,
    };
    let job = start_tuning(&state, project.id, request).await?;
    Ok(Redirect::to(&format!(
        "/projects/{}/jobs/{}",
        project.id, job.id
    )))
}

#[derive(Deserialize)]
pub struct ApplyForm {
    trial: String,
}

/// Makes a trial the project's impulse and opens its training job.
pub async fn apply(
    State(state): State<AppState>,
    _user: Person,
    PageProject(project): PageProject,
    axum::extract::Path((_, job)): axum::extract::Path<(String, String)>,
    Form(form): Form<ApplyForm>,
) -> Result<Redirect, PageError> {
    let trial = number("trial", &form.trial)?;
    let (_, training) = apply_trial(&state, project.id, &job, trial).await?;
    Ok(Redirect::to(&format!(
        "/projects/{}/jobs/{}",
        project.id, training.id
    )))
}
