//! Library builds: a model packaged for people's own firmware, as an
//! Arduino library, a C library (both with the engine precompiled) or a
//! Rust crate; one zip to download.

use serde::{Deserialize, Serialize};

use super::deploy::ArtifactFile;
use super::{JobKind, JobSpec};
use crate::{JobId, ModelId};

pub struct Library;

impl JobSpec for Library {
    const KIND: JobKind = JobKind::Library;
    const MAX_ATTEMPTS: i64 = 2;
    type Payload = LibraryPayload;
    type Output = LibraryOutput;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LibraryPayload {
    pub model_id: ModelId,
    /// `arduino`, `c` or `rust` (`tinystudio_deploy::library::LibraryKind`).
    pub kind: String,
}

/// What the build made: one zip, stored under the job's id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LibraryOutput {
    /// The library is the build job: its zip is stored under its id.
    pub library_id: JobId,
    pub kind: String,
    /// "Arduino library", "C library", "Rust crate".
    pub title: String,
    pub model_id: ModelId,
    pub model_version: i64,
    /// The zip.
    pub file: ArtifactFile,
    /// The zip's top folder and every file in it, for people.
    pub folder: String,
    pub files: Vec<String>,
    /// The Rust toolchain that built the static libraries (none for a crate).
    pub toolchain: Option<String>,
    pub build_seconds: f64,
}
