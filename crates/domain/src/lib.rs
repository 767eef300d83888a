//! The studio's vocabulary, shared by every other crate.
//!
//! Values are validated when they are constructed (`Label::parse`,
//! `ImpulseConfig::validate`), so an invalid label or impulse cannot travel
//! past the edge of the system. Nothing here does I/O.

pub mod account;
pub mod artifacts;
pub mod category;
pub mod estimate;
pub mod footprint;
pub mod ids;
pub mod impulse;
pub mod jobs;
pub mod label;
pub mod metadata;
pub mod model;
pub mod project;
pub mod upload;

pub use account::{KeyScope, Role, check_password, parse_class_name, parse_user_name};
pub use category::{Category, UploadCategory, split_category};
pub use ids::{
    CaptureLinkId, ClassId, DeploymentId, JobId, KeyId, ModelId, ProjectId, SampleId, SessionId,
    UserId,
};
pub use impulse::ImpulseConfig;
pub use jobs::{JobKind, JobSpec, JobStatus, Report};
pub use label::{Label, label_from_file_name};
pub use metadata::{Metadata, parse_metadata};
pub use project::parse_project_name;

/// A value that failed validation; the message is shown to the user as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}
