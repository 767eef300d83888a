//! The Deploy page's Board panel: the board on this machine's serial port.
//! Forms connect, disconnect, classify a test sample or an image on the
//! board beside the host engine, and flash a build; without JavaScript the
//! panel shows the output as it was when the page loaded, and
//! `static/board.js` follows it live (a moving chart of the predictions and
//! the raw lines) and sends samples or webcam frames without a reload.

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tinystudio_domain::{ModelId, ProjectId, SampleId};
use tinystudio_storage::projects::Project;

use super::PageError;
use super::deploy::Notice;
use super::view::url_encode;
use crate::actions::board::{self, BoardRun, FlashTarget, PortView};
use crate::actions::deploy::RunInput;
use crate::auth::{PageProject, Person};
use crate::{AppError, AppState};

/// What the panel shows.
pub struct BoardPanel {
    pub connected: bool,
    pub port: String,
    pub baud: u32,
    /// The firmware's `ready` line, when the board printed one while connected.
    pub ready: String,
    /// The recent lines, oldest first.
    pub lines: Vec<String>,
    /// The latest predictions: label, score, and whether they came unasked.
    pub latest: Vec<(String, String)>,
    pub latest_unasked: bool,
    pub ports: Vec<PortView>,
    pub default_baud: u32,
}

impl BoardPanel {
    pub async fn load(state: &AppState, project: ProjectId) -> BoardPanel {
        // A machine whose ports cannot be listed still gets the panel, with
        // a path to type.
        let ports = state.boards.ports(project).await.unwrap_or_default();
        let mut panel = BoardPanel {
            connected: false,
            port: String::new(),
            baud: tinystudio_deploy::DEFAULT_BAUD,
            ready: String::new(),
            lines: Vec::new(),
            latest: Vec::new(),
            latest_unasked: false,
            ports,
            default_baud: tinystudio_deploy::DEFAULT_BAUD,
        };
        if let Some(link) = state.boards.get(project) {
            let snap = link.snapshot();
            panel.connected = true;
            panel.port = link.port.clone();
            panel.baud = link.baud;
            panel.ready = snap.ready.map(|r| r.line).unwrap_or_default();
            panel.lines = snap.lines.into_iter().map(|l| l.line).collect();
            if let Some(p) = snap.latest {
                panel.latest_unasked = p.unasked;
                panel.latest = p
                    .output
                    .scores
                    .iter()
                    .map(|(label, score)| (label.clone(), format!("{score:.5}")))
                    .collect();
            }
        }
        panel
    }
}

/// A board run, as the page shows it.
#[derive(Clone)]
pub struct BoardRunView {
    pub input: String,
    pub port: String,
    pub model_version: i64,
    /// Label, board score, host score.
    pub rows: Vec<(String, String, String)>,
    pub predicted: String,
    pub host_predicted: String,
    pub matches_host: bool,
    pub raw: String,
    pub host_raw: String,
    pub timing: String,
}

impl BoardRunView {
    fn new(run: &BoardRun) -> Self {
        let join = |raw: &[i8]| raw.iter().map(i8::to_string).collect::<Vec<_>>().join(" ");
        BoardRunView {
            input: match (&run.input_name, &run.true_label) {
                (Some(n), Some(l)) => format!("{n} ({l})"),
                (Some(n), None) => n.clone(),
                _ => "an image".into(),
            },
            port: run.port.clone(),
            model_version: run.model_version,
            rows: run
                .scores
                .iter()
                .map(|s| {
                    let host = run
                        .host_scores
                        .iter()
                        .find(|h| h.label == s.label)
                        .map(|h| format!("{:.5}", h.score))
                        .unwrap_or_default();
                    (s.label.clone(), format!("{:.5}", s.score), host)
                })
                .collect(),
            predicted: run.predicted.clone().unwrap_or_default(),
            host_predicted: run.host_predicted.clone().unwrap_or_default(),
            matches_host: run.matches_host,
            raw: join(&run.raw),
            host_raw: join(&run.host_raw),
            timing: format!(
                "DSP {} ms, classification {} ms on the board; {:.0} ms round trip",
                run.dsp_ms, run.classification_ms, run.round_trip_ms
            ),
        }
    }
}

fn back(project: &Project, error: Option<&str>) -> Response {
    let base = format!("/projects/{}/deploy", project.id);
    match error {
        Some(e) => Redirect::to(&format!("{base}?error={}#board", url_encode(e))),
        None => Redirect::to(&format!("{base}#board")),
    }
    .into_response()
}

/// Errors the person can fix go back to the page as a message.
fn shown(e: &AppError) -> bool {
    matches!(
        e,
        AppError::BadRequest(_)
            | AppError::NotFound(_)
            | AppError::Conflict(_)
            | AppError::Forbidden(_)
    )
}

