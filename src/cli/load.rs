//! [`Cli::load`]: the settings from four layers, each over the one
//! before: the defaults, the configuration file (`--config`), the
//! environment, the flags. figment merges them: every setting is
//! serialized from what clap parsed, and a layer holds only the settings
//! that were given there (clap's value source tells which), so a flag
//! left out does not hide the file's value.

use std::ffi::OsString;
use std::path::Path;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};
use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Value};
use figment::Figment;

use super::old_spellings::{self, OldSpelling, OLD_SPELLINGS};
use super::Cli;

/// Why the settings could not be loaded. Each message names the flag or
/// the file's key and says what was expected.
#[derive(Debug)]
pub enum LoadError {
    /// clap refused a flag or variable (or `--help` / `--version` was
    /// asked: [`LoadError::exit`] prints it and exits 0).
    Flags(clap::Error),
    /// The configuration file: unreadable, not TOML, or a key no setting
    /// has.
    File(String),
    /// A value refused once the layers were merged (from the file, or an
    /// old spelling), or both spellings of a duration given the same way.
    Value(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Flags(e) => write!(f, "{e}"),
            LoadError::File(e) | LoadError::Value(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for LoadError {}

impl From<clap::Error> for LoadError {
    fn from(e: clap::Error) -> Self {
        LoadError::Flags(e)
    }
}

impl LoadError {
    /// Prints the error (or the help or version asked for) and exits:
    /// 0 for `--help` / `--version`, 2 otherwise (as clap does).
    pub fn exit(&self) -> ! {
        match self {
            LoadError::Flags(e) => e.exit(),
            other => {
                eprintln!("error: {other}");
                std::process::exit(2)
            }
        }
    }
}

/// How strongly a setting was given: flags over variables over the rest.
fn rank(matches: &ArgMatches, id: &str) -> u8 {
    match matches.value_source(id) {
        Some(ValueSource::CommandLine) => 2,
        Some(ValueSource::EnvVariable) => 1,
        _ => 0,
    }
}

/// The clap id of a file key (`max-frame-bytes` -> `max_frame_bytes`).
fn id_of(key: &str) -> String {
    key.replace('-', "_")
}

/// The clap command: [`Cli`]'s flags and the old spellings.
fn command() -> clap::Command {
    old_spellings::add_to(Cli::command())
}

/// Every setting of `cli` as file keys and values.
fn settings(cli: &Cli) -> Result<Dict, LoadError> {
    let mut dict = Dict::new();
    for part in [Value::serialize(cli), Value::serialize(&cli.backend)] {
        let part = part.map_err(|e| LoadError::Value(e.to_string()))?;
        dict.extend(part.into_dict().unwrap_or_default());
    }
    Ok(dict)
}

/// The file keys of every setting (`config` and `print-config` are not
/// settings).
fn known_keys() -> Vec<String> {
    Cli::command()
        .get_arguments()
        .map(|arg| arg.get_id().as_str().replace('_', "-"))
        .filter(|key| !matches!(key.as_str(), "config" | "print-config" | "help" | "version"))
        .collect()
}

/// Refuses a file that does not read as TOML or has a key no setting has.
fn check_file(path: &Path) -> Result<(), LoadError> {
    let data = figment::Provider::data(&Toml::file_exact(path))
        .map_err(|e| LoadError::File(format!("the config file {}: {e}", path.display())))?;
    let known = known_keys();
    for key in data.values().flat_map(|dict| dict.keys()) {
        if known.contains(key) {
            continue;
        }
        let hint = match OldSpelling::of_key(key) {
            Some(old) => format!(
                ": the file takes `{}` with its unit, such as \"5s\" or \"500ms\"",
                old.setting.replace('_', "-")
            ),
            None if known.contains(&key.replace('_', "-")) => {
                format!(
                    ": keys are written with dashes, `{}`",
                    key.replace('_', "-")
                )
            }
            None => ": the keys are the flags' long names without the dashes \
                      (docs/configuration.md)"
                .to_owned(),
        };
        return Err(LoadError::File(format!(
            "the config file {}: unknown key `{key}`{hint}",
            path.display()
        )));
    }
    Ok(())
}

/// A merged value refused: the key, why, and where it came from.
fn refused(e: figment::Error) -> LoadError {
    let lines: Vec<String> = e
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let from = match e.metadata.as_ref().and_then(|m| m.source.as_ref()) {
                Some(figment::Source::File(path)) => format!("in {}", path.display()),
                _ => "from the flags or the environment".to_owned(),
            };
            format!("`{key}` ({from}): {}", e.kind)
        })
        .collect();
    LoadError::Value(format!("invalid setting {}", lines.join("; ")))
}

impl Cli {
    /// The settings from the process's arguments, environment and
    /// `--config` file.
    ///
    /// # Errors
    /// [`LoadError`] naming the flag, variable or key refused.
    pub fn load() -> Result<Cli, LoadError> {
        Self::load_from(std::env::args_os())
    }

