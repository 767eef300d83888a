//! The Deploy step: pick a board, see what the model needs there, build the
//! firmware, download it, run it on the emulated board.

use askama::Template;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Query, State};
use axum::response::{Html, Redirect};
use serde::Deserialize;
use serde_json::Value;
use tinystudio_deploy::{BOARDS, Cpu, check_fits};
use tinystudio_domain::{JobKind, ModelId, SampleId};
use tinystudio_storage::jobs::{self, Job};
use tinystudio_storage::models::Model;
use tinystudio_storage::{BlobKey, samples};

use super::{Nav, PageError, human_time, render};
use crate::api::deploy::{run_image, start_deploy};
use crate::auth::{LocalUser, PageProject};
use crate::classify::MODEL_BLOB;
use crate::{AppError, AppState};

/// Instructions per multiply-accumulate of our Cortex-M4 kernels on
/// MobileNetV1 0.25 at 96x96 (BENCHMARKS.md); used for the latency estimate
/// before a build has measured the real model.
const M4_INSTRUCTIONS_PER_MAC: f64 = 1.47;

#[derive(Template)]
#[template(path = "deploy/page.html")]
struct DeployPage {
    nav: Nav,
    models: Vec<Model>,
    selected: Option<Model>,
    boards: Vec<BoardView>,
    deployments: Vec<DeploymentView>,
    run: Option<Value>,
    error: Option<String>,
    test_samples: Vec<(String, String)>,
}

struct BoardView {
    name: &'static str,
    title: &'static str,
    flash: String,
    ram: String,
    flash_percent: u32,
    ram_percent: u32,
    latency: String,
    fits: bool,
    problem: String,
}

struct DeploymentView {
    id: String,
    board: String,
    status: String,
    created: String,
    model_version: String,
    artifacts: Vec<(String, String)>,
    size: String,
    measured: String,
    flashing: String,
    emulated: bool,
}

fn kb(bytes: u64) -> String {
    format!("{:.1} KB", bytes as f64 / 1024.0)
}