#[derive(Deserialize)]
pub struct ConnectForm {
    #[serde(default)]
    port: String,
    /// Typed by hand; wins over the list.
    #[serde(default)]
    path: String,
    #[serde(default)]
    baud: String,
}

pub async fn connect(
    State(state): State<AppState>,
    _user: Person,
    PageProject(project): PageProject,
    axum::Form(form): axum::Form<ConnectForm>,
) -> Result<Response, PageError> {
    let port = if form.path.trim().is_empty() {
        form.port
    } else {
        form.path
    };
    let baud = match form.baud.trim() {
        "" => None,
        b => match b.parse::<u32>() {
            Ok(b) => Some(b),
            Err(_) => {
                return Ok(back(
                    &project,
                    Some(&format!("baud rate {b:?} is not a number")),
                ));
            }
        },
    };
    match state.boards.connect(project.id, &port, baud).await {
        Ok(_) => Ok(back(&project, None)),
        Err(e) if shown(&e) => Ok(back(&project, Some(&e.public_message()))),
        Err(e) => Err(e.into()),
    }
}

pub async fn disconnect(
    State(state): State<AppState>,
    _user: Person,
    PageProject(project): PageProject,
) -> Result<Response, PageError> {
    match state.boards.disconnect(project.id).await {
        Ok(_) => Ok(back(&project, None)),
        Err(e) if shown(&e) => Ok(back(&project, Some(&e.public_message()))),
        Err(e) => Err(e.into()),
    }
}

/// Classifies a test sample or an uploaded image on the board and sends the
/// browser to the page showing its answer beside the host engine's.
pub async fn classify(
    State(state): State<AppState>,
    _user: Person,
    PageProject(project): PageProject,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, PageError> {
    let mut multipart = multipart.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let (mut model, mut sample, mut image) = (String::new(), String::new(), None);
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| AppError::BadRequest(format!("malformed form: {}", e.body_text())))?
    {
        match field.name() {
            Some("model") => model = field.text().await.unwrap_or_default(),
            Some("sample") => sample = field.text().await.unwrap_or_default(),
            Some("image") => {
                let name = field.file_name().map(str::to_owned);
                image = field
                    .bytes()
                    .await
                    .ok()
                    .filter(|b| !b.is_empty())
                    .map(|b| (b, name));
            }
            _ => {}
        }
    }
    let Ok(model_id) = model.parse::<ModelId>() else {
        return Ok(back(&project, Some("choose a model")));
    };
    let input = match (image, sample.parse::<SampleId>()) {
        (Some((bytes, name)), _) => Ok(RunInput {
            image: bytes.to_vec(),
            name,
            label: None,
        }),
        (None, Ok(id)) => board::sample_input(&state, project.id, id).await,
        (None, Err(_)) => return Ok(back(&project, Some("choose a test sample or an image"))),
    };
    let run = match input {
        Ok(input) => board::classify(&state, project.id, model_id, input, None).await,
        Err(e) => Err(e),
    };
    let notice = match run {
        Ok(run) => Notice::BoardRun(BoardRunView::new(&run)),
        Err(e) if shown(&e) => return Ok(back(&project, Some(&e.public_message()))),
        Err(e) => return Err(e.into()),
    };
    Ok(with_notice(&state, &project, Some(&model), notice))
}

/// The Deploy page with what a post did (post, redirect, get: a reload
/// does not classify or flash again).
fn with_notice(
    state: &AppState,
    project: &Project,
    model: Option<&str>,
    notice: Notice,
) -> Response {
    let token = state.flashes.put(project.id, notice);
    let model = model
        .map(|m| format!("model={}&", url_encode(m)))
        .unwrap_or_default();
    Redirect::to(&format!(
        "/projects/{}/deploy?{model}notice={token}#board",
        project.id
    ))
    .into_response()
}

#[derive(Deserialize)]
pub struct FlashForm {
    deployment: String,
    #[serde(default)]
    port: String,
    #[serde(default)]
    drive: String,
}

/// Flashes a build and sends the browser to the page showing what the tool said.
pub async fn flash(
    State(state): State<AppState>,
    _user: Person,
    PageProject(project): PageProject,
    axum::Form(form): axum::Form<FlashForm>,
) -> Result<Response, PageError> {
    let target = FlashTarget {
        port: Some(form.port),
        drive: Some(form.drive),
    };
    match board::flash(&state, project.id, &form.deployment, target).await {
        Ok(report) => {
            let notice = Notice::Flashed {
                method: report.method.name(),
                commands: report.commands.join("\n"),
                output: report.output,
            };
            Ok(with_notice(&state, &project, None, notice))
        }
        Err(e) if shown(&e) => Ok(back(&project, Some(&e.public_message()))),
        Err(e) => Err(e.into()),
    }
}
