//! One module per job kind of the contract (`tinystudio_domain::jobs`):
//! each implements [`RunJob`] for its kind.

pub mod deploy;
pub mod explore;
pub mod import;
pub mod library;
pub mod run;
pub mod test;
pub mod train;
pub mod trial;
pub mod tune;

use std::future::Future;

use tinystudio_domain::JobSpec;

use crate::JobContext;

/// How the worker runs one job kind: its payload in, its output out. An
/// error fails the run; the runner decides whether to retry it.
pub trait RunJob: JobSpec {
    fn run(
        ctx: JobContext,
        payload: Self::Payload,
    ) -> impl Future<Output = anyhow::Result<Self::Output>> + Send;
}
