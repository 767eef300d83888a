//! The `tinystudio` binary's library: command line, configuration, and the
//! wiring that turns storage, web and worker crates into a running studio.
//! Integration tests start the studio through [`app::App`].

pub mod app;
pub mod cli;
pub mod config;
pub mod tls;
pub mod train;
