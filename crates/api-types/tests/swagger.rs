//! Every type of `berth-api-types` against Harbor's model of the same name, so a field that
//! drifts from Harbor fails here. For each type:
//! - every field it reads or writes (as its `Deserialize` lists them) is a property of the model,
//!   or one of Berth's own on [`BERTH_FIELDS`];
//! - a fully populated value (each sample below fills every field) serializes to JSON the model
//!   accepts: no unknown field at any depth, Harbor's JSON types and formats, `required` present;
//! - an example built from the model (every property, a value of its type) deserializes into it,
//!   so the type reads what Harbor sends.
//!
//! `harbor-swagger.yaml` is Harbor's OpenAPI document, `api/v2.0/swagger.yaml` of goharbor/harbor
//! (Apache-2.0) as of its commit c3ec2b133e2b (2026-08-10); replace it to check against a newer
//! Harbor.
//!
//! Berth's own types, which Harbor has no model for, are not checked here: `Job` (Berth's
//! `/jobservice/jobs`), `BuildHistoryEntry` and `Descriptor` (the content of additions, which
//! Harbor's document types as a plain string), `ImageConfig` (inside `extra_attrs`, an open map
//! in Harbor's document) and `Freed` (in Berth's `freed` of a garbage collection's run).

use std::collections::BTreeMap;

use berth_api_types::*;
use serde::de::{DeserializeOwned, Visitor};
use serde::{Deserializer, Serialize, forward_to_deserialize_any};
use serde_json::{Map, Value};

/// Fields Berth sends or reads that Harbor's model lacks (`Model.field`), and why each stays.
const BERTH_FIELDS: &[(&str, &str)] = &[
    ("ExecHistory.freed", "what a garbage collection freed, for the portal's history; absent on other jobs"),
    ("GCHistory.freed", "as ExecHistory.freed: the blobs and bytes a collection freed (gc_results)"),
    ("Project.public", "Harbor 1.x's boolean of metadata.public; older clients read it"),
    ("Project.chart_count", "sent by Harbor before 2.8 (ChartMuseum); always 0"),
    ("ProjectSummary.chart_count", "as Project.chart_count"),
    ("Robot.creator", "the creating user's name, beside Harbor's creator_ref"),
    ("AuditLog.source_ip", "the client's address, which Berth's audit log records"),
    ("GeneralInfo.with_chartmuseum", "sent by Harbor before 2.8; always false"),
    ("GeneralInfo.with_notary", "sent by Harbor before 2.6; always false"),
    ("GeneralInfo.registry_id", "this registry's identity, which replicating Berths read to cut loops"),
    ("Platform.os.version", "the OCI name; Harbor's document quotes it ('os.version') to escape the dot"),
    ("Platform.os.features", "as Platform.os.version"),
];

/// Harbor's properties the types of answers that carry every key Harbor documents
/// (`GET /configurations`; `GET /systeminfo` to signed-in callers) leave out, and why.
const NOT_SENT: &[(&str, &str)] = &[("GeneralInfo.authproxy_settings", "Harbor sends it in http_auth mode only")];

#[test]
fn answers_carry_every_key_harbor_documents() {
    let swagger = Swagger::load();
    let mut missing = Vec::new();
    for (model, fields) in [
        ("ConfigurationsResponse", field_names::<ConfigurationsResponse>()),
        ("GeneralInfo", field_names::<GeneralInfo>()),
    ] {
        let fields = fields.expect("a struct");
        for property in swagger.properties(swagger.definition(model)).keys() {
            let named = format!("{model}.{property}");
            if !fields.contains(&property.as_str()) && !NOT_SENT.iter().any(|(n, _)| *n == named) {
                missing.push(named);
            }
        }
    }
    assert!(missing.is_empty(), "Harbor documents keys the types lack: {missing:?}");
}

