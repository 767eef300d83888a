//! Training: impulse + training set -> a model.

use serde_json::Value;

use crate::{JobContext, Permanent};

pub async fn run(ctx: JobContext) -> anyhow::Result<Value> {
    ctx.log("training is not available in this build yet")
        .await?;
    Err(Permanent("training is not available in this build yet".into()).into())
}
