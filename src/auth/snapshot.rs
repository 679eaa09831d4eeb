//! The identity tables in memory: one immutable [`Snapshot`] per generation, built from the
//! store with every stored secret opened under the server key ([`Sealed`] says which did
//! not), swapped whole by [`Auth::reload`], which also applies new unblock requests.

use super::crypto::{self, ServerKey};
use super::jwt::SigningKey;
use super::ratelimit::Source;
use super::settings::AuthSettings;
use super::store::{self, UnblockKind, UnblockRow};
use super::{Auth, AuthError, PrincipalEntry};
use crate::metadata::MetaError;
use crate::policy::iam::{Policy, PolicyKind, PrincipalInfo};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

pub(super) struct KeyEntry {
    pub(super) principal: String,
    pub(super) secret: String,
    pub(super) disabled: bool,
}

/// Everything authentication and authorization read, immutable once built.
pub(super) struct Snapshot {
    pub(super) generation: i64,
    pub(super) principals: HashMap<String, Arc<PrincipalEntry>>,
    pub(super) keys: HashMap<String, KeyEntry>,
    pub(super) registry_policy: Option<Arc<Policy>>,
    pub(super) repository_policies: HashMap<String, Arc<Policy>>,
    /// Newest first.
    pub(super) signing: Vec<SigningKey>,
}

/// A stored policy the parser refuses (say, a newer server wrote it) must not silently widen
/// access by being skipped: it is replaced by one that denies everything.
fn deny_all(kind: PolicyKind) -> Arc<Policy> {
    let text = match kind {
        PolicyKind::Identity => r#"{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#,
        PolicyKind::Resource => r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"*"}]}"#,
    };
    Arc::new(Policy::parse(text, kind).unwrap_or_else(|e| panic!("built-in policy: {e}")))
}

fn parse_stored(text: &str, kind: PolicyKind, what: &str) -> Arc<Policy> {
    match Policy::parse(text, kind) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            tracing::error!(policy = what, error = %e, "stored policy is invalid; it denies everything until replaced");
            deny_all(kind)
        }
    }
}

/// Which stored secrets the server key opened while a snapshot was built.
#[derive(Debug, Default)]
pub(super) struct Sealed {
    access_keys: usize,
    /// The ids of the access keys that did not open.
    access_keys_closed: Vec<String>,
    signing_keys: usize,
    /// The kids of the token signing keys that did not open.
    signing_keys_closed: Vec<String>,
}

impl Sealed {
    /// Whether this is the registry's server key: it opens at least one stored access key or,
    /// with none stored, at least one token signing key (nothing stored: any key is). One
    /// opening is proof (AES-GCM does not open under another key), and one is enough: older
    /// versions started with a wrong key wrote a signing key sealed under it, which must not
    /// keep the right key out. Access keys decide first because they are what the operator
    /// made; signing keys come and go by themselves.
    pub(super) fn key_fits(&self) -> bool {
        if self.access_keys > 0 {
            self.access_keys_closed.len() < self.access_keys
        } else {
            self.signing_keys == 0 || self.signing_keys_closed.len() < self.signing_keys
        }
    }

    /// Why the server key does not fit (when it does not), and what to do.
    pub(super) fn wrong_key(&self, origin: &str, file_hint: Option<&std::path::Path>) -> AuthError {
        let (n, kind) = if self.access_keys > 0 {
            (self.access_keys, "access key")
        } else {
            (self.signing_keys, "token signing key")
        };
        let what = if n == 1 {
            format!("the {kind} stored in the database")
        } else {
            format!("any of the {n} {kind}s stored in the database")
        };
        let file = file_hint.map_or(String::new(), |p| {
            format!(
                " (the embedded deployment keeps it in {} when auth.server_key is unset)",
                p.display()
            )
        });
        AuthError::ServerKey(format!(
            "wrong server key: {origin} does not open {what}, so it is not the key this \
             registry's secrets are sealed with. Set auth.server_key \
             (BERTH_AUTH__SERVER_KEY) to the key this registry was set up with{file}. \
             Nothing was changed."
        ))
    }

    /// Secrets that stay unusable under a key that fits otherwise (say, a signing key an
    /// older version wrote under a wrong key): logged, left for rotation to delete.
    pub(super) fn log_closed(&self) {
        for id in &self.access_keys_closed {
            tracing::error!(access_key = %id, error = %crypto::KeyError::Open, "cannot open an access key's secret; it will not authenticate");
        }
        for kid in &self.signing_keys_closed {
            tracing::error!(kid = %kid, error = %crypto::KeyError::Open, "cannot open a token signing key; tokens it signed are refused");
        }
    }
}