#[test]
fn every_type_matches_harbors_model() {
    let swagger = Swagger::load();
    let mut c = Checks { swagger: &swagger, failures: Vec::new() };

    c.model("Errors", Errors::one("NOT_FOUND", "project p not found"));
    c.model("Error", Error { code: "FORBIDDEN".into(), message: "forbidden".into() });

    c.model("Project", project());
    c.model("ProjectMetadata", project_metadata());
    c.model(
        "ProjectReq",
        ProjectReq {
            project_name: Some("p".into()),
            public: Some(true),
            metadata: Some(project_metadata()),
            storage_limit: Some(-1),
            registry_id: Some(3),
        },
    );
    c.model(
        "ProjectSummary",
        ProjectSummary {
            repo_count: 2,
            chart_count: 0,
            project_admin_count: 1,
            maintainer_count: 1,
            developer_count: 1,
            guest_count: 1,
            limited_guest_count: 1,
            quota: quota_use(),
        },
    );
    c.model("ProjectSummaryQuota", quota_use());
    c.model(
        "ProjectDeletable",
        ProjectDeletable { deletable: false, message: "the project holds 2 repositories".into() },
    );
    c.model("SystemInfo", SystemInfo { storage: vec![Storage { total: 1 << 40, free: 1 << 39 }] });
    c.model("Storage", Storage { total: 1 << 40, free: 1 << 39 });
    c.model("ResourceList", storage(-1));
    c.model(
        "ProjectMember",
        ProjectMember { role_id: 2, member_user: Some(user_entity()), member_group: Some(user_group()) },
    );
    c.model("UserEntity", user_entity());
    c.model("UserGroup", user_group());
    c.model(
        "ProjectMemberEntity",
        ProjectMemberEntity {
            id: 1,
            project_id: 2,
            entity_name: "dev".into(),
            entity_id: 3,
            entity_type: "u".into(),
            role_id: 2,
            role_name: "developer".into(),
        },
    );
    c.model("RoleRequest", RoleRequest { role_id: 4 });
    c.model("ImmutableRule", immutable_rule());
    c.model("ImmutableSelector", immutable_selector("matches", "v*"));
    c.model("RetentionPolicy", retention_policy());
    c.model("RetentionRule", retention_policy().rules.remove(0));
    c.model("RetentionSelector", retention_selector("matches", "v*"));
    c.model("RetentionRuleTrigger", retention_policy().trigger);
    c.model("RetentionPolicyScope", RetentionPolicyScope { level: "project".into(), reference: 2 });
    c.model("RetentionMetadata", retention_metadata());
    c.model("RetentionRuleMetadata", retention_metadata().templates.remove(0));
    c.model("RetentionRuleParamMetadata", retention_metadata().templates.remove(0).params.remove(0));
    c.model("RetentionSelectorMetadata", retention_metadata().tag_selectors.remove(0));
    c.model(
        "RetentionExecution",
        RetentionExecution {
            id: 3,
            policy_id: 1,
            start_time: TIME.into(),
            end_time: TIME.into(),
            status: "Success".into(),
            trigger: "MANUAL".into(),
            dry_run: true,
        },
    );
    c.model(
        "RetentionExecutionTask",
        RetentionExecutionTask {
            id: 4,
            execution_id: 3,
            repository: "p/app".into(),
            job_id: "17".into(),
            status: "Success".into(),
            status_code: 0,
            status_revision: 0,
            start_time: TIME.into(),
            end_time: TIME.into(),
            total: 5,
            retained: 2,
        },
    );
    c.model(
        "Quota",
        Quota {
            id: 2,
            reference: QuotaRefObject { id: 2, name: "p".into(), owner_name: "admin".into() },
            hard: storage(-1),
            used: storage(1024),
            creation_time: TIME.into(),
            update_time: TIME.into(),
        },
    );
    c.model("QuotaRefObject", QuotaRefObject { id: 2, name: "p".into(), owner_name: "admin".into() });
    c.model("QuotaUpdateReq", QuotaUpdateReq { hard: storage(1 << 30) });

    c.model(
        "Repository",
        Repository {
            id: 1,
            project_id: 2,
            name: "p/app".into(),
            description: "the app".into(),
            artifact_count: 3,
            pull_count: 4,
            creation_time: TIME.into(),
            update_time: TIME.into(),
        },
    );
    c.model("Artifact", artifact());
    c.model("Tag", tag());
    c.model("NewTag", NewTag { name: "v1".into() });
    c.model("Reference", reference());
    c.model("Platform", platform());
    c.model("AdditionLinks", addition_links());
    c.model("AdditionLink", addition_link());
    c.model("Accessory", accessory());
    c.model("Label", label());
    c.model("ExtraAttrs", extra_attrs());

    c.model("Robot", robot());
    c.model(
        "RobotCreate",
        RobotCreate {
            name: "builder".into(),
            description: "CI".into(),
            secret: Some("Secret123".into()),
            level: "project".into(),
            disable: false,
            duration: Some(30),
            permissions: vec![robot_permission()],
        },
    );
    c.model(
        "RobotCreated",
        RobotCreated {
            id: 1,
            name: "robot$p+builder".into(),
            secret: "Secret123".into(),
            creation_time: TIME.into(),
            expires_at: -1,
        },
    );
    c.model("RobotSec", RobotSec { secret: Some("Secret123".into()) });
    c.model("RobotPermission", robot_permission());
    c.model("Access", access());

    c.model(
        "UserResp",
        UserResp {
            user_id: 3,
            username: "dev".into(),
            email: "dev@example.org".into(),
            realname: "Dev".into(),
            comment: "".into(),
            sysadmin_flag: false,
            admin_role_in_auth: false,
            creation_time: TIME.into(),
            update_time: TIME.into(),
        },
    );
    c.model(
        "UserCreationReq",
        UserCreationReq {
            username: "dev".into(),
            email: Some("dev@example.org".into()),
            realname: "Dev".into(),
            password: "Developer123".into(),
            comment: "".into(),
        },
    );
    c.model(
        "UserProfile",
        UserProfile { email: Some("dev@example.org".into()), realname: Some("Dev".into()), comment: Some("".into()) },
    );
    c.model("PasswordReq", PasswordReq { old_password: Some("Old12345".into()), new_password: "New12345".into() });
    c.model("UserSysAdminFlag", UserSysAdminFlag { sysadmin_flag: true });
    c.model("UserSearchRespItem", UserSearchRespItem { user_id: 3, username: "dev".into() });
    c.model("Permission", permission());
    c.model("Permissions", Permissions { system: vec![permission()], project: vec![permission()] });

    c.model(
        "AuditLog",
        AuditLog {
            id: 1,
            username: "admin".into(),
            resource: "p/app:v1".into(),
            resource_type: "artifact".into(),
            operation: "create".into(),
            source_ip: "192.0.2.1".into(),
            op_time: TIME.into(),
        },
    );
    c.model("Search", Search { project: vec![project()], repository: vec![search_repository()] });
    c.model("SearchRepository", search_repository());
    c.model(
        "Statistic",
        Statistic {
            private_project_count: 1,
            private_repo_count: 2,
            public_project_count: 3,
            public_repo_count: 4,
            total_project_count: 4,
            total_repo_count: 6,
            total_storage_consumption: Some(1 << 20),
        },
    );

    c.model("GeneralInfo", general_info());
    c.model(
        "OverallHealthStatus",
        OverallHealthStatus { status: "unhealthy".into(), components: vec![component_health()] },
    );
    c.model("ComponentHealthStatus", component_health());
    c.model("ConfigurationsResponse", configurations_response());
    c.model("StringConfigItem", ConfigItem { value: "db_auth".to_owned(), editable: false });
    c.model("BoolConfigItem", ConfigItem { value: true, editable: true });
    c.model("IntegerConfigItem", ConfigItem { value: 30, editable: true });
    c.property("ConfigurationsResponse", "scan_all_policy", ScanAllPolicy { kind: "none".into() });
    c.model(
        "Configurations",
        Configurations {
            self_registration: Some(true),
            project_creation_restriction: Some("adminonly".into()),
            token_expiration: Some(30),
        },
    );

    c.model(
        "WorkerPool",
        WorkerPool {
            pid: 42,
            worker_pool_id: "host-1".into(),
            start_at: TIME.into(),
            heartbeat_at: TIME.into(),
            concurrency: 4,
            host: "host".into(),
        },
    );
    c.model(
        "Worker",
        Worker {
            id: "host-1-0".into(),
            pool_id: "host-1".into(),
            job_name: Some("REPLICATION".into()),
            job_id: Some("7".into()),
            start_at: Some(TIME.into()),
            checkin_at: Some(TIME.into()),
        },
    );
    c.model("JobQueue", JobQueue { job_type: "REPLICATION".into(), count: 2, latency: 5, paused: false });
    c.model("ActionRequest", ActionRequest { action: "pause".into() });

    let when = ScheduleObj {
        schedule_type: Some("Custom".into()),
        cron: Some("0 0 */2 * * *".into()),
        next_scheduled_time: Some("2026-01-01T02:00:00Z".into()),
    };
    c.model("ScheduleObj", when.clone());
    let parameters = serde_json::json!({"audit_retention_hour": 168, "dry_run": true, "include_event_types": "pull"});
    c.model(
        "Schedule",
        Schedule {
            id: Some(1),
            status: Some("Scheduled".into()),
            creation_time: Some("2026-01-01T00:00:00Z".into()),
            update_time: Some("2026-01-01T00:00:00Z".into()),
            schedule: Some(when.clone()),
            parameters: parameters.as_object().cloned(),
        },
    );
    let run = ExecHistory {
        id: 7,
        job_name: "PURGE_AUDIT_LOG".into(),
        job_kind: "MANUAL".into(),
        job_parameters: parameters.to_string(),
        schedule: Some(when),
        job_status: "Success".into(),
        deleted: false,
        creation_time: "2026-01-01T00:00:00Z".into(),
        update_time: "2026-01-01T00:00:00Z".into(),
        freed: Some(Freed { blobs: 2, bytes: 4096 }),
    };
    c.model("ExecHistory", run.clone());
    // `/system/gc*` answers the same shape under Harbor's other name.
    let gc = serde_json::json!({"delete_untagged": true, "dry_run": false, "workers": 2});
    c.model("GCHistory", ExecHistory { job_name: "GARBAGE_COLLECTION".into(), job_parameters: gc.to_string(), ..run });

    c.model("Registry", registry());
    c.model("RegistryCredential", credential());
    c.model(
        "RegistryUpdate",
        RegistryUpdate {
            name: Some("hub".into()),
            description: Some("".into()),
            url: Some("https://hub.example.org".into()),
            credential_type: Some("basic".into()),
            access_key: Some("me".into()),
            access_secret: Some("*****".into()),
            insecure: Some(false),
        },
    );
    c.model(
        "RegistryPing",
        RegistryPing {
            id: Some(1),
            kind: Some("harbor".into()),
            url: Some("https://hub.example.org".into()),
            credential_type: Some("basic".into()),
            access_key: Some("me".into()),
            access_secret: Some("secret".into()),
            insecure: Some(true),
        },
    );
    c.model(
        "RegistryInfo",
        RegistryInfo {
            kind: "harbor".into(),
            description: "Harbor or Berth".into(),
            supported_resource_filters: vec![filter_style()],
            supported_triggers: vec!["manual".into()],
            supported_copy_by_chunk: true,
        },
    );
    c.model("FilterStyle", filter_style());

    c.model("ReplicationPolicy", replication_policy());
    c.model("ReplicationTrigger", trigger());
    c.model("ReplicationTriggerSettings", ReplicationTriggerSettings { cron: "0 0 * * * *".into() });
    c.model("ReplicationFilter", replication_filter());
    c.model("StartReplicationExecution", StartReplicationExecution { policy_id: Some(1) });
    c.model(
        "ReplicationExecution",
        ReplicationExecution {
            id: 1,
            policy_id: 2,
            status: "InProgress".into(),
            status_text: "".into(),
            trigger: "manual".into(),
            start_time: TIME.into(),
            end_time: ZERO_TIME.into(),
            total: 3,
            failed: 0,
            succeed: 1,
            in_progress: 2,
            stopped: 0,
        },
    );
    c.model(
        "ReplicationTask",
        ReplicationTask {
            id: 1,
            execution_id: 2,
            status: "Pending".into(),
            job_id: "9".into(),
            operation: "copy".into(),
            resource_type: "artifact".into(),
            src_resource: "p/app:v1".into(),
            dst_resource: "q/app:v1".into(),
            start_time: ZERO_TIME.into(),
            end_time: ZERO_TIME.into(),
        },
    );

    assert!(c.failures.is_empty(), "types differ from Harbor's models:\n{}", c.failures.join("\n"));
}

