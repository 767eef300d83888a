//! `.tflite` import, blob writing and inference on arbitrary bytes: errors
//! are fine, panics are bugs. The model runs on an input made of the file's
//! own bytes (repeated to the input's length), so inference sees varied
//! values rather than zeros.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinystudio_engine::Model;

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = Model::from_tflite(data)
        && let Ok(blob) = model.to_blob()
        && let Ok(mut runner) = tinystudio_engine::HostRunner::new(blob)
    {
        let n = runner.view().and_then(|v| v.input()).map_or(0, |t| t.len);
        let input: Vec<i8> = data.iter().cycle().take(n).map(|&b| b as i8).collect();
        let _ = runner.run(&input);
    }
});
