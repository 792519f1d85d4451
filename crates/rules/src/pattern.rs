//! Doublestar patterns, with the semantics of `github.com/bmatcuk/doublestar` (v1), the library
//! Harbor matches its rules, filters and selectors with:
//!
//! - `*` any run of characters but `/`; `?` one character but `/`;
//! - `**` as a whole path component: zero or more components (`**/a` matches `a` and `x/y/a`);
//!   elsewhere (`release-**`) it is a `*`;
//! - `[abc]`, `[a-z]`, `[!a-z]` or `[^a-z]`: one character (never `/`) of the class or not;
//! - `{a,b}` alternatives, nested, each of which may hold the other special terms;
//! - `\x`: the character `x` itself.
//!
//! Matching is a table over pattern and text positions, never backtracking, so its time is the
//! product of their lengths whatever the pattern (patterns are short and checked on every push).

/// The longest pattern accepted, in bytes.
const MAX_LEN: usize = 1024;
/// How many alternatives braces may expand to.
const MAX_ALTERNATIVES: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("pattern must not be empty")]
    Empty,
    #[error("pattern is longer than {MAX_LEN} bytes")]
    TooLong,
    #[error("pattern {0:?} has unbalanced braces")]
    Braces(String),
    #[error("pattern {0:?} has an unterminated '['")]
    Class(String),
    #[error("pattern {0:?} ends with an escaping '\\'")]
    Escape(String),
    #[error("pattern {0:?} expands to more than {MAX_ALTERNATIVES} alternatives")]
    TooManyAlternatives(String),
}

/// A parsed doublestar pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// One entry per alternative braces expand to, each a list of path components.
    alternatives: Vec<Vec<Component>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Component {
    /// `**`: zero or more whole components.
    Any,
    Segment(Vec<Token>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    /// `*`
    Run,
    /// `?`
    One,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Pattern {
    pub fn parse(pattern: &str) -> Result<Pattern, PatternError> {
        if pattern.is_empty() {
            return Err(PatternError::Empty);
        }
        if pattern.len() > MAX_LEN {
            return Err(PatternError::TooLong);
        }
        let mut expanded = Vec::new();
        expand(pattern, pattern, &mut expanded)?;
        let alternatives =
            expanded.iter().map(|alt| components(alt, pattern)).collect::<Result<Vec<_>, PatternError>>()?;
        Ok(Pattern { alternatives })
    }

    /// Whether `text` (a repository path or a tag) matches.
    pub fn matches(&self, text: &str) -> bool {
        let parts: Vec<Vec<char>> = text.split('/').map(|p| p.chars().collect()).collect();
        self.alternatives.iter().any(|alt| components_match(alt, &parts))
    }
}

/// The pattern's alternatives, braces expanded (the first outermost pair each time).
fn expand(pattern: &str, whole: &str, out: &mut Vec<String>) -> Result<(), PatternError> {
    let Some((open, close, commas)) = first_braces(pattern, whole)? else {
        if out.len() == MAX_ALTERNATIVES {
            return Err(PatternError::TooManyAlternatives(whole.to_owned()));
        }
        out.push(pattern.to_owned());
        return Ok(());
    };
    let (head, tail) = (&pattern[..open], &pattern[close + 1..]);
    let mut start = open + 1;
    for end in commas.into_iter().chain([close]) {
        expand(&format!("{head}{}{tail}", &pattern[start..end]), whole, out)?;
        start = end + 1;
    }
    Ok(())
}

/// The byte offsets of the first outermost `{`, its `}`, and the commas between them at its level.
fn first_braces(pattern: &str, whole: &str) -> Result<Option<(usize, usize, Vec<usize>)>, PatternError> {
    let unbalanced = || PatternError::Braces(whole.to_owned());
    let mut open = None;
    let mut depth = 0usize;
    let mut commas = Vec::new();
    let mut chars = pattern.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '{' => {
                if depth == 0 {
                    open = Some(i);
                }
                depth += 1;
            }
            '}' => {
                depth = depth.checked_sub(1).ok_or_else(unbalanced)?;
                if depth == 0 {
                    return Ok(open.map(|o| (o, i, commas)));
                }
            }
            ',' if depth == 1 => commas.push(i),
            _ => {}
        }
    }
    if depth > 0 { Err(unbalanced()) } else { Ok(None) }
}

fn components(pattern: &str, whole: &str) -> Result<Vec<Component>, PatternError> {
    pattern
        .split('/')
        .map(|part| if part == "**" { Ok(Component::Any) } else { tokens(part, whole).map(Component::Segment) })
        .collect()
}

fn tokens(part: &str, whole: &str) -> Result<Vec<Token>, PatternError> {
    let mut out = Vec::new();
    let mut chars = part.chars().peekable();
    while let Some(c) = chars.next() {
        let token = match c {
            '\\' => Token::Char(chars.next().ok_or_else(|| PatternError::Escape(whole.to_owned()))?),
            // Stars within a component are one run.
            '*' if out.last() == Some(&Token::Run) => continue,
            '*' => Token::Run,
            '?' => Token::One,
            '[' => class(&mut chars, whole)?,
            c => Token::Char(c),
        };
        out.push(token);
    }
    Ok(out)
}

