//! The settings' value types and their parsers. Each parser is written
//! once and used twice: by clap for a flag or a variable, and by serde for
//! a key of the configuration file (and the layers merged over it), so a
//! value is checked the same way wherever it comes from.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::proxy::ExtraRoots;

/// How the binary writes its logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line (tracing-subscriber's JSON format).
    Json,
}

/// Which store the service uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// redb on disk (`--data DIR`): survives restarts and crashes.
    Redb,
    /// Process memory: sessions survive their grace stop, not a restart.
    Memory,
}

/// What a durable store promises before a delta is visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// fsync before any tab sees a delta or an event is acknowledged.
    Strict,
}

/// A `--session-ttl`: `None` keeps sessions forever. In the file and in
/// `--print-config`: a duration string, or `"0"` for forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttl(pub Option<Duration>);

impl Serialize for Ttl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(d) => s.collect_str(&humantime::format_duration(d)),
            None => s.serialize_str("0"),
        }
    }
}

impl<'de> Deserialize<'de> for Ttl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        de::checked(d, parse_ttl)
    }
}

/// Parses a TTL: `0` (forever) or a duration with units (humantime's
/// syntax: `30d`, `1h 30m`, `250ms`).
pub(super) fn parse_ttl(text: &str) -> Result<Ttl, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Ttl(None));
    }
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() => Ok(Ttl(None)),
        Ok(d) => Ok(Ttl(Some(d))),
        Err(e) => Err(format!(
            "{e}: give a duration such as 30d, 12h, 90s or 500ms, or 0 to keep sessions forever"
        )),
    }
}

/// A duration with its unit (`10s`, `500ms`, `2m`, `1h 30m`).
pub(super) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    humantime::parse_duration(text).map_err(|e| {
        format!(
            "{text:?} is not a duration ({e}): give one with its unit, such as 10s, 500ms or 2m"
        )
    })
}

/// A Redis lease: a duration of at least 100 ms.
pub(super) fn parse_lease(text: &str) -> Result<Duration, String> {
    at_least(parse_duration(text)?, Duration::from_millis(100))
}

/// A backend call's deadline: a duration of at least 1 ms.
pub(super) fn parse_app_timeout(text: &str) -> Result<Duration, String> {
    at_least(parse_duration(text)?, Duration::from_millis(1))
}

fn at_least(d: Duration, least: Duration) -> Result<Duration, String> {
    if d < least {
        return Err(format!(
            "{} is too short: at least {}",
            humantime::format_duration(d),
            humantime::format_duration(least)
        ));
    }
    Ok(d)
}

/// A `--trusted-proxy`: a network (`10.0.0.0/8`) or one address.
pub(super) fn parse_trusted_proxy(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{text:?} is not a network (10.0.0.0/8) nor an address"))
}

/// Checks an `--allowed-origin`: `*`, or `scheme://host[:port]`.
pub(super) fn parse_allowed_origin(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text != "*" {
        crate::service::SiteOrigin::parse(text)?;
    }
    Ok(text.to_owned())
}

/// How deep a client's payload may nest: 1 to 120.
pub(super) fn parse_json_depth(text: &str) -> Result<u16, String> {
    let depth: u16 = text
        .trim()
        .parse()
        .map_err(|e| format!("{e}: give a depth from 1 to 120"))?;
    in_range(depth, 1, 120)
}

/// Backend calls in flight at once: 1 to 65,536.
pub(super) fn parse_concurrency(text: &str) -> Result<u64, String> {
    let n: u64 = text
        .trim()
        .parse()
        .map_err(|e| format!("{e}: give a count from 1 to 65536"))?;
    in_range(n, 1, 65_536)
}

fn in_range<T: PartialOrd + std::fmt::Display>(n: T, least: T, most: T) -> Result<T, String> {
    if n < least || n > most {
        return Err(format!("{n} is out of range: {least} to {most}"));
    }
    Ok(n)
}

/// An `--app-ca-file`: the file's path (what the file and
/// `--print-config` show) and the certificates read from it at start-up.
#[derive(Debug, Clone)]
pub struct CaFile {
    /// The PEM file, as given.
    pub path: PathBuf,
    /// Its certificates.
    pub roots: ExtraRoots,
}

/// Reads an `--app-ca-file`'s certificates.
pub(super) fn parse_ca_file(path: &str) -> Result<CaFile, crate::proxy::CaFileError> {
    let path = PathBuf::from(path);
    let roots = ExtraRoots::from_pem_file(&path)?;
    Ok(CaFile { path, roots })
}

impl Serialize for CaFile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.path.display())
    }
}

impl<'de> Deserialize<'de> for CaFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_ca_file(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// serde's side of the parsers above: a value given as text (or, for the
/// numbers, as a TOML integer) is checked by the same function as a flag.
/// An `--otlp-endpoint`: an http:// or https:// URL with a host, no
/// query or fragment, without its trailing `/`.
pub(super) fn parse_otlp_endpoint(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text.trim())
        .map_err(|e| format!("{e}: give the collector's URL, such as http://127.0.0.1:4318"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("the OTLP endpoint must be http:// or https:// with a host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("the OTLP endpoint takes no query or fragment: /v1/traces is appended".into());
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

pub(super) mod de {
    use super::*;

    /// Text, or a number written as text, checked by `parse`.
    pub(super) fn checked<'de, D, T, E>(
        d: D,
        parse: fn(&str) -> Result<T, E>,
    ) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        E: std::fmt::Display,
    {
        parse(&d.deserialize_any(TextOrNumber)?).map_err(serde::de::Error::custom)
    }

    /// Reads a string, or an integer as its digits.
    struct TextOrNumber;

    impl serde::de::Visitor<'_> for TextOrNumber {
        type Value = String;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string or a number")
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<String, E> {
            Ok(text.to_owned())
        }

        fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<String, E> {
            Ok(n.to_string())
        }

        fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<String, E> {
            Ok(n.to_string())
        }
    }

    pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        checked(d, parse_duration)
    }

    fn checked_list<'de, D, T>(
        d: D,
        parse: fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, D::Error>
    where
        D: Deserializer<'de>,
    {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|text| parse(text).map_err(serde::de::Error::custom))
            .collect()
    }

    pub(crate) fn lease<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        checked(d, parse_lease)
    }

    pub(crate) fn app_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        checked(d, parse_app_timeout)
    }

    pub(crate) fn json_depth<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
        checked(d, parse_json_depth)
    }

    pub(crate) fn concurrency<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        checked(d, parse_concurrency)
    }

    pub(crate) fn app_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        checked(d, super::super::backend::parse_app_url).map(Some)
    }

    pub(crate) fn otlp_endpoint<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<String>, D::Error> {
        checked(d, parse_otlp_endpoint).map(Some)
    }

    pub(crate) fn api_prefix<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        checked(d, super::super::backend::parse_prefix)
    }

    pub(crate) fn origins<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        checked_list(d, parse_allowed_origin)
    }

    pub(crate) fn proxies<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
        checked_list(d, parse_trusted_proxy)
    }
}

/// serde's writers for the values serde cannot write alone.
pub(super) mod ser {
    use super::*;

    pub(crate) fn proxies<S: Serializer>(list: &[ipnet::IpNet], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(list.iter().map(ToString::to_string))
    }

    /// A duration in humantime's units (`10s`, `2m`, `200us`), exact.
    pub(crate) fn duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(*d))
    }
}
