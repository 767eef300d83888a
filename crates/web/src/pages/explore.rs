//! The data explorer's page: every sample on a 2-D map of its backbone
//! features (drawn by `static/explorer.js` on a canvas), coloured by label;
//! hovering shows the thumbnail, a click opens the sample. The samples that
//! lie nearer another label than their own are ringed on the map and listed
//! below it (the list works without JavaScript).

use askama::Template;
use axum::extract::State;
use axum::response::{Html, Redirect};
use serde_json::json;
use tinystudio_domain::jobs::ExploreOutput;
use tinystudio_storage::jobs::Job;

use super::{Nav, PageError, render};
use crate::AppState;
use crate::actions::exploring::{latest, start_exploring};
use crate::auth::{PageProject, Person};

/// Label colours, in order (Tableau 10: told apart by most people).
const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];
/// Flagged samples listed under the map.
const LISTED: usize = 60;

pub struct Flagged {
    pub id: String,
    pub label: String,
    pub nearer: String,
    pub testing: bool,
}

#[derive(Template)]
#[template(path = "explore/page.html")]
struct ExplorePage {
    nav: Nav,
    job: Option<Job>,
    /// The map for the script, as JSON safe inside a `<script>` element.
    map_json: String,
    /// The labels, in the order of their colours (the script colours the
    /// keys: the page's policy allows no inline styles).
    legend: Vec<String>,
    explained: String,
    points: usize,
    flagged: Vec<Flagged>,
    flagged_total: usize,
}

impl ExplorePage {
    fn running(&self) -> bool {
        self.job.as_ref().is_some_and(|j| !j.status.is_finished())
    }
}

pub async fn page(
    State(state): State<AppState>,
    PageProject(project): PageProject,
) -> Result<Html<String>, PageError> {
    let (job, map) = match latest(&state, project.id).await? {
        Some((job, map)) => (Some(job), map),
        None => (None, None),
    };
    let mut page = ExplorePage {
        nav: Nav::new(&project, "explore"),
        job,
        map_json: String::new(),
        legend: Vec::new(),
        explained: String::new(),
        points: 0,
        flagged: Vec::new(),
        flagged_total: 0,
    };
    if let Some(map) = map {
        fill(&mut page, &map);
    }
    render(&page)
}

fn fill(page: &mut ExplorePage, map: &ExploreOutput) {
    page.legend = map.labels.clone();
    page.explained = format!(
        "{}: the horizontal axis holds {:.0} % of the features' variance, the vertical {:.0} %",
        map.method,
        map.explained[0] * 100.0,
        map.explained[1] * 100.0
    );
    page.points = map.points.len();
    let name = |i: Option<usize>| {
        i.and_then(|i| map.labels.get(i))
            .cloned()
            .unwrap_or_else(|| "no label".into())
    };
    // The surest first.
    let mut flagged: Vec<_> = map.points.iter().filter(|p| p.nearer.is_some()).collect();
    flagged.sort_by(|a, b| b.margin.unwrap_or(0.0).total_cmp(&a.margin.unwrap_or(0.0)));
    page.flagged_total = flagged.len();
    page.flagged = flagged
        .iter()
        .take(LISTED)
        .map(|p| Flagged {
            id: p.sample.to_string(),
            label: name(p.label),
            nearer: name(p.nearer),
            testing: p.testing,
        })
        .collect();
    // Compact rows for the script: [x, y, label or -1, testing, nearer or -1, id].
    let rows: Vec<_> = map
        .points
        .iter()
        .map(|p| {
            let index = |i: Option<usize>| i.map_or(-1, |i| i as i64);
            json!([
                p.x,
                p.y,
                index(p.label),
                p.testing,
                index(p.nearer),
                p.sample
            ])
        })
        .collect();
    let data = json!({
        "labels": map.labels,
        "colours": (0..map.labels.len()).map(|i| PALETTE[i % PALETTE.len()]).collect::<Vec<_>>(),
        "points": rows,
    });
    // Labels are the person's text: no `</script>` may close the element.
    page.map_json = data.to_string().replace('<', "\\u003c");
}

/// "Map the samples": queues the job and shows the page, which follows it.
pub async fn start(
    State(state): State<AppState>,
    _user: Person,
    PageProject(project): PageProject,
) -> Result<Redirect, PageError> {
    start_exploring(&state, project.id).await?;
    Ok(Redirect::to(&format!("/projects/{}/explore", project.id)))
}