/// The checker must fail on what it is there to catch; each case breaks one rule.
#[test]
fn the_checks_catch_drift() {
    let swagger = Swagger::load();
    let failures = |model: &str, json: Value| {
        let mut failures = Vec::new();
        swagger.check(&json, swagger.definition(model), model, model, &mut failures);
        failures
    };
    let tag = serde_json::to_value(tag()).unwrap();
    assert!(failures("Tag", tag.clone()).is_empty());
    let with = |key: &str, value: Value| {
        let mut t = tag.clone();
        t[key] = value;
        t
    };
    assert_eq!(failures("Tag", with("colour", "red".into())), ["Tag.colour: not in Harbor's Tag"]);
    assert_eq!(failures("Tag", with("id", "7".into())), ["Tag.id: expected integer, found \"7\""]);
    assert_eq!(
        failures("Tag", with("push_time", "yesterday".into())),
        ["Tag.push_time: not a date-time: \"yesterday\""]
    );
    assert_eq!(failures("Tag", with("push_time", Value::Null)), ["Tag.push_time: null where Harbor sends a value"]);
    assert_eq!(failures("NewTag", serde_json::json!({})), ["NewTag.name: required by Harbor, missing"]);
    let project = serde_json::to_value(project()).unwrap();
    let mut bad = project.clone();
    bad["project_id"] = Value::from(1i64 << 40);
    assert_eq!(failures("Project", bad), ["Project.project_id: 1099511627776 is out of int32"]);
    let mut nested = serde_json::to_value(artifact()).unwrap();
    nested["tags"][0]["colour"] = "red".into();
    assert_eq!(failures("Artifact", nested), ["Artifact.tags[].colour: not in Harbor's Tag"]);
}

