//! Testing: a model over the project's test set, int8 as the board runs it
//! or float.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{JobKind, JobSpec};
use crate::{ModelId, SampleId, ValidationError};

pub struct Test;

impl JobSpec for Test {
    const KIND: JobKind = JobKind::Test;
    const MAX_ATTEMPTS: i64 = 2;
    type Payload = TestPayload;
    type Output = TestOutput;
}

/// Which version of a model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// The quantized model, exactly as the board runs it.
    #[default]
    Int8,
    /// The float model the quantized one was made from.
    Float32,
}

impl Precision {
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Int8 => "int8",
            Precision::Float32 => "float32",
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Precision {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "int8" => Ok(Precision::Int8),
            "float32" => Ok(Precision::Float32),
            other => Err(ValidationError::new(
                "precision",
                format!("must be \"int8\" or \"float32\", not {other:?}"),
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestPayload {
    pub model_id: ModelId,
    pub precision: Precision,
    /// Below this top score a result counts as uncertain.
    pub threshold: f64,
}

/// Scores of the model on the test set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestOutput {
    pub model_id: ModelId,
    pub model_version: i64,
    pub precision: Precision,
    pub threshold: f64,
    /// Share of samples whose top class is their label.
    pub accuracy: f64,
    /// The model's classes, in output order.
    pub labels: Vec<String>,
    /// `[actual][predicted]` counts.
    pub confusion_matrix: Vec<Vec<u64>>,
    pub per_class: Vec<ClassScores>,
    /// Samples whose top score is below the threshold.
    pub uncertain: u64,
    pub samples: Vec<SampleOutcome>,
    pub timing_ms: TestTime,
}

/// Precision, recall and F1 of one class, as fractions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClassScores {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Test samples of this class.
    pub support: u64,
    /// Of those, how many were below the threshold.
    pub uncertain: u64,
}

/// One test sample's classification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SampleOutcome {
    pub sample_id: SampleId,
    pub file_name: String,
    pub label: String,
    pub predicted: String,
    /// The top score.
    pub score: f64,
    pub correct: bool,
    pub uncertain: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestTime {
    /// Running the model over every sample, in milliseconds.
    pub inference: u64,
}
