//! Docker token scopes: `repository:<name>:<action>[,<action>...]` and
//! `registry:catalog:*`, as the token authentication specification defines them, and the
//! `access` claims a token carries.

use crate::oci::RepositoryName;
use serde::{Deserialize, Serialize};

/// A class of registry operations, as token scopes name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScopeAction {
    Pull,
    Push,
    Delete,
}

impl ScopeAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeAction::Pull => "pull",
            ScopeAction::Push => "push",
            ScopeAction::Delete => "delete",
        }
    }
    pub const ALL: [ScopeAction; 3] = [ScopeAction::Pull, ScopeAction::Push, ScopeAction::Delete];
}

/// One requested scope, parsed. Unknown resource types and actions are dropped (the
/// specification says a token service grants what it understands and may grant less).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Repository {
        name: RepositoryName,
        actions: Vec<ScopeAction>,
    },
    Catalog,
}

/// Why a scope string was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("scope {0:?} is not of the form type:name:actions")]
    Shape(String),
    #[error("scope {0:?} names an invalid repository")]
    Name(String),
}

impl Scope {
    /// Parse one scope. The name may itself contain `:` only as a registry host's port
    /// (`host:5000/repo`), which repository names cannot; so the type is before the first
    /// colon and the actions after the last.
    pub fn parse(s: &str) -> Result<Option<Scope>, ScopeError> {
        let shape = || ScopeError::Shape(s.chars().take(200).collect());
        let (kind, rest) = s.split_once(':').ok_or_else(shape)?;
        let (name, actions) = rest.rsplit_once(':').ok_or_else(shape)?;
        if name.is_empty() {
            return Err(shape());
        }
        // `repository(plugin)`-style class suffixes are allowed by the specification.
        let kind = kind.split('(').next().unwrap_or(kind);
        match kind {
            "repository" => {
                let name: RepositoryName = name
                    .parse()
                    .map_err(|_| ScopeError::Name(name.chars().take(200).collect()))?;
                let mut out = Vec::new();
                for a in actions.split(',') {
                    match a {
                        "pull" => out.push(ScopeAction::Pull),
                        "push" => out.push(ScopeAction::Push),
                        "delete" => out.push(ScopeAction::Delete),
                        "*" => out.extend(ScopeAction::ALL),
                        _ => {} // unknown actions are not granted
                    }
                }
                out.sort();
                out.dedup();
                Ok(Some(Scope::Repository { name, actions: out }))
            }
            "registry" if name == "catalog" => Ok(Some(Scope::Catalog)),
            _ => Ok(None),
        }
    }

    /// Every scope in the values of `scope` parameters (each may hold several, space-separated,
    /// as the OAuth2 form does). Malformed ones are skipped: they grant nothing.
    pub fn parse_all<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Scope> {
        let mut out: Vec<Scope> = Vec::new();
        for v in values {
            for s in v.split(' ').filter(|s| !s.is_empty()) {
                match Scope::parse(s) {
                    Ok(Some(scope)) => merge(&mut out, scope),
                    Ok(None) => {}
                    Err(e) => tracing::debug!(error = %e, "ignoring scope"),
                }
            }
        }
        out
    }
}

fn merge(out: &mut Vec<Scope>, scope: Scope) {
    if let Scope::Repository { name, actions } = &scope {
        for s in out.iter_mut() {
            if let Scope::Repository {
                name: n,
                actions: a,
            } = s
            {
                if n == name {
                    a.extend(actions.iter().copied());
                    a.sort();
                    a.dedup();
                    return;
                }
            }
        }
    } else if out.contains(&scope) {
        return;
    }
    out.push(scope);
}

/// One `access` entry of a token, as the specification spells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

impl Access {
    pub fn repository(name: &RepositoryName, actions: &[ScopeAction]) -> Access {
        Access {
            kind: "repository".into(),
            name: name.as_str().to_owned(),
            actions: actions.iter().map(|a| a.as_str().to_owned()).collect(),
        }
    }
    pub fn catalog() -> Access {
        Access {
            kind: "registry".into(),
            name: "catalog".into(),
            actions: vec!["*".into()],
        }
    }
}

/// Does a token's `access` list allow `action` on repository `name`?
pub fn grants(access: &[Access], name: &str, action: ScopeAction) -> bool {
    access.iter().any(|a| {
        a.kind == "repository"
            && a.name == name
            && a.actions.iter().any(|x| x == action.as_str() || x == "*")
    })
}

/// Does it allow listing the catalog?
pub fn grants_catalog(access: &[Access]) -> bool {
    access
        .iter()
        .any(|a| a.kind == "registry" && a.name == "catalog" && a.actions.iter().any(|x| x == "*"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(name: &str, actions: &[ScopeAction]) -> Scope {
        Scope::Repository {
            name: name.parse().unwrap(),
            actions: actions.to_vec(),
        }
    }

    #[test]
    fn parses_the_specification_forms() {
        use ScopeAction::*;
        let cases: &[(&str, Option<Scope>)] = &[
            (
                "repository:samalba/my-app:pull,push",
                Some(repo("samalba/my-app", &[Pull, Push])),
            ),
            ("repository:a:pull", Some(repo("a", &[Pull]))),
            ("repository:a:*", Some(repo("a", &[Pull, Push, Delete]))),
            (
                "repository:a:delete,pull,pull",
                Some(repo("a", &[Pull, Delete])),
            ),
            ("repository:a:frobnicate", Some(repo("a", &[]))),
            ("repository(plugin):a/b:pull", Some(repo("a/b", &[Pull]))),
            ("registry:catalog:*", Some(Scope::Catalog)),
            ("registry:other:*", None),
            ("unknown:thing:pull", None),
        ];
        for (s, want) in cases {
            assert_eq!(&Scope::parse(s).unwrap(), want, "{s}");
        }
    }

    #[test]
    fn rejects_hostile_scopes() {
        for s in [
            "",
            "repository",
            "repository:",
            "repository::pull",
            "repository:../etc/passwd:pull",
            "repository:a/../b:pull",
            "repository:/abs:pull",
            "repository:UPPER:pull",
            "repository:a//b:pull",
            "repository:a%2fb:pull",
            "repository:a\0b:pull",
            "repository:host:5000/a:pull", // a port is not part of a repository name here
        ] {
            assert!(Scope::parse(s).is_err(), "{s:?} should be rejected");
        }
    }

    #[test]
    fn merges_several_parameters_and_space_separated_lists() {
        use ScopeAction::*;
        let got = Scope::parse_all([
            "repository:a:pull",
            "repository:b:push repository:a:push",
            "garbage registry:catalog:* registry:catalog:*",
        ]);
        assert_eq!(
            got,
            vec![repo("a", &[Pull, Push]), repo("b", &[Push]), Scope::Catalog]
        );
    }

    #[test]
    fn grants_checks_name_type_and_action() {
        let name: RepositoryName = "a/b".parse().unwrap();
        let access = vec![Access::repository(&name, &[ScopeAction::Pull])];
        assert!(grants(&access, "a/b", ScopeAction::Pull));
        assert!(!grants(&access, "a/b", ScopeAction::Push));
        assert!(!grants(&access, "a/bc", ScopeAction::Pull));
        assert!(!grants_catalog(&access));
        assert!(grants_catalog(&[Access::catalog()]));
        let wildcard = vec![Access {
            kind: "repository".into(),
            name: "a/b".into(),
            actions: vec!["*".into()],
        }];
        assert!(grants(&wildcard, "a/b", ScopeAction::Delete));
    }
}
