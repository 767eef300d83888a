//! Static files, compiled into the binary so the studio works offline and
//! from any working directory.

use axum::extract::Path;
use axum::http::{Method, header};
use axum::response::IntoResponse;

use crate::AppError;
use crate::auth::Access;
use crate::routes::Table;

const FILES: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../../static/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../static/app.js"),
    ),
    (
        "board.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../static/board.js"),
    ),
    (
        "capture.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../static/capture.js"),
    ),
    (
        "explorer.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../static/explorer.js"),
    ),
    (
        "network.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../static/network.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../../../static/favicon.svg"),
    ),
];

pub fn routes(t: &mut Table<'_>) {
    t.add(Method::GET, "/static/{file}", Access::Public, serve);
    // Browsers ask for it on pages that name no icon (a JSON error, a file).
    t.add(Method::GET, "/favicon.ico", Access::Public, || {
        serve(Path("favicon.svg".to_owned()))
    });
}

async fn serve(Path(file): Path<String>) -> Result<impl IntoResponse, AppError> {
    let (_, mime, body) = FILES
        .iter()
        .find(|(name, _, _)| *name == file)
        .ok_or_else(|| AppError::NotFound(format!("no static file {file:?}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, *mime),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        *body,
    ))
}
