//! Firmware builds: a model and a board make firmware files and the build's
//! size report; on the emulated board, one measured inference.

use serde::{Deserialize, Serialize};

use super::{JobKind, JobSpec};
use crate::footprint::{FirmwareSize, Measurement};
use crate::{JobId, ModelId};

pub struct Deploy;

impl JobSpec for Deploy {
    const KIND: JobKind = JobKind::Deploy;
    const MAX_ATTEMPTS: i64 = 2;
    type Payload = DeployPayload;
    type Output = DeployOutput;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeployPayload {
    pub model_id: ModelId,
    /// A board name (`tinystudio_deploy::BOARDS`).
    pub board: String,
}

/// What the build made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployOutput {
    /// The deployment is the build job: its files are stored under its id.
    pub deployment_id: JobId,
    pub board: String,
    pub board_title: String,
    pub model_id: ModelId,
    pub model_version: i64,
    /// The Rust toolchain that built it, for people.
    pub toolchain: String,
    pub build_seconds: f64,
    pub artifacts: Vec<ArtifactFile>,
    /// How to put the firmware on the board.
    pub flashing: String,
    /// Built for the board QEMU emulates: it can run here.
    pub emulated: bool,
    pub size: FirmwareSize,
    /// One inference on the emulated board, when it could run.
    pub measured: Option<Measurement>,
}

impl DeployOutput {
    pub fn has_artifact(&self, name: &str) -> bool {
        self.artifacts.iter().any(|a| a.name == name)
    }

    /// The recorded SHA-256 of the file `name`, if any.
    pub fn artifact_sha256(&self, name: &str) -> Option<&str> {
        self.artifacts
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| a.sha256.as_deref())
    }
}

/// A downloadable file of a deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactFile {
    pub name: String,
    /// The extension (`elf`, `bin`, `tsmb`, `json`, ...).
    pub kind: String,
    pub bytes: u64,
    /// Hex SHA-256 of the file as built, so a damaged copy is refused when
    /// downloaded, flashed or run; absent in deployments made before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}
