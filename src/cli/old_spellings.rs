//! The old spellings of the duration settings: a bare number in a fixed
//! unit (`--grace-ms 5000`, `TABHUB_GRACE_MS=5000`), kept working beside
//! the new ones with their unit (`--grace 5s`). Hidden from `--help`;
//! `docs/configuration.md` lists them. The file takes only the new keys.

use clap::{Arg, ArgMatches, Command};

/// The unit of an old spelling's number.
#[derive(Debug, Clone, Copy)]
pub(super) enum Unit {
    Millis,
    Micros,
}

/// One old spelling: its flag and variable, and the setting it stands for.
#[derive(Debug)]
pub(super) struct OldSpelling {
    /// The clap id of the old flag (`grace_ms`).
    pub(super) id: &'static str,
    /// The old flag (`grace-ms`).
    pub(super) flag: &'static str,
    /// The old variable (`TABHUB_GRACE_MS`).
    pub(super) env: &'static str,
    /// The clap id of the setting it sets (`grace`).
    pub(super) setting: &'static str,
    pub(super) unit: Unit,
}

const fn ms(
    id: &'static str,
    flag: &'static str,
    env: &'static str,
    setting: &'static str,
) -> OldSpelling {
    OldSpelling {
        id,
        flag,
        env,
        setting,
        unit: Unit::Millis,
    }
}

/// Every old spelling.
pub(super) const OLD_SPELLINGS: [OldSpelling; 9] = [
    ms(
        "client_timeout_ms",
        "client-timeout-ms",
        "TABHUB_CLIENT_TIMEOUT_MS",
        "client_timeout",
    ),
    ms("grace_ms", "grace-ms", "TABHUB_GRACE_MS", "grace"),
    ms(
        "chain_timeout_ms",
        "chain-timeout-ms",
        "TABHUB_CHAIN_TIMEOUT_MS",
        "chain_timeout",
    ),
    ms(
        "handler_timeout_ms",
        "handler-timeout-ms",
        "TABHUB_HANDLER_TIMEOUT_MS",
        "handler_timeout",
    ),
    ms(
        "slow_client_timeout_ms",
        "slow-client-timeout-ms",
        "TABHUB_SLOW_CLIENT_TIMEOUT_MS",
        "slow_client_timeout",
    ),
    ms(
        "redis_lease_ms",
        "redis-lease-ms",
        "TABHUB_REDIS_LEASE_MS",
        "redis_lease",
    ),
    OldSpelling {
        id: "commit_window_us",
        flag: "commit-window-us",
        env: "TABHUB_COMMIT_WINDOW_US",
        setting: "commit_window",
        unit: Unit::Micros,
    },
    ms(
        "app_timeout_ms",
        "app-timeout-ms",
        "TABHUB_APP_TIMEOUT_MS",
        "app_timeout",
    ),
    ms(
        "app_task_idle_ms",
        "app-task-idle-ms",
        "TABHUB_APP_TASK_IDLE_MS",
        "app_task_idle",
    ),
];

/// `command` with the old spellings as hidden flags.
pub(super) fn add_to(command: Command) -> Command {
    OLD_SPELLINGS.iter().fold(command, |command, old| {
        command.arg(
            Arg::new(old.id)
                .long(old.flag)
                .env(old.env)
                .hide(true)
                .value_name("NUMBER")
                .value_parser(clap::value_parser!(u64)),
        )
    })
}

impl OldSpelling {
    /// The duration given with this spelling, as the new spelling writes
    /// it (`5000ms`), if it was given.
    pub(super) fn given(&self, matches: &ArgMatches) -> Option<String> {
        let n = matches.get_one::<u64>(self.id)?;
        Some(match self.unit {
            Unit::Millis => format!("{n}ms"),
            Unit::Micros => format!("{n}us"),
        })
    }

    /// The old flag for a file key (`grace-ms`), if it is one.
    pub(super) fn of_key(key: &str) -> Option<&'static OldSpelling> {
        OLD_SPELLINGS.iter().find(|old| old.flag == key)
    }
}
