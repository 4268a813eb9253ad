//! The configuration file and the new spellings, as `Cli::load_from`
//! merges them: the file over the defaults, flags over the file, durations
//! with their unit, old spellings still read, and refusals naming the key.

use super::*;

/// A file with `text`, removed when dropped.
struct File(PathBuf);

impl File {
    fn new(name: &str, text: &str) -> File {
        let path = std::env::temp_dir().join(format!("tabhub-{}-{name}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        File(path)
    }

    fn arg(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }
}

impl Drop for File {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn load(args: &[&str]) -> Result<Cli, LoadError> {
    Cli::load_from(std::iter::once("tabhub").chain(args.iter().copied()))
}

fn refusal(args: &[&str]) -> String {
    match load(args) {
        Ok(_) => panic!("{args:?} accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_file_sets_settings_and_flags_win_over_it() {
    let file = File::new(
        "sets",
        r#"
grace = "5m"
max-tabs-per-session = 3
allowed-origins = ["https://app.example.com"]
app-timeout = "750ms"
no-demo = true
"#,
    );
    let cli = load(&["--config", &file.arg()]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cli.grace, Duration::from_secs(300));
    assert_eq!(cli.max_tabs_per_session, 3);
    assert_eq!(cli.allowed_origins, ["https://app.example.com"]);
    assert_eq!(cli.backend.app_timeout, Duration::from_millis(750));
    assert!(cli.no_demo);
    // What the file leaves out keeps its default.
    assert_eq!(cli.chain_timeout, Duration::from_secs(10));

    let cli = load(&[
        "--config",
        &file.arg(),
        "--grace",
        "7s",
        "--max-tabs-per-session",
        "9",
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cli.grace, Duration::from_secs(7));
    assert_eq!(cli.max_tabs_per_session, 9);
    assert_eq!(cli.backend.app_timeout, Duration::from_millis(750));
}

#[test]
fn durations_take_their_unit_and_the_old_spellings_still_count_ms() {
    let cli =
        load(&["--grace", "1m 30s", "--commit-window", "1ms"]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cli.grace, Duration::from_secs(90));
    assert_eq!(cli.config().commit_window, Duration::from_millis(1));
    let old = load(&["--grace-ms", "1500", "--commit-window-us", "300"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(old.grace, Duration::from_millis(1500));
    assert_eq!(old.commit_window, Duration::from_micros(300));
    // An old flag wins over the file's new key, as any flag does.
    let file = File::new("old-over-file", "grace = \"5m\"\n");
    let cli =
        load(&["--config", &file.arg(), "--grace-ms", "40"]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cli.grace, Duration::from_millis(40));
    // A bare number is not a duration.
    assert!(refusal(&["--grace", "10"]).contains("10s"));
    let both = refusal(&["--grace", "1s", "--grace-ms", "5"]);
    assert!(
        both.contains("--grace") && both.contains("--grace-ms"),
        "{both}"
    );
}

#[test]
fn an_unknown_key_is_refused_naming_it_and_the_new_spelling_of_an_old_one() {
    let file = File::new("unknown", "grace = \"1s\"\nmax-tabs = 3\n");
    let e = refusal(&["--config", &file.arg()]);
    assert!(e.contains("unknown key `max-tabs`"), "{e}");
    let file = File::new("old-key", "grace-ms = 1000\n");
    let e = refusal(&["--config", &file.arg()]);
    assert!(e.contains("`grace-ms`") && e.contains("`grace`"), "{e}");
    let file = File::new("underscore", "max_tabs_per_session = 3\n");
    let e = refusal(&["--config", &file.arg()]);
    assert!(e.contains("`max-tabs-per-session`"), "{e}");
}

#[test]
fn a_bad_value_in_the_file_is_refused_naming_the_key_and_the_file() {
    let file = File::new("bad-duration", "client-timeout = \"soon\"\n");
    let e = refusal(&["--config", &file.arg()]);
    assert!(
        e.contains("client-timeout") && e.contains("bad-duration"),
        "{e}"
    );
    let file = File::new("bad-lease", "redis-lease = \"5ms\"\n");
    let e = refusal(&["--config", &file.arg()]);
    assert!(
        e.contains("redis-lease") && e.contains("at least 100ms"),
        "{e}"
    );
    let file = File::new("bad-origin", "allowed-origins = [\"app.example.com\"]\n");
    let e = refusal(&["--config", &file.arg()]);
    assert!(
        e.contains("allowed-origins") && e.contains("scheme://host[:port]"),
        "{e}"
    );
    let file = File::new("bad-depth", "max-json-depth = 500\n");
    assert!(refusal(&["--config", &file.arg()]).contains("max-json-depth"));
    let file = File::new("not-toml", "grace = \n");
    assert!(refusal(&["--config", &file.arg()]).contains("not-toml"));
    let missing = std::env::temp_dir().join("tabhub-no-such-config.toml");
    let e = refusal(&["--config", &missing.to_string_lossy()]);
    assert!(e.contains("tabhub-no-such-config.toml"), "{e}");
}

#[test]
fn the_effective_toml_has_durations_with_units_and_no_secret() {
    let cli = load(&[
        "--grace-ms",
        "1500",
        "--api-token",
        "s3cret-api",
        "--app-url",
        "http://127.0.0.1:8000/app",
        "--app-token",
        "s3cret-app",
        "--redis-url",
        "redis://user:s3cret-redis@127.0.0.1:6379/0",
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    let text = cli.effective_toml().unwrap_or_else(|e| panic!("{e}"));
    assert!(text.contains("grace = \"1s 500ms\""), "{text}");
    assert!(text.contains("client-timeout = \"1m\""), "{text}");
    assert!(text.contains("commit-window = \"200us\""), "{text}");
    assert!(text.contains("session-ttl = \"30days\""), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
    assert!(text.contains("api-token = \"(redacted)\""), "{text}");
    // What it prints reads back as the same settings.
    let file = File::new("printed", &text.replace("\"(redacted)\"", "\"x\""));
    let again = load(&["--config", &file.arg()]).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(again.config(), cli.config());
    assert_eq!(again.backend.app_url, cli.backend.app_url);
}

#[test]
fn the_otlp_endpoint_is_a_flag_a_key_and_printed_and_a_bad_one_is_refused() {
    assert_eq!(
        load(&[]).unwrap_or_else(|e| panic!("{e}")).otlp_endpoint,
        None
    );
    let file = File::new("otlp", "otlp-endpoint = \"http://collector:4318/\"\n");
    let cli = load(&["--config", &file.arg()]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cli.otlp_endpoint.as_deref(), Some("http://collector:4318"));
    let text = cli.effective_toml().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        text.contains("otlp-endpoint = \"http://collector:4318\""),
        "{text}"
    );
    let cli = load(&[
        "--config",
        &file.arg(),
        "--otlp-endpoint",
        "https://otel.example.com",
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        cli.otlp_endpoint.as_deref(),
        Some("https://otel.example.com")
    );
    let flag = refusal(&["--otlp-endpoint", "collector:4318"]);
    assert!(flag.contains("http:// or https://"), "{flag}");
    let bad = File::new("otlp-bad", "otlp-endpoint = \"not a url\"\n");
    let key = refusal(&["--config", &bad.arg()]);
    assert!(key.contains("otlp-endpoint"), "{key}");
}
