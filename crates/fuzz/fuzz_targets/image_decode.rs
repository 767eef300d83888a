//! Image decoding under limits, as every upload goes through it, then the
//! thumbnail the upload stores: errors are fine, panics, hangs and
//! allocations past the limit are bugs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinystudio_images::{DecodeLimits, decode, thumbnail_jpeg};

/// Smaller than the server's defaults so each input decodes quickly; the
/// code that enforces them is the same. libFuzzer's `-rss_limit_mb` (set by
/// `run`) catches a decoder that allocates past `max_decoded_bytes`.
const LIMITS: DecodeLimits = DecodeLimits {
    max_width: 2048,
    max_height: 2048,
    max_decoded_bytes: 64 * 1024 * 1024,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(decoded) = decode(data, &LIMITS) {
        assert!(decoded.width() <= LIMITS.max_width && decoded.height() <= LIMITS.max_height);
        let _ = thumbnail_jpeg(&decoded.image);
    }
});
