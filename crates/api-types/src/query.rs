//! Harbor's `q=` query language: comma-separated `key=value` terms where a value is exact (`v`),
//! fuzzy (`~v`), a range (`[a~b]`), any of (`{a b}`) or all of (`(a b)`). It lives here, apart
//! from the API's handlers, so the fuzzer reaches it without the server.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    Exact(String),
    Fuzzy(String),
    Range(Option<String>, Option<String>),
    AnyOf(Vec<String>),
    AllOf(Vec<String>),
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Query(Vec<(String, Term)>);

/// A `q=` the API refuses; the message is what its 400 answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError(pub String);

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for QueryError {}

impl Query {
    /// Reads `q`, refusing keys not in `allowed`.
    pub fn parse(q: Option<&str>, allowed: &[&str]) -> Result<Query, QueryError> {
        let mut terms = Vec::new();
        let Some(q) = q.filter(|q| !q.is_empty()) else { return Ok(Query(terms)) };
        for part in split_terms(q) {
            let (key, value) =
                part.split_once('=').ok_or_else(|| QueryError(format!("query term {part:?} is not key=value")))?;
            let key = key.trim();
            if !allowed.contains(&key) {
                return Err(QueryError(format!("cannot query by {key:?}: supported keys are {}", allowed.join(", "))));
            }
            terms.push((key.to_owned(), parse_value(value.trim())?));
        }
        Ok(Query(terms))
    }

    /// The terms in the order `q` gave them.
    pub fn terms(&self) -> &[(String, Term)] {
        &self.0
    }

    pub fn get(&self, key: &str) -> Option<&Term> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, t)| t)
    }

    /// A substring filter for `key`, for the storage layer; `Err` for terms it cannot express.
    pub fn substring(&self, key: &str) -> Result<Option<String>, QueryError> {
        match self.get(key) {
            None => Ok(None),
            Some(Term::Fuzzy(v)) | Some(Term::Exact(v)) => Ok(Some(v.clone())),
            Some(_) => Err(QueryError(format!("{key} supports exact and fuzzy (~) matching only"))),
        }
    }
}

/// Splits on commas outside brackets.
fn split_terms(q: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in q.char_indices() {
        match c {
            '[' | '{' | '(' => depth += 1,
            ']' | '}' | ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&q[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&q[start..]);
    parts.into_iter().map(str::trim).filter(|p| !p.is_empty()).collect()
}

fn parse_value(v: &str) -> Result<Term, QueryError> {
    let list = |inner: &str| inner.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    if let Some(f) = v.strip_prefix('~') {
        return Ok(Term::Fuzzy(f.to_owned()));
    }
    if let Some(inner) = v.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let (lo, hi) = inner.split_once('~').ok_or_else(|| QueryError(format!("range {v:?} needs a ~")))?;
        let bound = |b: &str| Some(b.trim().to_owned()).filter(|b| !b.is_empty() && b != "*");
        return Ok(Term::Range(bound(lo), bound(hi)));
    }
    if let Some(inner) = v.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        return Ok(Term::AnyOf(list(inner)));
    }
    if let Some(inner) = v.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        return Ok(Term::AllOf(list(inner)));
    }
    if v.starts_with(['[', '{', '(']) {
        return Err(QueryError(format!("unbalanced brackets in {v:?}")));
    }
    Ok(Term::Exact(v.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        let q = Query::parse(Some("name=~app,tag={v1 v2},size=[10~*],x=(a b)"), &["name", "tag", "size", "x"]).unwrap();
        assert_eq!(q.get("name"), Some(&Term::Fuzzy("app".into())));
        assert_eq!(q.get("tag"), Some(&Term::AnyOf(vec!["v1".into(), "v2".into()])));
        assert_eq!(q.get("size"), Some(&Term::Range(Some("10".into()), None)));
        assert_eq!(q.get("x"), Some(&Term::AllOf(vec!["a".into(), "b".into()])));
        assert_eq!(q.terms().len(), 4);
        assert_eq!(q.substring("name").unwrap().as_deref(), Some("app"));
        assert!(q.substring("tag").is_err());
        assert!(Query::parse(Some("name"), &["name"]).is_err());
        assert!(Query::parse(Some("other=1"), &["name"]).is_err());
        assert!(Query::parse(Some("name=[a"), &["name"]).is_err());
        assert!(Query::parse(None, &["name"]).unwrap().get("name").is_none());
    }
}
