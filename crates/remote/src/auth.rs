//! Authentication to a remote registry: the `WWW-Authenticate` challenge, Basic credentials and
//! the distribution token flow (https://distribution.github.io/distribution/spec/auth/token/).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::header;
use reqwest::{Method, RequestBuilder, Response, Url};

use crate::error::{from_response, invalid};
use crate::{Remote, RemoteError};

/// How the registry asked to be authenticated, learnt from its first 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer { realm: Url, service: Option<String> },
}

/// Parses the `WWW-Authenticate` values of a 401. A Bearer challenge wins over Basic: it is what
/// registries offering both (Harbor) expect from clients that can do it.
pub(crate) fn parse_challenges<'a>(values: impl Iterator<Item = &'a str>) -> Option<Challenge> {
    let mut basic = false;
    for value in values {
        let value = value.trim();
        let (scheme, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            basic = true;
        } else if scheme.eq_ignore_ascii_case("bearer") {
            let params = parse_params(rest);
            let realm = params.get("realm").and_then(|r| Url::parse(r).ok());
            if let Some(realm) = realm
                && matches!(realm.scheme(), "http" | "https")
            {
                return Some(Challenge::Bearer { realm, service: params.get("service").cloned() });
            }
        }
    }
    basic.then_some(Challenge::Basic)
}

/// `key=value` or `key="quoted \"value\""` pairs separated by commas (RFC 9110 auth-params).
/// Keys are lowercased: they are case-insensitive.
fn parse_params(s: &str) -> HashMap<String, String> {
    let mut params = HashMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace() || *c == ',').is_some() {}
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() && chars.peek().is_none() {
            return params;
        }
        if chars.next_if_eq(&'=').is_none() {
            continue;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect::<String>().trim().to_owned();
        }
        params.insert(key.trim().to_ascii_lowercase(), value);
    }
}

/// The token endpoint's answer. Docker's spec names the field `token`, OAuth2 `access_token`;
/// servers send either or both.
#[derive(serde::Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl TokenResponse {
    /// The token and how long it may be reused.
    pub(crate) fn into_token(self) -> Option<(String, Duration)> {
        let token = self.token.filter(|t| !t.is_empty()).or(self.access_token.filter(|t| !t.is_empty()))?;
        // The spec's default lifetime is 60 s. A tenth is kept as margin so a token is not sent just
        // as it expires (clocks and request latency).
        let lifetime = Duration::from_secs(self.expires_in.filter(|s| *s > 0).unwrap_or(60));
        Some((token, lifetime - lifetime / 10))
    }
}

/// What this client knows about the registry's authentication.
#[derive(Default)]
pub(crate) struct AuthState {
    pub(crate) challenge: Option<Challenge>,
    /// Bearer tokens by the space-joined scopes they were requested for.
    tokens: HashMap<String, (String, Instant)>,
}

impl AuthState {
    pub(crate) fn token(&self, key: &str) -> Option<String> {
        self.tokens.get(key).filter(|(_, until)| Instant::now() < *until).map(|(t, _)| t.clone())
    }

    pub(crate) fn store(&mut self, key: String, token: String, lifetime: Duration) {
        // Expired entries go when a new one comes, so the map stays as small as the scopes in use.
        let now = Instant::now();
        self.tokens.retain(|_, (_, until)| now < *until);
        self.tokens.insert(key, (token, now + lifetime));
    }

    pub(crate) fn forget(&mut self, key: &str) {
        self.tokens.remove(key);
    }
}

/// Whether credentials may go to the token realm: over TLS always (the registry chose that
/// service), over plain HTTP only to the registry's own host, where they go anyway.
pub(crate) fn may_send_credentials(realm: &Url, registry: &Url) -> bool {
    realm.scheme() == "https" || realm.host_str() == registry.host_str()
}

impl Remote {
    pub(crate) fn uses_tokens(&self) -> bool {
        matches!(self.inner.auth.lock().expect("auth lock").challenge, Some(Challenge::Bearer { .. }))
    }

    /// Records what a 401 says. Returns whether a second attempt can authenticate differently.
    pub(crate) fn learn(&self, resp: &Response, scopes: &[String]) -> bool {
        let values = resp.headers().get_all(header::WWW_AUTHENTICATE).iter().filter_map(|v| v.to_str().ok());
        let Some(challenge) = parse_challenges(values) else { return false };
        let mut auth = self.inner.auth.lock().expect("auth lock");
        let known = auth.challenge.as_ref() == Some(&challenge);
        let retry = match &challenge {
            // Basic credentials sent already were refused; none to send, nothing to try.
            Challenge::Basic => !known && self.inner.credential.is_some(),
            // A fresh token may carry what the cached one lacked (expired, revoked, other scope).
            Challenge::Bearer { .. } => {
                let had_token = auth.token(&scopes.join(" ")).is_some();
                auth.forget(&scopes.join(" "));
                !known || had_token
            }
        };
        auth.challenge = Some(challenge);
        retry
    }

