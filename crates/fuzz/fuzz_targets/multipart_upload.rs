//! The upload path from a request body to decoded images, without a server:
//! the multipart parser axum uses (multer, the version in the lock file),
//! the studio's upload collector with its limits
//! (`domain::upload::UploadCollector`, which `web::actions::ingest` drives
//! the same way), then per file what `ingest_one` checks before storing
//! anything: the file name, a label from the name or folder, and decoding
//! under limits with the thumbnail. Errors are fine; a panic, a hang or an
//! allocation past the limits is a bug.
//!
//! The input's first byte sets the chunk size the body arrives in (a network
//! splits a body anywhere); the rest is the body, with the boundary
//! `fuzz-boundary` (the client chooses it, so it is not fuzzed).
#![no_main]

use std::convert::Infallible;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tinystudio_domain::upload::{
    Next, UploadCollector, UploadLimits, base_name, check_file_name, folders,
};
use tinystudio_domain::{Label, label_from_file_name};
use tinystudio_images::{DecodeLimits, decode, thumbnail_jpeg};

/// The server's field limit, smaller file and body limits so the fuzzer
/// reaches them with inputs it can build.
const LIMITS: UploadLimits = UploadLimits {
    max_file_bytes: 64 * 1024,
    max_body_bytes: 160 * 1024,
    max_field_bytes: 64 * 1024,
};

const DECODE: DecodeLimits = DecodeLimits {
    max_width: 2048,
    max_height: 2048,
    max_decoded_bytes: 64 * 1024 * 1024,
};

/// The body is all in memory, so every poll is ready; a future that is
/// still pending after that would be a hang in the parser.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000_000 {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("the multipart parser did not finish on an in-memory body");
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first) + 1;
    let chunks: Vec<Result<Bytes, Infallible>> = body
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let mut multipart = multer::Multipart::new(futures_util::stream::iter(chunks), "fuzz-boundary");
    let upload = block_on(async {
        let mut collector = UploadCollector::new(LIMITS);
        'parts: while let Ok(Some(mut field)) = multipart.next_field().await {
            collector.begin_part(
                field.name().unwrap_or_default(),
                field.file_name().unwrap_or_default(),
            );
            loop {
                match field.chunk().await {
                    Ok(Some(bytes)) => {
                        if collector.chunk(&bytes) == Next::Stop {
                            break 'parts;
                        }
                    }
                    Ok(None) => break,
                    // A malformed body: the server answers 400 here.
                    Err(_) => return None,
                }
            }
        }
        Some(collector.finish())
    });
    let Some(Ok(upload)) = upload else {
        return;
    };
    let mut total = 0;
    for file in &upload.files {
        total += file.bytes.len();
        assert!(file.bytes.len() <= LIMITS.max_file_bytes);
        let name = base_name(&file.path);
        if check_file_name(name).is_err() {
            continue;
        }
        let _ = label_from_file_name(name);
        if let Some(folder) = folders(&file.path).last() {
            let _ = Label::parse(folder);
        }
        if let Ok(decoded) = decode(&file.bytes, &DECODE) {
            let _ = thumbnail_jpeg(&decoded.image);
        }
    }
    assert!(total <= LIMITS.max_body_bytes);
    for value in upload.fields.values() {
        assert!(value.len() <= LIMITS.max_field_bytes);
    }
});
