//! Samples: one uploaded image each, with its label and category.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use tinystudio_domain::category::testing_share;
use tinystudio_domain::{Category, Label, Metadata, ProjectId, SampleId};

use crate::projects::parse_id;
use crate::{Db, Result, StorageError, now_ms};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    pub id: SampleId,
    #[serde(skip)]
    pub project_id: ProjectId,
    /// As uploaded; data only, never used as a path.
    pub file_name: String,
    pub label: Option<String>,
    pub category: Category,
    pub sha256: String,
    pub size_bytes: i64,
    pub width: i64,
    pub height: i64,
    pub content_type: String,
    pub metadata: Metadata,
    pub created_at: i64,
}

/// A sample to insert; its blob must already be durable.
#[derive(Debug, Clone)]
pub struct NewSample {
    pub project_id: ProjectId,
    pub file_name: String,
    pub label: Option<Label>,
    pub category: Category,
    pub sha256: String,
    pub size_bytes: i64,
    pub width: i64,
    pub height: i64,
    pub content_type: String,
    pub metadata: Metadata,
}

/// Which samples a listing shows.
#[derive(Debug, Clone, Default)]
pub struct SampleFilter {
    pub category: Option<Category>,
    pub label: Option<LabelFilter>,
}

#[derive(Debug, Clone)]
pub enum LabelFilter {
    Is(String),
    Unlabeled,
}

/// A change applied to one or many samples; `None` fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct SampleChange {
    /// `Some(None)` removes the label.
    pub label: Option<Option<Label>>,
    pub category: Option<Category>,
}

/// How many samples each label has in each category.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub total: i64,
    pub training: i64,
    pub testing: i64,
    pub labels: Vec<LabelCount>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelCount {
    /// `None` for unlabeled samples.
    pub label: Option<String>,
    pub training: i64,
    pub testing: i64,
}

const COLUMNS: &str = "id, project_id, file_name, label, category, sha256, size_bytes, width, \
                       height, content_type, metadata, created_at";

/// Most ids one statement binds; bulk operations are chunked to this.
const CHUNK: usize = 500;

fn from_row(row: &AnyRow) -> Result<Sample> {
    let metadata: String = row.try_get("metadata")?;
    let category: String = row.try_get("category")?;
    Ok(Sample {
        id: parse_id(&row.try_get::<String, _>("id")?, "sample id")?,
        project_id: parse_id(&row.try_get::<String, _>("project_id")?, "project id")?,
        file_name: row.try_get("file_name")?,
        label: row.try_get("label")?,
        category: category
            .parse()
            .map_err(|_| StorageError::Corrupt(format!("category {category:?}")))?,
        sha256: row.try_get("sha256")?,
        size_bytes: row.try_get("size_bytes")?,
        width: row.try_get("width")?,
        height: row.try_get("height")?,
        content_type: row.try_get("content_type")?,
        metadata: serde_json::from_str(&metadata)
            .map_err(|e| StorageError::Corrupt(format!("sample metadata: {e}")))?,
        created_at: row.try_get("created_at")?,
    })
}

pub async fn insert(db: &Db, new: NewSample) -> Result<Sample> {
    let sample = Sample {
        id: SampleId::new(),
        project_id: new.project_id,
        file_name: new.file_name,
        label: new.label.map(Label::into_string),
        category: new.category,
        sha256: new.sha256,
        size_bytes: new.size_bytes,
        width: new.width,
        height: new.height,
        content_type: new.content_type,
        metadata: new.metadata,
        created_at: now_ms(),
    };
    let metadata = serde_json::to_string(&sample.metadata)
        .map_err(|e| StorageError::Corrupt(e.to_string()))?;
    sqlx::query(&format!(
        "INSERT INTO samples ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(sample.id.to_string())
    .bind(sample.project_id.to_string())
    .bind(&sample.file_name)
    .bind(sample.label.clone())
    .bind(sample.category.as_str())
    .bind(&sample.sha256)
    .bind(sample.size_bytes)
    .bind(sample.width)
    .bind(sample.height)
    .bind(&sample.content_type)
    .bind(metadata)
    .bind(sample.created_at)
    .execute(&db.pool)
    .await?;
    Ok(sample)
}

/// A sample of the project with this content, if any.
pub async fn find_by_hash(db: &Db, project_id: ProjectId, sha256: &str) -> Result<Option<Sample>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM samples WHERE project_id = $1 AND sha256 = $2 \
         ORDER BY created_at, id LIMIT 1"
    ))
    .bind(project_id.to_string())
    .bind(sha256)
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Builds `WHERE ...` for a filter; placeholders start at `$1` (the project).
fn where_clause(filter: &SampleFilter) -> (String, Vec<String>) {
    let mut sql = String::from("WHERE project_id = $1");
    let mut binds = Vec::new();
    if let Some(category) = filter.category {
        binds.push(category.as_str().to_owned());
        sql.push_str(&format!(" AND category = ${}", binds.len() + 1));
    }
    match &filter.label {
        Some(LabelFilter::Is(label)) => {
            binds.push(label.clone());
            sql.push_str(&format!(" AND label = ${}", binds.len() + 1));
        }
        Some(LabelFilter::Unlabeled) => sql.push_str(" AND label IS NULL"),
        None => {}
    }
    (sql, binds)
}

