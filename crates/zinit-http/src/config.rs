//! What the proxy is told to do, and the checks that make it safe to start:
//! a public address needs a token (or an explicit `--insecure`), origins
//! are exact `scheme://host[:port]` values (never `*`), a token is never
//! empty.
//!
//! Must not: bind, serve or touch the daemon socket. Reading the token file
//! is the only I/O here.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// Largest request body accepted by default (the daemon's line limit).
pub const DEFAULT_MAX_BODY: usize = 1 << 20;
/// The variable a token may come from when no `--token-file` is given.
pub const TOKEN_ENV: &str = "ZINIT_HTTP_TOKEN";
/// Default port of both entry points.
pub const DEFAULT_PORT: u16 = 8080;

/// Everything the proxy needs; see [`ProxyConfig::validate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyConfig {
    /// The daemon's control socket, connected to afresh for each request.
    pub socket: PathBuf,
    /// Where to listen. Port 0 picks a free port.
    pub address: SocketAddr,
    /// With a token, every request must carry `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Origins (`scheme://host[:port]`) allowed to make cross-origin requests.
    pub cors_origins: Vec<String>,
    /// Allow a non-loopback address without a token.
    pub insecure: bool,
    /// Largest request body (and WebSocket message) in bytes.
    pub max_body: usize,
}

/// Why the proxy refuses to start with a configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "refusing to serve the zinit API on {0} without a token: anyone who can reach it could \
         run any command on this machine. Give a token (--token-file PATH or {TOKEN_ENV}), bind \
         a loopback address such as 127.0.0.1, or pass --insecure if another layer protects it"
    )]
    PublicWithoutToken(SocketAddr),
    #[error("invalid address {0:?}: expected IP:PORT, e.g. 127.0.0.1:8080 or [::1]:8080")]
    Address(String),
    #[error("invalid --cors-origin {origin:?}: {why}")]
    Origin { origin: String, why: &'static str },
    #[error("cannot read token file {path}: {reason}")]
    TokenFile { path: PathBuf, reason: String },
    #[error("token file {0} is empty")]
    EmptyToken(PathBuf),
    #[error("the token must be visible ASCII without spaces")]
    TokenCharacters,
    #[error("--address {0} already names a port; do not also give --port")]
    PortTwice(String),
}

impl ProxyConfig {
    /// A loopback proxy on `address` for `socket`, without token or origins.
    pub fn new(socket: PathBuf, address: SocketAddr) -> ProxyConfig {
        ProxyConfig {
            socket,
            address,
            token: None,
            cors_origins: Vec::new(),
            insecure: false,
            max_body: DEFAULT_MAX_BODY,
        }
    }

    /// Refuse what would be unsafe or cannot work; normalises the origins.
    pub fn validate(mut self) -> Result<ProxyConfig, ConfigError> {
        if let Some(token) = &self.token {
            if !token.bytes().all(|b| b.is_ascii_graphic()) || token.is_empty() {
                return Err(ConfigError::TokenCharacters);
            }
        }
        if !is_loopback(self.address.ip()) && self.token.is_none() && !self.insecure {
            return Err(ConfigError::PublicWithoutToken(self.address));
        }
        self.cors_origins = self
            .cors_origins
            .iter()
            .map(|o| normalise_origin(o))
            .collect::<Result<_, _>>()?;
        Ok(self)
    }

    /// Whether the proxy listens on loopback only (then `Host` is checked).
    pub fn is_loopback(&self) -> bool {
        is_loopback(self.address.ip())
    }
}

/// 127.0.0.0/8, ::1, and ::ffff:127.x.
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// `IP:PORT`, `[IPv6]:PORT`, or `localhost:PORT` (taken as 127.0.0.1).
pub fn parse_address(text: &str) -> Result<SocketAddr, ConfigError> {
    let text = text.trim();
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(address);
    }
    if let Some(port) = text.strip_prefix("localhost:") {
        if let Ok(port) = port.parse::<u16>() {
            return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
        }
    }
    Err(ConfigError::Address(text.to_owned()))
}

/// `zinit-http`'s `--address` (an IP, or IP:PORT) and `--port` combined.
pub fn address_and_port(
    address: Option<&str>,
    port: Option<u16>,
) -> Result<SocketAddr, ConfigError> {
    let port_or_default = port.unwrap_or(DEFAULT_PORT);
    let Some(text) = address else {
        return Ok(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            port_or_default,
        ));
    };
    let bare = text.trim().trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port_or_default));
    }
    if bare.eq_ignore_ascii_case("localhost") {
        return Ok(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            port_or_default,
        ));
    }
    let full = parse_address(text)?;
    if port.is_some() {
        return Err(ConfigError::PortTwice(text.to_owned()));
    }
    Ok(full)
}

