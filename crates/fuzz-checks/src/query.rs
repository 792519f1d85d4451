//! Harbor's `q=` query language: the input is the value of `q`.

use berth_api_types::query::{Query, Term};

/// Keys as handlers allow them; short ones too, so the fuzzer finds them.
const ALLOWED: &[&str] = &["name", "op_time", "resource", "a", "b"];

pub fn check(data: &[u8]) {
    let Some(q) = crate::text(data) else { return };
    let Ok(query) = Query::parse(Some(q), ALLOWED) else {
        return;
    };
    for (key, term) in query.terms() {
        assert!(ALLOWED.contains(&key.as_str()), "{q:?} gave key {key:?}");
        let substring = query.substring(key);
        match query.get(key) {
            Some(Term::Exact(v) | Term::Fuzzy(v)) => assert_eq!(substring, Ok(Some(v.clone()))),
            Some(_) => assert!(substring.is_err(), "{key}: {term:?} is no substring"),
            None => panic!("{q:?}: {key} has a term but get finds none"),
        }
    }
    let printed = print(&query);
    assert_eq!(Query::parse(Some(&printed), ALLOWED).as_ref(), Ok(&query), "{q:?} printed as {printed:?}");
    // With no key allowed, only a `q` of no terms is accepted.
    if Query::parse(Some(q), &[]).is_ok() {
        assert!(query.terms().is_empty(), "{q:?} has terms, yet no key is needed");
    }
}

/// The query in `q=` syntax.
fn print(query: &Query) -> String {
    let bound = |b: &Option<String>| b.clone().unwrap_or_default();
    let terms = query.terms().iter().map(|(key, term)| match term {
        Term::Exact(v) => format!("{key}={v}"),
        Term::Fuzzy(v) => format!("{key}=~{v}"),
        Term::Range(lo, hi) => format!("{key}=[{}~{}]", bound(lo), bound(hi)),
        Term::AnyOf(vs) => format!("{key}={{{}}}", vs.join(" ")),
        Term::AllOf(vs) => format!("{key}=({})", vs.join(" ")),
    });
    terms.collect::<Vec<_>>().join(",")
}
