//! The camera in a real browser: headless Chromium, driven over WebDriver
//! (chromedriver), with Chromium's fake camera playing a Y4M video made
//! here from a CIFAR-3 image. A burst from the Capture panel is stored with
//! its label and category and shows up without a reload; live
//! classification on the Test page predicts what `classify` predicts for
//! the image. Signed in with an account, the page's scripts send the
//! session's CSRF token. Screenshots go to `target/tmp/screenshots/`.
//!
//! The browser itself: `common/browser.rs`.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::browser::{self, Browser, Options, click, screenshot, type_into, until};
use common::{TestApp, TestFile, cifar3};
use fantoccini::{Client, Locator};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

backend_tests!(
    a_burst_is_stored_with_its_label_and_shows_at_once,
    the_preview_shows_the_impulse_crop_and_colour,
    live_classification_predicts_what_classify_predicts,
    a_signed_in_person_captures_with_the_session_csrf_token,
    an_upload_updates_the_counts_and_deleting_asks_first,
    the_pages_fit_a_phone
);

/// A Y4M video (YUV 4:2:0, BT.601 limited range, as Chromium's fake
/// camera reads it) of `frames`, at `fps`. The format is a text header and
/// raw planes per frame, too small to need a crate.
fn y4m(frames: &[image::RgbImage], fps: u32) -> Vec<u8> {
    let (w, h) = frames[0].dimensions();
    assert!(w % 2 == 0 && h % 2 == 0, "4:2:0 needs even sides");
    let mut out = format!("YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n").into_bytes();
    let luma = |[r, g, b]: [u8; 3]| {
        let (r, g, b) = (r as i32, g as i32, b as i32);
        (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16) as u8
    };
    let chroma = |[r, g, b]: [i32; 3]| {
        let u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128;
        let v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128;
        (u.clamp(0, 255) as u8, v.clamp(0, 255) as u8)
    };
    for frame in frames {
        out.extend_from_slice(b"FRAME\n");
        out.extend(frame.pixels().map(|p| luma(p.0)));
        let (mut us, mut vs) = (Vec::new(), Vec::new());
        for y in (0..h).step_by(2) {
            for x in (0..w).step_by(2) {
                // The average of each 2x2 block.
                let mut sum = [0i32; 3];
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let p = frame.get_pixel(x + dx, y + dy).0;
                    for (s, v) in sum.iter_mut().zip(p) {
                        *s += v as i32;
                    }
                }
                let (u, v) = chroma(sum.map(|s| (s + 2) / 4));
                us.push(u);
                vs.push(v);
            }
        }
        out.extend(us);
        out.extend(vs);
    }
    out
}

/// `image` scaled up to `side` pixels square, as a one-second Y4M loop at
/// 30 frames a second (a webcam's rate) whose frames all differ.
fn video_of(image: &[u8], side: u32, dir: &Path) -> PathBuf {
    let rgb = image::load_from_memory(image).unwrap().to_rgb8();
    let big = image::imageops::resize(&rgb, side, side, image::imageops::FilterType::Triangle);
    let frames: Vec<_> = (0..30u8)
        .map(|i| {
            // A 2x2 mark in the corner, another grey in each frame: every
            // frame differs (so a burst's photos differ whatever the
            // timing) and the picture the model sees hardly changes.
            let mut f = big.clone();
            for (x, y) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                f.put_pixel(x, y, image::Rgb([i * 8; 3]));
            }
            f
        })
        .collect();
    let path = dir.join("camera.y4m");
    std::fs::write(&path, y4m(&frames, 30)).unwrap();
    path
}

/// Headless Chromium with Chromium's fake camera playing `video`.
async fn browser(video: &Path) -> Browser {
    browser::start(Options {
        video: Some(video),
        ..Options::default()
    })
    .await
}

