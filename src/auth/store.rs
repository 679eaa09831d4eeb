//! Where identities, credentials and policies live: the metadata database (SQLite or
//! PostgreSQL). Servers do not query these tables per request: they load them whole into
//! memory ([`AuthData`]) and reload when `auth_generation` moves, which triggers bump on every
//! change, including changes made by `berth` subcommands in another process or on another
//! replica. Unblock requests (`berth auth unblock`) travel the same way: a row each server
//! applies to its in-memory failure counts once.
//!
//! The SQL is the same for both databases, so one macro writes both implementations.

use crate::metadata::{MetaError, MetaResult};
use async_trait::async_trait;
use sqlx::Row;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    User,
    Robot,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::Robot => "robot",
        }
    }
    fn parse(s: &str) -> MetaResult<Self> {
        match s {
            "user" => Ok(PrincipalKind::User),
            "robot" => Ok(PrincipalKind::Robot),
            other => Err(MetaError::Internal(format!(
                "unknown principal kind {other:?}"
            ))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct PrincipalRow {
    pub name: String,
    pub id: String,
    pub kind: PrincipalKind,
    pub disabled: bool,
    pub created_at: i64,
}

#[derive(Clone)]
pub struct AccessKeyRow {
    pub id: String,
    pub principal: String,
    /// Sealed under the server key.
    pub secret: Vec<u8>,
    pub disabled: bool,
    pub created_at: i64,
}

impl std::fmt::Debug for AccessKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyRow")
            .field("id", &self.id)
            .field("principal", &self.principal)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct IdentityPolicyRow {
    pub principal: String,
    pub name: String,
    pub document: String,
}

#[derive(Debug, Clone)]
pub struct SigningKeyRow {
    pub kid: String,
    pub secret: Vec<u8>,
    pub created_at: i64,
}

/// A request (`berth auth unblock`) to forget failed authentications, applied by every
/// server once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnblockRow {
    /// Increasing, never reused.
    pub id: i64,
    pub kind: UnblockKind,
    /// An IP address or a user name.
    pub target: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnblockKind {
    Address,
    User,
}

impl UnblockKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UnblockKind::Address => "address",
            UnblockKind::User => "user",
        }
    }
    fn parse(s: &str) -> MetaResult<Self> {
        match s {
            "address" => Ok(UnblockKind::Address),
            "user" => Ok(UnblockKind::User),
            other => Err(MetaError::Internal(format!(
                "unknown unblock kind {other:?}"
            ))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RefreshRow {
    pub principal: String,
    pub access_key: Option<String>,
    pub expires_at: i64,
    pub revoked: bool,
}

/// Everything a server needs in memory to authenticate and authorize.
#[derive(Debug, Default)]
pub struct AuthData {
    pub generation: i64,
    pub principals: Vec<PrincipalRow>,
    pub keys: Vec<AccessKeyRow>,
    pub identity_policies: Vec<IdentityPolicyRow>,
    /// `(scope, document)`: scope `""` is the registry policy.
    pub resource_policies: Vec<(String, String)>,
    pub signing_keys: Vec<SigningKeyRow>,
    /// Unblock requests not yet expired, oldest first.
    pub unblocks: Vec<UnblockRow>,
}

/// The registry policy's scope in `resource_policies`.
pub const REGISTRY_SCOPE: &str = "";

#[async_trait]
pub trait IdentityStore: Send + Sync {
    async fn generation(&self) -> MetaResult<i64>;
    /// All of it, from one consistent snapshot.
    async fn load(&self) -> MetaResult<AuthData>;

    /// Create the first administrator (principal, key, policy) unless one was ever created.
    async fn bootstrap(
        &self,
        principal: &PrincipalRow,
        key: &AccessKeyRow,
        policy: &IdentityPolicyRow,
    ) -> MetaResult<bool>;

    /// False if the name is taken.
    async fn create_principal(&self, p: &PrincipalRow) -> MetaResult<bool>;
    async fn list_principals(&self) -> MetaResult<Vec<PrincipalRow>>;
    async fn set_principal_disabled(&self, name: &str, disabled: bool) -> MetaResult<bool>;
    async fn delete_principal(&self, name: &str) -> MetaResult<bool>;

    /// False if the principal does not exist.
    async fn create_access_key(&self, k: &AccessKeyRow) -> MetaResult<bool>;
    async fn list_access_keys(&self, principal: Option<&str>) -> MetaResult<Vec<AccessKeyRow>>;
    async fn set_access_key_disabled(&self, id: &str, disabled: bool) -> MetaResult<bool>;
    async fn delete_access_key(&self, id: &str) -> MetaResult<bool>;

    /// Create or replace; false if the principal does not exist.
    async fn put_identity_policy(&self, p: &IdentityPolicyRow, now: i64) -> MetaResult<bool>;
    async fn list_identity_policies(&self, principal: &str) -> MetaResult<Vec<IdentityPolicyRow>>;
    async fn delete_identity_policy(&self, principal: &str, name: &str) -> MetaResult<bool>;

    async fn put_resource_policy(&self, scope: &str, document: &str, now: i64) -> MetaResult<()>;
    async fn get_resource_policy(&self, scope: &str) -> MetaResult<Option<String>>;
    /// Delete and return the policy, if there was one.
    async fn delete_resource_policy(&self, scope: &str) -> MetaResult<Option<String>>;

    async fn add_signing_key(&self, k: &SigningKeyRow) -> MetaResult<()>;
    async fn delete_signing_keys_before(&self, created_before: i64) -> MetaResult<u64>;

    async fn create_refresh_token(
        &self,
        hash: &str,
        principal: &str,
        access_key: Option<&str>,
        now: i64,
        expires_at: i64,
    ) -> MetaResult<()>;
    async fn find_refresh_token(&self, hash: &str) -> MetaResult<Option<RefreshRow>>;
    /// Revoke every refresh token of `principal`; the number revoked.
    async fn revoke_refresh_tokens(&self, principal: &str) -> MetaResult<u64>;
    async fn delete_expired_refresh_tokens(&self, now: i64) -> MetaResult<u64>;

    /// Record an unblock request (servers apply it on their next reload) and delete those
    /// created before `delete_before`, in one transaction.
    async fn add_unblock(
        &self,
        kind: UnblockKind,
        target: &str,
        now: i64,
        delete_before: i64,
    ) -> MetaResult<()>;
}

fn principal_row<R: Row>(r: &R) -> MetaResult<PrincipalRow>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> bool: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let get_err = |e: sqlx::Error| MetaError::Internal(e.to_string());
    Ok(PrincipalRow {
        name: r.try_get("name").map_err(get_err)?,
        id: r.try_get("id").map_err(get_err)?,
        kind: PrincipalKind::parse(&r.try_get::<String, _>("kind").map_err(get_err)?)?,
        disabled: r.try_get("disabled").map_err(get_err)?,
        created_at: r.try_get("created_at").map_err(get_err)?,
    })
}

fn key_row<R: Row>(r: &R) -> MetaResult<AccessKeyRow>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> bool: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Vec<u8>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let get_err = |e: sqlx::Error| MetaError::Internal(e.to_string());
    Ok(AccessKeyRow {
        id: r.try_get("id").map_err(get_err)?,
        principal: r.try_get("principal").map_err(get_err)?,
        secret: r.try_get("secret").map_err(get_err)?,
        disabled: r.try_get("disabled").map_err(get_err)?,
        created_at: r.try_get("created_at").map_err(get_err)?,
    })
}

const PRINCIPAL_COLS: &str = "SELECT name, id, kind, disabled, created_at FROM principals";
const KEY_COLS: &str = "SELECT id, principal, secret, disabled, created_at FROM access_keys";

/// One implementation, two databases: `$store` has a method `auth_pool()` returning the pool,
/// `$snapshot` is the statement that makes a transaction a consistent read snapshot.
macro_rules! identity_store {
    ($store:ty, $snapshot:expr, $err:path) => {
        #[async_trait]
        impl IdentityStore for $store {
            async fn generation(&self) -> MetaResult<i64> {
                sqlx::query_scalar("SELECT n FROM auth_generation WHERE id = 1")
                    .fetch_one(self.auth_pool())
                    .await
                    .map_err($err)
            }

            async fn load(&self) -> MetaResult<AuthData> {
                let mut tx = self.auth_pool().begin().await.map_err($err)?;
                if let Some(stmt) = $snapshot {
                    sqlx::query(stmt).execute(&mut *tx).await.map_err($err)?;
                }
                let generation: i64 =
                    sqlx::query_scalar("SELECT n FROM auth_generation WHERE id = 1")
                        .fetch_one(&mut *tx)
                        .await
                        .map_err($err)?;
                let principals = sqlx::query(PRINCIPAL_COLS)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err($err)?
                    .iter()
                    .map(principal_row)
                    .collect::<MetaResult<Vec<_>>>()?;
                let keys = sqlx::query(KEY_COLS)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err($err)?
                    .iter()
                    .map(key_row)
                    .collect::<MetaResult<Vec<_>>>()?;
                let identity_policies =
                    sqlx::query("SELECT principal, name, document FROM identity_policies")
                        .fetch_all(&mut *tx)
                        .await
                        .map_err($err)?
                        .iter()
                        .map(|r| IdentityPolicyRow {
                            principal: r.get(0),
                            name: r.get(1),
                            document: r.get(2),
                        })
                        .collect();
                let resource_policies = sqlx::query("SELECT scope, document FROM resource_policies")
                    .fetch_all(&mut *tx)
                    .await
                    .map_err($err)?
                    .iter()
                    .map(|r| (r.get(0), r.get(1)))
                    .collect();
                let signing_keys = sqlx::query("SELECT kid, secret, created_at FROM signing_keys")
                    .fetch_all(&mut *tx)
                    .await
                    .map_err($err)?
                    .iter()
                    .map(|r| SigningKeyRow {
                        kid: r.get(0),
                        secret: r.get(1),
                        created_at: r.get(2),
                    })
                    .collect();
                let unblocks = sqlx::query(
                    "SELECT id, kind, target, created_at FROM auth_unblocks ORDER BY id",
                )
                .fetch_all(&mut *tx)
                .await
                .map_err($err)?
                .iter()
                .map(|r| {
                    Ok(UnblockRow {
                        id: r.get(0),
                        kind: UnblockKind::parse(&r.get::<String, _>(1))?,
                        target: r.get(2),
                        created_at: r.get(3),
                    })
                })
                .collect::<MetaResult<Vec<_>>>()?;
                tx.commit().await.map_err($err)?;
                Ok(AuthData {
                    generation,
                    principals,
                    keys,
                    identity_policies,
                    resource_policies,
                    signing_keys,
                    unblocks,
                })
            }

            async fn bootstrap(
                &self,
                p: &PrincipalRow,
                k: &AccessKeyRow,
                policy: &IdentityPolicyRow,
            ) -> MetaResult<bool> {
                let mut tx = self.auth_pool().begin().await.map_err($err)?;
                let first = sqlx::query(
                    "INSERT INTO auth_settings (name, value) VALUES ('bootstrapped', $1) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(p.created_at.to_string())
                .execute(&mut *tx)
                .await
                .map_err($err)?
                .rows_affected()
                    == 1;
                if !first {
                    return Ok(false);
                }
                let created = sqlx::query(
                    "INSERT INTO principals (name, id, kind, disabled, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
                )
                .bind(&p.name)
                .bind(&p.id)
                .bind(p.kind.as_str())
                .bind(p.disabled)
                .bind(p.created_at)
                .execute(&mut *tx)
                .await
                .map_err($err)?
                .rows_affected()
                    == 1;
                if !created {
                    // Someone made a principal of that name by hand before the first start:
                    // leave theirs alone, and let the next start try again under the same rule.
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO access_keys (id, principal, secret, disabled, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&k.id)
                .bind(&k.principal)
                .bind(&k.secret)
                .bind(k.disabled)
                .bind(k.created_at)
                .execute(&mut *tx)
                .await
                .map_err($err)?;
                sqlx::query(
                    "INSERT INTO identity_policies (principal, name, document, created_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(&policy.principal)
                .bind(&policy.name)
                .bind(&policy.document)
                .bind(p.created_at)
                .execute(&mut *tx)
                .await
                .map_err($err)?;
                tx.commit().await.map_err($err)?;
                Ok(true)
            }

            async fn create_principal(&self, p: &PrincipalRow) -> MetaResult<bool> {
                Ok(sqlx::query(
                    "INSERT INTO principals (name, id, kind, disabled, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
                )
                .bind(&p.name)
                .bind(&p.id)
                .bind(p.kind.as_str())
                .bind(p.disabled)
                .bind(p.created_at)
                .execute(self.auth_pool())
                .await
                .map_err($err)?
                .rows_affected()
                    == 1)
            }

            async fn list_principals(&self) -> MetaResult<Vec<PrincipalRow>> {
                sqlx::query(&format!("{PRINCIPAL_COLS} ORDER BY name"))
                    .fetch_all(self.auth_pool())
                    .await
                    .map_err($err)?
                    .iter()
                    .map(principal_row)
                    .collect()
            }

            async fn set_principal_disabled(&self, name: &str, disabled: bool) -> MetaResult<bool> {
                Ok(
                    sqlx::query("UPDATE principals SET disabled = $1 WHERE name = $2")
                        .bind(disabled)
                        .bind(name)
                        .execute(self.auth_pool())
                        .await
                        .map_err($err)?
                        .rows_affected()
                        == 1,
                )
            }

            async fn delete_principal(&self, name: &str) -> MetaResult<bool> {
                Ok(sqlx::query("DELETE FROM principals WHERE name = $1")
                    .bind(name)
                    .execute(self.auth_pool())
                    .await
                    .map_err($err)?
                    .rows_affected()
                    == 1)
            }

            async fn create_access_key(&self, k: &AccessKeyRow) -> MetaResult<bool> {
                Ok(sqlx::query(
                    "INSERT INTO access_keys (id, principal, secret, disabled, created_at) \
                     SELECT $1, name, $2, $3, $4 FROM principals WHERE name = $5",
                )
                .bind(&k.id)
                .bind(&k.secret)
                .bind(k.disabled)
                .bind(k.created_at)
                .bind(&k.principal)
                .execute(self.auth_pool())
                .await
                .map_err($err)?
                .rows_affected()
                    == 1)
            }

            async fn list_access_keys(
                &self,
                principal: Option<&str>,
            ) -> MetaResult<Vec<AccessKeyRow>> {
                let rows = match principal {
                    Some(p) => {
                        sqlx::query(&format!(
                            "{KEY_COLS} WHERE principal = $1 ORDER BY principal, id"
                        ))
                        .bind(p)
                        .fetch_all(self.auth_pool())
                        .await
                    }
                    None => {
                        sqlx::query(&format!("{KEY_COLS} ORDER BY principal, id"))
                            .fetch_all(self.auth_pool())
                            .await
                    }
                }
                .map_err($err)?;
                rows.iter().map(key_row).collect()
            }

            async fn set_access_key_disabled(&self, id: &str, disabled: bool) -> MetaResult<bool> {
                Ok(
                    sqlx::query("UPDATE access_keys SET disabled = $1 WHERE id = $2")
                        .bind(disabled)
                        .bind(id)
                        .execute(self.auth_pool())
                        .await
                        .map_err($err)?
                        .rows_affected()
                        == 1,
                )
            }

            async fn delete_access_key(&self, id: &str) -> MetaResult<bool> {
                Ok(sqlx::query("DELETE FROM access_keys WHERE id = $1")
                    .bind(id)
                    .execute(self.auth_pool())
                    .await
                    .map_err($err)?
                    .rows_affected()
                    == 1)
            }

            async fn put_identity_policy(
                &self,
                p: &IdentityPolicyRow,
                now: i64,
            ) -> MetaResult<bool> {
                Ok(sqlx::query(
                    "INSERT INTO identity_policies (principal, name, document, created_at) \
                     SELECT name, $1, $2, $3 FROM principals WHERE name = $4 \
                     ON CONFLICT (principal, name) DO UPDATE SET document = excluded.document",
                )
                .bind(&p.name)
                .bind(&p.document)
                .bind(now)
                .bind(&p.principal)
                .execute(self.auth_pool())
                .await
                .map_err($err)?
                .rows_affected()
                    == 1)
            }

            async fn list_identity_policies(
                &self,
                principal: &str,
            ) -> MetaResult<Vec<IdentityPolicyRow>> {
                Ok(sqlx::query(
                    "SELECT principal, name, document FROM identity_policies \
                     WHERE principal = $1 ORDER BY name",
                )
                .bind(principal)
                .fetch_all(self.auth_pool())
                .await
                .map_err($err)?
                .iter()
                .map(|r| IdentityPolicyRow {
                    principal: r.get(0),
                    name: r.get(1),
                    document: r.get(2),
                })
                .collect())
            }

            async fn delete_identity_policy(&self, principal: &str, name: &str) -> MetaResult<bool> {
                Ok(
                    sqlx::query("DELETE FROM identity_policies WHERE principal = $1 AND name = $2")
                        .bind(principal)
                        .bind(name)
                        .execute(self.auth_pool())
                        .await
                        .map_err($err)?
                        .rows_affected()
                        == 1,
                )
            }

            async fn put_resource_policy(
                &self,
                scope: &str,
                document: &str,
                now: i64,
            ) -> MetaResult<()> {
                sqlx::query(
                    "INSERT INTO resource_policies (scope, document, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (scope) DO UPDATE SET document = excluded.document, \
                     updated_at = excluded.updated_at",
                )
                .bind(scope)
                .bind(document)
                .bind(now)
                .execute(self.auth_pool())
                .await
                .map_err($err)?;
                Ok(())
            }

            async fn get_resource_policy(&self, scope: &str) -> MetaResult<Option<String>> {
                sqlx::query_scalar("SELECT document FROM resource_policies WHERE scope = $1")
                    .bind(scope)
                    .fetch_optional(self.auth_pool())
                    .await
                    .map_err($err)
            }

            async fn delete_resource_policy(&self, scope: &str) -> MetaResult<Option<String>> {
                sqlx::query_scalar("DELETE FROM resource_policies WHERE scope = $1 RETURNING document")
                    .bind(scope)
                    .fetch_optional(self.auth_pool())
                    .await
                    .map_err($err)
            }

            async fn add_signing_key(&self, k: &SigningKeyRow) -> MetaResult<()> {
                sqlx::query("INSERT INTO signing_keys (kid, secret, created_at) VALUES ($1, $2, $3)")
                    .bind(&k.kid)
                    .bind(&k.secret)
                    .bind(k.created_at)
                    .execute(self.auth_pool())
                    .await
                    .map_err($err)?;
                Ok(())
            }

            async fn delete_signing_keys_before(&self, created_before: i64) -> MetaResult<u64> {
                Ok(sqlx::query("DELETE FROM signing_keys WHERE created_at < $1")
                    .bind(created_before)
                    .execute(self.auth_pool())
                    .await
                    .map_err($err)?
                    .rows_affected())
            }

            async fn create_refresh_token(
                &self,
                hash: &str,
                principal: &str,
                access_key: Option<&str>,
                now: i64,
                expires_at: i64,
            ) -> MetaResult<()> {
                sqlx::query(
                    "INSERT INTO refresh_tokens (hash, principal, access_key, created_at, expires_at, revoked) \
                     VALUES ($1, $2, $3, $4, $5, FALSE)",
                )
                .bind(hash)
                .bind(principal)
                .bind(access_key)
                .bind(now)
                .bind(expires_at)
                .execute(self.auth_pool())
                .await
                .map_err($err)?;
                Ok(())
            }

            async fn find_refresh_token(&self, hash: &str) -> MetaResult<Option<RefreshRow>> {
                Ok(sqlx::query(
                    "SELECT principal, access_key, expires_at, revoked FROM refresh_tokens WHERE hash = $1",
                )
                .bind(hash)
                .fetch_optional(self.auth_pool())
                .await
                .map_err($err)?
                .map(|r| RefreshRow {
                    principal: r.get(0),
                    access_key: r.get(1),
                    expires_at: r.get(2),
                    revoked: r.get(3),
                }))
            }

            async fn revoke_refresh_tokens(&self, principal: &str) -> MetaResult<u64> {
                Ok(sqlx::query(
                    "UPDATE refresh_tokens SET revoked = TRUE WHERE principal = $1 AND NOT revoked",
                )
                .bind(principal)
                .execute(self.auth_pool())
                .await
                .map_err($err)?
                .rows_affected())
            }

            async fn delete_expired_refresh_tokens(&self, now: i64) -> MetaResult<u64> {
                Ok(sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
                    .bind(now)
                    .execute(self.auth_pool())
                    .await
                    .map_err($err)?
                    .rows_affected())
            }

            async fn add_unblock(
                &self,
                kind: UnblockKind,
                target: &str,
                now: i64,
                delete_before: i64,
            ) -> MetaResult<()> {
                let mut tx = self.auth_pool().begin().await.map_err($err)?;
                sqlx::query("DELETE FROM auth_unblocks WHERE created_at < $1")
                    .bind(delete_before)
                    .execute(&mut *tx)
                    .await
                    .map_err($err)?;
                sqlx::query(
                    "INSERT INTO auth_unblocks (kind, target, created_at) VALUES ($1, $2, $3)",
                )
                .bind(kind.as_str())
                .bind(target)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err($err)?;
                tx.commit().await.map_err($err)?;
                Ok(())
            }
        }
    };
}

identity_store!(
    crate::metadata::sqlite::SqliteStore,
    None::<&str>,
    crate::metadata::sqlite::sql_err
);
identity_store!(
    crate::metadata::postgres::PostgresStore,
    Some("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"),
    crate::metadata::postgres::sql_err
);