const TIME: &str = "2026-11-23T04:41:07Z";
const ZERO_TIME: &str = "0001-01-01T00:00:00.000Z";

fn project() -> Project {
    Project {
        project_id: 2,
        owner_id: 1,
        name: "p".into(),
        owner_name: "admin".into(),
        public: true,
        metadata: project_metadata(),
        repo_count: 2,
        chart_count: 0,
        registry_id: 0,
        deleted: false,
        togglable: true,
        current_user_role_id: 1,
        current_user_role_ids: vec![1],
        creation_time: TIME.into(),
        update_time: TIME.into(),
    }
}

fn storage(bytes: i64) -> ResourceList {
    BTreeMap::from([("storage".to_owned(), bytes)])
}

fn quota_use() -> ProjectSummaryQuota {
    ProjectSummaryQuota { hard: storage(-1), used: storage(1024) }
}

fn user_entity() -> UserEntity {
    UserEntity { user_id: Some(3), username: Some("dev".into()) }
}

fn user_group() -> UserGroup {
    UserGroup {
        id: Some(1),
        group_name: Some("devs".into()),
        group_type: Some(1),
        ldap_group_dn: Some("cn=devs".into()),
    }
}

fn artifact() -> Artifact {
    Artifact {
        id: 1,
        kind: "IMAGE".into(),
        media_type: "application/vnd.oci.image.config.v1+json".into(),
        manifest_media_type: "application/vnd.oci.image.index.v1+json".into(),
        artifact_type: Some("application/vnd.oci.image.config.v1+json".into()),
        project_id: 2,
        repository_id: 3,
        repository_name: "p/app".into(),
        digest: "sha256:0123".into(),
        size: 1024,
        icon: "".into(),
        push_time: TIME.into(),
        pull_time: ZERO_TIME.into(),
        extra_attrs: extra_attrs(),
        annotations: Some(BTreeMap::from([("org.opencontainers.image.title".to_owned(), "app".to_owned())])),
        labels: vec![label()],
        tags: Some(vec![tag()]),
        references: Some(vec![reference()]),
        accessories: Some(vec![accessory()]),
        addition_links: addition_links(),
    }
}

fn tag() -> Tag {
    Tag {
        id: 1,
        repository_id: 3,
        artifact_id: 1,
        name: "v1".into(),
        push_time: TIME.into(),
        pull_time: ZERO_TIME.into(),
        immutable: false,
    }
}

fn reference() -> Reference {
    Reference {
        parent_id: 1,
        child_id: Some(2),
        child_digest: "sha256:4567".into(),
        platform: Some(platform()),
        annotations: Some(BTreeMap::from([("k".to_owned(), "v".to_owned())])),
    }
}

fn platform() -> Platform {
    Platform {
        architecture: "arm64".into(),
        os: "linux".into(),
        os_version: Some("10.0".into()),
        os_features: Some(vec!["win32k".into()]),
        variant: Some("v8".into()),
    }
}

