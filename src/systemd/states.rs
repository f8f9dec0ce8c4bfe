//! The words systemd reports a unit in, beside its `ActiveState`: `LoadState`, `UnitFileState`,
//! and a service's `SubState` and `Result`. Each is parsed once, where [`super::Core`] reads
//! it, and compared as a value from then on; its `Display` and JSON form are systemd's own
//! spelling, so what a report prints is what `systemctl show` prints.
//!
//! The lists are systemd's tables (`unit_load_state_table`, `service_state_table` in
//! src/basic/unit-def.c, `service_result_table` in src/core/service.c,
//! `unit_file_state_table` in src/shared/install.c; systemd's main branch, December 2026).
//!
//! Unlike `ActiveState`, whose every word decides what sessctl does (so an unknown one is an
//! error there), these lists grow with most systemd releases (`mounting`, `refresh-extensions`
//! and `reload-post` are recent) and sessctl only shows most of their words. So an unknown word
//! never fails a reading: it is kept in `Other`, exactly as systemd spelled it, and printed and
//! serialized as such; an old sessctl on a new systemd loses nothing. A check that names a word
//! (`!= UnitFileState::Enabled`) takes an unknown one for "not that word", which it is.
//!
//! May import: nothing of sessctl.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One closed-but-growing set of systemd's words: the enum, with `Other` for a word not listed,
/// its spelling (`as_str`, `Display`, `Serialize`) and its parsing (`From<String>`, `FromStr`,
/// `Deserialize`),
/// all from the one list of `Variant = "word"` pairs.
macro_rules! words {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $word:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
            /// A word this sessctl does not know (a newer systemd's), as systemd spelled it;
            /// never one of the words above, which parse to their own variant.
            Other(String),
        }

        impl $name {
            /// systemd's spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $word,)*
                    $name::Other(word) => word,
                }
            }
        }

        /// Never fails: a word not listed is kept in `Other`.
        impl From<String> for $name {
            fn from(word: String) -> $name {
                match word.as_str() {
                    $($word => $name::$variant,)*
                    _ => $name::Other(word),
                }
            }
        }

        impl FromStr for $name {
            type Err = Infallible;

            fn from_str(word: &str) -> Result<$name, Infallible> {
                Ok($name::from(word.to_string()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                String::deserialize(deserializer).map($name::from)
            }
        }
    };
}

words! {
    /// A unit's `LoadState`: whether systemd found and parsed its file.
    LoadState {
        Stub = "stub",
        Loaded = "loaded",
        NotFound = "not-found",
        BadSetting = "bad-setting",
        Error = "error",
        Merged = "merged",
        Masked = "masked",
    }
}

words! {
    /// A unit's `UnitFileState`: whether its file is enabled, and how.
    UnitFileState {
        Enabled = "enabled",
        EnabledRuntime = "enabled-runtime",
        Linked = "linked",
        LinkedRuntime = "linked-runtime",
        Alias = "alias",
        Masked = "masked",
        MaskedRuntime = "masked-runtime",
        Static = "static",
        Disabled = "disabled",
        Indirect = "indirect",
        Generated = "generated",
        Transient = "transient",
        Bad = "bad",
        /// No state: what systemd says of a unit it has no file for.
        Unset = "",
    }
}

words! {
    /// A service unit's `SubState`: where in its start, run or stop it is.
    SubState {
        Dead = "dead",
        Condition = "condition",
        StartPre = "start-pre",
        Start = "start",
        StartPost = "start-post",
        Running = "running",
        Exited = "exited",
        RefreshExtensions = "refresh-extensions",
        RefreshCredentials = "refresh-credentials",
        Reload = "reload",
        ReloadSignal = "reload-signal",
        ReloadNotify = "reload-notify",
        ReloadPost = "reload-post",
        Stop = "stop",
        StopWatchdog = "stop-watchdog",
        StopSigterm = "stop-sigterm",
        StopSigkill = "stop-sigkill",
        StopPost = "stop-post",
        FinalWatchdog = "final-watchdog",
        FinalSigterm = "final-sigterm",
        FinalSigkill = "final-sigkill",
        Failed = "failed",
        DeadBeforeAutoRestart = "dead-before-auto-restart",
        FailedBeforeAutoRestart = "failed-before-auto-restart",
        DeadResourcesPinned = "dead-resources-pinned",
        AutoRestart = "auto-restart",
        AutoRestartQueued = "auto-restart-queued",
        Cleaning = "cleaning",
        Mounting = "mounting",
    }
}

words! {
    /// A service's `Result` (and an `ExecStopPost=` command's `$SERVICE_RESULT`): how its
    /// last run ended.
    ServiceResult {
        Success = "success",
        Resources = "resources",
        Protocol = "protocol",
        Timeout = "timeout",
        ExitCode = "exit-code",
        Signal = "signal",
        CoreDump = "core-dump",
        Watchdog = "watchdog",
        StartLimitHit = "start-limit-hit",
        OomKill = "oom-kill",
        ExecCondition = "exec-condition",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parsed, printed and serialized, `word` comes back as it went in.
    fn round_trip<T>(word: &str) -> T
    where
        T: FromStr<Err = Infallible> + fmt::Display + Serialize + for<'de> Deserialize<'de>,
    {
        let Ok(parsed) = word.parse::<T>();
        assert_eq!(parsed.to_string(), word);
        let json = serde_json::to_string(&parsed).expect("serialize");
        assert_eq!(json, serde_json::to_string(word).expect("serialize"));
        let back: T = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back.to_string(), word);
        parsed
    }

    #[test]
    fn known_words_parse_to_their_variant_and_print_as_systemd_spells_them() {
        assert_eq!(round_trip::<LoadState>("not-found"), LoadState::NotFound);
        assert_eq!(round_trip::<LoadState>("loaded"), LoadState::Loaded);
        assert_eq!(
            round_trip::<UnitFileState>("enabled-runtime"),
            UnitFileState::EnabledRuntime
        );
        assert_eq!(round_trip::<UnitFileState>(""), UnitFileState::Unset);
        assert_eq!(
            round_trip::<SubState>("auto-restart-queued"),
            SubState::AutoRestartQueued
        );
        assert_eq!(
            round_trip::<SubState>("stop-sigterm"),
            SubState::StopSigterm
        );
        assert_eq!(
            round_trip::<ServiceResult>("start-limit-hit"),
            ServiceResult::StartLimitHit
        );
        assert_eq!(
            round_trip::<ServiceResult>("oom-kill"),
            ServiceResult::OomKill
        );
    }

    #[test]
    fn an_unknown_word_is_kept_as_systemd_spelled_it() {
        assert_eq!(
            round_trip::<SubState>("thawing-slowly"),
            SubState::Other("thawing-slowly".into())
        );
        assert_eq!(
            round_trip::<ServiceResult>("new-reason"),
            ServiceResult::Other("new-reason".into())
        );
        assert_ne!(
            round_trip::<UnitFileState>("enabled-somewhere"),
            UnitFileState::Enabled
        );
        assert_eq!(
            round_trip::<LoadState>("Loaded"),
            LoadState::Other("Loaded".into())
        );
    }
}
