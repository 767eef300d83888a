//! Workshop classes. An admin (the instructor) makes a class and hands out
//! its join code; students register with it and become its members. The
//! instructor reads the projects its students own (see
//! [`crate::members::access`]).

use rand::Rng;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use tinystudio_domain::model::ModelMetrics;
use tinystudio_domain::{ClassId, ProjectId, UserId};

use crate::projects::parse_id;
use crate::{Db, Result, StorageError, now_ms};

/// Join codes use capitals and digits without the look-alikes (0/O, 1/I/L),
/// because people read them off a projector and type them.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// Eight symbols: 31^8, about 8.5e11 codes; guessing is further slowed by
/// the studio's limit on failed attempts per address.
const CODE_LEN: usize = 8;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Class {
    pub id: ClassId,
    pub name: String,
    pub owner_id: UserId,
    /// As stored: eight symbols, shown as `ABCD-EFGH`.
    pub join_code: String,
    pub created_at: i64,
    /// Registration closed at; `None` while students may join.
    pub closed_at: Option<i64>,
}

impl Class {
    /// The code as people read it: two groups of four.
    pub fn display_code(&self) -> String {
        let (a, b) = self.join_code.split_at(self.join_code.len() / 2);
        format!("{a}-{b}")
    }

    pub fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }
}

/// A class in the admin's list: its owner's name and its size.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClassSummary {
    #[serde(flatten)]
    pub class: Class,
    pub owner_name: String,
    pub students: i64,
}

/// One project of a class's student, with its newest model's metrics.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClassProject {
    pub student_id: UserId,
    pub student: String,
    pub project_id: ProjectId,
    pub project: String,
    pub samples: i64,
    pub model_version: Option<i64>,
    pub metrics: Option<ModelMetrics>,
}

const COLUMNS: &str = "c.id, c.name, c.owner_id, c.join_code, c.created_at, c.closed_at";

fn from_row(row: &AnyRow) -> Result<Class> {
    Ok(Class {
        id: parse_id(&row.try_get::<String, _>("id")?, "class id")?,
        name: row.try_get("name")?,
        owner_id: parse_id(&row.try_get::<String, _>("owner_id")?, "user id")?,
        join_code: row.try_get("join_code")?,
        created_at: row.try_get("created_at")?,
        closed_at: row.try_get("closed_at")?,
    })
}

/// A code as typed (any case, with or without the dash or spaces) in its
/// stored form, or `None` when it cannot be a code at all.
pub fn normalize_code(raw: &str) -> Option<String> {
    let code: String = raw
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == CODE_LEN && code.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(code)
}

fn new_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LEN)
        .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

/// Makes a class owned by `owner` (a parsed name), with a fresh join code.
pub async fn create(db: &Db, name: &str, owner: UserId) -> Result<Class> {
    for _ in 0..10 {
        let class = Class {
            id: ClassId::new(),
            name: name.to_owned(),
            owner_id: owner,
            join_code: new_code(),
            created_at: now_ms(),
            closed_at: None,
        };
        let inserted = sqlx::query(
            "INSERT INTO classes (id, name, owner_id, join_code, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(class.id.to_string())
        .bind(&class.name)
        .bind(owner.to_string())
        .bind(&class.join_code)
        .bind(class.created_at)
        .execute(&db.pool)
        .await;
        match inserted {
            Ok(_) => return Ok(class),
            // Two classes drew the same code: draw again.
            Err(e) if crate::db::is_unique_violation(&e) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StorageError::Conflict(
        "could not draw an unused join code; try again".into(),
    ))
}

pub async fn get(db: &Db, id: ClassId) -> Result<Class> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM classes c WHERE c.id = $1"))
        .bind(id.to_string())
        .fetch_optional(&db.pool)
        .await?
        .ok_or(StorageError::NotFound("class"))?;
    from_row(&row)
}

/// The class with this join code (normalized), open or not.
pub async fn by_code(db: &Db, code: &str) -> Result<Option<Class>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM classes c WHERE c.join_code = $1"
    ))
    .bind(code)
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every class, newest first.
pub async fn list(db: &Db) -> Result<Vec<ClassSummary>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS}, u.name AS owner_name, \
                (SELECT COUNT(*) FROM class_members m WHERE m.class_id = c.id) AS students \
         FROM classes c JOIN users u ON u.id = c.owner_id \
         ORDER BY c.created_at DESC, c.id DESC"
    ))
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ClassSummary {
                class: from_row(row)?,
                owner_name: row.try_get("owner_name")?,
                students: row.try_get("students")?,
            })
        })
        .collect()
}

