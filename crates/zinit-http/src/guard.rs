//! The middleware every request passes before it reaches a handler, in this
//! order:
//!
//! 1. **Host** (only when bound to loopback): a `Host` that is not
//!    `localhost` or a loopback IP (any port) gets 403. A web page on a
//!    name an attacker controls can point that name at 127.0.0.1 (DNS
//!    rebinding); its requests still carry the attacker's name.
//! 2. **Origin**: a browser names the page that makes a request. Our own
//!    origin (`http://<Host>`) and the `--cors-origin` list pass; any other
//!    origin gets 403 and no CORS headers, so no other site can drive the
//!    API from a visitor's browser (WebSocket upgrades included, which
//!    browsers do not subject to CORS). Allowed origins get their own
//!    origin back in `Access-Control-Allow-Origin` (never `*`), and their
//!    preflight (`OPTIONS`) requests are answered here.
//! 3. **Token**: with a token configured, a request without
//!    `Authorization: Bearer <token>` gets 401 and goes no further. The
//!    comparison takes the same time wherever the first difference is.
//!
//! Must not: read bodies or talk to the daemon.

use crate::config::{is_loopback, ProxyConfig};
use crate::error::refusal;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;
use std::sync::Arc;

/// What the guard checks, derived once from the configuration.
#[derive(Debug)]
pub struct Guard {
    token: Option<String>,
    origins: Vec<String>,
    check_host: bool,
}

impl Guard {
    pub fn new(config: &ProxyConfig) -> Guard {
        Guard {
            token: config.token.clone(),
            origins: config.cors_origins.clone(),
            check_host: config.is_loopback(),
        }
    }
}

/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

/// The middleware function (see the module documentation).
pub async fn guard(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if guard.check_host {
        if let Some(host) = host.filter(|h| !is_local_host(h)) {
            return refusal(
                StatusCode::FORBIDDEN,
                format!(
                    "Host {host:?} refused: this API listens on loopback only and answers \
                     only to localhost, 127.0.0.1 or [::1]"
                ),
            );
        }
    }
    let cors_origin = match headers.get(header::ORIGIN) {
        None => None,
        Some(origin) => match guard.cross_origin(origin, host) {
            Ok(allowed) => allowed,
            Err(shown) => {
                return refusal(
                    StatusCode::FORBIDDEN,
                    format!(
                        "cross-origin request from {shown:?} refused; start the proxy with \
                         --cors-origin {shown} to allow that origin"
                    ),
                )
            }
        },
    };
    let response = if let Some(origin) = cors_origin.as_ref().filter(|_| is_preflight(&request)) {
        preflight(origin)
    } else if !guard.authorised(request.headers()) {
        unauthorised()
    } else {
        next.run(request).await
    };
    decorate(response, cors_origin, !guard.origins.is_empty())
}

impl Guard {
    /// `Ok(Some(origin))` for a listed cross-origin caller, `Ok(None)` for
    /// our own origin, `Err(shown)` for anything else.
    fn cross_origin(
        &self,
        origin: &HeaderValue,
        host: Option<&str>,
    ) -> Result<Option<HeaderValue>, String> {
        let Ok(text) = origin.to_str() else {
            return Err(String::from_utf8_lossy(origin.as_bytes()).into_owned());
        };
        let wanted = text.trim_end_matches('/').to_ascii_lowercase();
        if host.is_some_and(|h| wanted == format!("http://{}", h.to_ascii_lowercase())) {
            return Ok(None);
        }
        if self.origins.contains(&wanted) {
            return Ok(Some(origin.clone()));
        }
        Err(text.to_owned())
    }

    fn authorised(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, value)| value.trim());
        presented.is_some_and(|p| same_secret(p.as_bytes(), token.as_bytes()))
    }
}

/// `localhost` or a loopback IP literal, with or without a port.
fn is_local_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inside, _port)) => inside,
            None => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(name, _port)| name)
    };
    name.eq_ignore_ascii_case("localhost")
        || name.eq_ignore_ascii_case("localhost.")
        || name.parse::<IpAddr>().is_ok_and(is_loopback)
}

fn is_preflight(request: &Request) -> bool {
    request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

fn preflight(origin: &HeaderValue) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(PREFLIGHT_MAX_AGE),
    );
    response
}

fn unauthorised() -> Response {
    let mut response = refusal(
        StatusCode::UNAUTHORIZED,
        "missing or wrong token: send Authorization: Bearer <token>",
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"zinit\""),
    );
    response
}

/// CORS headers for an allowed cross-origin caller; `Vary: Origin` whenever
/// answers depend on the origin, so caches keep them apart.
fn decorate(mut response: Response, origin: Option<HeaderValue>, varies: bool) -> Response {
    let headers = response.headers_mut();
    if let Some(origin) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    if varies {
        headers.append(header::VARY, HeaderValue::from_static("origin"));
    }
    response
}

/// Equality whose time depends on the lengths only, not on where the
/// first differing byte is.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_hosts() {
        for ok in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1",
            "127.0.0.1:1",
            "127.8.9.1:80",
            "[::1]",
            "[::1]:8080",
        ] {
            assert!(is_local_host(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "10.0.0.1:8080",
            "[::2]:1",
            "[::1",
            "",
        ] {
            assert!(!is_local_host(bad), "{bad}");
        }
    }

    #[test]
    fn secrets() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"a"));
    }

    fn guard(token: Option<&str>, origins: &[&str]) -> Guard {
        Guard {
            token: token.map(str::to_owned),
            origins: origins.iter().map(|o| o.to_string()).collect(),
            check_host: true,
        }
    }

    #[test]
    fn origins() {
        let g = guard(None, &["https://admin.example.com"]);
        let value = |s: &str| HeaderValue::from_str(s).unwrap();
        let own = g.cross_origin(&value("http://127.0.0.1:8080"), Some("127.0.0.1:8080"));
        assert_eq!(own, Ok(None));
        let listed = g.cross_origin(&value("https://admin.example.com"), Some("127.0.0.1:1"));
        assert_eq!(listed, Ok(Some(value("https://admin.example.com"))));
        for bad in ["https://evil.example", "null", "http://127.0.0.1:9"] {
            assert!(
                g.cross_origin(&value(bad), Some("127.0.0.1:1")).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn bearer_tokens() {
        let g = guard(Some("s3cret"), &[]);
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            h
        };
        assert!(g.authorised(&with("Bearer s3cret")));
        assert!(g.authorised(&with("bearer s3cret")));
        assert!(!g.authorised(&with("Bearer s3cre")));
        assert!(!g.authorised(&with("Basic s3cret")));
        assert!(!g.authorised(&with("s3cret")));
        assert!(!g.authorised(&HeaderMap::new()));
        assert!(guard(None, &[]).authorised(&HeaderMap::new()));
    }
}
