//! The identity store's behaviour suite, run against SQLite (unit tests) and PostgreSQL
//! (tests/backends). Expects an empty database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::store::*;

fn principal(name: &str) -> PrincipalRow {
    PrincipalRow {
        name: name.into(),
        id: format!("id-{name}"),
        kind: PrincipalKind::User,
        disabled: false,
        created_at: 1000,
    }
}

fn key(id: &str, principal: &str) -> AccessKeyRow {
    AccessKeyRow {
        id: id.into(),
        principal: principal.into(),
        secret: vec![1, 2, 3],
        disabled: false,
        created_at: 1000,
    }
}

fn policy(principal: &str, name: &str, doc: &str) -> IdentityPolicyRow {
    IdentityPolicyRow {
        principal: principal.into(),
        name: name.into(),
        document: doc.into(),
    }
}

pub async fn run(s: &dyn IdentityStore) {
    let g0 = s.generation().await.unwrap();
    let empty = s.load().await.unwrap();
    assert_eq!(empty.generation, g0);
    assert!(empty.principals.is_empty() && empty.keys.is_empty());

    // The first administrator is made once, ever.
    let admin = principal("admin");
    assert!(s
        .bootstrap(
            &admin,
            &key("AK1", "admin"),
            &policy("admin", "Admin", "{}")
        )
        .await
        .unwrap());
    let g1 = s.generation().await.unwrap();
    assert!(g1 > g0, "a change moves the generation");
    assert!(!s
        .bootstrap(
            &principal("admin2"),
            &key("AK2", "admin2"),
            &policy("admin2", "A", "{}")
        )
        .await
        .unwrap());
    let data = s.load().await.unwrap();
    assert_eq!(data.generation, g1, "nothing changed");
    assert_eq!(data.principals.len(), 1);
    assert_eq!(data.keys.len(), 1);
    assert_eq!(data.keys[0].secret, vec![1, 2, 3]);
    assert_eq!(data.identity_policies.len(), 1);

    // Principals.
    assert!(s.create_principal(&principal("alice")).await.unwrap());
    assert!(
        !s.create_principal(&principal("alice")).await.unwrap(),
        "name taken"
    );
    let mut robot = principal("ci");
    robot.kind = PrincipalKind::Robot;
    assert!(s.create_principal(&robot).await.unwrap());
    let names: Vec<_> = s
        .list_principals()
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.name, p.kind))
        .collect();
    assert_eq!(
        names,
        vec![
            ("admin".to_string(), PrincipalKind::User),
            ("alice".to_string(), PrincipalKind::User),
            ("ci".to_string(), PrincipalKind::Robot)
        ]
    );
    let before = s.generation().await.unwrap();
    assert!(s.set_principal_disabled("alice", true).await.unwrap());
    assert!(s.generation().await.unwrap() > before);
    assert!(!s.set_principal_disabled("nobody", true).await.unwrap());
    assert!(s
        .list_principals()
        .await
        .unwrap()
        .iter()
        .any(|p| p.name == "alice" && p.disabled));
    assert!(s.set_principal_disabled("alice", false).await.unwrap());

    // Keys.
    assert!(s.create_access_key(&key("AKA", "alice")).await.unwrap());
    assert!(
        !s.create_access_key(&key("AKX", "nobody")).await.unwrap(),
        "no such principal"
    );
    assert_eq!(s.list_access_keys(Some("alice")).await.unwrap().len(), 1);
    assert_eq!(s.list_access_keys(None).await.unwrap().len(), 2);
    let before = s.generation().await.unwrap();
    assert!(s.set_access_key_disabled("AKA", true).await.unwrap());
    assert!(s.generation().await.unwrap() > before);
    assert!(s.list_access_keys(Some("alice")).await.unwrap()[0].disabled);
    assert!(!s.set_access_key_disabled("nope", true).await.unwrap());

    // Identity policies: put replaces, missing principal refused.
    assert!(s
        .put_identity_policy(&policy("alice", "p", "{\"a\":1}"), 5)
        .await
        .unwrap());
    assert!(s
        .put_identity_policy(&policy("alice", "p", "{\"a\":2}"), 6)
        .await
        .unwrap());
    assert!(!s
        .put_identity_policy(&policy("nobody", "p", "{}"), 6)
        .await
        .unwrap());
    let ps = s.list_identity_policies("alice").await.unwrap();
    assert_eq!(ps.len(), 1);
    assert_eq!(ps[0].document, "{\"a\":2}");

    // Resource policies: the registry's (scope "") and a repository's.
    s.put_resource_policy(REGISTRY_SCOPE, "{\"r\":1}", 1)
        .await
        .unwrap();
    s.put_resource_policy("team/app", "{\"t\":1}", 1)
        .await
        .unwrap();
    s.put_resource_policy("team/app", "{\"t\":2}", 2)
        .await
        .unwrap();
    assert_eq!(
        s.get_resource_policy("team/app").await.unwrap().as_deref(),
        Some("{\"t\":2}")
    );
    assert_eq!(
        s.get_resource_policy(REGISTRY_SCOPE)
            .await
            .unwrap()
            .as_deref(),
        Some("{\"r\":1}")
    );
    assert_eq!(s.load().await.unwrap().resource_policies.len(), 2);
    assert_eq!(
        s.delete_resource_policy("team/app")
            .await
            .unwrap()
            .as_deref(),
        Some("{\"t\":2}")
    );
    assert_eq!(s.delete_resource_policy("team/app").await.unwrap(), None);
    assert_eq!(s.get_resource_policy("team/app").await.unwrap(), None);

    // Signing keys.
    s.add_signing_key(&SigningKeyRow {
        kid: "k1".into(),
        secret: vec![9],
        created_at: 100,
    })
    .await
    .unwrap();
    s.add_signing_key(&SigningKeyRow {
        kid: "k2".into(),
        secret: vec![8],
        created_at: 200,
    })
    .await
    .unwrap();
    assert_eq!(s.delete_signing_keys_before(150).await.unwrap(), 1);
    let kids: Vec<_> = s
        .load()
        .await
        .unwrap()
        .signing_keys
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, vec!["k2".to_string()]);

    // Refresh tokens: found, revoked per principal, expired ones deleted.
    s.create_refresh_token("h1", "alice", Some("AKA"), 1, 10_000)
        .await
        .unwrap();
    s.create_refresh_token("h2", "alice", None, 1, 50)
        .await
        .unwrap();
    let r = s.find_refresh_token("h1").await.unwrap().unwrap();
    assert_eq!(
        (r.principal.as_str(), r.access_key.as_deref(), r.revoked),
        ("alice", Some("AKA"), false)
    );
    assert!(s.find_refresh_token("nope").await.unwrap().is_none());
    assert_eq!(s.revoke_refresh_tokens("alice").await.unwrap(), 2);
    assert_eq!(s.revoke_refresh_tokens("alice").await.unwrap(), 0);
    assert!(s.find_refresh_token("h1").await.unwrap().unwrap().revoked);
    assert_eq!(s.delete_expired_refresh_tokens(100).await.unwrap(), 1);
    assert!(s.find_refresh_token("h2").await.unwrap().is_none());

    // Deleting a key ends its refresh tokens; deleting a principal takes everything of it.
    assert!(s.delete_access_key("AKA").await.unwrap());
    assert!(s.find_refresh_token("h1").await.unwrap().is_none());
    assert!(s.create_access_key(&key("AKB", "alice")).await.unwrap());
    s.create_refresh_token("h3", "alice", Some("AKB"), 1, 10_000)
        .await
        .unwrap();
    assert!(s.delete_identity_policy("alice", "p").await.unwrap());
    assert!(s
        .put_identity_policy(&policy("alice", "q", "{}"), 7)
        .await
        .unwrap());
    assert!(s.delete_principal("alice").await.unwrap());
    assert!(!s.delete_principal("alice").await.unwrap());
    let data = s.load().await.unwrap();
    assert!(data.keys.iter().all(|k| k.principal != "alice"));
    assert!(data
        .identity_policies
        .iter()
        .all(|p| p.principal != "alice"));
    assert!(s.find_refresh_token("h3").await.unwrap().is_none());

    // Deleting the administrator does not bring it back at the next start.
    assert!(s.delete_principal("admin").await.unwrap());
    assert!(!s
        .bootstrap(
            &admin,
            &key("AK9", "admin"),
            &policy("admin", "Admin", "{}")
        )
        .await
        .unwrap());
    assert!(s
        .list_principals()
        .await
        .unwrap()
        .iter()
        .all(|p| p.name != "admin"));
}
