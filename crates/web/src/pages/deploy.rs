//! The Deploy step: pick a board, see what the model needs there
//! (estimated, and measured once built), build the firmware, download it,
//! run it on the emulated board; or take the model away as a library for
//! one's own firmware (Arduino, C, Rust), or as its `.tflite` / `.tsmb`.

use askama::Template;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use tinystudio_deploy::flash::Method;
use tinystudio_deploy::library::LibraryKind;
use tinystudio_domain::jobs::{Deploy, Library};
use tinystudio_domain::{Category, JobKind, ModelId, SampleId};
use tinystudio_storage::jobs::{self, Job};
use tinystudio_storage::models::Model;
use tinystudio_storage::samples::{LabelFilter, SampleFilter};
use tinystudio_storage::{BlobKey, samples};

use super::board::{BoardPanel, BoardRunView};
use super::view::{FootprintView, kb, latency_words, url_encode};
use super::{Nav, PageError, human_time, render};
use crate::actions::deploy::{
    BoardFootprint, MODEL_DOWNLOADS, RunInput, footprints, start_deploy, start_library, start_run,
};
use crate::auth::{PageProject, Person};
use crate::{AppError, AppState};

#[derive(Template)]
#[template(path = "deploy/page.html")]
struct DeployPage {
    nav: Nav,
    models: Vec<Model>,
    selected: Option<Model>,
    boards: Vec<BoardView>,
    deployments: Vec<DeploymentView>,
    /// The library kinds offered beside the boards.
    libraries: Vec<LibraryChoice>,
    library_builds: Vec<LibraryBuildView>,
    /// The files every model downloads as.
    model_files: [&'static str; 2],
    error: Option<String>,
    /// The test set for the emulated run's picker, by label.
    test_samples: Vec<SampleGroup>,
    board: BoardPanel,
    notice: Notice,
}

/// What a form post on the page did, shown above its panels.
#[derive(Clone)]
pub enum Notice {
    None,
    /// A sample classified on the connected board.
    BoardRun(BoardRunView),
    /// A build flashed onto a board.
    Flashed {
        method: &'static str,
        commands: String,
        output: String,
    },
}

/// One label's test samples in the run's picker.
struct SampleGroup {
    label: String,
    /// (id, file name)
    samples: Vec<(String, String)>,
    /// Samples of the label in the test set; more than listed when capped.
    total: i64,
}

/// Test samples listed per label in the picker: enough to choose from,
/// few enough for a select (the search box narrows them).
const PICKER_PER_LABEL: i64 = 100;

/// Every label of the test set, each with its first samples.
async fn test_sample_groups(
    state: &AppState,
    project: tinystudio_domain::ProjectId,
) -> Result<Vec<SampleGroup>, AppError> {
    let counts = samples::counts(&state.db, project).await?;
    let mut groups = Vec::new();
    for count in counts.labels.iter().filter(|c| c.testing > 0) {
        let filter = SampleFilter {
            category: Some(Category::Testing),
            label: Some(match &count.label {
                Some(l) => LabelFilter::Is(l.clone()),
                None => LabelFilter::Unlabeled,
            }),
        };
        let (total, listed) =
            samples::list(&state.db, project, &filter, PICKER_PER_LABEL, 0).await?;
        groups.push(SampleGroup {
            label: count.label.clone().unwrap_or_else(|| "unlabeled".into()),
            samples: listed
                .into_iter()
                .map(|s| (s.id.to_string(), s.file_name))
                .collect(),
            total,
        });
    }
    Ok(groups)
}

struct BoardView {
    name: &'static str,
    title: &'static str,
    /// Flash and RAM: measured when the model was built for the board,
    /// estimated otherwise.
    shown: FootprintView,
    /// The estimate, when `shown` is the measurement.
    estimated: Option<FootprintView>,
    /// Time per inference: measured when known, estimated otherwise.
    latency: String,
    latency_basis: &'static str,
    latency_how: String,
    /// Why the model cannot go on this board (empty when it fits).
    problem: String,
}

impl BoardView {
    fn new(f: BoardFootprint) -> Self {
        let estimate = FootprintView::new(&f.estimate);
        let measured = f.measured.as_ref().map(FootprintView::new);
        let (latency, latency_basis, latency_how) = match &f.measured_latency {
            Some(l) => latency_words(l),
            None => (
                estimate.latency.clone(),
                estimate.latency_basis,
                estimate.latency_how.clone(),
            ),
        };
        let (shown, estimated) = match measured {
            Some(m) => (m, Some(estimate)),
            None => (estimate, None),
        };
        BoardView {
            name: f.board.name,
            title: f.board.title,
            shown,
            estimated,
            latency,
            latency_basis,
            latency_how,
            problem: f.problem.unwrap_or_default(),
        }
    }
}

struct LibraryChoice {
    kind: &'static str,
    title: &'static str,
    description: &'static str,
}

struct LibraryBuildView {
    id: String,
    title: String,
    status: String,
    created: String,
    model_version: String,
    /// (file name, size) once built.
    download: Option<(String, String)>,
}

fn library_build_view(job: &Job) -> Result<LibraryBuildView, AppError> {
    let payload = job.payload::<Library>()?;
    let output = job.output::<Library>()?;
    Ok(LibraryBuildView {
        id: job.id.to_string(),
        title: LibraryKind::parse(&payload.kind)
            .map_or(payload.kind.clone(), |k| k.title().to_owned()),
        status: job.status.to_string(),
        created: human_time(job.created_at),
        model_version: output
            .as_ref()
            .map(|o| format!("v{}", o.model_version))
            .unwrap_or_default(),
        download: output.map(|o| (o.file.name, kb(o.file.bytes))),
    })
}

struct DeploymentView {
    id: String,
    board: String,
    status: String,
    created: String,
    model_version: String,
    artifacts: Vec<(String, String)>,
    flashing: String,
    emulated: bool,
    succeeded: bool,
    /// The studio can flash it here (a real board's build that succeeded).
    flashable: bool,
    /// Flashing asks for the bootloader's serial port.
    needs_port: bool,
    /// Flashing may copy onto a drive.
    takes_drive: bool,
}

fn deployment_view(job: &Job) -> Result<DeploymentView, AppError> {
    let payload = job.payload::<Deploy>()?;
    let output = job.output::<Deploy>()?;
    let methods = tinystudio_deploy::board(&payload.board)
        .map(tinystudio_deploy::flash::methods)
        .unwrap_or_default();
    Ok(DeploymentView {
        id: job.id.to_string(),
        board: payload.board.clone(),
        status: job.status.to_string(),
        created: human_time(job.created_at),
        model_version: output
            .as_ref()
            .map(|o| format!("v{}", o.model_version))
            .unwrap_or_default(),
        artifacts: output
            .as_ref()
            .map(|o| {
                o.artifacts
                    .iter()
                    .map(|a| (a.name.clone(), kb(a.bytes)))
                    .collect()
            })
            .unwrap_or_default(),
        flashing: output
            .as_ref()
            .map(|o| o.flashing.clone())
            .unwrap_or_default(),
        emulated: tinystudio_deploy::board(&payload.board).is_some_and(|b| b.emulated),
        succeeded: output.is_some(),
        flashable: output.is_some() && !methods.is_empty(),
        needs_port: methods.contains(&Method::Bossac),
        takes_drive: methods.contains(&Method::Uf2Copy),
    })
}

impl DeployPage {
    fn is_selected(&self, m: &Model) -> bool {
        self.selected.as_ref().is_some_and(|s| s.id == m.id)
    }

