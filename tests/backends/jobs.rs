//! The lease and runner suite against PostgreSQL: two stores with their own pools, as two
//! replicas have, taking the same leases.

use berth::metadata::leases::Leases;
use berth::metadata::postgres::PostgresStore;
use std::sync::Arc;

use crate::require_env;

async fn store() -> PostgresStore {
    let store = PostgresStore::connect(&require_env("BERTH_TEST_DATABASE_URL"), 8)
        .await
        .expect("connect to BERTH_TEST_DATABASE_URL");
    store.migrate().await.expect("migrate");
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_leases_pass_the_suite() {
    berth::jobs::suite::leases(&store().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_runners_on_two_replicas_pass_the_suite() {
    let a: Arc<dyn Leases> = Arc::new(store().await);
    let b: Arc<dyn Leases> = Arc::new(store().await);
    berth::jobs::suite::runners(a, b).await;
}
