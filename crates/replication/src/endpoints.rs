//! Registry endpoints as clients: a stored endpoint becomes a [`Remote`] with its credentials
//! opened and this deployment's id in every request (so a peer Berth records where the content
//! came from and does not send it back).

use std::sync::Arc;
use std::time::Duration;

use berth_content::peer::ORIGIN_HEADER;
use berth_meta::{Meta, RegistryRow};
use berth_remote::{Credential, Remote, RemoteConfig, RemoteError};

use crate::secret::Sealer;

/// Endpoint types, as `/replication/adapters` lists them.
pub const KINDS: [&str; 2] = ["harbor", "docker-registry"];

/// How long connecting to an endpoint may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("registry endpoint {0} does not exist")]
    Missing(i64),
    #[error(transparent)]
    Seal(#[from] crate::secret::SealError),
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Meta(#[from] berth_meta::MetaError),
}

/// Whether endpoint URLs `a` and `b` have the same origin (scheme, host and port; `false` if
/// either is no endpoint URL). A stored credential goes only to the origin it was given for.
pub fn same_origin(a: &str, b: &str) -> bool {
    matches!((berth_remote::origin(a), berth_remote::origin(b)), (Ok(x), Ok(y)) if x == y)
}

/// Turns stored endpoints into clients. Cheap to clone.
#[derive(Clone)]
pub struct Endpoints {
    meta: Meta,
    sealer: Arc<Sealer>,
    /// This deployment's registry id.
    self_id: Arc<str>,
}

/// What a client needs to reach an endpoint, before it is stored.
pub struct Target<'a> {
    pub url: &'a str,
    pub access_key: Option<&'a str>,
    pub access_secret: Option<&'a str>,
    pub insecure: bool,
}

impl Endpoints {
    pub fn new(meta: Meta, sealer: Sealer, self_id: String) -> Endpoints {
        Endpoints { meta, sealer: Arc::new(sealer), self_id: self_id.into() }
    }

    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// This deployment's registry id.
    pub fn self_id(&self) -> &str {
        &self.self_id
    }

    /// A client for `target`.
    pub fn client(&self, target: &Target<'_>) -> Result<Remote, RemoteError> {
        let credential = match (target.access_key, target.access_secret) {
            (Some(user), Some(password)) if !user.is_empty() => {
                Some(Credential { username: user.to_owned(), password: password.to_owned() })
            }
            _ => None,
        };
        Remote::new(RemoteConfig {
            url: target.url.to_owned(),
            credential,
            insecure: target.insecure,
            headers: vec![(ORIGIN_HEADER.to_owned(), self.self_id.to_string())],
            timeout: CONNECT_TIMEOUT,
        })
    }

    /// A client for stored endpoint `row`.
    pub fn remote(&self, row: &RegistryRow) -> Result<Remote, EndpointError> {
        let secret = row.access_secret.as_deref().map(|s| self.sealer.open(s)).transpose()?;
        let target = Target {
            url: &row.url,
            access_key: row.access_key.as_deref(),
            access_secret: secret.as_deref(),
            insecure: row.insecure,
        };
        Ok(self.client(&target)?)
    }

    /// A client for stored endpoint `id`, with its row.
    pub async fn remote_by_id(&self, id: i64) -> Result<(RegistryRow, Remote), EndpointError> {
        let row = self.meta.registry(id).await?.ok_or(EndpointError::Missing(id))?;
        let remote = self.remote(&row)?;
        Ok((row, remote))
    }

    /// The registry id of the Berth at `remote`, `None` if it is not a Berth (or does not say).
    pub async fn peer_id(remote: &Remote) -> Result<Option<String>, RemoteError> {
        let info = remote.api_get("systeminfo").await?;
        Ok(info.and_then(|i| i.get("registry_id").and_then(|v| v.as_str()).map(str::to_owned)))
    }
}
