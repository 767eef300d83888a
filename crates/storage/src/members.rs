//! Who may work on a project, and as what (owner, editor, viewer). A
//! project always keeps at least one owner once it has members: the
//! changes that would remove the last one are refused.

use serde::Serialize;
use sqlx::Row;
use tinystudio_domain::{ProjectId, Role, UserId};

use crate::projects::{ProjectSummary, parse_id};
use crate::{Db, Result, StorageError, now_ms};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub user_id: UserId,
    pub name: String,
    pub role: Role,
    pub added_at: i64,
}

fn parse_role(raw: &str) -> Result<Role> {
    raw.parse()
        .map_err(|e| StorageError::Corrupt(format!("project member: {e}")))
}

/// What `user` may do in `project`: their membership's role; else viewer
/// when they own a class one of whose students owns the project (an
/// instructor reads the class's work); else nothing.
pub async fn access(db: &Db, project: ProjectId, user: UserId) -> Result<Option<Role>> {
    if let Some(role) = role_of(db, project, user).await? {
        return Ok(Some(role));
    }
    let instructs = sqlx::query(
        "SELECT 1 FROM project_members m \
         JOIN class_members cm ON cm.user_id = m.user_id \
         JOIN classes c ON c.id = cm.class_id \
         WHERE m.project_id = $1 AND m.role = 'owner' AND c.owner_id = $2 LIMIT 1",
    )
    .bind(project.to_string())
    .bind(user.to_string())
    .fetch_optional(&db.pool)
    .await?;
    Ok(instructs.map(|_| Role::Viewer))
}

/// The member's own role, if they are one.
pub async fn role_of(db: &Db, project: ProjectId, user: UserId) -> Result<Option<Role>> {
    let row =
        sqlx::query("SELECT role FROM project_members WHERE project_id = $1 AND user_id = $2")
            .bind(project.to_string())
            .bind(user.to_string())
            .fetch_optional(&db.pool)
            .await?;
    row.map(|r| parse_role(&r.try_get::<String, _>("role")?))
        .transpose()
}

/// Adds `user` with `role`; a user who is already a member is a conflict
/// (change their role instead).
pub async fn add(db: &Db, project: ProjectId, user: UserId, role: Role) -> Result<()> {
    let inserted = sqlx::query(
        "INSERT INTO project_members (project_id, user_id, role, added_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(project.to_string())
    .bind(user.to_string())
    .bind(role.as_str())
    .bind(now_ms())
    .execute(&db.pool)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if crate::db::is_unique_violation(&e) => Err(StorageError::Conflict(
            "that user is already a member; change their role instead".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

fn last_owner() -> StorageError {
    StorageError::Conflict(
        "a project needs an owner: make another member owner first, or delete the project".into(),
    )
}

/// Changes a member's role; taking the owner role from the last owner is a
/// conflict.
pub async fn set_role(db: &Db, project: ProjectId, user: UserId, role: Role) -> Result<()> {
    let done = sqlx::query(
        "UPDATE project_members SET role = $1 WHERE project_id = $2 AND user_id = $3 \
         AND ($1 = 'owner' OR role <> 'owner' OR \
              (SELECT COUNT(*) FROM project_members o WHERE o.project_id = $2 AND o.role = 'owner') > 1)",
    )
    .bind(role.as_str())
    .bind(project.to_string())
    .bind(user.to_string())
    .execute(&db.pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(match role_of(db, project, user).await? {
            Some(_) => last_owner(),
            None => StorageError::NotFound("project member"),
        });
    }
    Ok(())
}

/// Removes a member; removing the last owner is a conflict.
pub async fn remove(db: &Db, project: ProjectId, user: UserId) -> Result<()> {
    let done = sqlx::query(
        "DELETE FROM project_members WHERE project_id = $1 AND user_id = $2 \
         AND (role <> 'owner' OR \
              (SELECT COUNT(*) FROM project_members o WHERE o.project_id = $1 AND o.role = 'owner') > 1)",
    )
    .bind(project.to_string())
    .bind(user.to_string())
    .execute(&db.pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(match role_of(db, project, user).await? {
            Some(_) => last_owner(),
            None => StorageError::NotFound("project member"),
        });
    }
    Ok(())
}

/// The project's members, owners first, then by name.
pub async fn list(db: &Db, project: ProjectId) -> Result<Vec<Member>> {
    let rows = sqlx::query(
        "SELECT m.user_id, u.name, m.role, m.added_at FROM project_members m \
         JOIN users u ON u.id = m.user_id WHERE m.project_id = $1 \
         ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'editor' THEN 1 ELSE 2 END, u.name",
    )
    .bind(project.to_string())
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Member {
                user_id: parse_id(&row.try_get::<String, _>("user_id")?, "user id")?,
                name: row.try_get("name")?,
                role: parse_role(&row.try_get::<String, _>("role")?)?,
                added_at: row.try_get("added_at")?,
            })
        })
        .collect()
}

/// The projects `user` is a member of, newest first, with their role.
pub async fn projects_of(db: &Db, user: UserId) -> Result<Vec<(ProjectSummary, Role)>> {
    let rows = sqlx::query(
        "SELECT p.id, p.name, p.created_at, m.role, \
                (SELECT COUNT(*) FROM samples s WHERE s.project_id = p.id) AS sample_count \
         FROM projects p JOIN project_members m ON m.project_id = p.id \
         WHERE m.user_id = $1 ORDER BY p.created_at DESC, p.id DESC",
    )
    .bind(user.to_string())
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                crate::projects::summary_from_row(row)?,
                parse_role(&row.try_get::<String, _>("role")?)?,
            ))
        })
        .collect()
}
