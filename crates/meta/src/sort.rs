//! `ORDER BY` clauses from Harbor's `sort=` parameter (`name`, `-creation_time`, `a,-b`), built
//! only from a whitelist of columns, so no request text ever reaches the SQL.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    /// `(column expression, descending)`, most significant first.
    keys: Vec<(&'static str, bool)>,
    /// Appended last so equal keys still page deterministically.
    tiebreak: &'static str,
}

impl Sort {
    /// Parses `spec` against `allowed` (`(API field, column expression)` pairs); `default` applies
    /// when there is no spec. `Err` names the field that cannot be sorted by.
    pub fn parse(
        spec: Option<&str>,
        allowed: &[(&str, &'static str)],
        default: &[(&'static str, bool)],
        tiebreak: &'static str,
    ) -> Result<Sort, String> {
        let spec = spec.map(str::trim).filter(|s| !s.is_empty());
        let Some(spec) = spec else { return Ok(Sort { keys: default.to_vec(), tiebreak }) };
        let mut keys = Vec::new();
        for field in spec.split(',').map(str::trim) {
            let (name, desc) = match field.strip_prefix('-') {
                Some(name) => (name, true),
                None => (field, false),
            };
            let column = allowed.iter().find(|(f, _)| *f == name).map(|(_, c)| *c).ok_or_else(|| {
                let names: Vec<&str> = allowed.iter().map(|(f, _)| *f).collect();
                format!("cannot sort by {name:?}: sort by one of {}", names.join(", "))
            })?;
            keys.push((column, desc));
        }
        Ok(Sort { keys, tiebreak })
    }

    pub(crate) fn sql(&self) -> String {
        let mut parts: Vec<String> =
            self.keys.iter().map(|(c, desc)| format!("{c} {}", if *desc { "DESC" } else { "ASC" })).collect();
        parts.push(self.tiebreak.to_owned());
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitelist_only() {
        let allowed = [("name", "p.name"), ("creation_time", "p.created_at")];
        let s = Sort::parse(Some("-creation_time,name"), &allowed, &[("p.name", false)], "p.id").unwrap();
        assert_eq!(s.sql(), "p.created_at DESC, p.name ASC, p.id");
        let d = Sort::parse(None, &allowed, &[("p.name", false)], "p.id").unwrap();
        assert_eq!(d.sql(), "p.name ASC, p.id");
        assert!(Sort::parse(Some("name; DROP TABLE projects"), &allowed, &[], "p.id").is_err());
        assert!(Sort::parse(Some("owner"), &allowed, &[], "p.id").is_err());
    }
}
