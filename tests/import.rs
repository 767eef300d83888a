//! Bringing your own model: a `.tflite` checked against the engine when it
//! is uploaded (every operator it cannot run named, nothing stored), then
//! imported by a job that profiles it on the emulated Cortex-M4; the
//! imported model classifies exactly as TensorFlow Lite's reference kernels
//! (the golden vectors), runs the test set and builds firmware.

#[macro_use]
mod common;
/// The deploy tests' helpers, for their seeded weights.
#[path = "../crates/deploy/tests/common/mod.rs"]
mod deploy_common;

use common::{Backend, TestApp, TestFile, shared, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tinystudio_engine::tflite::flatbuf::Table;

backend_tests!(a_model_the_engine_cannot_run_is_refused_with_every_reason);

const VWW: &str = "reference-models/vww_96_int8.tflite";

fn vww() -> Vec<u8> {
    std::fs::read(shared(VWW)).expect("the shared VWW model")
}

/// `file` with every operator of builtin code `from` turned into `to`.
fn with_opcode_replaced(mut file: Vec<u8>, from: u8, to: u8) -> Vec<u8> {
    let mut fields = Vec::new();
    let opcodes = Table::root(&file).unwrap().vector(1, 4).unwrap();
    for i in 0..opcodes.len() {
        let t = opcodes.table(i).unwrap();
        if t.u8(0, 0).unwrap().max(t.i32(3, 0).unwrap() as u8) == from {
            fields.push((t.field(0).unwrap(), 1));
            fields.push((t.field(3).unwrap(), 4));
        }
    }
    for (at, len) in fields {
        if let Some(at) = at {
            file[at] = to;
            file[at + 1..at + len].fill(0);
        }
    }
    file
}

async fn import(
    app: &TestApp,
    project: &str,
    key: &str,
    query: &str,
    file: Vec<u8>,
) -> (StatusCode, Value) {
    let r = app
        .client
        .post(app.url(&format!("/api/projects/{project}/models/import{query}")))
        .header("x-api-key", key)
        .body(file)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn a_model_the_engine_cannot_run_is_refused_with_every_reason(app: TestApp) {
    let (project, key) = app.create_project("import-refused").await;

    // DEPTHWISE_CONV_2D (4) -> TANH (28): all 13 named, by position.
    let (status, body) = import(&app, &project, &key, "", with_opcode_replaced(vww(), 4, 28)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["error"],
        "the engine cannot run 13 of this model's operators"
    );
    let problems = body["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 13, "{body}");
    assert!(
        problems[0]
            .as_str()
            .unwrap()
            .starts_with("operator 1 (TANH): unsupported operator"),
        "{body}"
    );

    let (status, body) = import(&app, &project, &key, "", b"not a model".to_vec()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("not a TensorFlow Lite model"),
        "{body}"
    );

    let (status, body) = import(&app, &project, &key, "?labels=a,b,c", vww()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "3 labels given for 2 outputs");

    let (status, body) = import(&app, &project, &key, "", Vec::new()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = import(&app, &project, &key, "?resizeMode=stretch", vww()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].as_str().unwrap().contains("squash"), "{body}");
    let (status, body) = import(&app, &project, &key, "?colour=rgb", vww()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Refused before the upload was read: the server closes the connection
    // and says so, so that the client's next request takes a new one.
    let r = app
        .client
        .post(app.url(&format!("/api/projects/{project}/models/import?colour=rgb")))
        .header("x-api-key", &key)
        .body(vww())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.headers()["connection"], "close");

    // Another project's key reaches nothing.
    let (other, other_key) = app.create_project("someone-else").await;
    let (status, _) = import(&app, &project, &other_key, "", vww()).await;
    assert!(
        status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
        "{status}"
    );

    // Nothing was stored or queued anywhere.
    for (p, k) in [(&project, &key), (&other, &other_key)] {
        let (_, models) = app.get(&format!("/api/projects/{p}/models"), k).await;
        assert_eq!(models["models"], json!([]), "{models}");
        let (_, jobs) = app.get(&format!("/api/projects/{p}/jobs"), k).await;
        assert_eq!(jobs["jobs"], json!([]), "{jobs}");
    }
}

/// Builds `model`'s firmware for the emulated board through the API; the
/// finished build job, which must have succeeded.
async fn build_for_the_emulated_board(
    app: &TestApp,
    project: &str,
    key: &str,
    model: &str,
) -> Value {
    let (status, deploy) = app
        .send_json(
            Method::POST,
            &format!("/api/projects/{project}/models/{model}/deploy"),
            key,
            json!({ "board": "mps2-an386" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{deploy}");
    assert_eq!(app.run_pending_jobs().await, 1);
    let built = app
        .job(project, key, deploy["deploymentId"].as_str().unwrap())
        .await;
    assert_eq!(built["status"], "succeeded", "{}", built["error"]);
    built
}

/// A golden case's input as the picture it came from (the model's input is
/// `p - 128`, scale 1/255), PNG.
fn golden_png(case: usize) -> (Vec<u8>, Vec<i8>) {
    let dir = shared("reference-models/golden");
    let input = std::fs::read(dir.join(format!("case{case:02}.input.i8"))).unwrap();
    let output = std::fs::read(dir.join(format!("case{case:02}.output.i8"))).unwrap();
    let pixels: Vec<u8> = input
        .iter()
        .map(|&b| (b as i8 as i16 + 128) as u8)
        .collect();
    let img = image::RgbImage::from_raw(96, 96, pixels).unwrap();
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png).unwrap();
    (
        png.into_inner(),
        output.into_iter().map(|b| b as i8).collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_model_is_profiled_classifies_exactly_tests_and_deploys() {
    let app = spawn_app(Backend::Sqlite).await;
    let (project, key) = app.create_project("import").await;
    let (status, started) = import(
        &app,
        &project,
        &key,
        "?fileName=vww_96_int8.tflite&labels=no%20person,person",
        vww(),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    // Read from the file at once: the engine's MAC count of MobileNetV1
    // 0.25 at 96x96, the input as an impulse, the pixel range from the
    // input's quantization (scale 1/255, zero point -128: 0 to 1).
    let profile = &started["profile"];
    assert_eq!(profile["macs"], 7_489_664, "{profile}");
    assert_eq!(profile["operators"].as_array().unwrap().len(), 31);
    // All of VWW's MACs take the Cortex-M4's fast kernels.
    assert_eq!(profile["fastPathMacs"], 7_489_664, "{profile}");
    assert_eq!(started["impulse"]["input"]["width"], 96);
    assert_eq!(started["impulse"]["image"]["colorDepth"], "rgb");
    assert_eq!(started["pixelRange"], "zeroToOne");

    assert_eq!(app.run_pending_jobs().await, 1);
    let job = app
        .job(&project, &key, started["jobId"].as_str().unwrap())
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let result = &job["result"];
    let profile = &result["profile"];
    let instructions = profile["instructions"]
        .as_u64()
        .unwrap_or_else(|| panic!("{profile}"));
    let ops = profile["operators"].as_array().unwrap();
    let per_op: u64 = ops.iter().filter_map(|o| o["instructions"].as_u64()).sum();
    println!(
        "VWW imported: {instructions} instructions on the emulated Cortex-M4 ({:.3} per MAC), \
         {per_op} in its {} operators",
        instructions as f64 / 7_489_664.0,
        ops.len()
    );
    for o in ops.iter().filter(|o| o["macs"].as_u64().unwrap() > 0) {
        assert!(o["instructions"].as_u64().unwrap() > 0, "{o}");
        assert!(!o["kernel"].as_str().unwrap().is_empty(), "{o}");
    }
    let model = result["modelId"].as_str().unwrap().to_owned();
    let (_, listed) = app
        .get(&format!("/api/projects/{project}/models/{model}"), &key)
        .await;
    assert_eq!(
        listed["imported"]["fileName"], "vww_96_int8.tflite",
        "{listed}"
    );
    assert_eq!(listed["labels"], json!(["no person", "person"]));

    // Classifying a picture gives TensorFlow Lite's own answer to it, byte
    // for byte (scores are (q + 128) / 256).
    for case in 0..3 {
        let (png, golden) = golden_png(case);
        let r = app
            .client
            .post(app.url(&format!("/api/projects/{project}/models/{model}/classify")))
            .header("x-api-key", &key)
            .body(png)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let answer: Value = r.json().await.unwrap();
        for (label, q) in ["no person", "person"].iter().zip(&golden) {
            let expected = (f64::from(*q) + 128.0) / 256.0;
            let got = answer["scores"][label].as_f64().unwrap();
            assert!(
                (got - expected).abs() < 1e-6,
                "case {case} {label}: {got} vs {expected}"
            );
        }
    }

    // The test set: the person photos, int8 only.
    for (name, label) in [("person.bmp", "person"), ("no_person.bmp", "no person")] {
        let bytes = std::fs::read(shared(&format!("images/{name}"))).unwrap();
        let (status, _) = app
            .ingest(
                "testing",
                Some(&key),
                &[("x-label", label)],
                &[TestFile::new(name, bytes)],
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let test = format!("/api/projects/{project}/models/{model}/test");
    let (status, body) = app
        .send_json(Method::POST, &test, &key, json!({ "precision": "float32" }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = app.send_json(Method::POST, &test, &key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.run_pending_jobs().await, 1);
    let tested = app
        .job(&project, &key, body["jobId"].as_str().unwrap())
        .await;
    assert_eq!(tested["status"], "succeeded", "{tested}");
    assert_eq!(tested["result"]["samples"].as_array().unwrap().len(), 2);

    // And firmware, measured on the emulated board like a trained model's.
    let built = build_for_the_emulated_board(&app, &project, &key, &model).await;
    let measured = built["result"]["measured"]["instructions"]
        .as_u64()
        .unwrap();
    // The profile build reads a counter after every operator; the plain
    // build does not, and is the cheaper of the two.
    assert!(measured <= instructions, "{measured} vs {instructions}");

    // The page shows the profile and the import form.
    let page = app
        .page(&format!(
            "/projects/{project}/jobs/{}",
            started["jobId"].as_str().unwrap()
        ))
        .await;
    assert!(
        page.contains("id=\"operators\"") && page.contains("DEPTHWISE_CONV_2D"),
        "{page}"
    );
    let deploy_page = app.page(&format!("/projects/{project}/deploy")).await;
    assert!(deploy_page.contains("Bring your own model"));
}

/// A keyword-spotting-shaped model (49 x 10 audio features, one channel):
/// conv, depthwise, pointwise, pool, dense, softmax, quantized by the
/// engine and written as a `.tflite`.
fn audio_model() -> Vec<u8> {
    use tinystudio_engine::float_graph::{FloatGraph, Layer};
    use tinystudio_engine::ops::{Activation, Padding};
    use tinystudio_engine::{Calibration, PixelScaling, quantize};
    let mut rand = deploy_common::random_weights(0x9E37_79B9_7F4A_7C15);
    let graph = FloatGraph {
        input_shape: [49, 10, 1],
        pixel_scaling: PixelScaling::MinusOneToOne,
        labels: vec!["yes".into(), "no".into(), "up".into(), "down".into()],
        layers: vec![
            Layer::Conv2d {
                weights: rand(16 * 9, 0.8),
                shape: [16, 3, 3, 1],
                bias: rand(16, 0.2),
                stride: 2,
                padding: Padding::Same,
                activation: Activation::Relu,
            },
            Layer::DepthwiseConv2d {
                weights: rand(9 * 16, 0.8),
                shape: [3, 3, 16],
                bias: rand(16, 0.2),
                stride: 1,
                padding: Padding::Same,
                activation: Activation::Relu,
            },
            Layer::Conv2d {
                weights: rand(32 * 16, 0.6),
                shape: [32, 1, 1, 16],
                bias: rand(32, 0.2),
                stride: 1,
                padding: Padding::Same,
                activation: Activation::Relu,
            },
            Layer::GlobalAveragePool,
            Layer::FullyConnected {
                weights: rand(4 * 32, 1.0),
                shape: [4, 32],
                bias: rand(4, 0.1),
                activation: Activation::None,
            },
            Layer::Softmax,
        ],
    };
    let samples: Vec<Vec<f32>> = (0..8u8)
        .map(|i| {
            let bytes: Vec<u8> = (0..490)
                .map(|j| (j as u8).wrapping_mul(29).wrapping_add(i.wrapping_mul(53)))
                .collect();
            graph.scale_pixels(&bytes)
        })
        .collect();
    let calibration = Calibration::from_samples(&graph, &samples).unwrap();
    quantize(&graph, &calibration).unwrap().to_tflite().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_takes_raw_tensors_is_profiled_built_and_run_on_the_emulated_board() {
    let app = spawn_app(Backend::Sqlite).await;
    let (project, key) = app.create_project("import-raw").await;
    let file = audio_model();
    // As a picture it is a 49 x 10 grayscale image; as raw tensors it is
    // what it is.
    let (status, started) = import(
        &app,
        &project,
        &key,
        "?fileName=kws.tflite&input=raw&labels=yes,no,up,down",
        file.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    assert_eq!(started["impulse"], Value::Null);
    assert_eq!(started["pixelRange"], Value::Null);
    assert_eq!(app.run_pending_jobs().await, 1);
    let job = app
        .job(&project, &key, started["jobId"].as_str().unwrap())
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let profile = &job["result"]["profile"];
    assert!(
        profile["instructions"].as_u64().unwrap_or(0) > 0,
        "{profile}"
    );
    let model = job["result"]["modelId"].as_str().unwrap().to_owned();

    // Pictures are refused by name.
    let r = app
        .client
        .post(app.url(&format!("/api/projects/{project}/models/{model}/classify")))
        .header("x-api-key", &key)
        .body(common::png(49, 10, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("raw tensors"),
        "{body}"
    );
    let (status, body) = app
        .send_json(
            Method::POST,
            &format!("/api/projects/{project}/models/{model}/test"),
            &key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // A library takes int8 tensors too (its C and Arduino examples are
    // checked by crates/deploy/tests/library.rs); the Rust crate is the
    // quick one to build.
    let (status, body) = app
        .send_json(
            Method::POST,
            &format!("/api/projects/{project}/models/{model}/library"),
            &key,
            json!({ "kind": "rust" }),
        )
        .await;
    assert!(status.is_success(), "{status}: {body}");
    assert_eq!(app.run_pending_jobs().await, 1);
    let library = app
        .job(&project, &key, body["jobId"].as_str().unwrap())
        .await;
    assert_eq!(library["status"], "succeeded", "{library}");

    // Firmware, and a run of a given input tensor on the emulated board:
    // its answer is the host engine's, byte for byte.
    let built = build_for_the_emulated_board(&app, &project, &key, &model).await;
    let deployment = built["id"].as_str().unwrap().to_owned();
    let run = |body: Vec<u8>| {
        app.client
            .post(app.url(&format!(
                "/api/projects/{project}/deployments/{deployment}/run"
            )))
            .header("x-api-key", &key)
            .body(body)
            .send()
    };
    let r = run(vec![1u8; 10]).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let tensor: Vec<u8> = (0..490u32).map(|i| (i * 7 % 256) as u8).collect();
    let r = run(tensor.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let queued: Value = r.json().await.unwrap();
    assert_eq!(app.run_pending_jobs().await, 1);
    let ran = app
        .job(&project, &key, queued["jobId"].as_str().unwrap())
        .await;
    assert_eq!(ran["status"], "succeeded", "{ran}");
    let board: Vec<i64> = serde_json::from_value(ran["result"]["raw"].clone()).unwrap();
    let mut host = tinystudio_engine::interpreter::HostRunner::new(
        tinystudio_engine::Model::from_tflite(&file)
            .unwrap()
            .to_blob()
            .unwrap(),
    )
    .unwrap();
    let input: Vec<i8> = tensor.iter().map(|&b| b as i8).collect();
    let expected: Vec<i64> = host
        .run(&input)
        .unwrap()
        .iter()
        .map(|&q| i64::from(q))
        .collect();
    assert_eq!(board, expected, "{}", ran["result"]);
    assert_eq!(ran["result"]["matchesHost"], true);
}
