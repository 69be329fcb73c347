//! The knowledge base service: playbooks in the store, parsed in memory and
//! indexed for search. Every change goes through here so the three agree.
//! It also keeps the report pins current: the stored reports a playbook's
//! examples or a postmortem's `reports` cite, which retention leaves whole.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use tracing::{info, warn};
use uuid::Uuid;

use crate::builtin;
use crate::core::playbook::{Playbook, PlaybookError};
use crate::core::postmortem::Postmortem;
use crate::search::{AlertMatch, SearchError, SearchIndex, SearchRequest, SearchResults};
use crate::store::{DynStore, NewVersion, Origin, PlaybookVersion, StoreError};

/// A playbook as the store holds it now, parsed.
#[derive(Debug, Clone)]
pub struct Current {
    pub playbook: Playbook,
    pub version: PlaybookVersion,
}

#[derive(Debug, thiserror::Error)]
pub enum KbError {
    #[error(transparent)]
    Invalid(#[from] PlaybookError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error("search index task failed: {0}")]
    Task(String),
}

pub struct KnowledgeBase {
    store: DynStore,
    index: SearchIndex,
    current: RwLock<BTreeMap<String, Arc<Current>>>,
}

/// What loading the built-ins did, for logs and tests.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BuiltinSync {
    pub added: usize,
    pub upgraded: usize,
    /// Built-ins whose stored copy a person edited: theirs is kept.
    pub kept_edits: usize,
}

impl KnowledgeBase {
    /// Loads the built-ins into the store (first start, or a newer binary),
    /// then reads every playbook and builds the search index.
    pub async fn open(store: DynStore) -> Result<Arc<KnowledgeBase>, KbError> {
        let kb = Arc::new(KnowledgeBase {
            store,
            index: SearchIndex::new()?,
            current: RwLock::default(),
        });
        let sync = kb.sync_builtins().await?;
        info!(?sync, "built-in playbooks");
        kb.reload().await?;
        let postmortems = kb.reload_postmortems().await?;
        // Pins are derived: a save whose pin write was cut short (a crash)
        // heals here at the next start. One read for all holders; only
        // missing pins are added, never any taken away, so a replica that
        // starts from an older snapshot cannot undo a pin another replica's
        // save just wrote (a stale extra pin goes at that holder's next save).
        let stored = kb.store.all_report_pins().await?;
        let playbooks = kb.list();
        let wanted = playbooks
            .iter()
            .map(|c| playbook_pins(&c.playbook))
            .chain(postmortems.iter().map(postmortem_pins));
        for (holder, cited) in wanted {
            let have = stored.get(&holder).map_or(&[][..], Vec::as_slice);
            let missing: Vec<Uuid> = cited.into_iter().filter(|id| !have.contains(id)).collect();
            if !missing.is_empty() {
                kb.store.add_report_pins(&holder, &missing).await?;
            }
        }
        Ok(kb)
    }

    pub fn store(&self) -> &DynStore {
        &self.store
    }

    async fn sync_builtins(&self) -> Result<BuiltinSync, KbError> {
        let mut sync = BuiltinSync::default();
        for (name, text) in builtin::playbooks() {
            let playbook = Playbook::parse(&name, &text)?;
            let stored = self.store.current_playbook(playbook.id()).await?;
            match stored {
                None => sync.added += 1,
                Some(v) if v.origin != Origin::Builtin => {
                    sync.kept_edits += 1;
                    continue;
                }
                Some(v) if v.source == text => continue,
                Some(_) => sync.upgraded += 1,
            }
            self.store
                .save_playbook(NewVersion {
                    id: playbook.id(),
                    source: &text,
                    origin: Origin::Builtin,
                    author: None,
                    base_version: None,
                })
                .await?;
        }
        Ok(sync)
    }

    /// Re-reads every playbook from the store and rebuilds the index.
    pub async fn reload(&self) -> Result<(), KbError> {
        let versions = self.store.current_playbooks().await?;
        let mut map = BTreeMap::new();
        for version in versions {
            match Playbook::parse(&format!("{}.md", version.id), &version.source) {
                Ok(playbook) => {
                    map.insert(version.id.clone(), Arc::new(Current { playbook, version }));
                }
                // A row written by an older, laxer version must not stop the server.
                Err(e) => warn!(error = %e, "stored playbook does not parse; left out"),
            }
        }
        self.index.rebuild(map.values().map(|c| &c.playbook))?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = map;
        Ok(())
    }

    /// Re-reads one playbook from the store into memory and the index: what
    /// another replica's save (a notice, see `replicas`) calls. A playbook no
    /// longer in the store leaves both; an older version than the one held
    /// (a late notice) changes nothing. Returns whether anything changed.
    pub async fn refresh(&self, id: &str) -> Result<bool, KbError> {
        let Some(version) = self.store.current_playbook(id).await? else {
            let removed = self
                .current
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(id)
                .is_some();
            if removed {
                self.index.remove(id)?;
            }
            return Ok(removed);
        };
        if self
            .get(id)
            .is_some_and(|held| held.version.version >= version.version)
        {
            return Ok(false);
        }
        let playbook = Playbook::parse(&format!("{}.md", version.id), &version.source)?;
        self.index.upsert(&playbook)?;
        let current = Arc::new(Current { playbook, version });
        let newer_held = {
            let mut map = self.current.write().unwrap_or_else(|e| e.into_inner());
            match map.get(id) {
                // A local save landed a newer version meanwhile: keep it.
                Some(held) if held.version.version > current.version.version => Some(held.clone()),
                _ => {
                    map.insert(id.to_owned(), current);
                    None
                }
            }
        };
        if let Some(held) = newer_held {
            self.index.upsert(&held.playbook)?;
        }
        Ok(true)
    }