fn deployment_view(job: &Job) -> DeploymentView {
    let empty = Value::Null;
    let r = job.result.as_ref().unwrap_or(&empty);
    let payload_board = job.payload["board"].as_str().unwrap_or("").to_owned();
    let size = &r["size"];
    let measured = match r["measured"]["instructions"].as_u64() {
        Some(i) => {
            let per_board: Vec<String> = r["measured"]["latency"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .map(|x| {
                            format!(
                                "{} {:.0} ms",
                                x["board"].as_str().unwrap_or(""),
                                x["ms"].as_f64().unwrap_or(0.0)
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "{:.2} M instructions per inference on the emulated Cortex-M4 ({})",
                i as f64 / 1e6,
                per_board.join(", ")
            )
        }
        None => String::new(),
    };
    DeploymentView {
        id: job.id.to_string(),
        board: r["board"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or(payload_board),
        status: job.status.to_string(),
        created: human_time(job.created_at),
        model_version: r["modelVersion"]
            .as_i64()
            .map(|v| format!("v{v}"))
            .unwrap_or_default(),
        artifacts: r["artifacts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        (
                            x["name"].as_str().unwrap_or("").to_owned(),
                            kb(x["bytes"].as_u64().unwrap_or(0)),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        size: if size.is_object() {
            format!(
                "flash {} of {} (model {}, code {}) · RAM {} of {} (tensor arena {}, {} left for the stack)",
                kb(size["flashUsed"].as_u64().unwrap_or(0)),
                kb(size["flashLimit"].as_u64().unwrap_or(0)),
                kb(size["modelBytes"].as_u64().unwrap_or(0)),
                kb(size["codeBytes"].as_u64().unwrap_or(0)),
                kb(size["ramStatic"].as_u64().unwrap_or(0)),
                kb(size["ramLimit"].as_u64().unwrap_or(0)),
                kb(size["arenaBytes"].as_u64().unwrap_or(0)),
                kb(size["stackAvailable"].as_u64().unwrap_or(0)),
            )
        } else {
            String::new()
        },
        measured,
        flashing: r["flashing"].as_str().unwrap_or("").to_owned(),
        emulated: r["emulated"] == true,
    }
}

impl DeployPage {
    fn is_selected(&self, m: &Model) -> bool {
        self.selected.as_ref().is_some_and(|s| s.id == m.id)
    }

    fn run_lines(&self) -> String {
        self.run
            .as_ref()
            .and_then(|r| r["lines"].as_array())
            .map(|l| {
                l.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    }

    fn run_summary(&self) -> String {
        let Some(r) = &self.run else {
            return String::new();
        };
        format!(
            "Predicted {} · the board's int8 output {} the host engine's",
            r["predicted"].as_str().unwrap_or("?"),
            if r["matchesHost"] == true {
                "equals byte for byte"
            } else {
                "DIFFERS from"
            }
        )
    }
}

#[derive(Deserialize, Default)]
pub struct DeployQuery {
    model: Option<String>,
}

async fn show(
    state: &AppState,
    project: &tinystudio_storage::projects::Project,
    model: Option<&str>,
    run: Option<Value>,
    error: Option<String>,
) -> Result<Html<String>, PageError> {
    let (all, selected) = super::models_with_selection(state, project.id, model).await?;
    let blob = match &selected {
        Some(m) => {
            state
                .blobs
                .get(&BlobKey::artifact(&m.id.to_string(), MODEL_BLOB)?)
                .await?
        }
        None => None,
    };
    let macs = selected
        .as_ref()
        .and_then(|m| m.metrics["macs"].as_u64())
        .unwrap_or(0);
    let boards = BOARDS
        .iter()
        .map(|b| {
            let fit = blob.as_ref().map(|blob| check_fits(b, blob));
            let (flash, ram, flash_percent, ram_percent, fits, problem) = match fit {
                Some(Ok(e)) => (
                    format!("{} of {}", kb(e.flash_needed), kb(e.flash_limit)),
                    format!("{} of {}", kb(e.ram_needed), kb(e.ram_limit)),
                    (100 * e.flash_needed / e.flash_limit.max(1)) as u32,
                    (100 * e.ram_needed / e.ram_limit.max(1)) as u32,
                    true,
                    String::new(),
                ),
                Some(Err(e)) => (String::new(), String::new(), 100, 100, false, e.to_string()),
                None => (
                    kb(b.flash_bytes),
                    kb(b.ram_bytes),
                    0,
                    0,
                    false,
                    String::new(),
                ),
            };
            let latency = match b.cpu {
                Cpu::CortexM4F if macs > 0 => format!(
                    "about {:.0} ms per inference (estimated from {:.1} M MACs at {} MHz)",
                    macs as f64 * M4_INSTRUCTIONS_PER_MAC / b.clock_hz as f64 * 1000.0,
                    macs as f64 / 1e6,
                    b.clock_hz / 1_000_000
                ),
                Cpu::CortexM4F => "measured when the model is built for the emulated board".into(),
                _ => "no estimate: the emulated board is a Cortex-M4, this is a Cortex-M0+".into(),
            };
            BoardView {
                name: b.name,
                title: b.title,
                flash,
                ram,
                flash_percent: flash_percent.min(100),
                ram_percent: ram_percent.min(100),
                latency,
                fits,
                problem,
            }
        })
        .collect();
    let deployments = jobs::list(&state.db, project.id, Some(JobKind::Deploy), 20)
        .await?
        .iter()
        .map(deployment_view)
        .collect();
    let (_, tests) = samples::list(
        &state.db,
        project.id,
        &tinystudio_storage::samples::SampleFilter {
            category: Some(tinystudio_domain::Category::Testing),
            label: None,
        },
        100,
        0,
    )
    .await?;
    render(&DeployPage {
        nav: Nav::new(project, "deploy"),
        models: all,
        selected,
        boards,
        deployments,
        run,
        error,
        test_samples: tests
            .into_iter()
            .map(|s| {
                (
                    s.id.to_string(),
                    format!(
                        "{} ({})",
                        s.file_name,
                        s.label.unwrap_or_else(|| "unlabeled".into())
                    ),
                )
            })
            .collect(),
    })
}

pub async fn page(
    State(state): State<AppState>,
    PageProject(project): PageProject,
    Query(q): Query<DeployQuery>,
) -> Result<Html<String>, PageError> {
    show(&state, &project, q.model.as_deref(), None, None).await
}

#[derive(Deserialize)]
pub struct BuildForm {
    model: String,
    board: String,
}

pub async fn build(
    State(state): State<AppState>,
    _user: LocalUser,
    PageProject(project): PageProject,
    axum::Form(form): axum::Form<BuildForm>,
) -> Result<axum::response::Response, PageError> {
    use axum::response::IntoResponse;
    let model: ModelId = form
        .model
        .parse()
        .map_err(|_| AppError::NotFound("no such model".into()))?;
    match start_deploy(&state, project.id, model, &form.board).await {
        Ok(job) => {
            Ok(Redirect::to(&format!("/projects/{}/jobs/{}", project.id, job.id)).into_response())
        }
        Err(e @ (AppError::Conflict(_) | AppError::BadRequest(_))) => Ok(show(
            &state,
            &project,
            Some(&form.model),
            None,
            Some(e.public_message()),
        )
        .await?
        .into_response()),
        Err(e) => Err(e.into()),
    }
}

/// Runs a test sample or an uploaded image on the emulated board.
pub async fn run(
    State(state): State<AppState>,
    _user: LocalUser,
    PageProject(project): PageProject,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Html<String>, PageError> {
    let mut multipart = multipart.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let (mut deployment, mut sample, mut image) = (String::new(), String::new(), None);
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| AppError::BadRequest(format!("malformed form: {}", e.body_text())))?
    {
        match field.name() {
            Some("deployment") => deployment = field.text().await.unwrap_or_default(),
            Some("sample") => sample = field.text().await.unwrap_or_default(),
            Some("image") => image = field.bytes().await.ok().filter(|b| !b.is_empty()),
            _ => {}
        }
    }
    let bytes = match (image, sample.parse::<SampleId>()) {
        (Some(bytes), _) => bytes.to_vec(),
        (None, Ok(id)) => {
            let s = samples::get(&state.db, project.id, id).await?;
            state
                .blobs
                .get(&BlobKey::sample(&s.sha256)?)
                .await?
                .ok_or_else(|| AppError::Internal(format!("blob of sample {} is missing", s.id)))?
                .to_vec()
        }
        (None, Err(_)) => {
            return show(
                &state,
                &project,
                None,
                None,
                Some("choose a test sample or an image".into()),
            )
            .await;
        }
    };
    match run_image(&state, project.id, &deployment, bytes).await {
        Ok(out) => show(&state, &project, None, Some(out), None).await,
        Err(e @ (AppError::Conflict(_) | AppError::BadRequest(_) | AppError::NotFound(_))) => {
            show(&state, &project, None, None, Some(e.public_message())).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The firmware crate's README, served by the studio so the Deploy page's
/// links work offline.
pub async fn firmware_readme() -> Html<String> {
    const README: &str = include_str!("../../../firmware/README.md");
    let escaped = README
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Firmware · TinyStudio</title>\
         <link rel=\"stylesheet\" href=\"/static/app.css\"></head><body><main><section class=\"panel\">\
         <pre class=\"readme\">{escaped}</pre></section></main></body></html>"
    ))
}
