//! The metadata suite against PostgreSQL, plus what only several replicas sharing one database
//! can show: races between two stores (two pools, as two replicas have), concurrent migrations,
//! and outages surfacing as `Unavailable`.
//!
//! The tests share the database named by BERTH_TEST_DATABASE_URL, each under its own repository
//! names. The suite and the migration tests need a database of their own (the suite asserts the
//! whole catalog), so they create one beside it: the role needs CREATEDB.

use berth::metadata::postgres::PostgresStore;
use berth::metadata::{
    DeleteOutcome, MetaError, MetadataStore, MissingRepository, NewManifest, PutManifestError,
    UploadRow,
};
use berth::oci::manifest::{self, OCI_INDEX, OCI_MANIFEST};
use berth::oci::{Algorithm, Digest, RepositoryName, Tag};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::require_env;

fn database_url() -> String {
    require_env("BERTH_TEST_DATABASE_URL")
}

async fn store_at(url: &str) -> PostgresStore {
    let store = PostgresStore::connect(url, 8)
        .await
        .expect("connect to BERTH_TEST_DATABASE_URL");
    store.migrate().await.expect("migrate");
    store
}

/// Two stores on the shared database: two pools, as two replicas would have.
async fn replicas() -> (PostgresStore, PostgresStore) {
    let url = database_url();
    (store_at(&url).await, store_at(&url).await)
}

async fn admin(url: &str) -> sqlx::PgPool {
    sqlx::PgPool::connect(url).await.expect("connect")
}

/// A new empty database beside the shared one (same server and role), for tests that need a
/// database to themselves. Returns its URL.
async fn own_database(suffix: &str) -> String {
    let mut url = url::Url::parse(&database_url()).expect("BERTH_TEST_DATABASE_URL is a URL");
    let name = format!("{}_{suffix}", url.path().trim_start_matches('/'));
    let pool = admin(url.as_str()).await;
    for sql in [
        format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#),
        format!(r#"CREATE DATABASE "{name}""#),
    ] {
        sqlx::query(&sql)
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e} (the test role needs CREATEDB)"));
    }
    pool.close().await;
    url.set_path(&name);
    url.to_string()
}

