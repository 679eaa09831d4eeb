//! Leases for singleton background jobs (`crate::jobs`): who may run a job right now. One SQL
//! text serves both databases.
//!
//! A lease is a row `(name, holder, expires_at)`. Taking and renewing it is one conditional
//! upsert: it succeeds when nobody holds the lease, when the caller already holds it, or when
//! the holder's lease has expired; the database's row lock makes two takers race safely
//! (exactly one `RETURNING` row). Times are the callers' Unix milliseconds: replicas' clocks
//! must agree to well within a lease's TTL (NTP does), which the default TTL of 30 s leaves
//! ample room for.

use super::postgres::PostgresStore;
use super::sqlite::SqliteStore;
use super::MetaResult;
use async_trait::async_trait;

/// Who holds a lease, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    pub holder: String,
    /// Unix milliseconds after which another holder may take it, unless renewed.
    pub expires_at: i64,
    /// Unix milliseconds when this holder took it.
    pub acquired_at: i64,
}

#[async_trait]
pub trait Leases: Send + Sync + 'static {
    /// Take the lease `name` for `holder` until `now + ttl_ms`, or renew it when `holder` holds
    /// it already. Another holder's lease is taken only once it has expired. Returns whether
    /// `holder` holds the lease now.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        ttl_ms: i64,
    ) -> MetaResult<bool>;
    /// Give the lease up, so that another holder may take it at once; nothing happens when
    /// `holder` does not hold it.
    async fn release_lease(&self, name: &str, holder: &str) -> MetaResult<()>;
    /// The lease's row, expired or not; `None` if it was never taken or was released.
    async fn lease(&self, name: &str) -> MetaResult<Option<Lease>>;
}

const ACQUIRE: &str = "INSERT INTO job_leases (name, holder, expires_at, acquired_at) \
     VALUES ($1, $2, $3, $4) \
     ON CONFLICT (name) DO UPDATE SET \
         holder = excluded.holder, \
         expires_at = excluded.expires_at, \
         acquired_at = CASE WHEN job_leases.holder = excluded.holder \
             THEN job_leases.acquired_at ELSE excluded.acquired_at END \
     WHERE job_leases.holder = excluded.holder OR job_leases.expires_at <= excluded.acquired_at \
     RETURNING holder";

const RELEASE: &str = "DELETE FROM job_leases WHERE name = $1 AND holder = $2";

const READ: &str = "SELECT name, holder, expires_at, acquired_at FROM job_leases WHERE name = $1";

/// One implementation, two databases: `$store` has `auth_pool()` (its read-write pool) and
/// `$err` maps a database error.
macro_rules! lease_store {
    ($store:ty, $err:path) => {
        #[async_trait]
        impl Leases for $store {
            #[tracing::instrument(level = "debug", skip(self))]
            async fn acquire_lease(
                &self,
                name: &str,
                holder: &str,
                now: i64,
                ttl_ms: i64,
            ) -> MetaResult<bool> {
                let row: Option<String> = sqlx::query_scalar(ACQUIRE)
                    .bind(name)
                    .bind(holder)
                    .bind(now.saturating_add(ttl_ms))
                    .bind(now)
                    .fetch_optional(self.auth_pool())
                    .await
                    .map_err($err)?;
                Ok(row.is_some())
            }

            #[tracing::instrument(level = "debug", skip(self))]
            async fn release_lease(&self, name: &str, holder: &str) -> MetaResult<()> {
                sqlx::query(RELEASE)
                    .bind(name)
                    .bind(holder)
                    .execute(self.auth_pool())
                    .await
                    .map_err($err)?;
                Ok(())
            }

            async fn lease(&self, name: &str) -> MetaResult<Option<Lease>> {
                let row: Option<(String, String, i64, i64)> = sqlx::query_as(READ)
                    .bind(name)
                    .fetch_optional(self.auth_pool())
                    .await
                    .map_err($err)?;
                Ok(row.map(|(name, holder, expires_at, acquired_at)| Lease {
                    name,
                    holder,
                    expires_at,
                    acquired_at,
                }))
            }
        }
    };
}

lease_store!(SqliteStore, super::sqlite::sql_err);
lease_store!(PostgresStore, super::postgres::sql_err);
