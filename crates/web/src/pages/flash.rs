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
        let value = Self::read(entries.get(token)?, project)?;
        entries.remove(token);
        Some(value)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_value_is_gone_and_another_project_sees_nothing() {
        let flashes = Flashes::default();
        let (mine, theirs) = (ProjectId::new(), ProjectId::new());
        let token = flashes.put(mine, "ei_secret".to_owned());
        assert_eq!(flashes.get::<String>(theirs, &token), None);
        assert_eq!(flashes.take::<String>(theirs, &token), None);
        assert_eq!(flashes.get::<u32>(mine, &token), None, "another type");
        assert_eq!(
            flashes.take::<String>(mine, &token).as_deref(),
            Some("ei_secret")
        );
        assert_eq!(flashes.take::<String>(mine, &token), None, "shown once");
        let kept = flashes.put(mine, 7u32);
        assert_eq!(flashes.get::<u32>(mine, &kept), Some(7));
        assert_eq!(flashes.get::<u32>(mine, &kept), Some(7), "kept for reloads");
        assert_eq!(flashes.get::<u32>(mine, "unknown"), None);
    }
}