async fn drop_database(url: &str) {
    let name = url::Url::parse(url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    let pool = admin(&database_url()).await;
    let _ = sqlx::query(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
        .execute(&pool)
        .await;
    pool.close().await;
}

/// A name no other test (or earlier run against the same database) uses.
fn unique(what: &str) -> String {
    format!("pgtest-{what}-{}", uuid::Uuid::new_v4().simple())
}

fn repo(name: &str) -> RepositoryName {
    name.parse().unwrap()
}

fn blob(seed: &str) -> Digest {
    Algorithm::Sha256.digest(seed.as_bytes())
}

fn image_manifest(config: &Digest, layer: &Digest) -> Vec<u8> {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{config}","size":1}},"layers":[{{"mediaType":"application/octet-stream","digest":"{layer}","size":1}}]}}"#,
    )
    .into_bytes()
}

async fn put(store: &PostgresStore, r: &RepositoryName, bytes: &[u8], tags: &[Tag], now: i64) {
    let m = manifest::parse(Some(OCI_MANIFEST), bytes).unwrap();
    store
        .put_manifest(
            NewManifest {
                repository: r,
                digest: &Algorithm::Sha256.digest(bytes),
                manifest: &m,
                content: bytes,
                tags,
                now,
            },
            MissingRepository::Create,
        )
        .await
        .unwrap();
}

fn upload(id: &str, r: &RepositoryName) -> UploadRow {
    UploadRow {
        id: id.to_owned(),
        repository: r.clone(),
        algorithm: Algorithm::Sha256,
        size: 0,
        digest: None,
        created_at: 1,
        updated_at: 1,
        hash_state: Vec::new(),
        storage_state: String::new(),
    }
}

#[tokio::test]
async fn postgres_store_passes_the_suite() {
    let url = own_database("suite").await;
    let store = store_at(&url).await;
    berth::metadata::suite::run(&store).await;
    store.close().await;
    drop_database(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_tags_pushed_from_two_replicas_end_on_one_manifest() {
    let (a, b) = replicas().await;
    let r = repo(&format!("{}/app", unique("tags")));
    let (config, l1, l2) = (blob("config"), blob("layer-1"), blob("layer-2"));
    for d in [&config, &l1, &l2] {
        a.link_blob(&r, d, 1, 1, MissingRepository::Create)
            .await
            .unwrap();
    }
    let m1 = image_manifest(&config, &l1);
    let m2 = image_manifest(&config, &l2);
    let (d1, d2) = (Algorithm::Sha256.digest(&m1), Algorithm::Sha256.digest(&m2));
    // Opposite orders: a store that locked tags in the order given would deadlock here.
    let forward: Vec<Tag> = ["latest", "v1", "v1.0"]
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
    let backward: Vec<Tag> = forward.iter().rev().cloned().collect();
    for round in 0..25 {
        tokio::join!(
            put(&a, &r, &m1, &forward, round),
            put(&b, &r, &m2, &backward, round)
        );
        let mut winners = Vec::new();
        for t in &forward {
            let got = b.manifest_by_tag(&r, t).await.unwrap().unwrap();
            assert!(got.digest == d1 || got.digest == d2);
            winners.push(got.digest);
        }
        // Each push moves all its tags in one transaction, and both lock them in one order,
        // so the later one wins every tag.
        assert!(winners.iter().all(|w| *w == winners[0]), "{winners:?}");
        assert_eq!(
            *a.list_tags(&r, None, 10).await.unwrap().unwrap(),
            ["latest", "v1", "v1.0"]
        );
        for (d, bytes) in [(&d1, &m1), (&d2, &m2)] {
            assert_eq!(
                a.manifest_by_digest(&r, d).await.unwrap().unwrap().content,
                bytes[..]
            );
        }
    }
}

/// Two replicas pushing different manifests to the same new tag of an immutable repository:
/// exactly one push wins, the other is refused, and the tag never moves afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_immutable_tag_raced_from_two_replicas_is_won_once() {
    use berth::metadata::{RepositorySettings, TagMutability};
    let (a, b) = replicas().await;
    let r = repo(&format!("{}/app", unique("immutable")));
    let settings = RepositorySettings {
        tag_mutability: TagMutability::Immutable,
        ..Default::default()
    };
    assert!(a.create_repository(&r, &settings, &[], 1).await.unwrap());
    let (config, l1, l2) = (blob("config"), blob("layer-1"), blob("layer-2"));
    for d in [&config, &l1, &l2] {
        a.link_blob(&r, d, 1, 1, MissingRepository::Create)
            .await
            .unwrap();
    }
    let m1 = image_manifest(&config, &l1);
    let m2 = image_manifest(&config, &l2);
    let push = |store: &PostgresStore, bytes: &[u8], tag: &Tag| {
        let m = manifest::parse(Some(OCI_MANIFEST), bytes).unwrap();
        let store = store.clone();
        let (r, bytes, tags) = (r.clone(), bytes.to_vec(), vec![tag.clone()]);
        async move {
            store
                .put_manifest(
                    NewManifest {
                        repository: &r,
                        digest: &Algorithm::Sha256.digest(&bytes),
                        manifest: &m,
                        content: &bytes,
                        tags: &tags,
                        now: 2,
                    },
                    MissingRepository::Create,
                )
                .await
        }
    };
    for round in 0..20 {
        let t: Tag = format!("v{round}").parse().unwrap();
        let (x, y) = tokio::join!(push(&a, &m1, &t), push(&b, &m2, &t));
        let refused = |r: &Result<(), PutManifestError>| matches!(r, Err(PutManifestError::TagImmutable(n)) if n == t.as_str());
        assert!(
            (x.is_ok() && refused(&y)) || (refused(&x) && y.is_ok()),
            "{x:?} {y:?}"
        );
        let winner = if x.is_ok() { &m1 } else { &m2 };
        let got = b.manifest_by_tag(&r, &t).await.unwrap().unwrap();
        assert_eq!(got.content, winner[..]);
    }
}

async fn try_put(
    store: &PostgresStore,
    r: &RepositoryName,
    bytes: &[u8],
) -> Result<(), PutManifestError> {
    let m = manifest::parse(None, bytes).unwrap();
    store
        .put_manifest(
            NewManifest {
                repository: r,
                digest: &Algorithm::Sha256.digest(bytes),
                manifest: &m,
                content: bytes,
                tags: &[],
                now: 1,
            },
            MissingRepository::Create,
        )
        .await
}

/// A push and an unlink of a blob it needs, racing on two replicas: either the push wins and
/// the unlink sees it, or the unlink wins and the push is refused. Never a manifest whose
/// blob is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_racing_a_blob_unlink_never_leaves_a_dangling_manifest() {
    let (a, b) = replicas().await;
    let base = unique("unlink");
    let r = repo(&format!("{base}/app"));
    for round in 0..30 {
        let (config, layer) = (
            blob(&format!("{base}-c{round}")),
            blob(&format!("{base}-l{round}")),
        );
        a.link_blob(&r, &config, 1, 1, MissingRepository::Create)
            .await
            .unwrap();
        a.link_blob(&r, &layer, 1, 1, MissingRepository::Create)
            .await
            .unwrap();
        let bytes = image_manifest(&config, &layer);
        let md = Algorithm::Sha256.digest(&bytes);
        let (pushed, unlinked) = tokio::join!(try_put(&a, &r, &bytes), b.unlink_blob(&r, &layer));
        match (pushed, unlinked.unwrap()) {
            (Ok(()), DeleteOutcome::Referenced(m)) => assert_eq!(m, md.to_string()),
            (Err(PutManifestError::BlobUnknown(d)), DeleteOutcome::Deleted) => assert_eq!(d, layer),
            other => panic!("round {round}: {other:?}"),
        }
        let stored = a.manifest_by_digest(&r, &md).await.unwrap().is_some();
        let linked = a.repository_blob(&r, &layer).await.unwrap().is_some();
        assert_eq!(stored, linked, "round {round}");
    }
}

/// The same for an index and the deletion of its child.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_index_push_racing_its_child_deletion_never_leaves_a_dangling_index() {
    let (a, b) = replicas().await;
    let base = unique("child");
    let r = repo(&format!("{base}/app"));
    for round in 0..30 {
        let (config, layer) = (
            blob(&format!("{base}-c{round}")),
            blob(&format!("{base}-l{round}")),
        );
        a.link_blob(&r, &config, 1, 1, MissingRepository::Create)
            .await
            .unwrap();
        a.link_blob(&r, &layer, 1, 1, MissingRepository::Create)
            .await
            .unwrap();
        let child = image_manifest(&config, &layer);
        let cd = Algorithm::Sha256.digest(&child);
        try_put(&a, &r, &child).await.unwrap();
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{cd}","size":{}}}]}}"#,
            child.len()
        )
        .into_bytes();
        let id = Algorithm::Sha256.digest(&index);
        let (pushed, deleted) = tokio::join!(try_put(&a, &r, &index), b.delete_manifest(&r, &cd));
        match (pushed, deleted.unwrap()) {
            (Ok(()), DeleteOutcome::Referenced(p)) => assert_eq!(p, id.to_string()),
            (Err(PutManifestError::ManifestUnknown(d)), DeleteOutcome::Deleted) => {
                assert_eq!(d, cd)
            }
            other => panic!("round {round}: {other:?}"),
        }
        let parent = a.manifest_by_digest(&r, &id).await.unwrap().is_some();
        let child = a.manifest_by_digest(&r, &cd).await.unwrap().is_some();
        assert_eq!(parent, child, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_blob_completed_on_two_replicas_keeps_the_first_location() {
    let (a, b) = replicas().await;
    let base = unique("complete");
    let (r1, r2) = (repo(&format!("{base}/one")), repo(&format!("{base}/two")));
    let pool = admin(&database_url()).await;
    for round in 0..20 {
        let d = blob(&format!("{base}-{round}"));
        // Same repository on even rounds, two repositories on odd ones.
        let other = if round % 2 == 0 { &r1 } else { &r2 };
        let (u1, u2) = (format!("{base}-{round}-a"), format!("{base}-{round}-b"));
        a.create_upload(&upload(&u1, &r1)).await.unwrap();
        b.create_upload(&upload(&u2, other)).await.unwrap();
        let (k1, k2) = tokio::join!(
            a.complete_upload(&u1, &r1, &d, 1, "loc-a", 10, MissingRepository::Create),
            b.complete_upload(&u2, other, &d, 1, "loc-b", 10, MissingRepository::Create)
        );
        let (k1, k2) = (k1.unwrap(), k2.unwrap());
        assert_eq!(k1, k2, "both completions report the location that was kept");
        assert!(k1 == "loc-a" || k1 == "loc-b");
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM blobs WHERE digest = $1")
            .bind(d.to_string())
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(rows, 1);
        for rr in [&r1, other] {
            let got = a.repository_blob(rr, &d).await.unwrap().unwrap();
            assert_eq!((got.size, got.location.as_str()), (1, k1.as_str()));
        }
        assert!(a.get_upload(&u1).await.unwrap().is_none());
        assert!(a.get_upload(&u2).await.unwrap().is_none());
    }
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_append_raced_from_two_replicas_is_recorded_once() {
    let (a, b) = replicas().await;
    let r = repo(&format!("{}/app", unique("append")));
    let id = unique("upload");
    a.create_upload(&upload(&id, &r)).await.unwrap();
    for from in 0..20u64 {
        let p = |size| berth::metadata::UploadProgress {
            size,
            hash_state: vec![1],
            storage_state: String::new(),
        };
        let (pa, pb) = (p(from + 1), p(from + 1));
        let (x, y) = tokio::join!(
            a.advance_upload(&id, from, &pa, 2),
            b.advance_upload(&id, from, &pb, 2)
        );
        assert!(
            x.unwrap() ^ y.unwrap(),
            "exactly one append from size {from} wins"
        );
    }
    assert_eq!(a.get_upload(&id).await.unwrap().unwrap().size, 20);
}

#[tokio::test]
async fn migrating_again_changes_nothing() {
    let (a, _) = replicas().await; // both already migrated once
    a.migrate().await.unwrap();
    a.migrate().await.unwrap();
    let pool = admin(&database_url()).await;
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(applied, migration_versions());
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_starting_together_migrate_once() {
    let url = own_database("migrate").await;
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(PostgresStore::connect(&url, 2).await.unwrap());
    }
    let results = futures_util::future::join_all(stores.iter().map(|s| s.migrate())).await;
    for r in results {
        r.expect("every replica's migrate succeeds");
    }
    let pool = admin(&url).await;
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(applied, migration_versions());
    pool.close().await;
    // And the schema works.
    let r = repo("migrated/app");
    stores[3]
        .link_blob(&r, &blob("x"), 1, 1, MissingRepository::Create)
        .await
        .unwrap();
    assert!(stores[0].repository_exists(&r).await.unwrap());
    for s in &stores {
        s.close().await;
    }
    drop_database(&url).await;
}

/// The versions of migrations/postgres/*.sql.
fn migration_versions() -> Vec<i64> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres");
    let mut v: Vec<i64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".sql")?.split('_').next()?.parse().ok()
        })
        .collect();
    v.sort_unstable();
    v
}

