//! Markdown rendering off the async workers, with a deadline, and a cache
//! of what was rendered per stored version.
//!
//! Rendering is CPU work (a playbook page takes milliseconds, a hostile text
//! could take far longer before `core::markdown` bounded it). On the async
//! workers it would stall every other request, `/healthz` included, so it
//! runs on the blocking pool, at most one render per CPU at once, and a
//! request waits at most [`RENDER_DEADLINE`] for it. A stored version never
//! changes, so its HTML is rendered once and kept.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use tokio::sync::Semaphore;

use super::ApiError;

/// The longest a request waits for a render (queueing included).
pub const RENDER_DEADLINE: Duration = Duration::from_secs(10);

/// Rendered versions kept; the oldest goes first.
const CACHE_ENTRIES: usize = 512;

/// What was rendered: a stored document and its version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DocKey {
    Playbook(String, i64),
    Postmortem(i64, i64),
}

type Entry = Arc<dyn Any + Send + Sync>;

#[derive(Default)]
struct Cache {
    entries: HashMap<DocKey, Entry>,
    order: VecDeque<DocKey>,
}

/// Render slots and the cache of one server.
pub struct Renderer {
    slots: Arc<Semaphore>,
    cache: Mutex<Cache>,
}

impl Default for Renderer {
    fn default() -> Renderer {
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        Renderer {
            slots: Arc::new(Semaphore::new(cpus)),
            cache: Mutex::default(),
        }
    }
}

fn too_slow() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "render_timeout",
        format!(
            "rendering this text took longer than {} s; the server is busy or the text is \
             unusually complex",
            RENDER_DEADLINE.as_secs()
        ),
    )
}

impl Renderer {
    /// Runs `work` on the blocking pool within the deadline.
    pub async fn run<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let slots = self.slots.clone();
        let job = async move {
            let permit = slots
                .acquire_owned()
                .await
                .map_err(|_| ApiError::internal())?;
            // The permit goes with the work: a render that outlives the
            // deadline still holds its slot, so runaways cannot pile up.
            tokio::task::spawn_blocking(move || {
                let out = work();
                drop(permit);
                out
            })
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "render task failed");
                ApiError::internal()
            })
        };
        tokio::time::timeout(RENDER_DEADLINE, job)
            .await
            .map_err(|_| too_slow())?
    }

    /// The cached rendering of `key`, else `work` run as [`Renderer::run`]
    /// does and kept.
    pub async fn cached<T, F>(&self, key: DocKey, work: F) -> Result<Arc<T>, ApiError>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        if let Some(hit) = self.lookup(&key)
            && let Ok(hit) = hit.downcast::<T>()
        {
            return Ok(hit);
        }
        let rendered = Arc::new(self.run(work).await?);
        self.keep(key, rendered.clone());
        Ok(rendered)
    }

    fn lookup(&self, key: &DocKey) -> Option<Entry> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.entries.get(key).cloned()
    }

    fn keep(&self, key: DocKey, value: Entry) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.entries.insert(key.clone(), value).is_none() {
            cache.order.push_back(key);
        }
        while cache.order.len() > CACHE_ENTRIES {
            if let Some(old) = cache.order.pop_front() {
                cache.entries.remove(&old);
            }
        }
    }

    /// How many renderings are kept (for tests).
    pub fn cached_entries(&self) -> usize {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entries
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_version_is_rendered_once_and_the_cache_stays_bounded() {
        let r = Renderer::default();
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for _ in 0..3 {
            let calls = calls.clone();
            let html = r
                .cached(DocKey::Playbook("a".into(), 1), move || {
                    calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    "<p>a</p>".to_owned()
                })
                .await
                .unwrap();
            assert_eq!(*html, "<p>a</p>");
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        for v in 0..(CACHE_ENTRIES as i64 + 10) {
            r.cached(DocKey::Postmortem(1, v), String::new)
                .await
                .unwrap();
        }
        assert_eq!(r.cached_entries(), CACHE_ENTRIES);
    }
}
