//! [`OriginPolicy`]: which web pages may open a socket, judged by the
//! upgrade request's `Origin` header before the app's connect hook runs.
//!
//! Why: a WebSocket is not bound by the same-origin policy, and browsers
//! send the visitor's cookies with a cross-site upgrade. Without this check
//! any site the visitor opens could open a socket as them (cross-site
//! WebSocket hijacking). A browser always sends `Origin` on an upgrade and
//! a page cannot change it, so checking it closes that door.
//!
//! The rules:
//! - **No `Origin` header**: accepted. The client is not a browser (a
//!   server, a CLI tool), and no other site's page can make it connect.
//! - **Default** (`Config::allowed_origins` empty): accepted when the
//!   origin's host and port equal the request's `Host` header's, or when
//!   the origin's host is `localhost` or a loopback address (127.0.0.0/8,
//!   `[::1]`) on any port, for development. A port left out, on either
//!   side, is the default port of the origin's scheme (80 for `http`, 443
//!   for `https`). The scheme is not compared: behind a proxy that ends TLS
//!   the server cannot tell which one the page used.
//! - **An allow-list** (`Config::allowed_origins` not empty) replaces the
//!   default, localhost exception included. Each entry is an origin such as
//!   `https://app.example.com`, compared by scheme, host and port (a port
//!   left out is the scheme's default), ignoring ASCII case; the entry `*`
//!   accepts every origin.
//! - **A malformed `Origin`** is refused unless `*` is allowed: `null`
//!   (sandboxed frames, `file:` pages), anything that is not
//!   `scheme://host[:port]` (a path, a query or credentials included), a
//!   value that is not visible ASCII, or more than one `Origin` header.

use actix_web::http::header;
use actix_web::HttpRequest;
use url::{Host, Url};

/// The longest part of a refused `Origin` that is logged, in bytes.
const LOGGED_ORIGIN_BYTES: usize = 200;

/// Where a socket may be opened from, built once per hub from
/// `Config::allowed_origins`. See the module docs for the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OriginPolicy {
    /// The request's own host, or a loopback host on any port.
    SameHostOrLoopback,
    /// Any origin (`*` is among the allowed origins).
    Any,
    /// Exactly these origins.
    Listed(Vec<SiteOrigin>),
}

/// An origin as compared: its scheme and host in lowercase, and its port
/// (the scheme's default when the text gives none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SiteOrigin {
    scheme: String,
    host: String,
    port: Option<u16>,
    loopback: bool,
}

impl SiteOrigin {
    /// Parses `scheme://host[:port]` (one trailing `/` is tolerated).
    ///
    /// # Errors
    /// What is wrong with `text`, for a flag's error message.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let bad = |what: &str| {
            format!("{text:?} is not an origin ({what}): give scheme://host[:port], e.g. https://app.example.com")
        };
        let url = Url::parse(text.trim()).map_err(|e| bad(&e.to_string()))?;
        if url.cannot_be_a_base() {
            return Err(bad("no host"));
        }
        let Some(host) = url.host() else {
            return Err(bad("no host"));
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("it has credentials"));
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(bad("it has a path, a query or a fragment"));
        }
        let loopback = match &host {
            Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
            Host::Ipv4(ip) => ip.is_loopback(),
            Host::Ipv6(ip) => ip.is_loopback(),
        };
        Ok(Self {
            scheme: url.scheme().to_ascii_lowercase(),
            host: host.to_string().to_ascii_lowercase(),
            port: url.port_or_known_default(),
            loopback,
        })
    }

    /// Whether this origin names the host and port of a `Host` header
    /// (`host[:port]`); a port left out there is this origin's scheme's
    /// default, as it is here.
    fn is_host(&self, host_header: &str) -> bool {
        match Self::parse(&format!("{}://{host_header}", self.scheme)) {
            Ok(requested) => requested.host == self.host && requested.port == self.port,
            Err(_) => false,
        }
    }
}

/// Why an upgrade's origin was refused, for the log line and the 403 body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OriginRefused {
    /// The `Origin` header as sent (lossy UTF-8, cut to 200 bytes): for
    /// the log only.
    pub(crate) origin: String,
    /// The rule that refused it, in a few words.
    pub(crate) why: &'static str,
}

const MALFORMED: &str = "the Origin header is not scheme://host[:port]";
const NOT_THIS_HOST: &str = "pages from another site may not open a socket here";
const NOT_LISTED: &str = "the page's origin is not among the allowed origins";

