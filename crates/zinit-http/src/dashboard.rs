//! The web dashboard: `GET /` (without a WebSocket upgrade) serves a
//! static page and `GET /assets/NAME` its stylesheet, script and icon, all
//! embedded in the binary, so the page works offline and cannot drift from
//! the proxy that serves it. The page reads and acts through the same
//! JSON-RPC API (`POST /`) as every other client, with the same token.
//!
//! The page itself carries no data, so it is served without a token (a
//! browser navigation cannot send one); the Host and Origin checks still
//! apply (see [`is_page_request`] and `server`). Every response carries a
//! strict Content-Security-Policy (no inline script or style, nothing from
//! another origin), `nosniff`, and an `ETag`; assets are named with a
//! version (`?v=`) so browsers may keep them, while the page is always
//! revalidated.
//!
//! Must not: talk to the daemon, or serve anything but these files.

use axum::extract::{Path, Request};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::LazyLock;

/// The policy on every dashboard response: everything from our own origin
/// only, no inline code, no framing, no forms posted anywhere.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'; object-src 'none'";

/// The size all embedded files together must stay under (the issue's
/// budget; a unit test holds them to it).
pub const BUDGET: usize = 200 * 1024;

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const INDEX_TEMPLATE: &str = include_str!("../dashboard/index.html");

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../dashboard/app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../dashboard/app.css"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../dashboard/icon.svg"),
    },
];

/// A version of all the files together: FNV-1a over their bytes, in hex.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let parts = ASSETS
        .iter()
        .map(|a| a.body)
        .chain([INDEX_TEMPLATE.as_bytes()]);
    for part in parts {
        for byte in part {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
});

/// The page, its asset links carrying the version.
static INDEX: LazyLock<String> = LazyLock::new(|| INDEX_TEMPLATE.replace("{{v}}", &VERSION));

/// Whether `request` asks for the page or an asset: a `GET` or `HEAD` of
/// `/` without an upgrade (that is a WebSocket, which needs the token), or
/// of anything under `/assets/`. These pass the guard without a token.
pub fn is_page_request(request: &Request) -> bool {
    let method = request.method();
    if method != Method::GET && method != Method::HEAD {
        return false;
    }
    let path = request.uri().path();
    (path == "/" && !request.headers().contains_key(header::UPGRADE))
        || path.starts_with("/assets/")
}

/// `GET /`: the page.
pub fn page(headers: &HeaderMap) -> Response {
    respond(
        headers,
        "text/html; charset=utf-8",
        INDEX.as_bytes().to_vec(),
        "no-cache",
    )
}

/// `GET /assets/{name}`: an embedded file, or 404.
pub async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    asset_response(&name, &headers)
}

fn asset_response(name: &str, headers: &HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return not_found(name);
    };
    respond(
        headers,
        asset.content_type,
        asset.body.to_vec(),
        // The page names assets with the version, so a changed file gets a
        // new URL; a year is safe. Revalidation still works through the ETag.
        "public, max-age=31536000, immutable",
    )
}

fn not_found(name: &str) -> Response {
    let mut response = (
        StatusCode::NOT_FOUND,
        format!("no dashboard asset named {name:?}\n"),
    )
        .into_response();
    secure(response.headers_mut());
    response
}

/// The file with its headers, or `304 Not Modified` when the browser
/// already holds this version.
fn respond(
    request: &HeaderMap,
    content_type: &'static str,
    body: Vec<u8>,
    cache: &'static str,
) -> Response {
    let etag = format!("\"{}\"", *VERSION);
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        body.into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    secure(headers);
    response
}