/// Opens or closes registration.
pub async fn set_open(db: &Db, id: ClassId, open: bool) -> Result<()> {
    let done = sqlx::query("UPDATE classes SET closed_at = $1 WHERE id = $2")
        .bind((!open).then(now_ms))
        .bind(id.to_string())
        .execute(&db.pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StorageError::NotFound("class"));
    }
    Ok(())
}

/// Makes `user` a student of the class (again is harmless).
pub async fn add_student(db: &Db, class: ClassId, user: UserId) -> Result<()> {
    sqlx::query(
        "INSERT INTO class_members (class_id, user_id, joined_at) VALUES ($1, $2, $3) \
         ON CONFLICT (class_id, user_id) DO NOTHING",
    )
    .bind(class.to_string())
    .bind(user.to_string())
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The class's students, by name.
pub async fn students(db: &Db, class: ClassId) -> Result<Vec<crate::users::User>> {
    let rows = sqlx::query(
        "SELECT u.id, u.name, u.is_admin, u.created_at, u.password_changed_at \
         FROM users u JOIN class_members m ON m.user_id = u.id \
         WHERE m.class_id = $1 ORDER BY u.name",
    )
    .bind(class.to_string())
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(crate::users::from_row).collect()
}

/// The classes `user` owns, newest first.
pub async fn owned_by(db: &Db, user: UserId) -> Result<Vec<Class>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM classes c WHERE c.owner_id = $1 ORDER BY c.created_at DESC, c.id DESC"
    ))
    .bind(user.to_string())
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// The classes `user` is a student of.
pub async fn joined_by(db: &Db, user: UserId) -> Result<Vec<Class>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM classes c JOIN class_members m ON m.class_id = c.id \
         WHERE m.user_id = $1 ORDER BY c.created_at DESC, c.id DESC"
    ))
    .bind(user.to_string())
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// The projects the class's students own, by student and then newest
/// first, each with its newest model's metrics.
pub async fn projects(db: &Db, class: ClassId) -> Result<Vec<ClassProject>> {
    let rows = sqlx::query(
        "SELECT u.id AS student_id, u.name AS student, p.id AS project_id, p.name AS project, \
                (SELECT COUNT(*) FROM samples s WHERE s.project_id = p.id) AS samples, \
                lm.version AS model_version, lm.metrics AS metrics \
         FROM class_members cm \
         JOIN users u ON u.id = cm.user_id \
         JOIN project_members pm ON pm.user_id = u.id AND pm.role = 'owner' \
         JOIN projects p ON p.id = pm.project_id \
         LEFT JOIN models lm ON lm.project_id = p.id \
              AND lm.version = (SELECT MAX(version) FROM models m2 WHERE m2.project_id = p.id) \
         WHERE cm.class_id = $1 \
         ORDER BY u.name, p.created_at DESC, p.id DESC",
    )
    .bind(class.to_string())
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            let metrics: Option<String> = row.try_get("metrics")?;
            Ok(ClassProject {
                student_id: parse_id(&row.try_get::<String, _>("student_id")?, "user id")?,
                student: row.try_get("student")?,
                project_id: parse_id(&row.try_get::<String, _>("project_id")?, "project id")?,
                project: row.try_get("project")?,
                samples: row.try_get("samples")?,
                model_version: row.try_get("model_version")?,
                metrics: metrics
                    .map(|m| serde_json::from_str(&m))
                    .transpose()
                    .map_err(|e| StorageError::Corrupt(format!("model metrics: {e}")))?,
            })
        })
        .collect()
}
