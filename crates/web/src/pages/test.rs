//! The Test step: the int8 model (or the float one) over the test set, and
//! live classification of one image.

use askama::Template;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Query, State};
use axum::response::{Html, Redirect};
use serde::Deserialize;
use tinystudio_domain::jobs::{Test, TestOutput};
use tinystudio_domain::{ModelId, SampleId};
use tinystudio_storage::jobs::Job;
use tinystudio_storage::models::{self, Model};
use tinystudio_storage::{BlobKey, samples};

use super::view::{Confusion, percent, url_encode};
use super::{Nav, PageError, render};
use crate::actions::classify::{Classification, classify};
use crate::actions::testing::{DEFAULT_THRESHOLD, latest_results, latest_test, start_test};
use crate::auth::{PageProject, Person};
use crate::{AppError, AppState};

#[derive(Template)]
#[template(path = "test/page.html")]
struct TestPage {
    nav: Nav,
    models: Vec<Model>,
    selected: Option<Model>,
    job: Option<Job>,
    report: Option<Report>,
    live: Option<Classification>,
    live_name: String,
    error: Option<String>,
    threshold: f64,
    /// The model's newest int8 and float32 results side by side, when it
    /// has both: (what, int8, float32).
    comparison: Vec<(String, String, String)>,
}

/// A finished test job, ready to show.
struct Report {
    accuracy: String,
    precision: String,
    uncertain: u64,
    /// The threshold, two decimals.
    threshold: String,
    total: usize,
    per_class: Vec<(String, String, String, String)>,
    confusion: Option<Confusion>,
    /// Samples not classified as their label: (id, label, shown as, score),
    /// "shown as" being "uncertain" below the threshold.
    misclassified: Vec<(String, String, String, String)>,
}

impl Report {
    fn new(result: &TestOutput) -> Self {
        Report {
            accuracy: percent(result.accuracy),
            precision: result.precision.to_string(),
            uncertain: result.uncertain,
            threshold: format!("{:.2}", result.threshold),
            total: result.samples.len(),
            per_class: result
                .per_class
                .iter()
                .map(|c| {
                    (
                        c.label.clone(),
                        percent(c.precision),
                        percent(c.recall),
                        percent(c.f1),
                    )
                })
                .collect(),
            confusion: Confusion::of_test(&result.labels, &result.samples, result.threshold),
            misclassified: result
                .samples
                .iter()
                .filter(|s| !s.correct || s.uncertain)
                .take(60)
                .map(|s| {
                    (
                        s.sample_id.to_string(),
                        s.label.clone(),
                        if s.uncertain {
                            format!("uncertain (top {})", s.predicted)
                        } else {
                            s.predicted.clone()
                        },
                        format!("{:.2}", s.score),
                    )
                })
                .collect(),
        }
    }
}

/// The rows comparing a model's int8 and float32 results.
fn comparison(int8: &TestOutput, float: &TestOutput) -> Vec<(String, String, String)> {
    let mut rows = vec![
        (
            "Accuracy".to_owned(),
            percent(int8.accuracy),
            percent(float.accuracy),
        ),
        (
            "Uncertain".to_owned(),
            format!("{} (below {:.2})", int8.uncertain, int8.threshold),
            format!("{} (below {:.2})", float.uncertain, float.threshold),
        ),
        (
            "Test samples".to_owned(),
            int8.samples.len().to_string(),
            float.samples.len().to_string(),
        ),
    ];
    for c in &int8.per_class {
        let other = float.per_class.iter().find(|f| f.label == c.label);
        rows.push((
            format!("F1 {}", c.label),
            percent(c.f1),
            other.map(|f| percent(f.f1)).unwrap_or_default(),
        ));
    }
    rows.push((
        "Inference".to_owned(),
        format!("{} ms", int8.timing_ms.inference),
        format!("{} ms", float.timing_ms.inference),
    ));
    rows
}

impl TestPage {
    fn score_rows(&self) -> Vec<(String, String, u32)> {
        let Some(live) = &self.live else {
            return Vec::new();
        };
        live.scores
            .iter()
            .map(|(label, p)| {
                let p = p.as_f64().unwrap_or(0.0);
                (label.clone(), format!("{p:.5}"), (p * 100.0).round() as u32)
            })
            .collect()
    }

    /// Whether the live result's top score is below the threshold.
    fn live_uncertain(&self) -> bool {
        self.live.as_ref().is_some_and(|l| {
            l.scores
                .get(&l.predicted)
                .and_then(|p| p.as_f64())
                .is_some_and(|p| p < self.threshold)
        })
    }

    fn running(&self) -> bool {
        self.job.as_ref().is_some_and(|j| !j.status.is_finished())
    }

    fn is_selected(&self, m: &Model) -> bool {
        self.selected.as_ref().is_some_and(|s| s.id == m.id)
    }

    fn progress(&self) -> i64 {
        self.job
            .as_ref()
            .map(|j| (j.progress * 100.0).round() as i64)
            .unwrap_or(0)
    }
}

#[derive(Deserialize, Default)]
pub struct TestQuery {
    model: Option<String>,
    sample: Option<String>,
    /// The token of a live classification just made (see `flash`).
    live: Option<String>,
    error: Option<String>,
}

/// A live classification handed from the form post to the page.
#[derive(Clone)]
struct Live(String, Classification);