/// Headers every dashboard response carries.
fn secure(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn body_of(response: Response) -> Vec<u8> {
        let body = response.into_body();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            http_body_util::BodyExt::collect(body)
                .await
                .unwrap()
                .to_bytes()
                .to_vec()
        })
    }

    #[test]
    fn every_file_fits_the_budget() {
        let total: usize =
            INDEX_TEMPLATE.len() + ASSETS.iter().map(|a| a.body.len()).sum::<usize>();
        assert!(total < BUDGET, "{total} bytes of dashboard assets");
    }

    #[test]
    fn the_page_links_each_asset_with_the_version() {
        assert!(!INDEX.contains("{{"), "unfilled placeholder");
        for asset in ASSETS {
            let link = format!("/assets/{}?v={}", asset.name, *VERSION);
            assert!(INDEX.contains(&link), "{link} not in the page");
        }
        // Nothing inline that the policy would block, nothing from afar.
        for inline in [
            "<style",
            " style=",
            "onclick",
            "onload",
            "javascript:",
            "http://",
            "https://",
        ] {
            assert!(!INDEX.contains(inline), "{inline} in the page");
        }
        assert_eq!(INDEX.matches("<script").count(), 1);
        assert!(INDEX.contains("<script src=\"/assets/app.js?v="));
    }

    #[test]
    fn no_asset_loads_anything_from_elsewhere() {
        for asset in ASSETS {
            let text = String::from_utf8_lossy(asset.body);
            for far in [
                "http://",
                "https://",
                "//cdn",
                "@import",
                "eval(",
                "new Function",
            ] {
                if asset.name == "icon.svg" && far == "http://" {
                    continue; // the SVG namespace
                }
                assert!(!text.contains(far), "{far} in {}", asset.name);
            }
        }
    }

    #[test]
    fn the_page_and_assets_have_their_types_and_headers() {
        let page = page(&HeaderMap::new());
        assert_eq!(page.status(), StatusCode::OK);
        let h = page.headers();
        assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(h[header::CACHE_CONTROL], "no-cache");
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], CSP);
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(h.contains_key(header::ETAG));
        for (name, kind) in [
            ("app.js", "text/javascript; charset=utf-8"),
            ("app.css", "text/css; charset=utf-8"),
            ("icon.svg", "image/svg+xml"),
        ] {
            let r = asset_response(name, &HeaderMap::new());
            assert_eq!(r.status(), StatusCode::OK, "{name}");
            assert_eq!(r.headers()[header::CONTENT_TYPE], kind);
            assert_eq!(r.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert_eq!(r.headers()[header::CONTENT_SECURITY_POLICY], CSP);
            let body = body_of(r);
            assert_eq!(body, ASSETS.iter().find(|a| a.name == name).unwrap().body);
        }
    }

    #[test]
    fn unknown_assets_are_404() {
        for name in ["nope.js", "", "../server.rs", "APP.JS", "app.js.map"] {
            let r = asset_response(name, &HeaderMap::new());
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{name:?}");
            assert_eq!(r.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        }
    }

    #[test]
    fn a_known_version_is_not_sent_again() {
        let etag = page(&HeaderMap::new()).headers()[header::ETAG].clone();
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, etag.clone());
        let again = asset_response("app.js", &headers);
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert!(body_of(again).is_empty());
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"old\""));
        assert_eq!(page(&headers).status(), StatusCode::OK);
    }

    #[test]
    fn which_requests_are_the_page() {
        let request = |method: Method, path: &str, upgrade: bool| {
            let mut r = Request::builder().method(method).uri(path);
            if upgrade {
                r = r.header(header::UPGRADE, "websocket");
            }
            r.body(Body::empty()).unwrap()
        };
        assert!(is_page_request(&request(Method::GET, "/", false)));
        assert!(is_page_request(&request(Method::HEAD, "/", false)));
        assert!(is_page_request(&request(
            Method::GET,
            "/assets/app.js",
            false
        )));
        assert!(is_page_request(&request(Method::GET, "/assets/x", false)));
        assert!(!is_page_request(&request(Method::GET, "/", true)));
        assert!(!is_page_request(&request(Method::POST, "/", false)));
        assert!(!is_page_request(&request(Method::OPTIONS, "/", false)));
        assert!(!is_page_request(&request(Method::GET, "/metrics", false)));
        assert!(!is_page_request(&request(Method::GET, "/ws", false)));
        assert!(!is_page_request(&request(
            Method::POST,
            "/assets/app.js",
            false
        )));
    }
}
