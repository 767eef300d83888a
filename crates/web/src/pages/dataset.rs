use askama::Template;
use axum::Form;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use tinystudio_domain::{Category, Label, SampleId};
use tinystudio_storage::samples::{self, Counts, Sample, SampleChange};

use super::capture::CapturePanel;
use super::view::url_encode;
use super::{Nav, PageError, human_bytes, human_time, render};
use crate::actions::ingest::FileOutcome;
use crate::actions::samples::{filter_from, upload_files};
use crate::auth::{PageProject, Person};
use crate::{AppError, AppState};

/// Samples per page of the grid.
const PAGE_SIZE: i64 = 60;

#[derive(Deserialize, Default)]
pub struct DatasetQuery {
    label: Option<String>,
    /// `1` shows only samples without a label.
    unlabeled: Option<String>,
    category: Option<String>,
    page: Option<i64>,
    /// A message from the last form post, shown once.
    done: Option<String>,
    /// What went wrong in the last form post.
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "dataset/list.html")]
struct DatasetPage {
    nav: Nav,
    counts: Counts,
    samples: Vec<Sample>,
    total: i64,
    page: i64,
    pages: i64,
    filter_label: String,
    filter_category: String,
    unlabeled: bool,
    labels: Vec<String>,
    has_unlabeled: bool,
    done: Option<String>,
    error: Option<String>,
    /// The current filter as a query string, for links and redirects.
    query: String,
    capture: CapturePanel,
}

impl DatasetPage {
    fn size(&self, s: &Sample) -> String {
        human_bytes(s.size_bytes)
    }

    fn page_link(&self, page: i64) -> String {
        format!("?{}&page={page}", self.query)
    }

    /// Page numbers to show: first, last and a window around the current one.
    fn page_numbers(&self) -> Vec<i64> {
        let mut pages: Vec<i64> = (1..=self.pages)
            .filter(|p| *p == 1 || *p == self.pages || (p - self.page).abs() <= 2)
            .collect();
        pages.dedup();
        pages
    }

    fn label_or_dash<'a>(&self, label: &'a Option<String>) -> &'a str {
        label.as_deref().unwrap_or("unlabeled")
    }

    fn is_current(&self, page: i64) -> bool {
        page == self.page
    }

    /// Share of all samples in `n`, as a whole percentage.
    fn percent(&self, n: &i64) -> i64 {
        if self.counts.total == 0 {
            0
        } else {
            (*n * 100 + self.counts.total / 2) / self.counts.total
        }
    }
}

pub async fn page(
    State(state): State<AppState>,
    PageProject(project): PageProject,
    Query(q): Query<DatasetQuery>,
) -> Result<Html<String>, PageError> {
    let filter_label = q.label.unwrap_or_default();
    let filter_category = q.category.unwrap_or_default();
    let unlabeled = q.unlabeled.as_deref() == Some("1");
    let filter = filter_from(Some(&filter_category), Some(&filter_label), unlabeled)?;
    let counts = samples::counts(&state.db, project.id).await?;
    let page = q.page.unwrap_or(1).max(1);
    let (total, samples) = samples::list(
        &state.db,
        project.id,
        &filter,
        PAGE_SIZE,
        (page - 1) * PAGE_SIZE,
    )
    .await?;
    let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let labels = counts
        .labels
        .iter()
        .filter_map(|l| l.label.clone())
        .collect();
    let has_unlabeled = counts.labels.iter().any(|l| l.label.is_none());
    let query = format!(
        "label={}&category={}&unlabeled={}",
        url_encode(&filter_label),
        url_encode(&filter_category),
        if unlabeled { "1" } else { "" }
    );
    render(&DatasetPage {
        nav: Nav::new(&project, "dataset"),
        counts,
        samples,
        total,
        page,
        pages,
        filter_label,
        filter_category,
        unlabeled,
        labels,
        has_unlabeled,
        done: q.done,
        error: q.error,
        query,
        capture: CapturePanel::new(&state, project.id, None).await?,
    })
}

fn dataset_url(project: &tinystudio_storage::projects::Project, query: &str, done: &str) -> String {
    format!(
        "/projects/{}/dataset?{query}&done={}",
        project.id,
        url_encode(done)
    )
}

/// Back to the Dataset page with what went wrong, shown as an error.
fn dataset_error(
    project: &tinystudio_storage::projects::Project,
    query: &str,
    error: &str,
) -> String {
    format!(
        "/projects/{}/dataset?{query}&error={}",
        project.id,
        url_encode(error)
    )
}

