//! The data explorer: every sample of the project mapped to two dimensions
//! from its backbone features (PCA), with the samples that lie nearer
//! another label than their own.

use serde::{Deserialize, Serialize};

use super::{JobKind, JobSpec};
use crate::SampleId;

pub struct Explore;

impl JobSpec for Explore {
    const KIND: JobKind = JobKind::Explore;
    const MAX_ATTEMPTS: i64 = 2;
    type Payload = ExplorePayload;
    type Output = ExploreOutput;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExplorePayload {
    /// The impulse whose input settings and backbone make the features.
    pub impulse_version: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExploreOutput {
    /// How the features were projected ("PCA").
    pub method: String,
    pub impulse_version: i64,
    /// Share of the features' variance along each axis (0..1).
    pub explained: [f64; 2],
    /// The labels, sorted; points refer to them by index.
    pub labels: Vec<String>,
    pub points: Vec<MapPoint>,
}

/// One sample on the map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MapPoint {
    pub sample: SampleId,
    pub x: f32,
    pub y: f32,
    /// Index in `labels`; none for an unlabelled sample.
    pub label: Option<usize>,
    pub testing: bool,
    /// The label whose centre the sample's features lie nearer than its
    /// own label's: perhaps mislabelled, or hard to tell apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nearer: Option<usize>,
    /// How much nearer (squared distances of the normalised features, 0..4):
    /// the larger, the surer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<f32>,
}
