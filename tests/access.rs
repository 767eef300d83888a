//! Who may do what, tried on every route of the studio. The routes come
//! from the route table itself (`tinystudio_web::route_list`), the list
//! that builds the router, so a route added tomorrow is covered without
//! touching this file.
//!
//! The studio has accounts. The victim is project A (owner alice, viewer
//! vera; root is the admin who made the accounts and owns the projects made
//! before them). Every route is tried with credentials that must not open
//! it, and must be refused with:
//! - 401 when the credentials are missing or not valid (no credentials, a
//!   revoked key, a signed-in person's route with only a key missing): the
//!   caller is not known;
//! - 403 when the caller is known and the answer would not reveal anything
//!   (a key of the wrong scope, another project's key, a viewer writing, a
//!   non-admin on an admin route, a session without its CSRF token);
//! - 404 when a signed-in person asks for a project they have no part in:
//!   the same answer as for a project that does not exist.
//!
//! No refusal may name project A (its id, its name, its key's prefix).
//! Then each principal the table lets in gets through (neither 401 nor 403;
//! the handler may still refuse the empty request it was sent).

mod common;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tinystudio_domain::Role;
use tinystudio_storage::{members, users};
use tinystudio_web::{Access, RouteInfo};

use common::{TestApp, sign_in};

/// How a request is authenticated.
#[derive(Clone, Debug)]
enum Cred {
    None,
    Key(String),
    /// Session cookie and its CSRF token (`None`: the token is left out).
    Session(String, Option<String>),
}

struct Reply {
    status: StatusCode,
    body: String,
}

