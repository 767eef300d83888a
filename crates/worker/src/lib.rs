//! The worker: claims jobs from the queue and runs them.
//!
//! `runner.rs` is the loop (claim, lease, heartbeat, cancellation, retry);
//! `jobs/` holds one module per job kind. The same runner serves the
//! in-process worker of `tinystudio serve` and stand-alone
//! `tinystudio worker` processes.

mod context;
pub mod dataset;
pub mod jobs;
mod models;
mod runner;

pub use context::{Cancelled, JobContext};
pub use runner::{Permanent, Worker, WorkerConfig};
