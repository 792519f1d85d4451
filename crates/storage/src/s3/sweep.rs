//! What garbage collection needs of the S3 backend: batch deletes of blobs (DeleteObjects, up to
//! 1,000 keys a request, through `delete_stream`), and listing what is stored with when it was
//! written, to find strays no row names.
//!
//! Multipart uploads an interrupted commit left open are not listed: object_store offers no
//! `ListMultipartUploads`. Their parts are invisible to readers; a bucket lifecycle rule
//! (`AbortIncompleteMultipartUpload`) removes them (docs/architecture.md, "Garbage collection").

use std::collections::HashMap;

use berth_oci::Digest;
use futures_util::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::path::Path;

use super::S3Store;
use crate::{StorageError, Stored, UploadId, blob_key};

impl S3Store {
    /// Deletes blobs `digests` in batch requests; one already gone is fine.
    pub(crate) async fn delete_blobs(&self, digests: &[Digest]) -> Result<(), StorageError> {
        let keys: Vec<object_store::Result<Path>> = digests.iter().map(|d| Ok(self.path(&blob_key(d)))).collect();
        let mut deleted = self.store.delete_stream(futures_util::stream::iter(keys).boxed());
        while let Some(done) = deleted.next().await {
            match done {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.error("deleting blobs", e)),
            }
        }
        Ok(())
    }

    /// Every object under `blobs/` that is named like a blob.
    pub(crate) async fn stored_blobs(&self) -> Result<Vec<Stored<Digest>>, StorageError> {
        let dir = self.path("blobs");
        let listed: Vec<_> =
            self.store.list(Some(&dir)).try_collect().await.map_err(|e| self.error("listing blobs", e))?;
        Ok(listed
            .into_iter()
            .filter_map(|meta| {
                // …/blobs/<algorithm>/<two hex>/<hex>
                let parts: Vec<_> = meta.location.parts().collect();
                let [.., algorithm, _, hex] = parts.as_slice() else { return None };
                let digest = format!("{}:{}", algorithm.as_ref(), hex.as_ref()).parse().ok()?;
                Some(Stored { name: digest, written: meta.last_modified.timestamp() })
            })
            .collect())
    }

    /// Every upload session with objects under `uploads/`, written last when its newest was.
    pub(crate) async fn stored_uploads(&self) -> Result<Vec<Stored<UploadId>>, StorageError> {
        let dir = self.path("uploads");
        let listed: Vec<_> =
            self.store.list(Some(&dir)).try_collect().await.map_err(|e| self.error("listing uploads", e))?;
        let mut sessions: HashMap<String, i64> = HashMap::new();
        let depth = dir.parts().count();
        for meta in listed {
            if let Some(id) = meta.location.parts().nth(depth) {
                let newest = sessions.entry(id.as_ref().to_owned()).or_insert(i64::MIN);
                *newest = (*newest).max(meta.last_modified.timestamp());
            }
        }
        Ok(sessions
            .into_iter()
            .filter_map(|(id, written)| Some(Stored { name: UploadId::parse(&id).ok()?, written }))
            .collect())
    }
}