fn addition_link() -> AdditionLink {
    AdditionLink {
        href: "/api/v2.0/projects/p/repositories/app/artifacts/sha256:0123/additions/layers".into(),
        absolute: false,
    }
}

fn addition_links() -> AdditionLinks {
    BTreeMap::from([("layers".to_owned(), addition_link())])
}

fn accessory() -> Accessory {
    Accessory {
        subject_artifact_digest: "sha256:0123".into(),
        kind: "signature.cosign".into(),
        digest: "sha256:89ab".into(),
        size: 512,
        icon: "".into(),
    }
}

fn project_metadata() -> ProjectMetadata {
    let mut metadata = ProjectMetadata::default();
    for name in ProjectMetadata::NAMES {
        let value = match *name {
            "severity" => "high",
            "retention_id" | "proxy_speed_kb" => "7",
            _ => "true",
        };
        assert!(metadata.set(name, value.to_owned()));
    }
    metadata
}

fn label() -> Label {
    Label {
        id: 1,
        name: "prod".into(),
        description: "".into(),
        color: "#00ff00".into(),
        scope: "g".into(),
        project_id: 0,
        creation_time: TIME.into(),
        update_time: TIME.into(),
    }
}

fn extra_attrs() -> ExtraAttrs {
    ExtraAttrs {
        architecture: Some("amd64".into()),
        os: Some("linux".into()),
        variant: Some("v2".into()),
        author: Some("me".into()),
        created: Some(TIME.into()),
        config: Some(ImageConfig {
            user: Some("app".into()),
            exposed_ports: Some(BTreeMap::from([("80/tcp".to_owned(), Value::Object(Map::new()))])),
            env: Some(vec!["PATH=/bin".into()]),
            entrypoint: Some(vec!["/app".into()]),
            cmd: Some(vec!["serve".into()]),
            volumes: Some(BTreeMap::from([("/data".to_owned(), Value::Object(Map::new()))])),
            working_dir: Some("/".into()),
            labels: Some(BTreeMap::from([("team".to_owned(), "core".to_owned())])),
            stop_signal: Some("SIGTERM".into()),
            args_escaped: Some(false),
        }),
    }
}

fn robot() -> Robot {
    Robot {
        id: 1,
        name: "robot$p+builder".into(),
        description: Some("CI".into()),
        level: "project".into(),
        duration: Some(-1),
        disable: Some(false),
        editable: true,
        expires_at: -1,
        permissions: Some(vec![robot_permission()]),
        creator_type: "local".into(),
        creator_ref: 1,
        creator: "admin".into(),
        creation_time: TIME.into(),
        update_time: TIME.into(),
    }
}

fn robot_permission() -> RobotPermission {
    RobotPermission { kind: "project".into(), namespace: "p".into(), access: vec![access()] }
}

fn access() -> Access {
    Access { resource: "repository".into(), action: "pull".into(), effect: Some("allow".into()) }
}

fn permission() -> Permission {
    Permission { resource: "repository".into(), action: "push".into() }
}

fn search_repository() -> SearchRepository {
    SearchRepository {
        project_id: 2,
        project_name: "p".into(),
        project_public: true,
        repository_name: "p/app".into(),
        pull_count: 1,
        artifact_count: 2,
    }
}

fn general_info() -> GeneralInfo {
    GeneralInfo {
        banner_message: Some("".into()),
        current_time: Some(TIME.into()),
        registry_url: Some("registry.example.org".into()),
        external_url: Some("https://registry.example.org".into()),
        auth_mode: Some("db_auth".into()),
        primary_auth_mode: Some(true),
        project_creation_restriction: Some("everyone".into()),
        self_registration: Some(false),
        has_ca_root: Some(false),
        harbor_version: Some("berth-0.1.0".into()),
        registry_storage_provider_name: Some("filesystem".into()),
        read_only: Some(false),
        notification_enable: Some(false),
        oidc_provider_name: Some("".into()),
        with_chartmuseum: Some(false),
        with_notary: Some(false),
        registry_id: Some("0f1e".into()),
    }
}

fn component_health() -> ComponentHealthStatus {
    ComponentHealthStatus { name: "database".into(), status: "unhealthy".into(), error: Some("no answer".into()) }
}