impl OriginPolicy {
    /// The policy of `Config::allowed_origins`: the default when empty,
    /// [`OriginPolicy::Any`] when it holds `*`, else the list. An entry
    /// that is not an origin matches nothing (the binary refuses it at
    /// startup); it is logged here.
    pub(crate) fn from_allowed(allowed: &[String]) -> Self {
        if allowed.is_empty() {
            return Self::SameHostOrLoopback;
        }
        if allowed.iter().any(|entry| entry.trim() == "*") {
            return Self::Any;
        }
        let listed = allowed
            .iter()
            .filter_map(|entry| match SiteOrigin::parse(entry) {
                Ok(origin) => Some(origin),
                Err(why) => {
                    tracing::error!(%why, "an allowed origin is malformed and matches nothing");
                    None
                }
            })
            .collect();
        Self::Listed(listed)
    }

    /// Judges an upgrade request by its `Origin` and `Host` headers (for
    /// HTTP/2, the URI's authority stands in for `Host`).
    ///
    /// # Errors
    /// [`OriginRefused`] when the origin is malformed or not allowed.
    pub(crate) fn check(&self, req: &HttpRequest) -> Result<(), OriginRefused> {
        let mut values = req.headers().get_all(header::ORIGIN);
        let Some(first) = values.next() else {
            return Ok(());
        };
        let origin = match values.next() {
            Some(_) => None,
            None => first.to_str().ok(),
        };
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()));
        self.decide(origin, host).map_err(|why| {
            let mut origin = String::from_utf8_lossy(first.as_bytes()).into_owned();
            if origin.len() > LOGGED_ORIGIN_BYTES {
                let mut end = LOGGED_ORIGIN_BYTES;
                while !origin.is_char_boundary(end) {
                    end -= 1;
                }
                origin.truncate(end);
            }
            OriginRefused { origin, why }
        })
    }

    /// The rules for one `Origin` value (`None`: unreadable, or more than
    /// one header) and the request's host.
    fn decide(&self, origin: Option<&str>, host: Option<&str>) -> Result<(), &'static str> {
        match (self, origin.and_then(|text| SiteOrigin::parse(text).ok())) {
            (Self::Any, _) => Ok(()),
            (_, None) => Err(MALFORMED),
            (Self::SameHostOrLoopback, Some(origin)) => {
                if origin.loopback || host.is_some_and(|host| origin.is_host(host)) {
                    Ok(())
                } else {
                    Err(NOT_THIS_HOST)
                }
            }
            (Self::Listed(allowed), Some(origin)) if allowed.contains(&origin) => Ok(()),
            (Self::Listed(_), Some(_)) => Err(NOT_LISTED),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &[&str]) -> OriginPolicy {
        let allowed: Vec<String> = allowed.iter().map(|s| (*s).to_owned()).collect();
        OriginPolicy::from_allowed(&allowed)
    }

    fn default_allows(origin: &str, host: &str) -> bool {
        policy(&[]).decide(Some(origin), Some(host)).is_ok()
    }

    #[test]
    fn by_default_the_page_must_come_from_the_host_it_connects_to() {
        assert!(default_allows("https://app.example.com", "app.example.com"));
        assert!(default_allows("http://APP.example.com", "app.EXAMPLE.com"));
        assert!(default_allows(
            "http://app.example.com:8080",
            "app.example.com:8080"
        ));
        assert!(!default_allows("https://evil.example", "app.example.com"));
        assert!(!default_allows(
            "https://app.example.com.evil.example",
            "app.example.com"
        ));
        assert!(!default_allows("https://example.com", "app.example.com"));
        assert!(!default_allows("https://evil.example", "127.0.0.1:4000"));
    }

    #[test]
    fn by_default_a_missing_port_is_the_origin_schemes_default() {
        assert!(default_allows(
            "https://app.example.com",
            "app.example.com:443"
        ));
        assert!(default_allows(
            "https://app.example.com:443",
            "app.example.com"
        ));
        assert!(default_allows(
            "http://app.example.com",
            "app.example.com:80"
        ));
        assert!(!default_allows(
            "http://app.example.com:8080",
            "app.example.com"
        ));
        assert!(!default_allows(
            "http://app.example.com",
            "app.example.com:8080"
        ));
        assert!(!default_allows(
            "https://app.example.com",
            "app.example.com:80"
        ));
        assert!(default_allows(
            "http://[2001:db8::1]:4000",
            "[2001:db8::1]:4000"
        ));
    }

    #[test]
    fn by_default_a_loopback_page_is_accepted_on_any_port() {
        for origin in [
            "http://localhost:3000",
            "http://LocalHost",
            "https://127.0.0.1:5173",
            "http://127.0.0.2",
            "http://[::1]:8000",
        ] {
            assert!(default_allows(origin, "app.example.com"), "{origin}");
        }
        assert!(!default_allows(
            "http://localhost.evil.example",
            "app.example.com"
        ));
        assert!(policy(&[])
            .decide(Some("http://localhost:3000"), None)
            .is_ok());
    }

    #[test]
    fn a_request_without_a_host_matches_only_loopback_pages() {
        let refused = policy(&[]).decide(Some("https://app.example.com"), None);
        assert_eq!(refused, Err(NOT_THIS_HOST));
    }

    #[test]
    fn malformed_origins_are_refused_unless_any_is_allowed() {
        for origin in [
            "null",
            "",
            "app.example.com",
            "https://",
            "https://app.example.com/page",
            "https://app.example.com?x=1",
            "https://user:pw@app.example.com",
            "mailto:someone@example.com",
        ] {
            assert_eq!(
                policy(&[]).decide(Some(origin), Some("app.example.com")),
                Err(MALFORMED),
                "{origin:?}"
            );
            let listed = policy(&["https://app.example.com"]);
            assert_eq!(listed.decide(Some(origin), None), Err(MALFORMED));
            assert!(policy(&["*"]).decide(Some(origin), None).is_ok());
        }
        // Unreadable, or more than one Origin header.
        assert_eq!(policy(&[]).decide(None, Some("h")), Err(MALFORMED));
        assert!(policy(&["*"]).decide(None, None).is_ok());
    }

    #[test]
    fn a_host_header_that_is_not_an_authority_matches_nothing() {
        for host in [
            "app.example.com/x",
            "a@app.example.com",
            "",
            "app.example.com:99999",
        ] {
            assert!(!default_allows("https://app.example.com", host), "{host:?}");
        }
    }

    #[test]
    fn an_allow_list_compares_scheme_host_and_port_exactly() {
        let p = policy(&["https://app.example.com", "HTTP://Dev.Example.com:8080/"]);
        let allows = |origin: &str| p.decide(Some(origin), Some("app.example.com")).is_ok();
        assert!(allows("https://app.example.com"));
        assert!(allows("https://APP.example.com:443"));
        assert!(allows("http://dev.example.com:8080"));
        assert!(!allows("http://app.example.com"), "the scheme is compared");
        assert!(
            !allows("https://app.example.com:8443"),
            "the port is compared"
        );
        assert!(!allows("http://dev.example.com"));
        assert!(!allows("https://other.example.com"));
    }

    #[test]
    fn an_allow_list_replaces_the_default_localhost_included() {
        let p = policy(&["https://app.example.com"]);
        let same_host = p.decide(Some("https://www.example.com"), Some("www.example.com"));
        assert_eq!(same_host, Err(NOT_LISTED));
        assert_eq!(
            p.decide(Some("http://localhost:3000"), Some("app.example.com")),
            Err(NOT_LISTED)
        );
    }

    #[test]
    fn a_star_entry_accepts_any_origin() {
        assert_eq!(policy(&["https://a.example", " * "]), OriginPolicy::Any);
        assert!(policy(&["*"])
            .decide(Some("https://evil.example"), Some("app.example.com"))
            .is_ok());
    }

    #[test]
    fn allowed_entries_must_be_origins_and_bad_ones_match_nothing() {
        assert!(SiteOrigin::parse("https://app.example.com").is_ok());
        assert!(SiteOrigin::parse(" http://localhost:3000/ ").is_ok());
        for bad in [
            "app.example.com",
            "https://app.example.com/app",
            "null",
            "*.example.com",
        ] {
            let why = SiteOrigin::parse(bad).err().unwrap_or_default();
            assert!(why.contains("scheme://host[:port]"), "{bad}: {why}");
        }
        let p = policy(&["app.example.com"]);
        assert_eq!(p, OriginPolicy::Listed(Vec::new()));
        let refused = p.decide(Some("https://app.example.com"), Some("app.example.com"));
        assert_eq!(refused, Err(NOT_LISTED));
    }
}
