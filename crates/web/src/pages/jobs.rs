//! A job's own page: status, progress, live log; for training, the epoch
//! curves and the validation confusion matrix.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{Html, Redirect};
use serde_json::Value;
use tinystudio_storage::jobs::{self, Job, JobEvent};

use super::{Nav, PageError, human_time, render};
use crate::auth::{LocalUser, PageProject};
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
}

pub struct EpochRow {
    pub epoch: i64,
    pub loss: String,
    pub accuracy: String,
    pub val_loss: String,
    pub val_accuracy: String,
}

/// A confusion matrix ready to draw: rows are true labels, columns predictions.
pub struct Confusion {
    pub labels: Vec<String>,
    pub rows: Vec<(String, Vec<Cell>)>,
}

pub struct Cell {
    pub count: i64,
    pub percent: String,
    /// 0..=10, the colour step of the heat map.
    pub heat: u8,
    pub diagonal: bool,
}

impl Confusion {
    /// From `labels` and a square matrix of counts in JSON.
    pub fn from_json(labels: &Value, matrix: &Value) -> Option<Self> {
        let labels: Vec<String> = labels
            .as_array()?
            .iter()
            .map(|l| l.as_str().map(str::to_owned))
            .collect::<Option<_>>()?;
        let rows = matrix.as_array()?;
        if rows.len() != labels.len() {
            return None;
        }
        let mut out = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let counts: Vec<i64> = row
                .as_array()?
                .iter()
                .map(Value::as_i64)
                .collect::<Option<_>>()?;
            let total: i64 = counts.iter().sum();
            let cells = counts
                .iter()
                .enumerate()
                .map(|(j, &count)| {
                    let share = if total > 0 {
                        count as f64 / total as f64
                    } else {
                        0.0
                    };
                    Cell {
                        count,
                        percent: format!("{:.0}%", share * 100.0),
                        heat: (share * 10.0).round() as u8,
                        diagonal: i == j,
                    }
                })
                .collect();
            out.push((labels[i].clone(), cells));
        }
        Some(Self { labels, rows: out })
    }
}

fn pct(v: &Value) -> String {
    v.as_f64()
        .map(|a| format!("{:.1}%", a * 100.0))
        .unwrap_or_default()
}

fn num(v: &Value) -> String {
    v.as_f64().map(|a| format!("{a:.4}")).unwrap_or_default()
}

impl JobPage {
    fn created(&self) -> String {
        human_time(self.job.created_at)
    }

    fn progress_percent(&self) -> i64 {
        (self.job.progress * 100.0).round() as i64
    }

    fn running(&self) -> bool {
        !self.job.status.is_finished()
    }

    fn is_training(&self) -> bool {
        self.job.kind == tinystudio_domain::JobKind::Train
    }
}

fn describe(events: &[JobEvent]) -> (Vec<String>, Vec<EpochRow>) {
    let mut log = Vec::new();
    let mut epochs = Vec::new();
    for e in events {
        match e.kind.as_str() {
            "log" => log.push(format!(
                "{}  {}",
                human_time(e.at).get(11..16).unwrap_or(""),
                e.data.as_str().unwrap_or("")
            )),
            "epoch" => epochs.push(EpochRow {
                epoch: e.data["epoch"].as_i64().unwrap_or(0),
                loss: num(&e.data["loss"]),
                accuracy: pct(&e.data["accuracy"]),
                val_loss: num(&e.data["valLoss"]),
                val_accuracy: pct(&e.data["valAccuracy"]),
            }),
            _ => {}
        }
    }
    (log, epochs)
}

/// Headline numbers of a finished job's result.
fn summary(job: &Job) -> Vec<(String, String)> {
    let Some(result) = &job.result else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut add = |name: &str, value: String| {
        if !value.is_empty() {
            out.push((name.to_owned(), value));
        }
    };
    add(
        "Validation accuracy (float)",
        pct(&result["validationAccuracy"]),
    );
    add(
        "Validation accuracy (int8)",
        pct(&result["int8ValidationAccuracy"]),
    );
    add("Accuracy", pct(&result["accuracy"]));
    add(
        "Model version",
        result["modelVersion"]
            .as_i64()
            .map(|v| format!("v{v}"))
            .unwrap_or_default(),
    );
    if let Some(t) = result["timingMs"].as_object() {
        let parts: Vec<String> = t
            .iter()
            .map(|(k, v)| format!("{k} {} ms", v.as_i64().unwrap_or(0)))
            .collect();
        add("Time", parts.join(", "));
    }
    if let Some(w) = result["warning"].as_str() {
        add("Warning", w.to_owned());
    }
    out
}

pub async fn page(
    State(state): State<AppState>,
    PageProject(project): PageProject,
    Path((_, id)): Path<(String, String)>,
) -> Result<Html<String>, PageError> {
    let job = crate::api::jobs::load(&state, project.id, &id).await?;
    let events = jobs::events_since(&state.db, job.id, 0, 10_000).await?;
    let (log, epochs) = describe(&events);
    let confusion = job
        .result
        .as_ref()
        .and_then(|r| Confusion::from_json(&r["labels"], &r["confusionMatrix"]));
    let active = match job.kind {
        tinystudio_domain::JobKind::Train => "impulse",
        tinystudio_domain::JobKind::Test => "test",
        _ => "deploy",
    };
    render(&JobPage {
        nav: Nav::new(&project, active),
        summary: summary(&job),
        job,
        log,
        epochs,
        confusion,
    })
}

pub async fn cancel(
    State(state): State<AppState>,
    _user: LocalUser,
    PageProject(project): PageProject,
    Path((_, id)): Path<(String, String)>,
) -> Result<Redirect, PageError> {
    let job = crate::api::jobs::load(&state, project.id, &id).await?;
    jobs::request_cancel(&state.db, project.id, job.id)
        .await
        .map_err(AppError::from)?;
    Ok(Redirect::to(&format!(
        "/projects/{}/jobs/{}",
        project.id, job.id
    )))
}