impl Snapshot {
    pub(super) fn build(
        data: store::AuthData,
        key: &ServerKey,
        settings: &AuthSettings,
    ) -> (Snapshot, Sealed) {
        let mut sealed = Sealed {
            access_keys: data.keys.len(),
            signing_keys: data.signing_keys.len(),
            ..Sealed::default()
        };
        let mut policies: HashMap<String, Vec<Arc<Policy>>> = HashMap::new();
        for p in &data.identity_policies {
            policies
                .entry(p.principal.clone())
                .or_default()
                .push(parse_stored(
                    &p.document,
                    PolicyKind::Identity,
                    &format!("{}/{}", p.principal, p.name),
                ));
        }
        let mut key_ids: HashMap<String, Vec<String>> = HashMap::new();
        let mut keys = HashMap::new();
        for k in data.keys {
            let secret = match key.open("access-key", &k.secret) {
                Ok(s) => String::from_utf8_lossy(&s).into_owned(),
                Err(_) => {
                    sealed.access_keys_closed.push(k.id);
                    continue;
                }
            };
            key_ids
                .entry(k.principal.clone())
                .or_default()
                .push(k.id.clone());
            keys.insert(
                k.id,
                KeyEntry {
                    principal: k.principal,
                    secret,
                    disabled: k.disabled,
                },
            );
        }
        let principals = data
            .principals
            .into_iter()
            .map(|p| {
                let entry = PrincipalEntry {
                    info: PrincipalInfo {
                        arn: settings.principal_arn(p.kind, &p.name),
                        account: settings.account_id.clone(),
                    },
                    policies: policies.remove(&p.name).unwrap_or_default(),
                    keys: key_ids.remove(&p.name).unwrap_or_default(),
                    name: p.name.clone(),
                    id: p.id,
                    kind: p.kind,
                    disabled: p.disabled,
                };
                (p.name, Arc::new(entry))
            })
            .collect();
        let mut registry_policy = None;
        let mut repository_policies = HashMap::new();
        for (scope, doc) in data.resource_policies {
            let p = parse_stored(
                &doc,
                PolicyKind::Resource,
                if scope.is_empty() { "registry" } else { &scope },
            );
            if scope == store::REGISTRY_SCOPE {
                registry_policy = Some(p);
            } else {
                repository_policies.insert(scope, p);
            }
        }
        let mut signing: Vec<SigningKey> = data
            .signing_keys
            .iter()
            .filter_map(|k| match key.open("signing-key", &k.secret) {
                Ok(secret) => Some(SigningKey::new(k.kid.clone(), &secret, k.created_at)),
                Err(_) => {
                    sealed.signing_keys_closed.push(k.kid.clone());
                    None
                }
            })
            .collect();
        signing.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.kid.cmp(&b.kid)));
        let snapshot = Snapshot {
            generation: data.generation,
            principals,
            keys,
            registry_policy,
            repository_policies,
            signing,
        };
        (snapshot, sealed)
    }

    /// The names an unblock of user `name` covers: the name, and its principal's name and
    /// access key ids (whether it names a principal or one of its keys).
    fn names_covered<'a>(&'a self, name: &'a str) -> Vec<&'a str> {
        let principal = self
            .keys
            .get(name)
            .map(|k| k.principal.as_str())
            .unwrap_or(name);
        let mut names = vec![name];
        if let Some(p) = self.principals.get(principal) {
            names.push(p.name.as_str());
            names.extend(p.keys.iter().map(String::as_str));
        }
        names.sort_unstable();
        names.dedup();
        names
    }
}

impl Auth {
    pub(super) fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Reload the identity tables if they changed; true if they did.
    pub async fn refresh(&self) -> Result<bool, MetaError> {
        let current = self.snapshot().generation;
        if self.store.generation().await? == current {
            return Ok(false);
        }
        self.reload().await?;
        Ok(true)
    }

    /// Reload the identity tables now, and apply the unblock requests not applied yet.
    pub async fn reload(&self) -> Result<(), MetaError> {
        let mut data = self.store.load().await?;
        let unblocks = std::mem::take(&mut data.unblocks);
        let (snapshot, sealed) = Snapshot::build(data, &self.key, &self.settings);
        sealed.log_closed();
        let snapshot = Arc::new(snapshot);
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = snapshot.clone();
        self.apply_unblocks(&unblocks, &snapshot);
        Ok(())
    }

    /// Forget the failures each new unblock request covers.
    fn apply_unblocks(&self, rows: &[UnblockRow], snap: &Snapshot) {
        let mut applied = self
            .unblocks_applied
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for row in rows.iter().filter(|r| !applied.contains(&r.id)) {
            let cleared = match row.kind {
                UnblockKind::Address => match row.target.parse::<IpAddr>() {
                    Ok(ip) => self.limiter.unblock_source(Source::of(ip)),
                    Err(_) => {
                        tracing::warn!(unblock = %row.target, "an unblock names no IP address; ignored");
                        0
                    }
                },
                UnblockKind::User => self.limiter.unblock_names(&snap.names_covered(&row.target)),
            };
            tracing::info!(kind = row.kind.as_str(), unblock = %row.target, cleared, "applied an unblock of failed authentications");
        }
        // Forget ids below the oldest still stored (deleted: ids are never reused), but not
        // newer ones a concurrent, older load may not have seen.
        applied.extend(rows.iter().map(|r| r.id));
        if let Some(oldest) = rows.iter().map(|r| r.id).min() {
            applied.retain(|id| *id >= oldest);
        }
    }
}
