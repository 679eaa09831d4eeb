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

// ---- requests the tests share --------------------------------------------------------------

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// The ECR API's content type, operation prefix, and the registry identity of a test server
/// (the configuration's defaults).
pub const AMZ_JSON: &str = "application/x-amz-json-1.1";
pub const TARGET_PREFIX: &str = "AmazonEC2ContainerRegistry_V20150921.";
pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "000000000000";

/// A small image: a config blob, one layer and the manifest naming them. Images of distinct
/// seeds share no blob and no digest.
pub struct Image {
    pub config: Vec<u8>,
    pub layer: Vec<u8>,
    pub manifest: Vec<u8>,
    pub digest: String,
}

impl Image {
    pub fn new(seed: u8) -> Image {
        let config = format!("{{\"seed\":{seed}}}").into_bytes();
        let layer: Vec<u8> = (0..10_000u32).map(|i| (i as u8) ^ seed).collect();
        let manifest = image_manifest(&sha256(&config), config.len(), &sha256(&layer), layer.len());
        Image {
            digest: sha256(&manifest),
            config,
            layer,
            manifest,
        }
    }

    pub fn config_digest(&self) -> String {
        sha256(&self.config)
    }

    pub fn layer_digest(&self) -> String {
        sha256(&self.layer)
    }

    /// The bytes of its blobs (what DescribeImages reports as the image's size).
    pub fn size(&self) -> usize {
        self.config.len() + self.layer.len()
    }
}

impl TestApp {
    /// The config and the layer of `img`, pushed to `repo` (no manifest).
    pub async fn push_blobs(&self, repo: &str, img: &Image) {
        self.push_blob(repo, &img.config).await;
        self.push_blob(repo, &img.layer).await;
    }

    /// `img` pushed whole under `reference` (a tag or its digest).
    pub async fn push(&self, repo: &str, reference: &str, img: &Image) {
        self.push_blobs(repo, img).await;
        let r = self.put_manifest(repo, reference, &img.manifest).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }

    /// `path` (absolute, or relative to the server as a `Location` may be) as a URL.
    pub fn url_of(&self, path: &str) -> String {
        if path.starts_with("http://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.url)
        }
    }

    /// One ECR API call, signed with the administrator's key.
    pub async fn ecr(&self, op: &str, input: serde_json::Value) -> AwsReply {
        let (id, secret) = &self.admin_key;
        let body = serde_json::to_vec(&input).unwrap();
        let headers = self.ecr_headers((id, secret), Some(op), &body, "ecr");
        self.ecr_post(&headers, &body).await
    }

    /// The headers of an ECR call of `op` (no `X-Amz-Target` when `None`) with `body`, signed
    /// by `key` for `service`: content type, target, `x-amz-date` and `authorization`.
    pub fn ecr_headers(
        &self,
        key: (&str, &str),
        op: Option<&str>,
        body: &[u8],
        service: &str,
    ) -> Vec<(String, String)> {
        let mut headers = vec![("content-type".to_owned(), AMZ_JSON.to_owned())];
        if let Some(op) = op {
            headers.push(("x-amz-target".to_owned(), format!("{TARGET_PREFIX}{op}")));
        }
        let unsigned: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let signed = sigv4(&format!("{}/", self.url), key, &unsigned, body, service);
        headers.extend(signed);
        headers
    }

    /// `POST /` with exactly `headers` (and no credentials of the client's own) and `body`.
    pub async fn ecr_post(&self, headers: &[(String, String)], body: &[u8]) -> AwsReply {
        let mut req = self
            .anonymous
            .post(format!("{}/", self.url))
            .body(body.to_vec());
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        AwsReply::of(req.send().await.unwrap()).await
    }
}

/// SigV4 (aws-sigv4) for a `POST` of `body` to `url` with `headers`, scoped to `service` in
/// `REGION`: the headers to add (`x-amz-date`, `authorization`).
pub fn sigv4(
    url: &str,
    key: (&str, &str),
    headers: &[(&str, &str)],
    body: &[u8],
    service: &str,
) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let identity =
        aws_credential_types::Credentials::new(key.0, key.1, None, None, "berth-tests").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name(service)
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let request = SignableRequest::new(
        "POST",
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(request, &params).unwrap().into_parts();
    instructions
        .headers()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// An ECR API answer: status, headers and the JSON body.
pub struct AwsReply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: serde_json::Value,
}

impl AwsReply {
    pub async fn of(r: reqwest::Response) -> AwsReply {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{status}: body is not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        AwsReply {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// A success as AWS JSON 1.1 answers one (as tests/ecr's `assert_ok`); its body.
    #[track_caller]
    pub fn ok(self) -> serde_json::Value {
        assert_eq!(self.status, 200, "{}", self.body);
        assert_eq!(self.header("content-type"), Some(AMZ_JSON));
        assert!(self
            .header("x-amzn-requestid")
            .is_some_and(|v| !v.is_empty()));
        assert!(self.header("x-amzn-errortype").is_none(), "{}", self.body);
        self.body
    }

    /// An error of type `kind` with `status` (as tests/ecr's `assert_error`): `__type` and
    /// `X-Amzn-ErrorType` agree, a request id, a message; returns the message.
    #[track_caller]
    pub fn error(&self, kind: &str, status: u16) -> String {
        assert_eq!(
            (self.status, self.body["__type"].as_str()),
            (status, Some(kind)),
            "{}",
            self.body
        );
        assert_eq!(self.header("content-type"), Some(AMZ_JSON));
        assert_eq!(self.header("x-amzn-errortype"), Some(kind));
        assert!(self
            .header("x-amzn-requestid")
            .is_some_and(|v| !v.is_empty()));
        let message = self.body["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{}", self.body);
        message.to_owned()
    }
}

/// `r` is an OCI error: `status` and a body `{"errors":[{"code","message",..}]}` whose first
/// code is `code`; returns its message.
pub async fn oci_error(r: reqwest::Response, status: u16, code: &str) -> String {
    let what = format!("{} {}", r.url(), r.status());
    assert_eq!(r.status().as_u16(), status, "{what}");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], code, "{what}: {body}");
    body["errors"][0]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no message in {body}"))
        .to_owned()
}

/// The path and query parameters of the `rel="next"` target of a `Link` header, if any.
pub fn next_link(r: &reqwest::Response) -> Option<(String, Vec<(String, String)>)> {
    let value = r.headers().get("link")?.to_str().unwrap();
    let (target, rel) = value.split_once(';').unwrap();
    assert_eq!(rel.trim(), "rel=\"next\"", "{value}");
    let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let q = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    Some((path.to_owned(), q))
}

/// An OCI image index of `children` (manifest bytes).
pub fn index_manifest(children: &[&[u8]]) -> Vec<u8> {
    let manifests: Vec<serde_json::Value> = children
        .iter()
        .map(|m| {
            serde_json::json!({
                "mediaType": OCI_MANIFEST, "digest": sha256(m), "size": m.len(),
                "platform": {"architecture": "amd64", "os": "linux"},
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests,
    }))
    .unwrap()
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
    let img = Image::new(seed);
    app.push(repo, tag, &img).await;
    img.digest
}

pub fn tempdir() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().to_path_buf();
    (t, p)
}