/// Listings page in byte order, as SQLite does, whatever the database's locale.
#[tokio::test]
async fn listings_sort_bytewise() {
    let (a, _) = replicas().await;
    let base = unique("order");
    let r = repo(&format!("{base}/app"));
    let (config, layer) = (blob("config"), blob("layer"));
    a.link_blob(&r, &config, 1, 1, MissingRepository::Create)
        .await
        .unwrap();
    a.link_blob(&r, &layer, 1, 1, MissingRepository::Create)
        .await
        .unwrap();
    let mut names = vec!["a", "B", "_x", "a-b", "a.b", "ab", "A1", "Z", "a_b", "0"];
    let tags: Vec<Tag> = names.iter().map(|t| t.parse().unwrap()).collect();
    put(&a, &r, &image_manifest(&config, &layer), &tags, 1).await;
    names.sort_unstable();
    assert_eq!(*a.list_tags(&r, None, 100).await.unwrap().unwrap(), names);
    let after = names.iter().position(|n| *n == "_x").unwrap() + 1;
    assert_eq!(
        *a.list_tags(&r, Some("_x"), 2).await.unwrap().unwrap(),
        names[after..after + 2]
    );

    let mut repos = vec!["x-y", "x.y", "x/y", "x_y", "x0", "xy", "x__y"];
    for n in &repos {
        a.link_blob(
            &repo(&format!("{base}/{n}")),
            &config,
            1,
            1,
            MissingRepository::Create,
        )
        .await
        .unwrap();
    }
    repos.push("app");
    let mut expected: Vec<String> = repos.iter().map(|n| format!("{base}/{n}")).collect();
    expected.sort_unstable();
    let listed = a
        .list_repositories(Some(&format!("{base}/")), 100)
        .await
        .unwrap();
    let mine: Vec<String> = listed
        .into_iter()
        .take_while(|n| n.starts_with(&base))
        .collect();
    assert_eq!(mine, expected);
}

