//! "What the network sees": a CIFAR-3 sample through the project's int8
//! model, its feature maps as image grids, and the convolution playground;
//! before a model exists, and for a layer, filter or sample that does not,
//! a clear answer.

#[macro_use]
mod common;

use common::TestApp;
use reqwest::StatusCode;

backend_tests!(a_sample_shows_its_feature_maps_and_filters);

async fn png_of(app: &TestApp, path: &str) -> (StatusCode, Option<image::DynamicImage>) {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    let status = response.status();
    let is_png = response
        .headers()
        .get("content-type")
        .is_some_and(|t| t == "image/png");
    let body = response.bytes().await.unwrap();
    (
        status,
        is_png.then(|| image::load_from_memory(&body).expect("a PNG")),
    )
}

async fn a_sample_shows_its_feature_maps_and_filters(app: TestApp) {
    let (project, key) = app.create_project("network").await;
    app.upload_cifar3_training(&key).await;
    let (_, list) = app
        .get(&format!("/api/projects/{project}/samples?limit=1"), &key)
        .await;
    let sample = list["samples"][0]["id"].as_str().unwrap().to_owned();
    let base = format!("/projects/{project}/samples/{sample}/network");

    // No model yet.
    let page = app.page(&base).await;
    assert!(page.contains("Train a model"), "{page}");
    let (status, _) = png_of(&app, &format!("{base}/layers/0")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let job = app.start_training(&project, &key, None).await;
    assert_eq!(app.run_pending_jobs().await, 1);
    assert_eq!(app.job(&project, &key, &job).await["status"], "succeeded");

    let page = app.page(&base).await;
    assert!(
        page.contains("data:image/png;base64,"),
        "the input is shown"
    );
    let first = page
        .split("id=\"first-maps\" src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the first convolution's maps")
        .replace("&amp;", "&");
    assert!(page.contains("id=\"deep-maps\""));
    let options = page.matches("<option value=\"").count();
    assert!(options >= 10, "the layers to choose from: {options}");

    // The default impulse's first convolution: 48x48 with 8 filters, as
    // 3x3 tiles of 48 px with 2 px gaps.
    let (status, maps) = png_of(&app, &first).await;
    assert_eq!(status, StatusCode::OK);
    let maps = maps.expect("a PNG");
    assert_eq!((maps.width(), maps.height()), (148, 148));
    // A deeper layer chosen on the page.
    let deeper = page
        .split("<option value=\"")
        .nth(6)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let page = app.page(&format!("{base}?layer={deeper}")).await;
    assert!(page.contains(&format!("{base}/layers/{deeper}")));
    let (status, maps) = png_of(&app, &format!("{base}/layers/{deeper}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(maps.is_some());

    // The playground: a vertical-edge filter on the 96x96 input.
    let (status, out) = png_of(&app, &format!("{base}/convolve?k=1,0,-1,2,0,-2,1,0,-1")).await;
    assert_eq!(status, StatusCode::OK);
    let out = out.expect("a PNG").to_luma8();
    assert_eq!(out.dimensions(), (96, 96));
    assert!(
        out.pixels().any(|p| p[0] != out.get_pixel(0, 0)[0]),
        "not blank"
    );

    // What does not exist, or is not a filter.
    for (path, expected) in [
        (format!("{base}/layers/9999"), StatusCode::NOT_FOUND),
        (format!("{base}/layers/x"), StatusCode::NOT_FOUND),
        (format!("{base}/convolve?k=1,2,3"), StatusCode::BAD_REQUEST),
        (
            format!("{base}/convolve?k=1,0,-1,2,0,-2,1,0,1e9"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/projects/{project}/samples/01a24c3a-0000-7000-8000-000000000000/network"),
            StatusCode::NOT_FOUND,
        ),
        (format!("{base}?layer=9999"), StatusCode::NOT_FOUND),
    ] {
        let status = app
            .client
            .get(app.url(&path))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, expected, "{path}");
    }
    // The sample page links here.
    let sample_page = app
        .page(&format!("/projects/{project}/samples/{sample}"))
        .await;
    assert!(sample_page.contains(&base));
}
