use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use tinystudio_domain::{ProjectId, UserId};

use crate::{Db, Result, StorageError, now_ms};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    pub id: ProjectId,
    pub name: String,
    pub created_at: i64,
}

/// A project with the numbers the project list shows.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSummary {
    #[serde(flatten)]
    pub project: Project,
    pub sample_count: i64,
}

pub(crate) fn parse_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T> {
    raw.parse()
        .map_err(|_| StorageError::Corrupt(format!("{what} {raw:?} is not a valid id")))
}

fn from_row(row: &AnyRow) -> Result<Project> {
    Ok(Project {
        id: parse_id(&row.try_get::<String, _>("id")?, "project id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
    })
}

/// `name` must already be validated (`parse_project_name`). The project has
/// no members: it is the local user's, or reached through its keys.
pub async fn create(db: &Db, name: &str) -> Result<Project> {
    create_owned(db, name, None).await
}

/// Creates a project with `owner` as its owner, in one transaction, so no
/// project of an account is ever left without one.
pub async fn create_owned(db: &Db, name: &str, owner: Option<UserId>) -> Result<Project> {
    let project = Project {
        id: ProjectId::new(),
        name: name.to_owned(),
        created_at: now_ms(),
    };
    let mut tx = db.pool.begin().await?;
    sqlx::query("INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(project.id.to_string())
        .bind(&project.name)
        .bind(project.created_at)
        .execute(&mut *tx)
        .await?;
    if let Some(owner) = owner {
        sqlx::query(
            "INSERT INTO project_members (project_id, user_id, role, added_at) \
             VALUES ($1, $2, 'owner', $3)",
        )
        .bind(project.id.to_string())
        .bind(owner.to_string())
        .bind(project.created_at)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(project)
}

pub async fn get(db: &Db, id: ProjectId) -> Result<Project> {
    let row = sqlx::query("SELECT id, name, created_at FROM projects WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&db.pool)
        .await?
        .ok_or(StorageError::NotFound("project"))?;
    from_row(&row)
}

pub async fn list(db: &Db) -> Result<Vec<ProjectSummary>> {
    let rows = sqlx::query(
        "SELECT p.id, p.name, p.created_at, \
                (SELECT COUNT(*) FROM samples s WHERE s.project_id = p.id) AS sample_count \
         FROM projects p ORDER BY p.created_at DESC, p.id DESC",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(summary_from_row).collect()
}

pub(crate) fn summary_from_row(row: &AnyRow) -> Result<ProjectSummary> {
    Ok(ProjectSummary {
        project: from_row(row)?,
        sample_count: row.try_get("sample_count")?,
    })
}

pub async fn rename(db: &Db, id: ProjectId, name: &str) -> Result<()> {
    let done = sqlx::query("UPDATE projects SET name = $1 WHERE id = $2")
        .bind(name)
        .bind(id.to_string())
        .execute(&db.pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StorageError::NotFound("project"));
    }
    Ok(())
}

/// Deletes the project and its keys, capture links, members, samples, jobs
/// and models. Blobs nothing references any more are left for
/// [`crate::blobs::collect_garbage`].
pub async fn delete(db: &Db, id: ProjectId) -> Result<()> {
    let mut tx = db.pool.begin().await?;
    // Explicit deletes in dependency order, so this does not depend on the
    // database enforcing ON DELETE CASCADE.
    sqlx::query(
        "DELETE FROM job_events WHERE job_id IN (SELECT id FROM jobs WHERE project_id = $1)",
    )
    .bind(id.to_string())
    .execute(&mut *tx)
    .await?;
    for table in [
        "models",
        "jobs",
        "impulses",
        "samples",
        "api_keys",
        "capture_links",
        "project_members",
    ] {
        sqlx::query(&format!("DELETE FROM {table} WHERE project_id = $1"))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
    }
    let done = sqlx::query("DELETE FROM projects WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StorageError::NotFound("project"));
    }
    tx.commit().await?;
    Ok(())
}