    /// The settings from these arguments (the first is the program's
    /// name), the environment and the `--config` file they name.
    ///
    /// # Errors
    /// [`LoadError`] naming the flag, variable or key refused.
    pub fn load_from<I, T>(args: I) -> Result<Cli, LoadError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let matches = command().try_get_matches_from(args)?;
        let parsed = Cli::from_arg_matches(&matches)?;
        let all = settings(&parsed)?;
        let mut given: Dict = all
            .iter()
            .filter(|(key, _)| rank(&matches, &id_of(key)) > 0)
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        for old in &OLD_SPELLINGS {
            let Some(duration) = old.given(&matches) else {
                continue;
            };
            let (old_rank, new_rank) = (rank(&matches, old.id), rank(&matches, old.setting));
            if old_rank == new_rank {
                return Err(LoadError::Value(format!(
                    "both --{} and --{} (or {} and its new spelling) were given: give one",
                    old.setting.replace('_', "-"),
                    old.flag,
                    old.env
                )));
            }
            if old_rank > new_rank {
                given.insert(old.setting.replace('_', "-"), Value::from(duration));
            }
        }
        let mut figment = Figment::from(Serialized::defaults(all));
        if let Some(path) = &parsed.config {
            check_file(path)?;
            figment = figment.merge(Toml::file_exact(path));
        }
        let figment = figment.merge(Serialized::defaults(given));
        let mut cli: Cli = figment.extract().map_err(refused)?;
        cli.backend = figment.extract().map_err(refused)?;
        cli.config = parsed.config;
        cli.print_config = parsed.print_config;
        Ok(cli)
    }

    /// The effective settings as TOML (what `--print-config` prints):
    /// every setting with a value, durations with their unit, the API
    /// token, the backend token and a Redis URL's password redacted.
    ///
    /// # Errors
    /// [`LoadError::Value`] when a number is past TOML's range (2^63 - 1).
    pub fn effective_toml(&self) -> Result<String, LoadError> {
        const REDACTED: &str = "(redacted)";
        let mut shown = self.clone();
        for secret in [&mut shown.backend.api_token, &mut shown.backend.app_token] {
            if secret.is_some() {
                *secret = Some(REDACTED.to_owned());
            }
        }
        if let Some(redis) = &mut shown.redis_url {
            *redis = match url::Url::parse(redis) {
                Ok(mut url) if url.password().is_some() => {
                    let _ = url.set_password(Some(REDACTED));
                    url.to_string()
                }
                Ok(url) => url.to_string(),
                Err(_) => REDACTED.to_owned(),
            };
        }
        let mut text = toml::to_string(&shown).map_err(|e| LoadError::Value(e.to_string()))?;
        text += &toml::to_string(&shown.backend).map_err(|e| LoadError::Value(e.to_string()))?;
        Ok(text)
    }
}

/// The settings with no flag, variable or file: the flags' defaults.
pub(super) fn defaults() -> Cli {
    let command = Cli::command().mut_args(|arg| arg.env(None::<&'static str>));
    let matches = command
        .try_get_matches_from(["tabhub"])
        .unwrap_or_else(|e| panic!("the defaults are valid flags: {e}"));
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| panic!("the defaults parse: {e}"))
}