/// The route's path with every parameter filled in: the victim project for
/// `{project_id}`, fresh ids elsewhere (the access decision comes first).
fn concrete(path: &str, project: &str) -> String {
    path.split('/')
        .map(|seg| match seg {
            "{project_id}" => project.to_owned(),
            "{category}" => "training".to_owned(),
            "{name}" => "firmware.bin".to_owned(),
            "{file}" => "app.js".to_owned(),
            "{code}" => "ABCD-EFGH".to_owned(),
            "{*rest}" => "api/unknown".to_owned(),
            s if s.starts_with('{') => uuid::Uuid::new_v4().to_string(),
            s => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Sends the request; reads the body only when asked (an allowed call may
/// open an event stream that never ends).
async fn call(app: &TestApp, route: &RouteInfo, path: &str, cred: &Cred, read: bool) -> Reply {
    let method = route.method.clone().unwrap_or(Method::GET);
    let mut req = app.client.request(method, app.url(path));
    match cred {
        Cred::None => {}
        Cred::Key(key) => req = req.header("x-api-key", key),
        Cred::Session(cookie, csrf) => {
            req = req.header("cookie", cookie);
            if let Some(csrf) = csrf {
                req = req.header("x-csrf-token", csrf);
            }
        }
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let refused = matches!(
        status,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
    );
    Reply {
        status,
        body: if read || refused {
            r.text().await.unwrap_or_default()
        } else {
            String::new()
        },
    }
}

struct World {
    a_id: String,
    a_name: String,
    key_a: String,
    ingest_a: String,
    revoked_a: String,
    key_b: String,
    root: (String, String),
    alice: (String, String),
    vera: (String, String),
    mallory: (String, String),
}

async fn world(app: &TestApp) -> World {
    // Projects made on the local studio, before accounts: root inherits them.
    let a_name = "Victim Lighthouse Project".to_owned();
    let (a_id, key_a) = app.create_project(&a_name).await;
    let (_, key_b) = app.create_project("Other project").await;
    let ingest = app.ingestion_key(&a_id, &key_a, "camera").await;
    let (_, revoked) = app
        .send_json(
            Method::POST,
            &format!("/api/projects/{a_id}/keys"),
            &key_a,
            json!({ "name": "old" }),
        )
        .await;
    let (status, _) = app
        .send_json(
            Method::DELETE,
            &format!(
                "/api/projects/{a_id}/keys/{}",
                revoked["id"].as_str().unwrap()
            ),
            &key_a,
            json!(null),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let db = &app.app.state.db;
    users::create_first_admin(db, "root", "root password")
        .await
        .unwrap();
    let alice = users::create(db, "alice", "alice password", false)
        .await
        .unwrap();
    let vera = users::create(db, "vera", "vera password", false)
        .await
        .unwrap();
    users::create(db, "mallory", "mallory password", false)
        .await
        .unwrap();
    let a: tinystudio_domain::ProjectId = a_id.parse().unwrap();
    members::add(db, a, alice.id, Role::Owner).await.unwrap();
    members::add(db, a, vera.id, Role::Viewer).await.unwrap();

    World {
        root: sign_in(app, "root", "root password").await,
        alice: sign_in(app, "alice", "alice password").await,
        vera: sign_in(app, "vera", "vera password").await,
        mallory: sign_in(app, "mallory", "mallory password").await,
        a_id,
        a_name,
        key_a,
        ingest_a: ingest["apiKey"].as_str().unwrap().to_owned(),
        revoked_a: revoked["apiKey"].as_str().unwrap().to_owned(),
        key_b,
    }
}

fn session(s: &(String, String)) -> Cred {
    Cred::Session(s.0.clone(), Some(s.1.clone()))
}

fn names_project(route: &RouteInfo) -> bool {
    route.path.contains("{project_id}")
}

fn is_write(route: &RouteInfo) -> bool {
    !route.access.is_read()
}

/// The refusal each attempt must get, or `None` where the attempt is not a
/// refusal case for this route.
fn expected_refusal(route: &RouteInfo, attempt: &str) -> Option<StatusCode> {
    use StatusCode as S;
    let access = route.access;
    if access == Access::Public {
        return None;
    }
    match attempt {
        "no credentials" | "revoked key" => Some(S::UNAUTHORIZED),
        // A page or a person's route with any key; a project route with an
        // upload-only key.
        "ingestion-only key" => (access != Access::Ingestion).then_some(S::FORBIDDEN),
        "another project's key" => match access {
            // The key's own project: allowed.
            Access::Ingestion if !names_project(route) => None,
            _ => Some(S::FORBIDDEN),
        },
        "another user's session" => match access {
            Access::Ingestion => Some(S::UNAUTHORIZED),
            Access::Admin => Some(S::FORBIDDEN),
            _ if names_project(route) => Some(S::NOT_FOUND),
            // Their own things (their project list, a new project of theirs).
            _ => None,
        },
        "a viewer writing" => match access {
            Access::Ingestion => Some(S::UNAUTHORIZED),
            Access::Admin | Access::Board(_) => Some(S::FORBIDDEN),
            Access::Project(_) | Access::Capture(_) if is_write(route) => Some(S::FORBIDDEN),
            _ => None,
        },
        "a session without its CSRF token" => {
            let writes = !matches!(route.method, Some(Method::GET) | None);
            (writes && access != Access::Ingestion).then_some(S::FORBIDDEN)
        }
        _ => unreachable!("unknown attempt {attempt}"),
    }
}

/// Who must get through a route (on the victim project).
fn allowed(route: &RouteInfo, w: &World) -> Vec<(&'static str, Cred)> {
    let api = route.path.starts_with("/api") || route.path.starts_with("/v1");
    let mut who = Vec::new();
    match route.access {
        Access::Public => {
            if route.method == Some(Method::GET) {
                who.push(("anyone", Cred::None));
            }
        }
        Access::Person | Access::NewProject => who.push(("alice", session(&w.alice))),
        Access::Admin => who.push(("root (admin)", session(&w.root))),
        Access::Ingestion => {
            who.push(("ingestion key", Cred::Key(w.ingest_a.clone())));
            who.push(("full key", Cred::Key(w.key_a.clone())));
        }
        Access::Project(need) | Access::Capture(need) => {
            who.push(("alice (owner)", session(&w.alice)));
            if need == Role::Viewer {
                who.push(("vera (viewer)", session(&w.vera)));
            }
            if api {
                who.push(("full key", Cred::Key(w.key_a.clone())));
            }
        }
        Access::Board(_) => {
            who.push(("root (admin, owner)", session(&w.root)));
            if api {
                who.push(("full key made by the operator", Cred::Key(w.key_a.clone())));
            }
        }
    }
    who
}

async fn every_route_refuses_and_admits(app: TestApp) {
    let w = world(&app).await;
    let routes = tinystudio_web::route_list(&common::test_web_config());
    assert!(
        routes.len() > 80,
        "the table lists every route ({})",
        routes.len()
    );
    let a_prefix = &w.key_a[..10];
    let attempts: Vec<(&str, Cred)> = vec![
        ("no credentials", Cred::None),
        ("revoked key", Cred::Key(w.revoked_a.clone())),
        ("ingestion-only key", Cred::Key(w.ingest_a.clone())),
        ("another project's key", Cred::Key(w.key_b.clone())),
        ("another user's session", session(&w.mallory)),
        ("a viewer writing", session(&w.vera)),
        (
            "a session without its CSRF token",
            Cred::Session(w.alice.0.clone(), None),
        ),
    ];
    let mut tried = 0;
    for route in &routes {
        let path = concrete(route.path, &w.a_id);
        for (attempt, cred) in &attempts {
            let Some(expected) = expected_refusal(route, attempt) else {
                // Not refused (their own things), but still nothing of
                // project A for outsiders.
                if *attempt == "another user's session" && route.method == Some(Method::GET) {
                    let r = call(&app, route, &path, cred, true).await;
                    assert!(
                        !r.body.contains(&w.a_id) && !r.body.contains(&w.a_name),
                        "{:?} {} with {attempt}: names project A: {}",
                        route.method,
                        route.path,
                        r.body
                    );
                }
                continue;
            };
            let r = call(&app, route, &path, cred, true).await;
            tried += 1;
            assert_eq!(
                r.status, expected,
                "{:?} {} with {attempt}: {}",
                route.method, route.path, r.body
            );
            for secret in [&w.a_id, &w.a_name, &a_prefix.to_owned()] {
                assert!(
                    !r.body.contains(secret.as_str()),
                    "{:?} {} with {attempt}: the refusal names project A ({secret}): {}",
                    route.method,
                    route.path,
                    r.body
                );
            }
        }
    }
    assert!(tried > 400, "{tried} refusals tried");

    // Allowed principals get through; the calls that delete the project
    // come after the others, and signing out last of all.
    let deletes = |r: &RouteInfo| {
        (r.method == Some(Method::DELETE) && r.path == "/api/projects/{project_id}")
            || r.path.ends_with("/settings/delete")
    };
    // (`GET /logout` only leads back to the studio: it may come before.)
    let signs_out = |r: &RouteInfo| r.path == "/logout" && r.method == Some(Method::POST);
    let mut ordered: Vec<&RouteInfo> = routes
        .iter()
        .filter(|r| !deletes(r) && !signs_out(r))
        .collect();
    ordered.extend(routes.iter().filter(|r| deletes(r)));
    ordered.extend(routes.iter().filter(|r| signs_out(r)));
    let mut admitted = 0;
    for route in ordered {
        let path = concrete(route.path, &w.a_id);
        let mut who = allowed(route, &w);
        if deletes(route) {
            // The key first: once a person deletes the project its keys are
            // gone (401), while a person after the key gets 404.
            who.reverse();
        }
        for (who, cred) in who {
            let r = call(&app, route, &path, &cred, false).await;
            admitted += 1;
            assert!(
                r.status != StatusCode::UNAUTHORIZED && r.status != StatusCode::FORBIDDEN,
                "{:?} {} refused {who}: {} {}",
                route.method,
                route.path,
                r.status,
                r.body
            );
        }
    }
    assert!(admitted > 100, "{admitted} admissions tried");
    println!(
        "{} routes: {tried} refusals and {admitted} admissions tried",
        routes.len()
    );
}

/// The project list of a person shows their own projects only, and what a
/// key's scope opens is what the table says.
async fn people_see_their_own(app: TestApp) {
    let w = world(&app).await;
    let (cookie, csrf) = &w.mallory;
    let r = app
        .client
        .post(app.url("/api/projects"))
        .header("cookie", cookie)
        .header("x-csrf-token", csrf)
        .json(&json!({ "name": "Mallory's own" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let mine: Value = app
        .client
        .get(app.url("/api/projects"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = mine["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Mallory's own"]);
    // An ingestion key uploads, and reads nothing.
    let (status, body) = app
        .ingest(
            "training",
            Some(&w.ingest_a),
            &[("x-label", "car")],
            &[common::TestFile::new("car.png", common::png(32, 32, 1))],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app
        .get(&format!("/api/projects/{}/samples", w.a_id), &w.ingest_a)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The viewer reads the sample the key uploaded, and cannot delete it.
    let list: Value = app
        .client
        .get(app.url(&format!("/api/projects/{}/samples", w.a_id)))
        .header("cookie", &w.vera.0)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sample = list["samples"][0]["id"]
        .as_str()
        .expect("one sample")
        .to_owned();
    let r = app
        .client
        .delete(app.url(&format!("/api/projects/{}/samples/{sample}", w.a_id)))
        .header("cookie", &w.vera.0)
        .header("x-csrf-token", &w.vera.1)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

backend_tests!(every_route_refuses_and_admits, people_see_their_own);
