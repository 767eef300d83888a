//! "What the network sees" for one sample: its input as the model gets it,
//! the feature maps of the first convolution and of a layer the person
//! chooses (from the int8 engine the board runs), and a convolution
//! playground: a 3x3 filter applied to the sample, with presets.
//! The images are PNG routes of their own, so the page works without
//! JavaScript; `static/network.js` redraws the filter's output as it is
//! edited.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use tinystudio_domain::SampleId;
use tinystudio_storage::models::Model;
use tinystudio_storage::projects::Project;
use tinystudio_storage::samples::{self, Sample};

use super::{Nav, PageError, models_with_selection, render};
use crate::actions::classify::png_data_url;
use crate::actions::network::{PRESETS, Seen, convolve, feature_grid, look, parse_kernel};
use crate::auth::PageProject;
use crate::{AppError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkQuery {
    model: Option<String>,
    layer: Option<usize>,
    /// The filter: nine numbers, comma-separated.
    k: Option<String>,
}

pub struct LayerChoice {
    pub index: usize,
    pub name: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "network/page.html")]
struct NetworkPage {
    nav: Nav,
    sample: Sample,
    models: Vec<(String, String)>,
    model: Option<String>,
    input: String,
    layers: Vec<LayerChoice>,
    first: Option<usize>,
    chosen: Option<usize>,
    kernel: Vec<String>,
    kernel_raw: String,
    presets: Vec<(&'static str, String)>,
}

fn raw(kernel: &[f32; 9]) -> String {
    kernel.map(|v| v.to_string()).join(",")
}

/// The sample and the model the page shows (the newest unless named).
async fn subject(
    state: &AppState,
    project: &Project,
    sample: &str,
    model: Option<&str>,
) -> Result<(Sample, Vec<Model>, Option<Model>), AppError> {
    let id: SampleId = sample
        .parse()
        .map_err(|_| AppError::NotFound("no such sample".into()))?;
    let sample = samples::get(&state.db, project.id, id).await?;
    let (models, selected) = models_with_selection(state, project.id, model).await?;
    Ok((sample, models, selected))
}

pub async fn page(
    State(state): State<AppState>,
    PageProject(project): PageProject,
    Path((_, sample)): Path<(String, String)>,
    Query(q): Query<NetworkQuery>,
) -> Result<Html<String>, PageError> {
    let (sample, models, model) = subject(&state, &project, &sample, q.model.as_deref()).await?;
    let kernel = match q.k.as_deref() {
        Some(k) => parse_kernel(k)?,
        None => PRESETS[0].1,
    };
    let mut page = NetworkPage {
        nav: Nav::new(&project, "dataset"),
        models: models
            .iter()
            .map(|m| (m.id.to_string(), format!("v{}", m.version)))
            .collect(),
        model: model.as_ref().map(|m| m.id.to_string()),
        input: String::new(),
        layers: Vec::new(),
        first: None,
        chosen: None,
        kernel: kernel.iter().map(|v| v.to_string()).collect(),
        kernel_raw: raw(&kernel),
        presets: PRESETS.iter().map(|(n, k)| (*n, raw(k))).collect(),
        sample,
    };
    if let Some(model) = &model {
        let seen = look(&state, project.id, page.sample.id, model).await?;
        let maps = seen.maps();
        let chosen = match q.layer {
            Some(l) if maps.contains(&l) => l,
            Some(_) => return Err(AppError::NotFound("no such layer".into()).into()),
            // A layer halfway down by default.
            None => maps.get(maps.len() / 2).copied().unwrap_or(0),
        };
        page.first = maps.first().copied();
        page.chosen = Some(chosen);
        page.layers = maps
            .iter()
            .map(|&i| {
                let [_, h, w, c] = seen.layers[i].shape;
                LayerChoice {
                    index: i,
                    name: format!("{}: {} {h}×{w}×{c}", i + 1, seen.layers[i].op),
                    selected: i == chosen,
                }
            })
            .collect();
        page.input = png_data_url(&seen.pixels, seen.width, seen.height, seen.channels);
    }
    render(&page)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageQuery {
    model: Option<String>,
    k: Option<String>,
}

async fn seen(
    state: &AppState,
    project: &Project,
    sample: &str,
    model: Option<&str>,
) -> Result<Seen, AppError> {
    let (sample, _, model) = subject(state, project, sample, model).await?;
    let model = model.ok_or_else(|| AppError::NotFound("the project has no model yet".into()))?;
    look(state, project.id, sample.id, &model).await
}

fn png_response(png: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "private, max-age=60"),
        ],
        png,
    )
        .into_response()
}

/// One layer's feature maps as an image grid.
pub async fn layer_png(
    State(state): State<AppState>,
    PageProject(project): PageProject,
    Path((_, sample, layer)): Path<(String, String, String)>,
    Query(q): Query<ImageQuery>,
) -> Result<Response, AppError> {
    let seen = seen(&state, &project, &sample, q.model.as_deref()).await?;
    let layer: usize = layer
        .parse()
        .ok()
        .filter(|l| seen.maps().contains(l))
        .ok_or_else(|| AppError::NotFound("no such layer".into()))?;
    let (png, _, _) = feature_grid(&seen.layers[layer])?;
    Ok(png_response(png))
}

/// The filter's output on the sample.
pub async fn convolve_png(
    State(state): State<AppState>,
    PageProject(project): PageProject,
    Path((_, sample)): Path<(String, String)>,
    Query(q): Query<ImageQuery>,
) -> Result<Response, AppError> {
    let kernel = parse_kernel(q.k.as_deref().unwrap_or_default())?;
    let seen = seen(&state, &project, &sample, q.model.as_deref()).await?;
    Ok(png_response(convolve(&seen, &kernel)?))
}
