//! What a form post hands to the page it redirects to (post, redirect,
//! get): a new API key, a classification, a board's answer. Kept here, in
//! memory and for a few minutes, under a random token that the redirect's
//! URL carries, so that the URL never holds a secret, a reload does not
//! post the form again, and a bookmark of the page still works (an expired
//! or unknown token shows the page without it). On a studio with several
//! web servers, a reload that reaches another server shows the page
//! without it too.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tinystudio_domain::ProjectId;

/// How long a token is good for.
const LIFETIME: Duration = Duration::from_secs(10 * 60);
/// At most this many at a time; the oldest go first.
const CAPACITY: usize = 4096;

struct Entry {
    project: ProjectId,
    made: Instant,
    value: Arc<dyn Any + Send + Sync>,
}

#[derive(Default)]
pub struct Flashes {
    entries: Mutex<HashMap<String, Entry>>,
}

impl Flashes {
    /// Keeps `value` for `project` and returns its token.
    pub fn put<T: Send + Sync + 'static>(&self, project: ProjectId, value: T) -> String {
        let token = crate::auth::new_setup_token();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, e| e.made.elapsed() < LIFETIME);
        if entries.len() >= CAPACITY
            && let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, e)| e.made)
                .map(|(k, _)| k.clone())
        {
            entries.remove(&oldest);
        }
        entries.insert(
            token.clone(),
            Entry {
                project,
                made: Instant::now(),
                value: Arc::new(value),
            },
        );
        token
    }

    /// The value under `token`, which is then forgotten: for what must be
    /// shown once (a new key).
    pub fn take<T: Clone + 'static>(&self, project: ProjectId, token: &str) -> Option<T> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.remove(token)?;
        Self::read(&entry, project)
    }

    /// The value under `token`, kept for later reloads until it expires.
    pub fn get<T: Clone + 'static>(&self, project: ProjectId, token: &str) -> Option<T> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        Self::read(entries.get(token)?, project)
    }

    fn read<T: Clone + 'static>(entry: &Entry, project: ProjectId) -> Option<T> {
        if entry.project != project || entry.made.elapsed() >= LIFETIME {
            return None;
        }
        entry.value.downcast_ref::<T>().cloned()
    }
}