/// A page of tags after `last` is an index range scan, not a sort of the whole repository.
#[tokio::test]
async fn a_tag_page_in_a_large_repository_is_a_range_scan() {
    let (a, _) = replicas().await;
    let r = repo(&format!("{}/app", unique("many")));
    let (config, layer) = (blob("config"), blob("layer"));
    a.link_blob(&r, &config, 1, 1, MissingRepository::Create)
        .await
        .unwrap();
    a.link_blob(&r, &layer, 1, 1, MissingRepository::Create)
        .await
        .unwrap();
    let bytes = image_manifest(&config, &layer);
    let first: Vec<Tag> = vec!["t-000000".parse().unwrap()];
    put(&a, &r, &bytes, &first, 1).await;
    let pool = admin(&database_url()).await;
    sqlx::query(
        "INSERT INTO tags (repository_id, name, manifest_digest, updated_at)
         SELECT r.id, 't-' || lpad(i::text, 6, '0'), $2, 1
         FROM repositories r, generate_series(1, 99999) i WHERE r.name = $1",
    )
    .bind(r.as_str())
    .bind(Algorithm::Sha256.digest(&bytes).to_string())
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE tags").execute(&pool).await.unwrap();

    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT ARRAY(SELECT t.name FROM tags t WHERE t.repository_id = r.id AND t.name > $2
                              ORDER BY t.name LIMIT $3)
         FROM repositories r WHERE r.name = $1",
    )
    .bind(r.as_str())
    .bind("t-050000")
    .bind(100i64)
    .fetch_all(&pool)
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(
        plan.contains("Index Only Scan using tags_pkey")
            || plan.contains("Index Scan using tags_pkey"),
        "{plan}"
    );
    assert!(!plan.contains("Sort"), "{plan}");
    pool.close().await;

    // How fast such a page is served is measured by bench/production.sh (section 4, tags).
    let page = a
        .list_tags(&r, Some("t-050000"), 100)
        .await
        .unwrap()
        .unwrap();
    let expected: Vec<String> = (50_001..50_101).map(|i| format!("t-{i:06}")).collect();
    assert_eq!(*page, expected);
    let page = a
        .list_tags(&r, Some("t-099990"), 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page.len(), 9);
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable() {
    // A port nobody listens on: connection refused, retried until the acquire timeout.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = answered(PostgresStore::connect(
        &format!("postgres://berth:x@127.0.0.1:{port}/berth"),
        2,
    ))
    .await;
    assert!(matches!(r, Err(MetaError::Unavailable(_))), "{:?}", r.err());
}

