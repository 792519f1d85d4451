//! One lock per upload session, so two requests on the same session cannot interleave their
//! writes. Entries live only while someone holds or waits for them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

#[derive(Default)]
pub(crate) struct UploadLocks {
    locks: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
}

pub(crate) struct UploadGuard<'a> {
    locks: &'a UploadLocks,
    id: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl UploadLocks {
    pub(crate) async fn lock(&self, id: &str) -> UploadGuard<'_> {
        let lock = {
            let mut locks = self.locks.lock().expect("upload lock map poisoned");
            locks.entry(id.to_owned()).or_default().clone()
        };
        let guard = lock.lock_owned().await;
        UploadGuard { locks: self, id: id.to_owned(), guard: Some(guard) }
    }
}

impl Drop for UploadGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut locks = self.locks.locks.lock().expect("upload lock map poisoned");
        // Only the map still refers to this lock: nobody else holds or waits for it.
        if locks.get(&self.id).is_some_and(|l| Arc::strong_count(l) == 1) {
            locks.remove(&self.id);
        }
    }
}
