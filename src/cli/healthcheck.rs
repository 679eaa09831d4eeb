//! `berth healthcheck`: GET /readyz of the configured listen address (or a given URL) and
//! exit 0 on 200, for container health checks.

use super::{config_error, failed, load_config};
use crate::config::Overrides;
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// How long connecting, and then the answer, may take.
const TIMEOUT: Duration = Duration::from_secs(5);

pub(super) async fn run(
    config: Option<PathBuf>,
    listen: Option<String>,
    url: Option<String>,
) -> Result<ExitCode, ExitCode> {
    let url = match url {
        Some(url) => url,
        None => {
            let overrides = Overrides {
                listen,
                data_dir: None,
            };
            let (config, warnings) = load_config(config.as_deref(), &overrides)?;
            for w in warnings {
                eprintln!("berth: warning: {w}");
            }
            readyz_url(config.listen.resolve().map_err(config_error)?)
        }
    };
    check(&url)
        .await
        .map_err(|e| failed(format!("healthcheck of {url} failed: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

/// The URL `berth healthcheck` checks by default: /readyz on the listen address, through
/// loopback when the server listens on every address.
fn readyz_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("http://{}/readyz", SocketAddr::new(ip, listen.port()))
}

/// A plain HTTP/1.1 GET (no TLS: the check runs inside the container, against loopback);
/// ready means 200, anything else is reported with the response's status line.
async fn check(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs are supported")?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    // No port: HTTP's.
    let target = match hostport.rsplit_once(':') {
        Some((_, port)) if !port.contains(']') => hostport.to_string(),
        _ => format!("{hostport}:80"),
    };
    let addr = tokio::net::lookup_host(target.as_str())
        .await
        .map_err(|e| format!("cannot resolve {hostport}: {e}"))?
        .next()
        .ok_or_else(|| format!("{hostport} has no address"))?;
    let stream = match tokio::time::timeout(TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(format!("cannot connect to {addr}: {e}")),
        Err(_) => return Err(format!("cannot connect to {addr}: connection timed out")),
    };
    let status = tokio::time::timeout(TIMEOUT, get(stream, hostport, path))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut).to_string())??;
    if status.0 == hyper::StatusCode::OK {
        Ok(())
    } else {
        Err(format!("not ready: {}", status.1))
    }
}

/// GET `path` on the connection; the response's status and its status line.
async fn get(
    stream: tokio::net::TcpStream,
    host: &str,
    path: &str,
) -> Result<(hyper::StatusCode, String), String> {
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let connection = tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, host)
        .header(hyper::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string());
    let response = match request {
        Ok(request) => sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    // The body is not needed.
    connection.abort();
    let response = response?;
    let status = response.status();
    let reason = match response.extensions().get::<hyper::ext::ReasonPhrase>() {
        Some(r) => String::from_utf8_lossy(r.as_bytes()).into_owned(),
        None => status.canonical_reason().unwrap_or("").to_string(),
    };
    let line = format!("{:?} {} {reason}", response.version(), status.as_str());
    Ok((status, line.trim_end().to_string()))
}
