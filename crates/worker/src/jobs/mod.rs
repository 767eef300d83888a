//! One module per job kind.

pub mod deploy;
pub mod run;
pub mod test;
pub mod train;
