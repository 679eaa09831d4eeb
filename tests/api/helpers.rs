use berth::config::Config;
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct TestApp {
    pub url: String,
    /// Sends the administrator's credentials (Basic) on every request.
    pub client: reqwest::Client,
    /// Sends no credentials.
    pub anonymous: reqwest::Client,
    pub admin_key: (String, String),
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

pub fn config(dir: &Path) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        ..Config::default()
    }
}

/// The administrator credentials a first start wrote into the data directory.
pub fn read_admin_credentials(dir: &Path) -> (String, String) {
    let text = std::fs::read_to_string(dir.join("admin-credentials")).unwrap();
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k} = ")))
            .unwrap()
            .to_owned()
    };
    (field("access_key_id"), field("secret_access_key"))
}

impl TestApp {
    pub async fn spawn(dir: &Path) -> TestApp {
        let mut app = berth::Application::build(&config(dir))
            .await
            .expect("build app");
        let url = format!("http://{}", app.local_addr());
        let admin = match app.take_bootstrap_credentials() {
            Some(k) => (k.access_key_id, k.secret_access_key),
            None => read_admin_credentials(dir),
        };
        let mut headers = reqwest::header::HeaderMap::new();
        let basic = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{}:{}", admin.0, admin.1),
        );
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Basic {basic}").parse().unwrap(),
        );
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(app.run(async move {
            let _ = rx.await;
        }));
        TestApp {
            url,
            client: reqwest::Client::builder()
                .default_headers(headers)
                .build()
                .unwrap(),
            anonymous: reqwest::Client::new(),
            admin_key: admin,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Stop serving and release the data directory.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }

    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let d = sha256(data);
        let r = self
            .client
            .post(format!("{}/v2/{repo}/blobs/uploads/?digest={d}", self.url))
            .body(data.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        d
    }

    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        body: &[u8],
    ) -> reqwest::Response {
        self.client
            .put(format!("{}/v2/{repo}/manifests/{reference}", self.url))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
    }
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

pub fn image_manifest(config: &str, config_len: usize, layer: &str, layer_len: usize) -> Vec<u8> {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{config_len}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer}","size":{layer_len}}}]}}"#
    )
    .into_bytes()
}

/// Push config + one layer + manifest under `tag`; returns the manifest digest.
pub async fn push_image(app: &TestApp, repo: &str, tag: &str, seed: u8) -> String {
    let config = format!("{{\"seed\":{seed}}}").into_bytes();
    let layer: Vec<u8> = (0..10_000u32).map(|i| (i as u8) ^ seed).collect();
    let c = app.push_blob(repo, &config).await;
    let l = app.push_blob(repo, &layer).await;
    let m = image_manifest(&c, config.len(), &l, layer.len());
    let r = app.put_manifest(repo, tag, &m).await;
    assert_eq!(r.status(), 201);
    sha256(&m)
}

pub fn tempdir() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().to_path_buf();
    (t, p)
}