/// The upload form. With JavaScript the page posts batches here with
/// `Accept: application/json` and shows progress; without, the form posts
/// once and comes back to the page with a summary.
pub async fn upload(
    State(state): State<AppState>,
    _user: Person,
    PageProject(project): PageProject,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, PageError> {
    let wants_json = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let result = upload_files(&state, project.id, multipart).await;
    if wants_json {
        return Ok(match result {
            Ok(files) => {
                axum::Json(serde_json::json!({ "success": true, "files": files })).into_response()
            }
            Err(e) => e.into_response(),
        });
    }
    let files: Vec<FileOutcome> = match result {
        Ok(files) => files,
        // A refused upload (no file chosen, too large): back to the page
        // with the reason, as an error.
        Err(e @ (AppError::BadRequest(_) | AppError::PayloadTooLarge(_))) => {
            return Ok(
                Redirect::to(&dataset_error(&project, "", &e.public_message())).into_response(),
            );
        }
        Err(e) => return Err(e.into()),
    };
    let stored = files.iter().filter(|f| f.success).count();
    let skipped = files.iter().filter(|f| f.duplicate).count();
    let mut message = format!("Uploaded {stored} of {} files.", files.len());
    if skipped > 0 {
        message.push_str(&format!(" {skipped} already in the project (skipped)."));
    }
    let failures: Vec<&str> = files
        .iter()
        .filter(|f| !f.success && !f.duplicate)
        .take(5)
        .map(|f| f.error.as_deref().unwrap_or("failed"))
        .collect();
    if failures.is_empty() {
        return Ok(Redirect::to(&dataset_url(&project, "", &message)).into_response());
    }
    // Failures are errors, with the summary beside them.
    let error = format!("{message} {}", failures.join(" "));
    Ok(Redirect::to(&dataset_error(&project, "", &error)).into_response())
}

/// The grid's selection form: ids plus one action.
pub async fn bulk(
    State(state): State<AppState>,
    _user: Person,
    PageProject(project): PageProject,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Redirect, PageError> {
    let get = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    let ids = form
        .iter()
        .filter(|(k, _)| k == "ids")
        .map(|(_, v)| v.parse::<SampleId>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| AppError::BadRequest("invalid sample id in the selection".into()))?;
    let query = get("query");
    if ids.is_empty() {
        return Ok(Redirect::to(&dataset_error(
            &project,
            query,
            "Select samples first.",
        )));
    }
    let message = match get("action") {
        "delete" => {
            let n = samples::delete(&state.db, project.id, &ids).await?;
            format!("Deleted {n} samples.")
        }
        "label" => {
            let label = match Label::parse(get("label")) {
                Ok(label) => label,
                Err(e) => {
                    let e = AppError::from(e);
                    return Ok(Redirect::to(&dataset_error(
                        &project,
                        query,
                        &e.public_message(),
                    )));
                }
            };
            let change = SampleChange {
                label: Some(Some(label.clone())),
                category: None,
            };
            let n = samples::update(&state.db, project.id, &ids, &change).await?;
            format!("Labelled {n} samples \"{label}\".")
        }
        "unlabel" => {
            let change = SampleChange {
                label: Some(None),
                category: None,
            };
            let n = samples::update(&state.db, project.id, &ids, &change).await?;
            format!("Removed the label of {n} samples.")
        }
        action @ ("training" | "testing") => {
            let category: Category = action.parse()?;
            let change = SampleChange {
                label: None,
                category: Some(category),
            };
            let n = samples::update(&state.db, project.id, &ids, &change).await?;
            format!("Moved {n} samples to {category}.")
        }
        other => return Err(AppError::BadRequest(format!("unknown action {other:?}")).into()),
    };
    Ok(Redirect::to(&dataset_url(&project, query, &message)))
}

pub async fn rebalance(
    State(state): State<AppState>,
    _user: Person,
    PageProject(project): PageProject,
) -> Result<Redirect, PageError> {
    let moved = samples::rebalance(&state.db, project.id).await?;
    let message = format!("Rebalanced to 80/20 per label: {moved} samples moved.");
    Ok(Redirect::to(&dataset_url(&project, "", &message)))
}

#[derive(Template)]
#[template(path = "dataset/sample.html")]
struct SamplePage {
    nav: Nav,
    sample: Sample,
    size: String,
    created: String,
    done: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct SampleQuery {
    done: Option<String>,
}

fn parse_sample_id(raw: &str) -> Result<SampleId, AppError> {
    raw.parse()
        .map_err(|_| AppError::NotFound("no such sample".into()))
}

pub async fn sample_page(
    State(state): State<AppState>,
    PageProject(project): PageProject,
    Path((_, sample_id)): Path<(String, String)>,
    Query(q): Query<SampleQuery>,
) -> Result<Html<String>, PageError> {
    let sample = samples::get(&state.db, project.id, parse_sample_id(&sample_id)?).await?;
    render(&SamplePage {
        nav: Nav::new(&project, "dataset"),
        size: human_bytes(sample.size_bytes),
        created: human_time(sample.created_at),
        sample,
        done: q.done,
    })
}

#[derive(Deserialize)]
pub struct SampleForm {
    action: String,
    label: Option<String>,
    category: Option<String>,
}

pub async fn sample_edit(
    State(state): State<AppState>,
    _user: Person,
    PageProject(project): PageProject,
    Path((_, sample_id)): Path<(String, String)>,
    Form(form): Form<SampleForm>,
) -> Result<Redirect, PageError> {
    let id = parse_sample_id(&sample_id)?;
    if form.action == "delete" {
        samples::delete(&state.db, project.id, &[id]).await?;
        return Ok(Redirect::to(&dataset_url(
            &project,
            "",
            "Deleted 1 sample.",
        )));
    }
    let label = match form.label.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(raw) => Some(Some(Label::parse(raw)?)),
    };
    let category = form
        .category
        .as_deref()
        .map(str::parse::<Category>)
        .transpose()?;
    samples::update(
        &state.db,
        project.id,
        &[id],
        &SampleChange { label, category },
    )
    .await?;
    Ok(Redirect::to(&format!(
        "/projects/{}/samples/{id}?done={}",
        project.id,
        url_encode("Saved.")
    )))
}
