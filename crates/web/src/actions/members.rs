//! Sharing a project: who is a member and as what. Called by the Members
//! page and the members API alike.

use tinystudio_domain::{ProjectId, Role, UserId, parse_user_name};
use tinystudio_storage::{members, users};

use crate::auth::Principal;
use crate::{AppError, AppState};

/// Members exist only on a studio with accounts.
fn needs_accounts(by: &Principal) -> Result<(), AppError> {
    match by {
        Principal::User(_) | Principal::Key(_) => Ok(()),
        _ => Err(AppError::BadRequest(
            "this studio has no accounts, so projects have no members: make an admin first \
             (`tinystudio user create --admin NAME`)"
                .into(),
        )),
    }
}

/// Adds the account named `name` with `role`.
pub async fn add(
    state: &AppState,
    by: &Principal,
    project: ProjectId,
    name: &str,
    role: &str,
) -> Result<(), AppError> {
    needs_accounts(by)?;
    let role: Role = role.parse()?;
    let name = parse_user_name(name)?;
    let user = users::by_name(&state.db, &name)
        .await?
        .ok_or_else(|| AppError::BadRequest(format!("name: there is no account {name:?}")))?;
    members::add(&state.db, project, user.id, role).await?;
    Ok(())
}

pub fn user_id(raw: &str) -> Result<UserId, AppError> {
    raw.parse()
        .map_err(|_| AppError::NotFound("no such project member".into()))
}

pub async fn set_role(
    state: &AppState,
    project: ProjectId,
    user: UserId,
    role: &str,
) -> Result<(), AppError> {
    let role: Role = role.parse()?;
    members::set_role(&state.db, project, user, role).await?;
    Ok(())
}