/// One page of samples, newest first, and how many match in all.
pub async fn list(
    db: &Db,
    project_id: ProjectId,
    filter: &SampleFilter,
    limit: i64,
    offset: i64,
) -> Result<(i64, Vec<Sample>)> {
    let (clause, binds) = where_clause(filter);
    let count_sql = format!("SELECT COUNT(*) FROM samples {clause}");
    let mut count = sqlx::query(&count_sql).bind(project_id.to_string());
    for b in &binds {
        count = count.bind(b.clone());
    }
    let total: i64 = count.fetch_one(&db.pool).await?.try_get(0)?;

    let n = binds.len();
    let page_sql = format!(
        "SELECT {COLUMNS} FROM samples {clause} ORDER BY created_at DESC, id DESC LIMIT ${} OFFSET ${}",
        n + 2,
        n + 3
    );
    let mut page = sqlx::query(&page_sql).bind(project_id.to_string());
    for b in &binds {
        page = page.bind(b.clone());
    }
    let rows = page.bind(limit).bind(offset).fetch_all(&db.pool).await?;
    let samples = rows.iter().map(from_row).collect::<Result<_>>()?;
    Ok((total, samples))
}

/// Every sample of a category (for training and testing jobs), oldest first.
pub async fn all_in_category(
    db: &Db,
    project_id: ProjectId,
    category: Category,
) -> Result<Vec<Sample>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM samples WHERE project_id = $1 AND category = $2 \
         ORDER BY created_at, id"
    ))
    .bind(project_id.to_string())
    .bind(category.as_str())
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn get(db: &Db, project_id: ProjectId, id: SampleId) -> Result<Sample> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM samples WHERE project_id = $1 AND id = $2"
    ))
    .bind(project_id.to_string())
    .bind(id.to_string())
    .fetch_optional(&db.pool)
    .await?
    .ok_or(StorageError::NotFound("sample"))?;
    from_row(&row)
}