    fn cycles_per_instruction(&self) -> f64 {
        tinystudio_deploy::footprint::CYCLES_PER_INSTRUCTION
    }
}

#[derive(Deserialize, Default)]
pub struct DeployQuery {
    model: Option<String>,
    error: Option<String>,
    /// The token of what a board form just did (see `flash`).
    notice: Option<String>,
}

/// The page, with what a form post just did.
async fn show_with(
    state: &AppState,
    project: &tinystudio_storage::projects::Project,
    model: Option<&str>,
    error: Option<String>,
    notice: Notice,
) -> Result<Html<String>, PageError> {
    let (all, selected) = super::models_with_selection(state, project.id, model).await?;
    let boards = match &selected {
        Some(m) => footprints(state, project.id, m)
            .await?
            .into_iter()
            .map(BoardView::new)
            .collect(),
        None => Vec::new(),
    };
    let deployments = jobs::list(&state.db, project.id, Some(JobKind::Deploy), 20)
        .await?
        .iter()
        .map(deployment_view)
        .collect::<Result<_, _>>()?;
    let library_builds = jobs::list(&state.db, project.id, Some(JobKind::Library), 20)
        .await?
        .iter()
        .map(library_build_view)
        .collect::<Result<_, _>>()?;
    render(&DeployPage {
        nav: Nav::new(project, "deploy"),
        models: all,
        selected,
        boards,
        deployments,
        libraries: LibraryKind::ALL
            .iter()
            .map(|k| LibraryChoice {
                kind: k.as_str(),
                title: k.title(),
                description: k.description(),
            })
            .collect(),
        library_builds,
        model_files: MODEL_DOWNLOADS,
        error,
        test_samples: test_sample_groups(state, project.id).await?,
        board: BoardPanel::load(state, project.id).await,
        notice,
    })
}

pub async fn page(
    State(state): State<AppState>,
    PageProject(project): PageProject,
    Query(q): Query<DeployQuery>,
) -> Result<Html<String>, PageError> {
    let notice = q
        .notice
        .as_deref()
        .and_then(|token| state.flashes.get::<Notice>(project.id, token))
        .unwrap_or(Notice::None);
    show_with(&state, &project, q.model.as_deref(), q.error, notice).await
}

#[derive(Deserialize)]
pub struct BuildForm {
    model: String,
    board: String,
}

pub async fn build(
    State(state): State<AppState>,
    _user: Person,
    PageProject(project): PageProject,
    axum::Form(form): axum::Form<BuildForm>,
) -> Result<Response, PageError> {
    let model: ModelId = form
        .model
        .parse()
        .map_err(|_| AppError::NotFound("no such model".into()))?;
    let started = start_deploy(&state, project.id, model, &form.board).await;
    to_job_or_back(&project, &form.model, started)
}

#[derive(Deserialize)]
pub struct LibraryForm {
    model: String,
    kind: String,
}

/// Queues a library build and sends the browser to its job page.
pub async fn library(
    State(state): State<AppState>,
    _user: Person,
    PageProject(project): PageProject,
    axum::Form(form): axum::Form<LibraryForm>,
) -> Result<Response, PageError> {
    let model: ModelId = form
        .model
        .parse()
        .map_err(|_| AppError::NotFound("no such model".into()))?;
    let started = start_library(&state, project.id, model, &form.kind).await;
    to_job_or_back(&project, &form.model, started)
}

/// A form that started a job for `model`: to the job's page, or back to the
/// Deploy page with that model selected and why it did not start.
fn to_job_or_back(
    project: &tinystudio_storage::projects::Project,
    model: &str,
    started: Result<Job, AppError>,
) -> Result<Response, PageError> {
    match started {
        Ok(job) => Ok(job_page(project, &job).into_response()),
        Err(e @ (AppError::Conflict(_) | AppError::BadRequest(_))) => Ok(Redirect::to(&format!(
            "/projects/{}/deploy?model={}&error={}",
            project.id,
            url_encode(model),
            url_encode(&e.public_message())
        ))
        .into_response()),
        Err(e) => Err(e.into()),
    }
}

/// Where a started job is followed.
fn job_page(project: &tinystudio_storage::projects::Project, job: &Job) -> Redirect {
    Redirect::to(&format!("/projects/{}/jobs/{}", project.id, job.id))
}

/// Runs a test sample or an uploaded image on the emulated board: queues
/// the run and sends the browser to its job page, which shows the board's
/// answer when it comes.
pub async fn run(
    State(state): State<AppState>,
    _user: Person,
    PageProject(project): PageProject,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, PageError> {
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
    let input = match (image, sample.parse::<SampleId>()) {
        (Some((bytes, name)), _) => RunInput {
            image: bytes.to_vec(),
            name,
            label: None,
        },
        (None, Ok(id)) => {
            let s = samples::get(&state.db, project.id, id).await?;
            let bytes = state
                .blobs
                .get(&BlobKey::sample(&s.sha256)?)
                .await?
                .ok_or_else(|| AppError::Internal(format!("blob of sample {} is missing", s.id)))?;
            RunInput {
                image: bytes.to_vec(),
                name: Some(s.file_name),
                label: s.label,
            }
        }
        (None, Err(_)) => {
            return Ok(back_with_error(
                &project,
                "choose a test sample or an image",
            ));
        }
    };
    match start_run(&state, project.id, &deployment, input).await {
        Ok(job) => Ok(job_page(&project, &job).into_response()),
        Err(e @ (AppError::Conflict(_) | AppError::BadRequest(_) | AppError::NotFound(_))) => {
            Ok(back_with_error(&project, &e.public_message()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Imports a `.tflite` from the form: to the import job's page, or back
/// with every problem the engine found.
pub async fn import(
    State(state): State<AppState>,
    _user: Person,
    PageProject(project): PageProject,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, PageError> {
    use crate::actions::importing::{
        ImportRefused, ImportRequest, parse_input, parse_labels, start_import,
    };
    let mut multipart = multipart.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let (mut file, mut file_name) = (Vec::new(), String::new());
    let (mut labels, mut input, mut resize, mut range) =
        (String::new(), String::new(), String::new(), String::new());
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| AppError::BadRequest(format!("malformed form: {}", e.body_text())))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            file_name = field.file_name().unwrap_or_default().to_owned();
            file = field
                .bytes()
                .await
                .map_err(|e| AppError::BadRequest(format!("reading the file: {}", e.body_text())))?
                .to_vec();
            continue;
        }
        let text = field.text().await.unwrap_or_default();
        match name.as_str() {
            "labels" => labels = text,
            "input" => input = text,
            "resizeMode" => resize = text,
            "pixelRange" => range = text,
            _ => {}
        }
    }
    let req = ImportRequest {
        file_name,
        file,
        labels: parse_labels(&labels),
        input: parse_input(Some(&input), Some(&resize), Some(&range))?,
    };
    match start_import(&state, project.id, req).await {
        Ok((job, _)) => Ok(job_page(&project, &job).into_response()),
        Err(ImportRefused::Model(e)) => {
            let mut message = e.summary;
            if !e.problems.is_empty() {
                message = format!("{message}: {}", e.problems.join("; "));
            }
            Ok(back_with_error(&project, &message))
        }
        Err(ImportRefused::Studio(e @ AppError::BadRequest(_))) => {
            Ok(back_with_error(&project, &e.public_message()))
        }
        Err(ImportRefused::Studio(e)) => Err(e.into()),
    }
}

/// Back to the Deploy page with a message (a redirect, so a reload does
/// not post the form again).
fn back_with_error(project: &tinystudio_storage::projects::Project, message: &str) -> Response {
    let query = url_encode(message);
    Redirect::to(&format!("/projects/{}/deploy?error={query}", project.id)).into_response()
}

/// A document of the studio's own, in the studio's frame.
#[derive(Template)]
#[template(path = "docs/page.html")]
struct DocPage {
    title: &'static str,
    /// Rendered from our own markdown, with any raw HTML in it escaped.
    html: String,
}

/// Markdown to HTML; raw HTML in the source is shown as text.
fn markdown(source: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser, html};
    let parser = Parser::new_ext(source, Options::ENABLE_TABLES).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        other => other,
    });
    let mut out = String::with_capacity(source.len() * 3 / 2);
    html::push_html(&mut out, parser);
    out
}

/// The firmware crate's README, served by the studio so the Deploy page's
/// links work offline.
pub async fn firmware_readme() -> Result<Html<String>, PageError> {
    const README: &str = include_str!("../../../firmware/README.md");
    render(&DocPage {
        title: "Firmware",
        html: markdown(README),
    })
}