/// The answer of `f`, which must come within 15 s (three times the pool's acquire timeout):
/// a database that is down is reported, not waited for.
async fn answered<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(15), f)
        .await
        .expect("no answer within 15 s")
}

/// The database going away under a running store (a restart, a failover) answers Unavailable
/// within seconds, and the store recovers by itself when the database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_unavailable_then_recovers() {
    let mut url = url::Url::parse(&database_url()).unwrap();
    let target = tokio::net::lookup_host((
        url.host_str().unwrap_or("localhost").to_owned(),
        url.port().unwrap_or(5432),
    ))
    .await
    .unwrap()
    .next()
    .unwrap();
    let proxy = Proxy::start(target).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(proxy.port)).unwrap();
    let store = PostgresStore::connect(url.as_str(), 2).await.unwrap();
    store.migrate().await.unwrap();
    let r = repo(&format!("{}/app", unique("outage")));
    store
        .link_blob(&r, &blob("x"), 1, 1, MissingRepository::Create)
        .await
        .unwrap();

    proxy.down().await;
    let read = answered(store.repository_exists(&r)).await;
    assert!(matches!(read, Err(MetaError::Unavailable(_))), "{read:?}");
    let write = answered(store.link_blob(&r, &blob("y"), 1, 1, MissingRepository::Create)).await;
    assert!(matches!(write, Err(MetaError::Unavailable(_))), "{write:?}");

    // Back: a client retrying its 503 gets through. (A connection from before the outage may
    // still sit in the pool and fail one request; that failure is Unavailable too.)
    proxy.up();
    let mut attempts = 0;
    loop {
        attempts += 1;
        match store.repository_exists(&r).await {
            Ok(found) => break assert!(found),
            Err(MetaError::Unavailable(_)) if attempts < 3 => continue,
            Err(e) => panic!("after {attempts} attempts: {e:?}"),
        }
    }
    store.close().await;
}