fn configurations_response() -> ConfigurationsResponse {
    let s = |v: &str| ConfigItem { value: v.to_owned(), editable: false };
    let b = |v: bool| ConfigItem { value: v, editable: false };
    let i = |v: i64| ConfigItem { value: v, editable: true };
    ConfigurationsResponse {
        auth_mode: s("db_auth"),
        primary_auth_mode: b(true),
        ldap_base_dn: s(""),
        ldap_filter: s(""),
        ldap_group_base_dn: s(""),
        ldap_group_admin_dn: s(""),
        ldap_group_attribute_name: s(""),
        ldap_group_search_filter: s(""),
        ldap_group_search_scope: i(2),
        ldap_group_attach_parallel: b(false),
        ldap_scope: i(2),
        ldap_search_dn: s(""),
        ldap_timeout: i(5),
        ldap_uid: s("cn"),
        ldap_url: s(""),
        ldap_verify_cert: b(true),
        ldap_group_membership_attribute: s("memberof"),
        project_creation_restriction: s("everyone"),
        read_only: b(false),
        self_registration: b(false),
        token_expiration: i(30),
        uaa_client_id: s(""),
        uaa_client_secret: s(""),
        uaa_endpoint: s(""),
        uaa_verify_cert: b(false),
        http_authproxy_endpoint: s(""),
        http_authproxy_tokenreview_endpoint: s(""),
        http_authproxy_admin_groups: s(""),
        http_authproxy_admin_usernames: s(""),
        http_authproxy_verify_cert: b(true),
        http_authproxy_skip_search: b(false),
        http_authproxy_server_certificate: s(""),
        oidc_name: s(""),
        oidc_endpoint: s(""),
        oidc_client_id: s(""),
        oidc_groups_claim: s(""),
        oidc_admin_group: s(""),
        oidc_group_filter: s(""),
        oidc_scope: s(""),
        oidc_user_claim: s(""),
        oidc_verify_cert: b(true),
        oidc_auto_onboard: b(false),
        oidc_extra_redirect_parms: s("{}"),
        oidc_logout: b(false),
        robot_token_duration: i(-1),
        robot_name_prefix: s("robot$"),
        notification_enable: b(false),
        quota_per_project_enable: b(true),
        storage_per_project: i(-1),
        audit_log_forward_endpoint: s(""),
        skip_audit_log_database: b(false),
        scanner_skip_update_pulltime: b(false),
        scan_all_policy: ScanAllPolicy { kind: "none".into() },
        session_timeout: i(480),
        banner_message: s(""),
        disabled_audit_log_event_types: s(""),
    }
}

fn credential() -> RegistryCredential {
    RegistryCredential {
        kind: Some("basic".into()),
        access_key: Some("me".into()),
        access_secret: Some("*****".into()),
    }
}

fn registry() -> Registry {
    Registry {
        id: 1,
        name: Some("hub".into()),
        description: Some("".into()),
        kind: Some("docker-registry".into()),
        url: Some("https://hub.example.org".into()),
        insecure: Some(false),
        credential: Some(credential()),
        status: Some("healthy".into()),
        creation_time: Some(TIME.into()),
        update_time: Some(TIME.into()),
    }
}

fn filter_style() -> FilterStyle {
    FilterStyle {
        kind: "resource".into(),
        style: "radio".into(),
        values: Some(vec!["image".into(), "artifact".into()]),
    }
}

fn trigger() -> ReplicationTrigger {
    ReplicationTrigger {
        kind: "scheduled".into(),
        trigger_settings: Some(ReplicationTriggerSettings { cron: "0 0 * * * *".into() }),
    }
}

fn replication_filter() -> ReplicationFilter {
    ReplicationFilter { kind: "tag".into(), value: "v*".into(), decoration: Some("matches".into()) }
}

fn replication_policy() -> ReplicationPolicy {
    ReplicationPolicy {
        id: 1,
        name: Some("to-hub".into()),
        description: Some("".into()),
        src_registry: Some(Registry { id: 0, ..registry() }),
        dest_registry: Some(registry()),
        dest_namespace: Some("mirror".into()),
        dest_namespace_replace_count: Some(-1),
        trigger: Some(trigger()),
        filters: Some(vec![replication_filter()]),
        replicate_deletion: Some(true),
        deletion: Some(true),
        override_existing: Some(true),
        enabled: Some(true),
        speed: Some(-1),
        copy_by_chunk: Some(true),
        creation_time: Some(TIME.into()),
        update_time: Some(TIME.into()),
    }
}

fn immutable_selector(decoration: &str, pattern: &str) -> ImmutableSelector {
    ImmutableSelector {
        kind: "doublestar".into(),
        decoration: decoration.into(),
        pattern: pattern.into(),
        extras: Some("{\"untagged\":false}".into()),
    }
}

fn immutable_rule() -> ImmutableRule {
    ImmutableRule {
        id: 1,
        priority: 0,
        disabled: false,
        action: "immutable".into(),
        template: "immutable_template".into(),
        params: BTreeMap::from([("unused".into(), Value::Object(Map::new()))]),
        tag_selectors: vec![immutable_selector("matches", "v*")],
        scope_selectors: BTreeMap::from([("repository".into(), vec![immutable_selector("repoMatches", "**")])]),
    }
}

fn retention_selector(decoration: &str, pattern: &str) -> RetentionSelector {
    RetentionSelector {
        kind: "doublestar".into(),
        decoration: decoration.into(),
        pattern: pattern.into(),
        extras: Some("{\"untagged\":true}".into()),
    }
}

fn retention_policy() -> RetentionPolicy {
    RetentionPolicy {
        id: 1,
        algorithm: "or".into(),
        rules: vec![RetentionRule {
            id: 1,
            priority: 0,
            disabled: false,
            action: "retain".into(),
            template: "latestPushedK".into(),
            // Harbor's document says objects; its portal sends numbers (`{"latestPushedK": 3}`).
            params: BTreeMap::from([("latestPushedK".into(), Value::Object(Map::new()))]),
            tag_selectors: vec![retention_selector("matches", "v*")],
            scope_selectors: BTreeMap::from([("repository".into(), vec![retention_selector("repoMatches", "**")])]),
        }],
        trigger: RetentionRuleTrigger {
            kind: "Schedule".into(),
            settings: RetentionTriggerSettings { cron: "0 0 0 * * *".into() },
            references: BTreeMap::new(),
        },
        scope: RetentionPolicyScope { level: "project".into(), reference: 2 },
    }
}