/// On a page with the Capture panel: starts the camera, takes one photo
/// with `label` (and `category`, if given) and waits until it is stored.
async fn take_one_photo(c: &Client, label: &str, category: Option<&str>, what: &str) {
    click(c, "capture-button").await;
    until(
        c,
        "return document.getElementById('capture-video').videoWidth",
        Duration::from_secs(15),
        &format!("the fake camera for {what}"),
    )
    .await;
    type_into(c, "capture-label", label).await;
    if let Some(category) = category {
        c.find(Locator::Id("capture-category"))
            .await
            .unwrap()
            .select_by_value(category)
            .await
            .unwrap();
    }
    click(c, "capture-button").await;
    until(
        c,
        "return document.getElementById('capture-status').dataset.stored === '1'",
        Duration::from_secs(20),
        &format!("{what} to be stored"),
    )
    .await;
}

fn backend_name(app: &TestApp) -> &'static str {
    if app.database_url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    }
}

async fn samples(app: &TestApp, project: &str, key: &str) -> Vec<Value> {
    let (status, body) = app
        .get(&format!("/api/projects/{project}/samples?limit=1000"), key)
        .await;
    assert_eq!(status, StatusCode::OK);
    body["samples"].as_array().unwrap().clone()
}

async fn a_burst_is_stored_with_its_label_and_shows_at_once(app: TestApp) {
    let (project, key) = app.create_project("camera").await;
    // A sample already there, so the grid and the counter have a start.
    let existing = cifar3("test", "ship").remove(0);
    let (status, _) = app
        .ingest("training", Some(&key), &[("x-label", "ship")], &[existing])
        .await;
    assert_eq!(status, StatusCode::OK);
    let dir = tempfile::tempdir().unwrap();
    let airplane = cifar3("test", "airplane").remove(0);
    let video = video_of(&airplane.bytes, 192, dir.path());
    let b = browser(&video).await;
    let c = &b.client;

    c.goto(&app.url(&format!("/projects/{project}/dataset")))
        .await
        .unwrap();
    // Survives only if the page is never reloaded.
    c.execute("window.notReloaded = true; return true", vec![])
        .await
        .unwrap();
    let button = c.find(Locator::Id("capture-button")).await.unwrap();
    assert_eq!(button.text().await.unwrap(), "Start camera");
    button.click().await.unwrap();
    until(
        c,
        "return document.getElementById('capture-video').videoWidth",
        Duration::from_secs(15),
        "the fake camera",
    )
    .await;
    // Once the camera is allowed, the list names the cameras it found. The
    // page lists them after the video starts playing, so this waits too.
    until(
        c,
        "return document.querySelectorAll(\"#capture-camera option[value^='device:']\").length",
        Duration::from_secs(15),
        "the fake camera to be listed",
    )
    .await;
    let cards_before = c
        .find_all(Locator::Css("#sample-grid li.card"))
        .await
        .unwrap()
        .len();
    assert_eq!(cards_before, 1);

    const N: usize = 5;
    type_into(c, "capture-label", "airplane").await;
    c.find(Locator::Id("capture-category"))
        .await
        .unwrap()
        .select_by_value("training")
        .await
        .unwrap();
    c.find(Locator::Css("input[name=capture-mode][value=burst]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.execute(
        &format!(
            "document.getElementById('capture-count').value = '{N}'; \
             document.getElementById('capture-interval').value = '200'; return true"
        ),
        vec![],
    )
    .await
    .unwrap();
    let button = c.find(Locator::Id("capture-button")).await.unwrap();
    assert_eq!(button.text().await.unwrap(), "Start burst");
    button.click().await.unwrap();
    until(
        c,
        &format!("return document.getElementById('capture-status').dataset.stored === '{N}'"),
        Duration::from_secs(30),
        "the burst to be stored",
    )
    .await;
    let status = c
        .find(Locator::Id("capture-status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        status,
        format!("Stored {N} of {N} photos labelled “airplane”.")
    );

    // The page was not reloaded; the grid and the counter show the photos.
    assert_eq!(
        c.execute("return window.notReloaded === true", vec![])
            .await
            .unwrap(),
        json!(true)
    );
    let cards = c
        .find_all(Locator::Css("#sample-grid li.card"))
        .await
        .unwrap();
    assert_eq!(cards.len(), cards_before + N);
    let total = c.find(Locator::Id("grid-total")).await.unwrap();
    assert_eq!(total.text().await.unwrap(), format!("{} matching", 1 + N));
    let first = cards[0].text().await.unwrap();
    assert!(
        first.contains("airplane") && first.contains("training"),
        "{first}"
    );
    // Each new card's thumbnail was served by the studio.
    until(
        c,
        "return [...document.querySelectorAll('#sample-grid li.captured img')]\
         .every(i => i.complete && i.naturalWidth > 0)",
        Duration::from_secs(10),
        "the new thumbnails",
    )
    .await;
    let count = |label: &str| {
        let script = format!(
            "return document.querySelector('#capture-counts tr[data-label=\"{label}\"] .count')\
             ?.textContent"
        );
        async move { c.execute(&script, vec![]).await.unwrap() }
    };
    assert_eq!(count("airplane").await, json!(N.to_string()));
    assert_eq!(count("ship").await, json!("1"));
    c.execute(
        "document.getElementById('capture-panel').scrollIntoView(); return true",
        vec![],
    )
    .await
    .unwrap();
    let shot = screenshot(c, &format!("capture-panel-{}", backend_name(&app))).await;
    assert!(std::fs::metadata(shot).unwrap().len() > 10_000);

    // Through the API: N JPEGs labelled airplane, in training.
    let stored = samples(&app, &project, &key).await;
    let captured: Vec<_> = stored.iter().filter(|s| s["label"] == "airplane").collect();
    assert_eq!(captured.len(), N);
    for s in &captured {
        assert_eq!(s["category"], "training", "{s}");
        assert_eq!(s["contentType"], "image/jpeg", "{s}");
        let name = s["fileName"].as_str().unwrap();
        assert!(
            name.starts_with("airplane.") && name.ends_with(".jpg"),
            "{name}"
        );
        assert_eq!(
            (s["width"].as_i64(), s["height"].as_i64()),
            (Some(192), Some(192))
        );
    }
    let hashes: std::collections::HashSet<_> = captured.iter().map(|s| &s["sha256"]).collect();
    assert!(hashes.len() > 1, "a burst takes different frames");

    // "Show a QR code" makes a link and shows it; the phone opens it with
    // no local cookie, only the link's token.
    c.find(Locator::Css("form[action$='/capture/links'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let qr = c
        .wait()
        .for_element(Locator::Id("capture-qr"))
        .await
        .unwrap();
    assert!(
        qr.attr("src")
            .await
            .unwrap()
            .unwrap()
            .starts_with("data:image/svg+xml;base64,")
    );
    let link = c
        .find(Locator::Id("capture-link-url"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        link.starts_with(&app.url(&format!("/projects/{project}/capture?token=cap_"))),
        "{link}"
    );
    screenshot(c, &format!("capture-qr-{}", backend_name(&app))).await;
    // The phone: another browser, with no cookie of the studio and its own
    // camera (a horse; the computer's camera photos are already stored, and
    // a copy of one in the testing set would rightly be refused).
    let phone_dir = tempfile::tempdir().unwrap();
    let horse = cifar3("test", "horse").remove(0);
    let phone = browser(&video_of(&horse.bytes, 192, phone_dir.path())).await;
    let p = &phone.client;
    p.goto(&link).await.unwrap();
    assert!(
        p.get_all_cookies().await.unwrap().is_empty(),
        "the phone's page hands out no cookie"
    );
    take_one_photo(p, "horse", Some("testing"), "the phone's photo").await;
    assert_eq!(
        p.execute(
            "return document.querySelector('#capture-counts tr[data-label=\"horse\"] .count')\
             ?.textContent",
            vec![],
        )
        .await
        .unwrap(),
        json!("1"),
        "the phone counts its photo"
    );
    assert_eq!(
        p.find_all(Locator::Css("#capture-recent li"))
            .await
            .unwrap()
            .len(),
        1,
        "the phone shows its own photo"
    );
    screenshot(p, &format!("capture-phone-{}", backend_name(&app))).await;
    let stored = samples(&app, &project, &key).await;
    let horses: Vec<_> = stored.iter().filter(|s| s["label"] == "horse").collect();
    assert_eq!(horses.len(), 1);
    assert_eq!(horses[0]["category"], "testing");
    assert_eq!(stored.len(), 1 + N + 1);

    phone.client.clone().close().await.unwrap();
    b.client.clone().close().await.unwrap();
}

async fn live_classification_predicts_what_classify_predicts(app: TestApp) {
    let (project, key) = app.create_project("live").await;
    app.upload_cifar3_training(&key).await;
    let job = app.start_training(&project, &key, Some(json!({}))).await;
    assert_eq!(app.run_pending_jobs().await, 1);
    let trained = app.job(&project, &key, &job).await;
    assert_eq!(trained["status"], "succeeded", "{trained}");
    let model = trained["result"]["modelId"].as_str().unwrap().to_owned();

    // The first test image the model is sure about, and what it predicts.
    let classify = |image: TestFile| {
        let url = app.url(&format!("/api/projects/{project}/models/{model}/classify"));
        let request = app
            .client
            .post(url)
            .header("x-api-key", &key)
            .body(image.bytes);
        async move {
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.unwrap()
        }
    };
    let mut chosen = None;
    'search: for label in ["airplane", "ship", "horse"] {
        for image in cifar3("test", label).into_iter().take(10) {
            let result = classify(image.clone()).await;
            let predicted = result["predicted"].as_str().unwrap().to_owned();
            if result["scores"][&predicted].as_f64().unwrap() >= 0.9 {
                chosen = Some((image, predicted));
                break 'search;
            }
        }
    }
    let (image, expected) = chosen.expect("a test image classified with at least 0.9");
    println!(
        "live stream of {} (classify predicts {expected})",
        image.name
    );

    let dir = tempfile::tempdir().unwrap();
    let video = video_of(&image.bytes, 192, dir.path());
    let b = browser(&video).await;
    let c = &b.client;
    c.goto(&app.url("/")).await.unwrap(); // the local user's cookie
    c.goto(&app.url(&format!("/projects/{project}/test")))
        .await
        .unwrap();
    click(c, "live-button").await;
    // Long enough for a steady rate: 40 frames.
    until(
        c,
        "return Number(document.getElementById('live-fps').dataset.frames) >= 40",
        Duration::from_secs(60),
        "40 live classifications",
    )
    .await;
    let read = |script: &str| {
        let script = script.to_owned();
        async move { c.execute(&script, vec![]).await.unwrap() }
    };
    let predicted = read("return document.getElementById('live-predicted').textContent").await;
    let average = read("return document.getElementById('live-fps').dataset.average").await;
    let recent = read("return document.getElementById('live-fps').textContent").await;
    let server_ms = read("return document.getElementById('live-ms').textContent").await;
    println!(
        "live classification in Chromium: {} frames a second on average, {} over the last 2 s, \
         {} ms per frame on the server",
        average.as_str().unwrap(),
        recent.as_str().unwrap(),
        server_ms.as_str().unwrap()
    );
    assert_eq!(predicted, json!(expected));
    let input = read("return document.getElementById('live-input').src").await;
    assert!(
        input
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,"),
        "the model's input is shown"
    );
    let top = read("return document.querySelector('#live-scores tr.top')?.dataset.label").await;
    assert_eq!(
        top,
        json!(expected),
        "the scores table marks the prediction"
    );
    let score = read(&format!(
        "return Number(document.querySelector('#live-scores tr[data-label=\"{expected}\"] .score')\
         .textContent)"
    ))
    .await;
    assert!(score.as_f64().unwrap() > 0.5, "{score}");
    screenshot(c, &format!("live-test-{}", backend_name(&app))).await;
    click(c, "live-button").await;
    b.client.clone().close().await.unwrap();
}

/// Reads the preview canvas: (width, height, the pixel at (x, y) as RGBA)
/// for the given points, as fractions of the canvas.
async fn preview_pixels(c: &Client, points: &[(f64, f64)]) -> (u64, u64, Vec<[u64; 4]>) {
    let script = format!(
        "const c = document.getElementById('capture-canvas'); \
         const ctx = c.getContext('2d'); \
         const px = {points:?}.map(([x, y]) => [...ctx.getImageData(Math.floor(x * (c.width - 1)), \
           Math.floor(y * (c.height - 1)), 1, 1).data]); \
         return [c.width, c.height, px];",
        points = points.iter().map(|&(x, y)| [x, y]).collect::<Vec<_>>()
    );
    let v = c.execute(&script, vec![]).await.unwrap();
    let px = v[2]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let p: Vec<u64> = p
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_u64().unwrap())
                .collect();
            [p[0], p[1], p[2], p[3]]
        })
        .collect();
    (v[0].as_u64().unwrap(), v[1].as_u64().unwrap(), px)
}

async fn the_preview_shows_the_impulse_crop_and_colour(app: TestApp) {
    let (project, key) = app.create_project("preview").await;
    let dir = tempfile::tempdir().unwrap();
    // A square camera into a wide 96x64 input.
    let video = video_of(&cifar3("test", "airplane").remove(0).bytes, 192, dir.path());
    let b = browser(&video).await;
    let c = &b.client;
    let save = |impulse: Value| {
        let app = &app;
        let (project, key) = (project.clone(), key.clone());
        async move {
            let (status, body) = app
                .send_json(
                    Method::PUT,
                    &format!("/api/projects/{project}/impulse"),
                    &key,
                    impulse,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    };
    let open = || async {
        c.goto(&app.url(&format!("/projects/{project}/capture")))
            .await
            .unwrap();
        click(c, "capture-button").await;
        until(
            c,
            "return document.getElementById('capture-video').videoWidth",
            Duration::from_secs(15),
            "the fake camera",
        )
        .await;
        // A few frames drawn.
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let is_gray = |p: &[u64; 4]| p[0] == p[1] && p[1] == p[2];
    let is_black = |p: &[u64; 4]| p[0] < 8 && p[1] < 8 && p[2] < 8;

    // Fit the longest side, grayscale: the square frame sits in the middle
    // with black bars left and right, in BT.601 gray.
    save(json!({
        "input": { "width": 96, "height": 64, "resizeMode": "fitLongest" },
        "image": { "colorDepth": "grayscale" }
    }))
    .await;
    open().await;
    let caption = c
        .find(Locator::Css("#capture-panel figcaption"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        caption,
        "What the model sees: 96×64 · fit the longest side, black bars · grayscale"
    );
    let points = [(0.05, 0.5), (0.95, 0.5), (0.5, 0.5), (0.4, 0.3), (0.6, 0.7)];
    let (w, h, px) = preview_pixels(c, &points).await;
    assert_eq!(w * 64, h * 96, "the preview has the input's shape: {w}x{h}");
    assert!(is_black(&px[0]) && is_black(&px[1]), "bars: {px:?}");
    assert!(
        px[2..].iter().all(|p| is_gray(p) && !is_black(p)),
        "gray picture: {px:?}"
    );
    screenshot(c, &format!("capture-preview-gray-{}", backend_name(&app))).await;

    // Fit the shortest side, RGB: the frame fills the preview (cropped),
    // in colour.
    save(json!({
        "input": { "width": 96, "height": 64, "resizeMode": "fitShortest" },
        "image": { "colorDepth": "rgb" }
    }))
    .await;
    open().await;
    let (_, _, px) = preview_pixels(c, &points).await;
    assert!(px.iter().all(|p| !is_black(p)), "no bars: {px:?}");
    assert!(px.iter().any(|p| !is_gray(p)), "colour: {px:?}");
    b.client.clone().close().await.unwrap();
}

/// With accounts, the Capture panel's uploads carry the session's CSRF
/// token (from the page's `<meta name="csrf-token">`), so a signed-in
/// person's photos are stored; without it they would be refused (403).
async fn a_signed_in_person_captures_with_the_session_csrf_token(app: TestApp) {
    let (project, key) = app.create_project("signed in").await;
    // The first admin inherits the project made before accounts.
    tinystudio_storage::users::create_first_admin(&app.app.state.db, "ada", "analytical engine")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let airplane = cifar3("test", "airplane").remove(0);
    let video = video_of(&airplane.bytes, 192, dir.path());
    let b = browser(&video).await;
    let c = &b.client;

    // The project's page asks to sign in, and leads back to it.
    c.goto(&app.url(&format!("/projects/{project}/dataset")))
        .await
        .unwrap();
    type_into(c, "name", "ada").await;
    type_into(c, "password", "analytical engine").await;
    c.find(Locator::Css("form[action='/login'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        c,
        "return document.getElementById('capture-button') !== null",
        Duration::from_secs(15),
        "the Dataset page after signing in",
    )
    .await;
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with(&format!("/projects/{project}/dataset")),
        "back on the page asked for"
    );

    take_one_photo(c, "airplane", None, "the signed-in photo").await;
    let stored = samples(&app, &project, &key).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["label"], "airplane");
}

/// A browser for pages that do not use the camera.
async fn plain_browser() -> Browser {
    browser::start(Options::default()).await
}

async fn an_upload_updates_the_counts_and_deleting_asks_first(app: TestApp) {
    let (project, _) = app.create_project("upload").await;
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (name, seed) in [("cat.1.png", 1u8), ("cat.2.png", 2), ("dog.1.png", 3)] {
        let path = dir.path().join(name);
        std::fs::write(&path, common::png(24, 24, seed)).unwrap();
        paths.push(path.display().to_string());
    }
    let b = plain_browser().await;
    let c = &b.client;
    c.goto(&app.url(&format!("/projects/{project}/dataset")))
        .await
        .unwrap();
    c.execute("window.notReloaded = true; return true", vec![])
        .await
        .unwrap();
    let big = "return document.querySelector('#counts .big').textContent";
    assert_eq!(c.execute(big, vec![]).await.unwrap(), json!("0 samples"));

    // Choose three files (chromedriver types their paths into the hidden
    // input once it is shown) and upload them with the page's script.
    c.execute(
        "document.getElementById('file-input').hidden = false; return true",
        vec![],
    )
    .await
    .unwrap();
    type_into(c, "file-input", &paths.join("\n")).await;
    click(c, "upload-button").await;
    until(
        c,
        "return document.querySelector('#counts .big').textContent === '3 samples' \
         && document.querySelectorAll('#sample-grid li.card').length === 3 \
         && !document.getElementById('grid-empty') && window.notReloaded",
        Duration::from_secs(20),
        "the counts and the grid to show the upload without a reload",
    )
    .await;
    let labels = c
        .execute(
            "return [...document.querySelectorAll('#counts tbody td:first-child')].map(td => td.textContent)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(labels, json!(["cat", "dog"]));
    screenshot(c, &format!("dataset-after-upload-{}", backend_name(&app))).await;

    // Deleting a sample asks first; "Cancel" keeps it.
    let href = c
        .execute(
            "return document.querySelector('#sample-grid li.card a').getAttribute('href')",
            vec![],
        )
        .await
        .unwrap();
    c.goto(&app.url(href.as_str().unwrap())).await.unwrap();
    click(c, "delete-sample").await;
    let question = c.get_alert_text().await.unwrap();
    assert!(
        question.starts_with("Delete ") && question.contains("cannot be undone"),
        "{question}"
    );
    c.dismiss_alert().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(c.current_url().await.unwrap().path().contains("/samples/"));
    assert_eq!(app_samples(&app, &project).await, 3);
    // "OK" deletes it and says so.
    click(c, "delete-sample").await;
    c.accept_alert().await.unwrap();
    until(
        c,
        "return document.querySelector('p.flash[role=status]')?.textContent === 'Deleted 1 sample.'",
        Duration::from_secs(10),
        "the Dataset page saying the sample was deleted",
    )
    .await;
    assert_eq!(app_samples(&app, &project).await, 2);
}

/// Samples in the project, counted from its Dataset page.
async fn app_samples(app: &TestApp, project: &str) -> u64 {
    let html = app.page(&format!("/projects/{project}/dataset")).await;
    let at = html.find("<p class=\"big\">").unwrap() + "<p class=\"big\">".len();
    html[at..].split(' ').next().unwrap().parse().unwrap()
}

async fn the_pages_fit_a_phone(app: TestApp) {
    // A project with a model, a test run and samples, so the pages have
    // their tables, the matrix and the grid.
    let (project, key) = app
        .create_project("a project with a long name on a phone")
        .await;
    for (label, seed, category) in [
        ("airplane", 1u8, "training"),
        ("airplane", 2, "training"),
        ("airplane", 3, "training"),
        ("ship", 100, "training"),
        ("ship", 101, "training"),
        ("ship", 102, "training"),
        ("airplane", 7, "testing"),
        ("ship", 107, "testing"),
    ] {
        app.ingest(
            category,
            Some(&key),
            &[("x-label", label)],
            &[TestFile::new(
                &format!("{label}-{seed}.png"),
                common::png(40, 40, seed),
            )],
        )
        .await;
    }
    let job = app
        .start_training(&project, &key, Some(json!({ "learning": { "epochs": 2 } })))
        .await;
    app.run_pending_jobs().await;
    let trained = app.job(&project, &key, &job).await;
    let model = trained["result"]["modelId"].as_str().unwrap().to_owned();
    for precision in ["int8", "float32"] {
        let (status, _) = app
            .send_json(
                Method::POST,
                &format!("/api/projects/{project}/models/{model}/test"),
                &key,
                json!({ "precision": precision }),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        app.run_pending_jobs().await;
    }

    let b = plain_browser().await;
    let c = &b.client;
    let backend = backend_name(&app);
    for (width, height, name) in [(390u32, 844u32, "phone"), (1280, 1100, "desktop")] {
        c.set_window_size(width, height).await.unwrap();
        for page in ["dataset", "test", "deploy", &format!("jobs/{job}")] {
            c.goto(&app.url(&format!("/projects/{project}/{page}")))
                .await
                .unwrap();
            let inner = c.execute("return window.innerWidth", vec![]).await.unwrap();
            let inner = inner.as_u64().unwrap();
            if name == "phone" {
                assert!(inner <= 390, "the window is a phone's: {inner}");
            }
            let scroll = c
                .execute("return document.documentElement.scrollWidth", vec![])
                .await
                .unwrap();
            assert!(
                scroll.as_u64().unwrap() <= inner,
                "{page} at {width} px: {scroll} px wide"
            );
            // Every step of the menu is on screen.
            let hidden = c
                .execute(
                    "return [...document.querySelectorAll('.steps a')].filter(a => { \
                       const r = a.getBoundingClientRect(); \
                       return !(r.width > 0 && r.left >= 0 && r.right <= window.innerWidth); \
                     }).map(a => a.textContent)",
                    vec![],
                )
                .await
                .unwrap();
            assert_eq!(
                hidden,
                json!([]),
                "{page} at {width} px: menu items off screen"
            );
            let steps = c
                .execute(
                    "return [...document.querySelectorAll('.steps a')].map(a => a.textContent)",
                    vec![],
                )
                .await
                .unwrap();
            for step in ["Dataset", "Test", "Deploy", "Settings"] {
                assert!(steps.as_array().unwrap().contains(&json!(step)), "{steps}");
            }
            let page_name = page.split('/').next().unwrap();
            screenshot(c, &format!("{name}-{page_name}-{backend}")).await;
        }
    }
}