/// A class after its `[`, through its `]`.
fn class(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, whole: &str) -> Result<Token, PatternError> {
    let unterminated = || PatternError::Class(whole.to_owned());
    let negated = matches!(chars.peek(), Some('!' | '^'));
    if negated {
        chars.next();
    }
    let mut ranges = Vec::new();
    loop {
        let c = match chars.next().ok_or_else(unterminated)? {
            ']' if !ranges.is_empty() => return Ok(Token::Class { negated, ranges }),
            '\\' => chars.next().ok_or_else(unterminated)?,
            c => c,
        };
        let mut ahead = chars.clone();
        if ahead.next() == Some('-')
            && let Some(&end) = ahead.peek()
            && end != ']'
        {
            chars.next();
            chars.next();
            ranges.push((c, end));
        } else {
            ranges.push((c, c));
        }
    }
}

/// Whether `pattern` matches all of `text`, where an item `run` takes any number of text items
/// (`**` of components, `*` of characters) and any other takes one for which `one` holds. A table
/// of `pattern[i..]` against `text[j..]`, filled from the ends, so each entry is computed once.
fn table_match<P, T>(pattern: &[P], text: &[T], run: impl Fn(&P) -> bool, one: impl Fn(&P, &T) -> bool) -> bool {
    let (np, nt) = (pattern.len(), text.len());
    let mut table = vec![vec![false; nt + 1]; np + 1];
    table[np][nt] = true;
    for i in (0..np).rev() {
        for j in (0..=nt).rev() {
            table[i][j] = if run(&pattern[i]) {
                table[i + 1][j] || (j < nt && table[i][j + 1])
            } else {
                j < nt && table[i + 1][j + 1] && one(&pattern[i], &text[j])
            };
        }
    }
    table[0][0]
}

fn components_match(pattern: &[Component], text: &[Vec<char>]) -> bool {
    table_match(
        pattern,
        text,
        |c| *c == Component::Any,
        |c, part| matches!(c, Component::Segment(tokens) if segment_match(tokens, part)),
    )
}

fn segment_match(tokens: &[Token], text: &[char]) -> bool {
    table_match(tokens, text, |t| *t == Token::Run, single)
}

/// Whether a one-character token takes `c` (never a `/`: text components have none).
fn single(token: &Token, &c: &char) -> bool {
    match token {
        Token::Char(p) => *p == c,
        Token::One => true,
        Token::Class { negated, ranges } => ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated,
        Token::Run => unreachable!("runs are matched by the table"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, text: &str) -> bool {
        Pattern::parse(pattern).unwrap().matches(text)
    }

    /// The cases of doublestar's documentation and Harbor's own rule examples.
    #[test]
    fn doublestar_semantics() {
        // `*`: any run but `/`.
        assert!(m("*", "latest"));
        assert!(m("v*", "v1.2.3"));
        assert!(m("*", ""));
        assert!(!m("*", "a/b"));
        assert!(m("library/*", "library/alpine"));
        assert!(!m("library/*", "library/x/alpine"));
        // `**` as a component: zero or more components.
        assert!(m("**", "a/b/c"));
        assert!(m("**", "alpine"));
        assert!(m("**/alpine", "alpine"));
        assert!(m("**/alpine", "a/b/alpine"));
        assert!(!m("**/alpine", "a/b/alpine2"));
        assert!(m("a/**/z", "a/z"));
        assert!(m("a/**/z", "a/b/c/z"));
        assert!(m("a/**", "a/b/c"));
        // `**` inside a component is a `*`.
        assert!(m("release-**", "release-1.0"));
        assert!(!m("a**", "ab/c"));
        // `?`: one character but `/`.
        assert!(m("v1.?", "v1.2"));
        assert!(!m("v1.?", "v1.22"));
        assert!(!m("a?b", "a/b"));
        // Classes.
        assert!(m("v[0-9]", "v7"));
        assert!(!m("v[0-9]", "vx"));
        assert!(m("v[!0-9]", "vx"));
        assert!(m("v[^0-9]", "vx"));
        assert!(!m("v[^0-9]", "v1"));
        assert!(m("[abc]", "b"));
        assert!(m("[]]", "]"));
        assert!(m("[a-]", "-"));
        // Alternatives, nested, with special terms inside.
        assert!(m("{latest,v*}", "v2"));
        assert!(m("{latest,v*}", "latest"));
        assert!(!m("{latest,v*}", "dev"));
        assert!(m("{a,b{c,d}}", "bd"));
        assert!(m("x{,-rc}", "x"));
        assert!(m("{app/**,tools}", "app/x/y"));
        // Escapes.
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("a\\{b", "a{b"));
        // Literals match exactly.
        assert!(!m("alpine", "alpine2"));
        assert!(m("1.0", "1.0"));
        assert!(!m("1.0", "1x0"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert_eq!(Pattern::parse(""), Err(PatternError::Empty));
        assert!(matches!(Pattern::parse("{a,b"), Err(PatternError::Braces(_))));
        assert!(matches!(Pattern::parse("a}"), Err(PatternError::Braces(_))));
        assert!(matches!(Pattern::parse("[a-z"), Err(PatternError::Class(_))));
        assert!(matches!(Pattern::parse("a\\"), Err(PatternError::Escape(_))));
        assert_eq!(Pattern::parse(&"a".repeat(MAX_LEN + 1)), Err(PatternError::TooLong));
        assert!(matches!(Pattern::parse(&"{a,b}".repeat(9)), Err(PatternError::TooManyAlternatives(_))));
    }

    /// Many stars against a long text that almost matches: a backtracking matcher takes
    /// exponential time here; the table takes the product of the lengths.
    #[test]
    fn no_catastrophic_backtracking() {
        let pattern = Pattern::parse(&format!("{}b", "*a".repeat(60))).unwrap();
        assert!(!pattern.matches(&"a".repeat(128)));
        assert!(pattern.matches(&format!("{}b", "a".repeat(128))));
    }
}