/// The token: from `file` if given (surrounding whitespace trimmed), else
/// from `env_value` (empty means none).
pub fn load_token(
    file: Option<&Path>,
    env_value: Option<String>,
) -> Result<Option<String>, ConfigError> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::TokenFile {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(ConfigError::EmptyToken(path.to_owned()));
        }
        return Ok(Some(token.to_owned()));
    }
    Ok(env_value
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty()))
}

/// `scheme://host[:port]`, lowercased, without a trailing `/`.
fn normalise_origin(origin: &str) -> Result<String, ConfigError> {
    let refuse = |why| ConfigError::Origin {
        origin: origin.to_owned(),
        why,
    };
    let trimmed = origin.trim().trim_end_matches('/');
    if trimmed == "*" || trimmed.contains('*') {
        return Err(refuse(
            "wildcards are not allowed; list each origin that may call the API",
        ));
    }
    let Some((scheme, rest)) = trimmed.split_once("://") else {
        return Err(refuse(
            "expected scheme://host[:port], e.g. https://admin.example.com",
        ));
    };
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
        return Err(refuse("the scheme must be http or https"));
    }
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return Err(refuse("an origin has no path, query, user or spaces"));
    }
    Ok(trimmed.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(address: &str) -> ProxyConfig {
        ProxyConfig::new("/run/z.sock".into(), parse_address(address).unwrap())
    }

    #[test]
    fn public_needs_a_token_or_insecure() {
        assert!(config("127.0.0.1:8080").validate().is_ok());
        assert!(config("[::1]:8080").validate().is_ok());
        assert!(config("127.3.4.5:8080").validate().is_ok());
        let public = config("0.0.0.0:8080");
        let err = public.clone().validate().unwrap_err();
        assert!(matches!(err, ConfigError::PublicWithoutToken(_)));
        assert!(err.to_string().contains("--insecure"), "{err}");
        assert!(config("[::]:1").validate().is_err());
        assert!(config("[::ffff:127.0.0.1]:1").validate().is_ok());
        let mut with_token = public.clone();
        with_token.token = Some("s3cret".into());
        assert!(with_token.validate().is_ok());
        let mut insecure = public;
        insecure.insecure = true;
        assert!(insecure.validate().is_ok());
    }

    #[test]
    fn addresses() {
        assert_eq!(
            parse_address("localhost:9").unwrap(),
            config("127.0.0.1:9").address
        );
        assert!(parse_address("example.com:80").is_err());
        assert!(parse_address("--insecure").is_err());
        assert!(parse_address("127.0.0.1").is_err());
        let default = address_and_port(None, None).unwrap();
        assert_eq!(default.to_string(), "127.0.0.1:8080");
        assert_eq!(
            address_and_port(Some("0.0.0.0"), Some(9))
                .unwrap()
                .to_string(),
            "0.0.0.0:9"
        );
        assert_eq!(
            address_and_port(Some("::1"), None).unwrap().to_string(),
            "[::1]:8080"
        );
        assert_eq!(
            address_and_port(Some("[::1]:7"), None).unwrap().to_string(),
            "[::1]:7"
        );
        assert!(matches!(
            address_and_port(Some("[::1]:7"), Some(8)),
            Err(ConfigError::PortTwice(_))
        ));
    }

    #[test]
    fn origins_are_exact() {
        let mut c = config("127.0.0.1:1");
        c.cors_origins = vec!["HTTPS://Admin.Example.com/".into()];
        assert_eq!(
            c.validate().unwrap().cors_origins,
            ["https://admin.example.com"]
        );
        for bad in [
            "*",
            "https://*.example.com",
            "example.com",
            "ftp://x",
            "https://x/path",
        ] {
            let mut c = config("127.0.0.1:1");
            c.cors_origins = vec![bad.into()];
            assert!(c.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "  abc\n").unwrap();
        assert_eq!(
            load_token(Some(&file), Some("env".into()))
                .unwrap()
                .as_deref(),
            Some("abc")
        );
        assert_eq!(
            load_token(None, Some("env".into())).unwrap().as_deref(),
            Some("env")
        );
        assert_eq!(load_token(None, Some(" ".into())).unwrap(), None);
        std::fs::write(&file, "\n").unwrap();
        assert!(matches!(
            load_token(Some(&file), None),
            Err(ConfigError::EmptyToken(_))
        ));
        assert!(load_token(Some(&dir.path().join("missing")), None).is_err());
        let mut c = config("127.0.0.1:1");
        c.token = Some("has space".into());
        assert_eq!(c.validate(), Err(ConfigError::TokenCharacters));
    }
}
