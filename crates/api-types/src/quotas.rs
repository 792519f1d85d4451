//! `/quotas`: one storage quota per project.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Amounts by resource: Berth has one, `storage`, in bytes.
pub type ResourceList = BTreeMap<String, i64>;

/// `GET /quotas` and `GET /quotas/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub id: i64,
    #[serde(rename = "ref")]
    pub reference: QuotaRefObject,
    pub hard: ResourceList,
    pub used: ResourceList,
    pub creation_time: String,
    pub update_time: String,
}

/// What a quota limits: its project. Harbor's model is an open map; these are the keys it fills
/// for a project, and a reader takes any of them as missing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct QuotaRefObject {
    pub id: i64,
    pub name: String,
    pub owner_name: String,
}

/// The body of `PUT /quotas/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaUpdateReq {
    pub hard: ResourceList,
}
