//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// `/work/shared` (or wherever `shared/` sits beside the repository).
pub fn shared(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")).join(rel)
}

/// Reads a file from `shared/`, failing loudly with its path when it is absent.
pub fn read_shared(rel: &str) -> Vec<u8> {
    let p = shared(rel);
    std::fs::read(&p).unwrap_or_else(|e| {
        panic!(
            "required test file {} is missing or unreadable: {e}",
            p.display()
        )
    })
}

pub fn to_i8(b: Vec<u8>) -> Vec<i8> {
    b.into_iter().map(|x| x as i8).collect()
}

/// (name, input, expected output) of every golden case for vww_96_int8.tflite.
pub fn golden_cases() -> Vec<(String, Vec<i8>, Vec<i8>)> {
    let json: serde_json::Value =
        serde_json::from_slice(&read_shared("reference-models/golden/cases.json"))
            .expect("cases.json is not valid JSON");
    let cases = json["cases"]
        .as_array()
        .expect("cases.json has no 'cases' array");
    cases
        .iter()
        .map(|c| {
            let name = c["name"].as_str().expect("case without name").to_string();
            let input = to_i8(read_shared(&format!(
                "reference-models/golden/{}",
                c["input"].as_str().expect("input")
            )));
            let output = to_i8(read_shared(&format!(
                "reference-models/golden/{}",
                c["output"].as_str().expect("output")
            )));
            (name, input, output)
        })
        .collect()
}

/// A 96x96 8-bit grayscale BMP's pixels, top row first.
pub fn read_gray_bmp(rel: &str) -> Vec<u8> {
    let b = read_shared(rel);
    let u32_at = |p: usize| u32::from_le_bytes(b[p..p + 4].try_into().unwrap());
    let offset = u32_at(10) as usize;
    let width = u32_at(18) as usize;
    let height = i32::from_le_bytes(b[22..26].try_into().unwrap());
    let bpp = u16::from_le_bytes(b[28..30].try_into().unwrap());
    assert_eq!(bpp, 8, "{rel}: expected an 8-bit grayscale BMP");
    let stride = width.div_ceil(4) * 4;
    let h = height.unsigned_abs() as usize;
    let mut out = Vec::with_capacity(width * h);
    for row in 0..h {
        let src = if height > 0 { h - 1 - row } else { row };
        out.extend_from_slice(&b[offset + src * stride..offset + src * stride + width]);
    }
    out
}