fn retention_metadata() -> RetentionMetadata {
    let selectors = |kind: &str, decorations: [&str; 2]| RetentionSelectorMetadata {
        display_text: kind.into(),
        kind: kind.into(),
        decorations: decorations.iter().map(|d| d.to_string()).collect(),
    };
    RetentionMetadata {
        templates: vec![RetentionRuleMetadata {
            rule_template: "latestPushedK".into(),
            display_text: "retain the most recently pushed # artifacts".into(),
            action: "retain".into(),
            params: vec![RetentionRuleParamMetadata { param_type: "int".into(), unit: "count".into(), required: true }],
        }],
        scope_selectors: vec![selectors("doublestar", ["repoMatches", "repoExcludes"])],
        tag_selectors: vec![selectors("doublestar", ["matches", "excludes"])],
    }
}

// ---- the checker

struct Checks<'a> {
    swagger: &'a Swagger,
    failures: Vec<String>,
}

impl Checks<'_> {
    /// Checks `T` against the definition `name`, with `sample` as its fully populated value.
    fn model<T: Serialize + DeserializeOwned>(&mut self, name: &str, sample: T) {
        let schema = self.swagger.definition(name);
        self.against(name, schema, sample);
    }

    /// Checks `T` against the inline schema of `definition`'s property `property`.
    fn property<T: Serialize + DeserializeOwned>(&mut self, definition: &str, property: &str, sample: T) {
        let schema = &self.swagger.definition(definition)["properties"][property];
        assert!(schema.is_object(), "{definition} has no property {property}");
        self.against(&format!("{definition}.{property}"), schema, sample);
    }

    fn against<T: Serialize + DeserializeOwned>(&mut self, model: &str, schema: &Value, sample: T) {
        let json = serde_json::to_value(&sample).expect("every type serializes");
        if let Some(fields) = field_names::<T>() {
            let properties = self.swagger.properties(schema);
            // A struct that models an open map (`additionalProperties`) names some of its keys.
            let open = self.swagger.resolve(schema, model).0.get("additionalProperties").is_some();
            for field in fields {
                if !open && !properties.contains_key(*field) && !berth_field(model, field) {
                    self.failures.push(format!("{model}.{field}: not in Harbor's {model}"));
                }
                if json.get(field).is_none() {
                    self.failures.push(format!("{model}.{field}: the sample leaves it out: fill every field"));
                }
            }
        }
        self.swagger.check(&json, schema, model, model, &mut self.failures);
        let example = self.swagger.example(schema, 0);
        if let Err(e) = serde_json::from_value::<T>(example.clone()) {
            self.failures.push(format!("{model}: Harbor's shape does not read into the type: {e}\n  {example}"));
        }
    }
}

fn berth_field(model: &str, field: &str) -> bool {
    BERTH_FIELDS.iter().any(|(known, _)| *known == format!("{model}.{field}"))
}

/// The names of the fields a struct reads, as its derived `Deserialize` lists them to the
/// deserializer; `None` for types that are not structs (maps).
fn field_names<T: DeserializeOwned>() -> Option<&'static [&'static str]> {
    let mut fields = None;
    let _ = T::deserialize(FieldNames(&mut fields));
    fields
}

/// A deserializer that only records the field list a struct asks for, then gives up.
struct FieldNames<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(serde::de::Error::custom("fields recorded"))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// Harbor's OpenAPI document (Swagger 2.0): its `definitions`, and how a JSON value fits one.
struct Swagger {
    definitions: Map<String, Value>,
}

impl Swagger {
    fn load() -> Swagger {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/harbor-swagger.yaml");
        let text = std::fs::read_to_string(path).expect("Harbor's document is beside this test");
        let document: Value = yaml_serde::from_str(&text).expect("Harbor's document is YAML");
        let Some(Value::Object(definitions)) = document.get("definitions").cloned() else {
            panic!("Harbor's document has no definitions");
        };
        Swagger { definitions }
    }

    fn definition(&self, name: &str) -> &Value {
        self.definitions.get(name).unwrap_or_else(|| panic!("Harbor's document has no model {name}"))
    }

