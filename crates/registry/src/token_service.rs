//! `GET /service/token`: the Docker token service. Authenticates Basic credentials (or none, for
//! anonymous pulls of public projects) and signs a token granting the requested scopes
//! intersected with what the role policy allows.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use berth_auth::token::Access as Grant;
use berth_auth::{AuthError, ClientOrigin, Principal};
use berth_oci::RepoName;
use serde_json::json;

use crate::error::RegistryError;
use crate::state::RegistryState;

pub(crate) async fn token(
    State(state): State<RegistryState>,
    req: Parts,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let headers = &req.headers;
    let auth = state.access.auth();
    let principal = match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        None => Principal::Anonymous,
        Some(value) => {
            let Some((user, password)) = berth_auth::parse_basic(value) else {
                return error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "only Basic credentials are accepted here");
            };
            let origin = ClientOrigin::of(&req);
            match auth.login(&user, &password, &origin).await {
                Ok(principal) => principal,
                Err(AuthError::BadCredentials) => {
                    return error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "invalid user name or password");
                }
                Err(e) => return RegistryError::from(e).into_response(),
            }
        }
    };
    if let Some((_, service)) = params.iter().find(|(k, _)| k == "service")
        && service != &auth.service
    {
        return error(StatusCode::BAD_REQUEST, "BAD_REQUEST", &format!("unknown service {service:?}"));
    }
    let mut grants = Vec::new();
    for scope in params.iter().filter(|(k, _)| k == "scope").flat_map(|(_, v)| v.split(' ')).filter(|s| !s.is_empty()) {
        let Some((kind, name, actions)) = parse_scope(scope) else {
            return error(StatusCode::BAD_REQUEST, "BAD_REQUEST", &format!("malformed scope {scope:?}"));
        };
        let allowed: Vec<&str> = match kind {
            "repository" => match RepoName::parse(name) {
                Ok(repo) => match auth.project_access(&principal, repo.project()).await {
                    Ok(Some(access)) => access.registry_actions(),
                    Ok(None) => Vec::new(),
                    Err(e) => return RegistryError::from(e).into_response(),
                },
                Err(_) => Vec::new(),
            },
            "registry" if name == "catalog" && principal.is_sysadmin() => vec!["*"],
            _ => Vec::new(),
        };
        let granted: Vec<String> = actions
            .iter()
            .filter(|a| allowed.contains(a) || (allowed.contains(&"*") && !a.is_empty()))
            .map(|a| a.to_string())
            .collect();
        grants.push(Grant { kind: kind.to_owned(), name: name.to_owned(), actions: granted });
    }
    let (token, expires_in, issued_at) = auth.issue_token(&principal, grants);
    Json(json!({
        "token": token,
        "access_token": token,
        "expires_in": expires_in,
        "issued_at": berth_meta::time::rfc3339(issued_at as i64),
    }))
    .into_response()
}

/// `type:name:action,action` (the name itself may not contain `:`).
fn parse_scope(scope: &str) -> Option<(&str, &str, Vec<&str>)> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    if kind.is_empty() || name.is_empty() {
        return None;
    }
    Some((kind, name, actions.split(',').filter(|a| !a.is_empty()).collect()))
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "errors": [{ "code": code, "message": message }] }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        assert_eq!(parse_scope("repository:p/app:pull,push"), Some(("repository", "p/app", vec!["pull", "push"])));
        assert_eq!(parse_scope("registry:catalog:*"), Some(("registry", "catalog", vec!["*"])));
        assert_eq!(parse_scope("repository:p/app:"), Some(("repository", "p/app", vec![])));
        assert_eq!(parse_scope("repository"), None);
        assert_eq!(parse_scope("repository::pull"), None);
    }
}