    /// Adds the Authorization the registry expects, fetching a token when needed.
    pub(crate) async fn authorize(
        &self,
        builder: RequestBuilder,
        scopes: &[String],
    ) -> Result<RequestBuilder, RemoteError> {
        let key = scopes.join(" ");
        let (challenge, cached) = {
            let auth = self.inner.auth.lock().expect("auth lock");
            (auth.challenge.clone(), auth.token(&key))
        };
        match challenge {
            None => Ok(builder),
            Some(Challenge::Basic) => Ok(match &self.inner.credential {
                Some(c) => builder.basic_auth(&c.username, Some(&c.password)),
                None => builder,
            }),
            Some(Challenge::Bearer { realm, service }) => {
                let token = match cached {
                    Some(t) => t,
                    None => self.fetch_token(realm, service, scopes, key).await?,
                };
                Ok(builder.bearer_auth(token))
            }
        }
    }

    /// GET realm?service=..&scope=.. (distribution token spec), with Basic credentials where
    /// they may go, and caches the token for its lifetime.
    async fn fetch_token(
        &self,
        mut realm: Url,
        service: Option<String>,
        scopes: &[String],
        key: String,
    ) -> Result<String, RemoteError> {
        {
            let mut query = realm.query_pairs_mut();
            if let Some(service) = &service {
                query.append_pair("service", service);
            }
            for scope in scopes {
                query.append_pair("scope", scope);
            }
        }
        let mut builder = self.request(Method::GET, realm.clone());
        if let Some(c) = &self.inner.credential
            && may_send_credentials(&realm, &self.inner.base)
        {
            builder = builder.basic_auth(&c.username, Some(&c.password));
        }
        let resp = builder.send().await?;
        if !resp.status().is_success() {
            return Err(match from_response(resp).await {
                RemoteError::Unauthorized(m) => RemoteError::Unauthorized(format!("token service: {m}")),
                other => other,
            });
        }
        let body = resp.bytes().await?;
        let parsed: TokenResponse =
            serde_json::from_slice(&body).map_err(|e| invalid(format!("token service answer: {e}")))?;
        let (token, lifetime) = parsed.into_token().ok_or_else(|| invalid("token service sent no token"))?;
        self.inner.auth.lock().expect("auth lock").store(key, token.clone(), lifetime);
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenge() {
        let c = parse_challenges(
            [r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push",error="insufficient_scope""#]
                .into_iter(),
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: Url::parse("https://auth.example.com/token").unwrap(),
                service: Some("registry.example.com".into())
            })
        );
    }

    #[test]
    fn parses_unquoted_and_escaped_params() {
        let p = parse_params(r#" Realm=https://h/t , service="a \"b\", c",x"#);
        assert_eq!(p["realm"], "https://h/t");
        assert_eq!(p["service"], r#"a "b", c"#);
        assert!(!p.contains_key("x"));
    }

    #[test]
    fn basic_and_unknown_challenges() {
        assert_eq!(parse_challenges([r#"Basic realm="Registry Realm""#].into_iter()), Some(Challenge::Basic));
        assert_eq!(parse_challenges(["Negotiate"].into_iter()), None);
        assert_eq!(parse_challenges([r#"Bearer realm="/relative""#].into_iter()), None);
        let both = [r#"Basic realm="x""#, r#"Bearer realm="http://h:5000/token""#];
        assert!(matches!(parse_challenges(both.into_iter()), Some(Challenge::Bearer { .. })));
    }

    #[test]
    fn token_field_names_and_lifetime() {
        let t: TokenResponse = serde_json::from_str(r#"{"access_token":"abc","expires_in":300}"#).unwrap();
        assert_eq!(t.into_token(), Some(("abc".into(), Duration::from_secs(270))));
        let t: TokenResponse = serde_json::from_str(r#"{"token":"x","access_token":"y"}"#).unwrap();
        assert_eq!(t.into_token(), Some(("x".into(), Duration::from_secs(54))));
        let t: TokenResponse = serde_json::from_str(r#"{"token":""}"#).unwrap();
        assert_eq!(t.into_token(), None);
    }

    #[test]
    fn credentials_stay_off_plain_http_to_other_hosts() {
        let registry = Url::parse("http://reg.local:5000").unwrap();
        assert!(may_send_credentials(&Url::parse("https://auth.example.com/t").unwrap(), &registry));
        assert!(may_send_credentials(&Url::parse("http://reg.local:8080/t").unwrap(), &registry));
        assert!(!may_send_credentials(&Url::parse("http://auth.example.com/t").unwrap(), &registry));
    }
}
