//! Harbor's `/api/v2.0` request and response bodies as Rust types, named after the models of
//! Harbor's OpenAPI document (`api/v2.0/swagger.yaml` in goharbor/harbor), with Harbor's field
//! names and JSON types. The API (`berth-api`) answers with them and reads requests into them; the
//! portal (`berth-ui`) reads the API's answers as them; `tests/swagger.rs` checks every type
//! against Harbor's model of the same name, so a field that drifts from Harbor fails the tests.
//!
//! How fields read:
//! - a field Harbor always sends is a plain field; one Harbor leaves out of some answers (an
//!   artifact's `tags` without `with_tag`, a child's `platform`) is an `Option` that is left out
//!   when `None`;
//! - where Harbor uses one model for a request and its answer (`Registry`, `ReplicationPolicy`,
//!   `Robot`), the fields a request may leave out are `Option`s too: left out, they keep their
//!   value;
//! - times are RFC 3339 strings; a time that was never set is Harbor's zero time,
//!   `0001-01-01T00:00:00.000Z`;
//! - Berth's own additions (fields and headers Harbor lacks) say so in their documentation, and
//!   the schema test lists them.

mod additions;
mod artifacts;
mod audit;
mod configurations;
mod errors;
pub mod headers;
mod immutable;
mod jobservice;
mod labels;
mod members;
mod projects;
pub mod query;
mod quotas;
mod registries;
mod replication;
mod retention;
mod robots;
mod schedules;
mod search;
mod system;
mod users;

pub use additions::{BuildHistoryEntry, Descriptor, ExtraAttrs, ImageConfig};
pub use artifacts::{Accessory, AdditionLink, AdditionLinks, Artifact, NewTag, Platform, Reference, Repository, Tag};
pub use audit::AuditLog;
pub use configurations::{
    BoolConfigItem, ConfigItem, Configurations, ConfigurationsResponse, IntegerConfigItem, ScanAllPolicy,
    StringConfigItem,
};
pub use errors::{Error, Errors};
pub use immutable::{ImmutableRule, ImmutableSelector};
pub use jobservice::{ActionRequest, Job, JobQueue, Worker, WorkerPool};
pub use labels::{GLOBAL_SCOPE, Label, PROJECT_SCOPE};
pub use members::{ProjectMember, ProjectMemberEntity, RoleRequest, UserEntity, UserGroup};
pub use projects::{Project, ProjectDeletable, ProjectMetadata, ProjectReq, ProjectSummary, ProjectSummaryQuota};
pub use quotas::{Quota, QuotaRefObject, QuotaUpdateReq, ResourceList};
pub use registries::{FilterStyle, Registry, RegistryCredential, RegistryInfo, RegistryPing, RegistryUpdate};
pub use replication::{
    ReplicationExecution, ReplicationFilter, ReplicationPolicy, ReplicationTask, ReplicationTrigger,
    ReplicationTriggerSettings, StartReplicationExecution,
};
pub use retention::{
    RetentionExecution, RetentionExecutionTask, RetentionMetadata, RetentionPolicy, RetentionPolicyScope,
    RetentionRule, RetentionRuleMetadata, RetentionRuleParamMetadata, RetentionRuleTrigger, RetentionSelector,
    RetentionSelectorMetadata, RetentionTriggerSettings, StartRetentionExecution,
};
pub use robots::{Access, Robot, RobotCreate, RobotCreated, RobotPermission, RobotSec};
pub use schedules::{ExecHistory, Freed, Schedule, ScheduleObj};
pub use search::{Search, SearchRepository, Statistic};
pub use system::{ComponentHealthStatus, GeneralInfo, OverallHealthStatus, Storage, SystemInfo};
pub use users::{
    PasswordReq, Permission, Permissions, UserCreationReq, UserProfile, UserResp, UserSearchRespItem, UserSysAdminFlag,
};
