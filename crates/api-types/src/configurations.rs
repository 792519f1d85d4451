//! `/configurations`: the settings Harbor reports to administrators, and those they change.

use serde::{Deserialize, Serialize};

/// One setting as `GET /configurations` reports it: its value, and whether `PUT` may change it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigItem<T> {
    pub value: T,
    pub editable: bool,
}

pub type StringConfigItem = ConfigItem<String>;
pub type BoolConfigItem = ConfigItem<bool>;
pub type IntegerConfigItem = ConfigItem<i64>;

/// `GET /configurations`: every setting Harbor documents, with Berth's value, or Harbor's
/// default where Berth has no such setting (LDAP, UAA, OIDC, the auth proxy...). Only what Berth
/// changes at run time is editable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigurationsResponse {
    pub auth_mode: StringConfigItem,
    pub primary_auth_mode: BoolConfigItem,
    pub ldap_base_dn: StringConfigItem,
    pub ldap_filter: StringConfigItem,
    pub ldap_group_base_dn: StringConfigItem,
    pub ldap_group_admin_dn: StringConfigItem,
    pub ldap_group_attribute_name: StringConfigItem,
    pub ldap_group_search_filter: StringConfigItem,
    pub ldap_group_search_scope: IntegerConfigItem,
    pub ldap_group_attach_parallel: BoolConfigItem,
    pub ldap_scope: IntegerConfigItem,
    pub ldap_search_dn: StringConfigItem,
    pub ldap_timeout: IntegerConfigItem,
    pub ldap_uid: StringConfigItem,
    pub ldap_url: StringConfigItem,
    pub ldap_verify_cert: BoolConfigItem,
    pub ldap_group_membership_attribute: StringConfigItem,
    pub project_creation_restriction: StringConfigItem,
    pub read_only: BoolConfigItem,
    pub self_registration: BoolConfigItem,
    pub token_expiration: IntegerConfigItem,
    pub uaa_client_id: StringConfigItem,
    pub uaa_client_secret: StringConfigItem,
    pub uaa_endpoint: StringConfigItem,
    pub uaa_verify_cert: BoolConfigItem,
    pub http_authproxy_endpoint: StringConfigItem,
    pub http_authproxy_tokenreview_endpoint: StringConfigItem,
    pub http_authproxy_admin_groups: StringConfigItem,
    pub http_authproxy_admin_usernames: StringConfigItem,
    pub http_authproxy_verify_cert: BoolConfigItem,
    pub http_authproxy_skip_search: BoolConfigItem,
    pub http_authproxy_server_certificate: StringConfigItem,
    pub oidc_name: StringConfigItem,
    pub oidc_endpoint: StringConfigItem,
    pub oidc_client_id: StringConfigItem,
    pub oidc_groups_claim: StringConfigItem,
    pub oidc_admin_group: StringConfigItem,
    pub oidc_group_filter: StringConfigItem,
    pub oidc_scope: StringConfigItem,
    pub oidc_user_claim: StringConfigItem,
    pub oidc_verify_cert: BoolConfigItem,
    pub oidc_auto_onboard: BoolConfigItem,
    pub oidc_extra_redirect_parms: StringConfigItem,
    pub oidc_logout: BoolConfigItem,
    pub robot_token_duration: IntegerConfigItem,
    pub robot_name_prefix: StringConfigItem,
    pub notification_enable: BoolConfigItem,
    pub quota_per_project_enable: BoolConfigItem,
    pub storage_per_project: IntegerConfigItem,
    pub audit_log_forward_endpoint: StringConfigItem,
    pub skip_audit_log_database: BoolConfigItem,
    pub scanner_skip_update_pulltime: BoolConfigItem,
    /// What is scanned on a schedule: `none`, Berth has no scanner yet.
    pub scan_all_policy: ScanAllPolicy,
    pub session_timeout: IntegerConfigItem,
    pub banner_message: StringConfigItem,
    pub disabled_audit_log_event_types: StringConfigItem,
}

/// The schedule of scanning every artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanAllPolicy {
    /// `none` or `daily`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// The body of `PUT /configurations`: the settings to change, all or none of them. These are
/// the ones Berth changes at run time; the API refuses Harbor's others by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Configurations {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_registration: Option<bool>,
    /// `everyone` or `adminonly`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_creation_restriction: Option<String>,
    /// Minutes a registry token is valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expiration: Option<i64>,
}
