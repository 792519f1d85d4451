//! What garbage collection needs of the filesystem backend: deleting blobs, and listing what is
//! stored (blobs, upload data) with when it was last written, to find strays no row names.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use berth_oci::Digest;

use super::{FsStore, join_error};
use crate::{StorageError, Stored, UploadId};

impl FsStore {
    /// Deletes blobs `digests`; one already gone is fine.
    pub(crate) async fn delete_blobs(&self, digests: &[Digest]) -> Result<(), StorageError> {
        let paths: Vec<_> = digests.iter().map(|d| self.blob_path(d)).collect();
        tokio::task::spawn_blocking(move || {
            for path in paths {
                match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            Ok(())
        })
        .await
        .map_err(join_error)??;
        Ok(())
    }

    /// Every blob file under `blobs/`.
    pub(crate) async fn stored_blobs(&self) -> Result<Vec<Stored<Digest>>, StorageError> {
        let root = self.root.join("blobs");
        let found = tokio::task::spawn_blocking(move || -> io::Result<Vec<Stored<Digest>>> {
            let mut found = Vec::new();
            for algorithm in read_dir(&root)? {
                for fan in read_dir(&algorithm)? {
                    for file in read_dir(&fan)? {
                        let name = format!("{}:{}", file_name(&algorithm), file_name(&file));
                        // Anything else (a temporary file of another tool) is not Berth's to delete.
                        if let (Ok(digest), Some(written)) = (name.parse::<Digest>(), written(&file)?) {
                            found.push(Stored { name: digest, written });
                        }
                    }
                }
            }
            Ok(found)
        })
        .await
        .map_err(join_error)??;
        Ok(found)
    }

    /// Every upload session's data file under `uploads/`.
    pub(crate) async fn stored_uploads(&self) -> Result<Vec<Stored<UploadId>>, StorageError> {
        let root = self.root.join("uploads");
        let found = tokio::task::spawn_blocking(move || -> io::Result<Vec<Stored<UploadId>>> {
            let mut found = Vec::new();
            for file in read_dir(&root)? {
                if let (Ok(id), Some(written)) = (UploadId::parse(&file_name(&file)), written(&file)?) {
                    found.push(Stored { name: id, written });
                }
            }
            Ok(found)
        })
        .await
        .map_err(join_error)??;
        Ok(found)
    }
}

fn read_dir(dir: &Path) -> io::Result<Vec<std::path::PathBuf>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.map(|e| e.path())).collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// When the file was last written or renamed (the later of its modification and status change
/// times: a commit renames the upload's file into `blobs/`, which keeps its modification time);
/// `None` if it went meanwhile (committed, deleted).
fn written(path: &Path) -> io::Result<Option<i64>> {
    match std::fs::metadata(path) {
        Ok(meta) => Ok(Some(meta.mtime().max(meta.ctime()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}