    /// Every playbook, ordered by id.
    pub fn list(&self) -> Vec<Arc<Current>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub fn get(&self, id: &str) -> Option<Arc<Current>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    /// Validates and stores a new version, then updates memory and index.
    pub async fn save(
        &self,
        origin_label: &str,
        source: &str,
        origin: Origin,
        author: Option<&str>,
        base_version: Option<i64>,
    ) -> Result<Arc<Current>, KbError> {
        let playbook = Playbook::parse(origin_label, source)?;
        let version = self
            .store
            .save_playbook(NewVersion {
                id: playbook.id(),
                source,
                origin,
                author,
                base_version,
            })
            .await?;
        self.pin_playbook(&playbook).await?;
        self.index.upsert(&playbook)?;
        let current = Arc::new(Current { playbook, version });
        self.current
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(current.playbook.id().to_owned(), current.clone());
        Ok(current)
    }

    /// Re-reads every postmortem's newest text into the search index, and
    /// returns those that parse.
    pub async fn reload_postmortems(&self) -> Result<Vec<Postmortem>, KbError> {
        let texts = self.store.current_postmortem_texts().await?;
        let parsed: Vec<Postmortem> = texts
            .iter()
            .filter_map(|v| {
                let label = format!("postmortem {}", v.postmortem_id);
                Postmortem::parse(&label, &v.source)
                    .map_err(|e| warn!(error = %e, "stored postmortem does not parse; not indexed"))
                    .ok()
            })
            .collect();
        self.index.rebuild_postmortems(parsed.iter())?;
        Ok(parsed)
    }

    /// Re-reads one postmortem's newest text into the index: what another
    /// replica's save (a notice, see `replicas`) calls. Returns whether it
    /// was found.
    pub async fn refresh_postmortem(&self, id: i64) -> Result<bool, KbError> {
        let Some(pm) = self.store.postmortem(id).await? else {
            return Ok(false);
        };
        let Some(text) = self
            .store
            .postmortem_version(id, pm.current_version)
            .await?
        else {
            return Ok(false);
        };
        let parsed = Postmortem::parse(&format!("postmortem {id}"), &text.source)?;
        self.index_postmortem(&parsed)?;
        Ok(true)
    }

    /// Puts a saved postmortem's text in the search index.
    pub fn index_postmortem(&self, postmortem: &Postmortem) -> Result<(), KbError> {
        Ok(self.index.upsert_postmortem(postmortem)?)
    }

    /// What every local postmortem save (edit, import, new draft) calls:
    /// pins the reports it cites, then indexes it.
    pub async fn postmortem_saved(&self, postmortem: &Postmortem) -> Result<(), KbError> {
        self.pin_postmortem(postmortem).await?;
        self.index_postmortem(postmortem)
    }

    /// Pins exactly the stored reports the playbook's examples name: only
    /// example values that are UUIDs are stored reports (built-in examples
    /// are file paths).
    async fn pin_playbook(&self, playbook: &Playbook) -> Result<(), KbError> {
        let (holder, cited) = playbook_pins(playbook);
        self.pin(&holder, &cited).await
    }

    /// Pins exactly the reports the postmortem's `reports` list names (its
    /// charts are drawn from them).
    async fn pin_postmortem(&self, postmortem: &Postmortem) -> Result<(), KbError> {
        let (holder, cited) = postmortem_pins(postmortem);
        self.pin(&holder, &cited).await
    }

    /// Replaces `holder`'s pins with `cited` (sorted), reading first so an
    /// unchanged set (most saves, every start) costs no write transaction.
    async fn pin(&self, holder: &str, cited: &[Uuid]) -> Result<(), KbError> {
        if self.store.report_pins(holder).await? != cited {
            self.store.set_report_pins(holder, cited).await?;
        }
        Ok(())
    }

    pub fn search(&self, request: &SearchRequest) -> Result<SearchResults, SearchError> {
        self.index.search(request)
    }

    /// Playbooks for an alert name's words, best first, with scores, and
    /// whether the first is clear enough to follow without asking (see
    /// [`crate::search::AlertMatch`]).
    pub fn search_alert(&self, words: &str) -> Result<AlertMatch, SearchError> {
        self.index.search_alert(words)
    }
}

/// A playbook's pin holder and the stored reports its examples cite.
fn playbook_pins(playbook: &Playbook) -> (String, Vec<Uuid>) {
    let cited = cited(playbook.meta.examples.iter().map(|e| e.report.as_str()));
    (format!("playbook:{}", playbook.id()), cited)
}

/// A postmortem's pin holder and the reports its `reports` list cites.
fn postmortem_pins(postmortem: &Postmortem) -> (String, Vec<Uuid>) {
    let cited = cited(postmortem.meta.reports.iter().map(String::as_str));
    (format!("postmortem:{}", postmortem.meta.id), cited)
}

/// The stored-report ids among cited values, sorted, each once.
fn cited<'a>(values: impl Iterator<Item = &'a str>) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = values.filter_map(|v| Uuid::parse_str(v).ok()).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}