async fn show(
    state: &AppState,
    project: &tinystudio_storage::projects::Project,
    model: Option<&str>,
    live: Option<(String, Classification)>,
    error: Option<String>,
) -> Result<Html<String>, PageError> {
    let (all, selected) = super::models_with_selection(state, project.id, model).await?;
    let job = match &selected {
        Some(m) => latest_test(state, project.id, m.id).await?,
        None => None,
    };
    let report = match &job {
        Some(j) => j.output::<Test>()?.as_ref().map(Report::new),
        None => None,
    };
    let comparison = match &selected {
        Some(m) => match latest_results(state, project.id, m.id).await? {
            (Some(int8), Some(float)) => self::comparison(&int8, &float),
            _ => Vec::new(),
        },
        None => Vec::new(),
    };
    let (live_name, live) = match live {
        Some((name, c)) => (name, Some(c)),
        None => (String::new(), None),
    };
    render(&TestPage {
        nav: Nav::new(project, "test"),
        models: all,
        selected,
        job,
        report,
        live,
        live_name,
        error,
        threshold: DEFAULT_THRESHOLD,
        comparison,
    })
}

pub async fn page(
    State(state): State<AppState>,
    PageProject(project): PageProject,
    Query(q): Query<TestQuery>,
) -> Result<Html<String>, PageError> {
    // "Classify this sample" links land here with ?sample=; the live
    // classification form's post redirects here with ?live=.
    let mut live = q
        .live
        .as_deref()
        .and_then(|token| state.flashes.get::<Live>(project.id, token))
        .map(|Live(name, c)| (name, c));
    let mut error = q.error.clone();
    if let Some(raw) = q.sample.as_deref() {
        let id: SampleId = raw
            .parse()
            .map_err(|_| AppError::NotFound("no such sample".into()))?;
        let sample = samples::get(&state.db, project.id, id).await?;
        let bytes = state
            .blobs
            .get(&BlobKey::sample(&sample.sha256)?)
            .await?
            .ok_or_else(|| {
                AppError::Internal(format!("blob of sample {} is missing", sample.id))
            })?;
        match latest_or(&state, &project, q.model.as_deref()).await? {
            Some(model) => {
                live = Some((
                    sample.file_name.clone(),
                    classify(&state, &model, bytes.to_vec()).await?,
                ))
            }
            None => error = Some("train a model first".to_owned()),
        }
    }
    show(&state, &project, q.model.as_deref(), live, error).await
}

async fn latest_or(
    state: &AppState,
    project: &tinystudio_storage::projects::Project,
    model: Option<&str>,
) -> Result<Option<Model>, AppError> {
    Ok(match model.and_then(|m| m.parse::<ModelId>().ok()) {
        Some(id) => Some(models::get(&state.db, project.id, id).await?),
        None => models::list(&state.db, project.id)
            .await?
            .into_iter()
            .next(),
    })
}

#[derive(Deserialize)]
pub struct RunForm {
    model: String,
    precision: String,
    threshold: f64,
}

/// "Classify all": starts a test job and comes back to this page.
pub async fn run(
    State(state): State<AppState>,
    _user: Person,
    PageProject(project): PageProject,
    axum::Form(form): axum::Form<RunForm>,
) -> Result<Redirect, PageError> {
    let model: ModelId = form
        .model
        .parse()
        .map_err(|_| AppError::NotFound("no such model".into()))?;
    start_test(
        &state,
        project.id,
        model,
        Some(&form.precision),
        Some(form.threshold),
    )
    .await?;
    Ok(Redirect::to(&format!(
        "/projects/{}/test?model={model}",
        project.id
    )))
}

/// Live classification of an uploaded image; redirects to the Test page
/// with the result (post, redirect, get: a reload does not post again).
pub async fn classify_upload(
    State(state): State<AppState>,
    _user: Person,
    PageProject(project): PageProject,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Redirect, PageError> {
    let mut multipart = multipart.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let (mut image, mut name, mut model) = (None, String::new(), None);
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| AppError::BadRequest(format!("malformed upload: {}", e.body_text())))?
    {
        match field.name() {
            Some("image") => {
                name = field.file_name().unwrap_or("image").to_owned();
                image = Some(
                    field
                        .bytes()
                        .await
                        .map_err(|e| AppError::BadRequest(e.body_text()))?,
                );
            }
            Some("model") => {
                model = Some(
                    field
                        .text()
                        .await
                        .map_err(|e| AppError::BadRequest(e.body_text()))?,
                )
            }
            _ => {}
        }
    }
    let back = |query: String| {
        let model = model
            .as_deref()
            .map(|m| format!("model={}&", url_encode(m)))
            .unwrap_or_default();
        Redirect::to(&format!("/projects/{}/test?{model}{query}", project.id))
    };
    let Some(image) = image.filter(|b| !b.is_empty()) else {
        return Ok(back(format!(
            "error={}",
            url_encode("choose an image first")
        )));
    };
    let Some(selected) = latest_or(&state, &project, model.as_deref()).await? else {
        return Ok(back(format!("error={}", url_encode("train a model first"))));
    };
    match classify(&state, &selected, image.to_vec()).await {
        Ok(result) => {
            let token = state.flashes.put(project.id, Live(name, result));
            Ok(back(format!("live={token}")))
        }
        Err(AppError::BadRequest(msg)) => Ok(back(format!(
            "error={}",
            url_encode(&format!("{name}: {msg}"))
        ))),
        Err(e) => Err(e.into()),
    }
}
