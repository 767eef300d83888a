//! Names of the files the studio stores beside a model, a deployment or a
//! run, in one place: the worker writes them, the web server reads them,
//! and the blob store keys them by owner id and name.

/// The float model's architecture and training configuration (burn).
pub const MODEL_CONFIG: &str = "model.json";
/// The float model's weights (safetensors).
pub const MODEL_WEIGHTS: &str = "model.safetensors";
/// The float model: both files, saved and loaded together.
pub const FLOAT_MODEL_FILES: [&str; 2] = [MODEL_CONFIG, MODEL_WEIGHTS];
/// The int8 model as the engine's blob: what the host and the board run.
pub const MODEL_BLOB: &str = "model.tsmb";
/// The int8 model as a TensorFlow Lite flatbuffer.
pub const MODEL_TFLITE: &str = "model.tflite";
/// A deployment's flash and RAM report (JSON).
pub const SIZE_REPORT: &str = "size-report.json";
/// A run's preprocessed input image, stored under the run job's id so a
/// worker on another machine can read it.
pub const RUN_INPUT: &str = "input.pixels";
/// A `.tflite` file being imported, stored under the import job's id.
pub const IMPORT_UPLOAD: &str = "upload.tflite";

/// A deployment's firmware file with this extension (`elf`, `bin`, `hex`, `uf2`).
pub fn firmware_file(extension: &str) -> String {
    format!("firmware.{extension}")
}
