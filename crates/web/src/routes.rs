//! The route table: every route with its method, path and the [`Access`] it
//! requires, in one list that both builds the axum `Router` and is handed to
//! the access test (`tests/access.rs`). A route cannot be added without
//! saying who may use it, and the test covers it the day it is added.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use std::collections::HashSet;

use axum::http::{Method, Uri};
use axum::middleware;
use axum::response::Redirect;
use axum::routing::{MethodFilter, MethodRouter};

use crate::auth::{self, Access};
use crate::{AppState, WebConfig};

/// One route as the access test sees it.
#[derive(Debug, Clone)]
pub struct RouteInfo {
    /// `None`: any method (the catch-alls that answer "unsupported").
    pub method: Option<Method>,
    pub path: &'static str,
    pub access: Access,
}

struct Entry {
    info: RouteInfo,
    handler: MethodRouter<AppState>,
}

/// The table being filled by `api::routes`, `pages::routes` and the rest.
pub struct Table<'a> {
    pub config: &'a WebConfig,
    entries: Vec<Entry>,
}

impl Table<'_> {
    /// Adds `method path`, reachable with `access`.
    pub fn add<H, T>(&mut self, method: Method, path: &'static str, access: Access, handler: H)
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add_limited(method, path, access, handler, None);
    }

    /// As [`Table::add`], with a request body limit for this route.
    pub fn add_limited<H, T>(
        &mut self,
        method: Method,
        path: &'static str,
        access: Access,
        handler: H,
        limit: Option<DefaultBodyLimit>,
    ) where
        H: Handler<T, AppState>,
        T: 'static,
    {
        // Every method the table uses is a standard one.
        let filter = MethodFilter::try_from(method.clone()).unwrap_or(MethodFilter::GET);
        let mut router = axum::routing::on(filter, handler);
        if let Some(limit) = limit {
            router = router.layer(limit);
        }
        self.entries.push(Entry {
            info: RouteInfo {
                method: Some(method),
                path,
                access,
            },
            handler: router,
        });
    }

    /// A route for every method (answers that say what is supported).
    pub fn any<H, T>(&mut self, path: &'static str, access: Access, handler: H)
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.entries.push(Entry {
            info: RouteInfo {
                method: None,
                path,
                access,
            },
            handler: axum::routing::any(handler),
        });
    }
}

impl Table<'_> {
    /// For each page form's POST without a page of its own at that path: a
    /// GET that sends the browser to the page the form belongs to (the
    /// nearest path above it with a GET), so that reloading or bookmarking
    /// the URL a form answered at shows that page rather than a bare 405.
    /// It requires what the POST does.
    fn add_page_gets(&mut self) {
        let gets: HashSet<&'static str> = self
            .entries
            .iter()
            .filter(|e| e.info.method == Some(Method::GET))
            .map(|e| e.info.path)
            .collect();
        let posts: Vec<(&'static str, Access, usize)> = self
            .entries
            .iter()
            .filter(|e| e.info.method == Some(Method::POST))
            .map(|e| e.info.path)
            .filter(|path| !auth::is_api(path) && !gets.contains(path))
            .map(|path| {
                let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
                let keep = (0..segments.len())
                    .rev()
                    .find(|&n| gets.contains(format!("/{}", segments[..n].join("/")).as_str()))
                    .unwrap_or(0);
                let access = self
                    .entries
                    .iter()
                    .find(|e| e.info.path == path && e.info.method == Some(Method::POST))
                    .map(|e| e.info.access)
                    .unwrap_or(Access::Person);
                (path, access, keep)
            })
            .collect();
        for (path, access, keep) in posts {
            self.add(Method::GET, path, access, move |uri: Uri| async move {
                let above: Vec<&str> = uri
                    .path()
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .take(keep)
                    .collect();
                Redirect::to(&format!("/{}", above.join("/")))
            });
        }
    }
}

fn fill(config: &WebConfig) -> Vec<Entry> {
    let mut table = Table {
        config,
        entries: Vec::new(),
    };
    table.add(Method::GET, "/healthz", Access::Public, || async { "ok" });
    crate::assets::routes(&mut table);
    crate::pages::routes(&mut table);
    table.add_page_gets();
    crate::api::routes(&mut table);
    table.entries
}

/// Every route of the studio, for the access test and the docs.
pub fn list(config: &WebConfig) -> Vec<RouteInfo> {
    fill(config).into_iter().map(|e| e.info).collect()
}

/// The routes, each behind [`auth::guard`] with its declared access.
pub fn router(state: &AppState) -> Router<AppState> {
    let mut router = Router::new();
    for Entry { info, handler } in fill(&state.config) {
        let guard = middleware::from_fn_with_state((state.clone(), info.access), auth::guard);
        // A method's route gets the guard on that method only (a method the
        // path lacks still answers 405); an every-method route is a
        // fallback, which `route_layer` would not reach.
        let mut handler = match info.method {
            Some(_) => handler.route_layer(guard),
            None => handler.layer(guard),
        };
        if crate::pages::hands_out_local_cookie(info.path) {
            handler = handler.layer(middleware::from_fn_with_state(
                state.clone(),
                crate::pages::set_local_cookie,
            ));
        }
        router = router.route(info.path, handler);
    }
    router
}