/// A TCP forwarder standing in for the database server: `down` cuts every forwarded
/// connection and closes new ones at once, as a database restart does; `up` forwards again.
/// It keeps its port throughout, so nothing else can take the port while the database is down.
struct Proxy {
    port: u16,
    listener: tokio::task::JoinHandle<()>,
    /// The forwarded connections, and whether new ones are forwarded (changed together).
    connections: Arc<Mutex<(JoinSet<()>, bool)>>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(Mutex::new((JoinSet::new(), true)));
        let set = connections.clone();
        let listener = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut set = set.lock().unwrap();
                if !set.1 {
                    continue; // down: `inbound` is closed here
                }
                set.0.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Proxy {
            port,
            listener,
            connections,
        }
    }

    /// Returns once every forwarded connection is cut.
    async fn down(&self) {
        let mut set = {
            let mut c = self.connections.lock().unwrap();
            c.1 = false;
            std::mem::take(&mut c.0)
        };
        set.shutdown().await;
    }

    fn up(&self) {
        self.connections.lock().unwrap().1 = true;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.listener.abort();
        self.connections.lock().unwrap().0.abort_all();
    }
}

#[tokio::test]
async fn postgres_identity_store_passes_the_suite() {
    let url = own_database("identity").await;
    let store = store_at(&url).await;
    berth::auth::suite::run(&store).await;
    store.close().await;
    drop_database(&url).await;
}
