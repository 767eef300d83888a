//! Typed ids, so a sample id can never be passed where a project id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Time-ordered (UUIDv7), so ids sort roughly by creation.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A project: one dataset, its impulses, models and deployments.
    ProjectId
);
id_type!(
    /// One uploaded image.
    SampleId
);
id_type!(
    /// A background job (training, testing, firmware build).
    JobId
);
id_type!(
    /// A trained model version.
    ModelId
);
id_type!(
    /// An API key (its id, not its secret).
    KeyId
);
id_type!(
    /// A firmware build.
    DeploymentId
);
id_type!(
    /// A capture link (a phone's short-lived upload credential), not its token.
    CaptureLinkId
);
id_type!(
    /// A person with an account (an admin, an instructor or a student).
    UserId
);
id_type!(
    /// A class of a workshop: its students register with its join code.
    ClassId
);
id_type!(
    /// A signed-in browser session (its id, not its token).
    SessionId
);