fn placeholders(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Applies `change` to the listed samples of the project, in one
/// transaction. Fails with `NotFound` (and changes nothing) when any id is
/// not a sample of this project.
pub async fn update(
    db: &Db,
    project_id: ProjectId,
    ids: &[SampleId],
    change: &SampleChange,
) -> Result<u64> {
    let mut sets = Vec::new();
    let mut binds: Vec<Option<String>> = Vec::new();
    if let Some(label) = &change.label {
        binds.push(label.as_ref().map(|l| l.as_str().to_owned()));
        sets.push(format!("label = ${}", binds.len()));
    }
    if let Some(category) = change.category {
        binds.push(Some(category.as_str().to_owned()));
        sets.push(format!("category = ${}", binds.len()));
    }
    if sets.is_empty() || ids.is_empty() {
        return Ok(0);
    }
    let mut tx = db.pool.begin().await?;
    let mut affected = 0;
    for chunk in ids.chunks(CHUNK) {
        let first = binds.len() + 2;
        let sql = format!(
            "UPDATE samples SET {} WHERE project_id = ${} AND id IN ({})",
            sets.join(", "),
            binds.len() + 1,
            placeholders(first, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for b in &binds {
            q = q.bind(b.clone());
        }
        q = q.bind(project_id.to_string());
        for id in chunk {
            q = q.bind(id.to_string());
        }
        affected += q.execute(&mut *tx).await?.rows_affected();
    }
    if affected != distinct(ids) {
        return Err(StorageError::NotFound("sample"));
    }
    tx.commit().await?;
    Ok(affected)
}

/// Deletes the listed samples, all or none. Their blobs are collected later
/// if nothing else references them.
pub async fn delete(db: &Db, project_id: ProjectId, ids: &[SampleId]) -> Result<u64> {
    let mut tx = db.pool.begin().await?;
    let mut affected = 0;
    for chunk in ids.chunks(CHUNK) {
        let sql = format!(
            "DELETE FROM samples WHERE project_id = $1 AND id IN ({})",
            placeholders(2, chunk.len())
        );
        let mut q = sqlx::query(&sql).bind(project_id.to_string());
        for id in chunk {
            q = q.bind(id.to_string());
        }
        affected += q.execute(&mut *tx).await?.rows_affected();
    }
    if affected != distinct(ids) {
        return Err(StorageError::NotFound("sample"));
    }
    tx.commit().await?;
    Ok(affected)
}

fn distinct(ids: &[SampleId]) -> u64 {
    ids.iter().collect::<std::collections::HashSet<_>>().len() as u64
}

pub async fn counts(db: &Db, project_id: ProjectId) -> Result<Counts> {
    let rows = sqlx::query(
        "SELECT label, category, COUNT(*) AS n FROM samples WHERE project_id = $1 \
         GROUP BY label, category",
    )
    .bind(project_id.to_string())
    .fetch_all(&db.pool)
    .await?;
    let mut per_label: BTreeMap<Option<String>, (i64, i64)> = BTreeMap::new();
    let mut counts = Counts::default();
    for row in &rows {
        let label: Option<String> = row.try_get("label")?;
        let category: String = row.try_get("category")?;
        let n: i64 = row.try_get("n")?;
        let entry = per_label.entry(label).or_default();
        if category == "training" {
            entry.0 += n;
            counts.training += n;
        } else {
            entry.1 += n;
            counts.testing += n;
        }
        counts.total += n;
    }
    counts.labels = per_label
        .into_iter()
        .map(|(label, (training, testing))| LabelCount {
            label,
            training,
            testing,
        })
        .collect();
    Ok(counts)
}

/// Re-splits the project 80/20 per label (unlabeled samples form one group).
/// Within a label, samples are ordered by content hash and the last 20 % go
/// to testing, so the result depends only on the content, and adding a few
/// samples moves few others. Returns how many samples changed category.
pub async fn rebalance(db: &Db, project_id: ProjectId) -> Result<u64> {
    let rows = sqlx::query(
        "SELECT id, label, sha256, category FROM samples WHERE project_id = $1 \
         ORDER BY label, sha256, id",
    )
    .bind(project_id.to_string())
    .fetch_all(&db.pool)
    .await?;
    let mut groups: BTreeMap<Option<String>, Vec<(String, String)>> = BTreeMap::new();
    for row in &rows {
        let label: Option<String> = row.try_get("label")?;
        groups
            .entry(label)
            .or_default()
            .push((row.try_get("id")?, row.try_get("category")?));
    }
    let mut to_training = Vec::new();
    let mut to_testing = Vec::new();
    for members in groups.values() {
        let cut = members.len() - testing_share(members.len());
        for (i, (id, category)) in members.iter().enumerate() {
            let want = if i < cut { "training" } else { "testing" };
            if category != want {
                if i < cut {
                    to_training.push(id.clone());
                } else {
                    to_testing.push(id.clone());
                }
            }
        }
    }
    let mut tx = db.pool.begin().await?;
    let mut moved = 0;
    for (category, ids) in [("training", &to_training), ("testing", &to_testing)] {
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "UPDATE samples SET category = $1 WHERE project_id = $2 AND id IN ({})",
                placeholders(3, chunk.len())
            );
            let mut q = sqlx::query(&sql)
                .bind(category)
                .bind(project_id.to_string());
            for id in chunk {
                q = q.bind(id.clone());
            }
            moved += q.execute(&mut *tx).await?.rows_affected();
        }
    }
    tx.commit().await?;
    Ok(moved)
}