    /// `schema` with its `$ref` followed, and the name of the definition it leads to.
    fn resolve<'a>(&'a self, schema: &'a Value, model: &'a str) -> (&'a Value, &'a str) {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.strip_prefix("#/definitions/").unwrap_or_else(|| panic!("unsupported $ref {r}"));
                self.resolve(self.definition(name), name)
            }
            None => (schema, model),
        }
    }

    /// The properties of an object schema, those of its `allOf` parts included.
    fn properties(&self, schema: &Value) -> Map<String, Value> {
        let (schema, _) = self.resolve(schema, "");
        let mut properties = schema.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
        for part in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
            properties.extend(self.properties(part));
        }
        properties
    }

    fn required(&self, schema: &Value) -> Vec<String> {
        let (schema, _) = self.resolve(schema, "");
        let mut required: Vec<String> = schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect();
        for part in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
            required.extend(self.required(part));
        }
        required
    }

    /// Records in `failures` every way `value` (found at `at`) does not fit `schema`, a schema of
    /// the model `model` (the one unknown fields are reported against).
    fn check(&self, value: &Value, schema: &Value, at: &str, model: &str, failures: &mut Vec<String>) {
        let (schema, model) = self.resolve(schema, model);
        if value.is_null() {
            let nullable = ["x-nullable", "x-isnullable"].iter().any(|k| schema.get(*k) == Some(&Value::Bool(true)));
            if !nullable {
                failures.push(format!("{at}: null where Harbor sends a value"));
            }
            return;
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            failures.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
        let fail = |failures: &mut Vec<String>, what: String| failures.push(format!("{at}: {what}"));
        match kind(schema) {
            "object" => self.check_object(value, schema, at, model, failures),
            "array" => match value.as_array() {
                Some(items) => {
                    let item = schema.get("items").unwrap_or(&Value::Null);
                    for v in items {
                        self.check(v, item, &format!("{at}[]"), model, failures);
                    }
                }
                None => fail(failures, format!("expected array, found {value}")),
            },
            "string" => match value.as_str() {
                Some(s) if schema.get("format").and_then(Value::as_str) == Some("date-time") && !is_date_time(s) => {
                    fail(failures, format!("not a date-time: {value}"))
                }
                Some(_) => {}
                None => fail(failures, format!("expected string, found {value}")),
            },
            "integer" => {
                let Some(n) = value.as_i64().map(i128::from).or(value.as_u64().map(i128::from)) else {
                    return fail(failures, format!("expected integer, found {value}"));
                };
                let format = schema.get("format").and_then(Value::as_str).unwrap_or("");
                let fits = match format {
                    "int8" => i8::try_from(n).is_ok(),
                    "int32" => i32::try_from(n).is_ok(),
                    "uint64" => u64::try_from(n).is_ok(),
                    _ => i64::try_from(n).is_ok(),
                };
                if !fits {
                    fail(failures, format!("{n} is out of {format}"));
                }
            }
            "number" if !value.is_number() => fail(failures, format!("expected number, found {value}")),
            "boolean" if !value.is_boolean() => fail(failures, format!("expected boolean, found {value}")),
            _ => {}
        }
    }

    fn check_object(&self, value: &Value, schema: &Value, at: &str, model: &str, failures: &mut Vec<String>) {
        let properties = self.properties(schema);
        let additional = schema.get("additionalProperties");
        if properties.is_empty() && additional.is_none() {
            // A bare `type: object` is Go's `interface{}` in Harbor's generated code: any value.
            return;
        }
        let Some(object) = value.as_object() else {
            return failures.push(format!("{at}: expected object, found {value}"));
        };
        for (key, v) in object {
            let here = format!("{at}.{key}");
            match (properties.get(key), additional) {
                (Some(property), _) => self.check(v, property, &here, model, failures),
                (None, Some(additional)) => self.check(v, additional, &here, model, failures),
                (None, None) if berth_field(model, key) => {}
                (None, None) => failures.push(format!("{here}: not in Harbor's {model}")),
            }
        }
        for key in self.required(schema) {
            if !object.contains_key(&key) {
                failures.push(format!("{at}.{key}: required by Harbor, missing"));
            }
        }
    }

    /// A value of every property of `schema`, each of its type: what Harbor could send.
    fn example(&self, schema: &Value, depth: usize) -> Value {
        let (schema, _) = self.resolve(schema, "");
        assert!(depth < 16, "Harbor's models nest too deep (a cycle?)");
        if let Some(first) = schema.get("enum").and_then(Value::as_array).and_then(|e| e.first()) {
            return first.clone();
        }
        match kind(schema) {
            "object" => {
                let mut object: Map<String, Value> =
                    self.properties(schema).iter().map(|(k, s)| (k.clone(), self.example(s, depth + 1))).collect();
                if let Some(additional) = schema.get("additionalProperties") {
                    object.insert("key".to_owned(), self.example(additional, depth + 1));
                }
                Value::Object(object)
            }
            "array" => Value::Array(vec![self.example(schema.get("items").unwrap_or(&Value::Null), depth + 1)]),
            "string" if schema.get("format").and_then(Value::as_str) == Some("date-time") => TIME.into(),
            "integer" => 1.into(),
            "number" => 1.5.into(),
            "boolean" => true.into(),
            _ => "example".into(),
        }
    }
}

/// A schema's JSON type; an object if it has properties, `any` if it says nothing.
fn kind(schema: &Value) -> &str {
    match schema.get("type").and_then(Value::as_str) {
        Some(t) => t,
        None if ["properties", "additionalProperties", "allOf"].iter().any(|k| schema.get(*k).is_some()) => "object",
        None => "any",
    }
}

/// RFC 3339: `YYYY-MM-DDTHH:MM:SS`, optional fractions, then `Z` or an offset.
fn is_date_time(s: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let Some((date, time)) = s.split_once('T') else { return false };
    let date_ok = date.len() == 10 && date.split('-').map(digits).filter(|ok| *ok).count() == 3;
    let (clock, zone) = match time.find(['Z', '+', '-']) {
        Some(i) => time.split_at(i),
        None => return false,
    };
    let (hms, fraction) = clock.split_once('.').unwrap_or((clock, "0"));
    let clock_ok = hms.len() == 8 && hms.split(':').map(digits).filter(|ok| *ok).count() == 3 && digits(fraction);
    let zone_ok = zone == "Z" || (zone.len() == 6 && zone.as_bytes()[3] == b':');
    date_ok && clock_ok && zone_ok
}
