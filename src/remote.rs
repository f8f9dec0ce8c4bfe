//! Other hosts, reached with the user's own `ssh`: the only module that runs it. A host is a
//! destination as ssh takes it ([`Dest`]); sessctl sets only what it must and leaves users,
//! ports, keys, jumps and known hosts to the user's ssh configuration.
//!
//! May import: base modules and `session` (an adapter of its own layer, for a pty).

use std::fmt;

use anyhow::Result;

use crate::error::{quoted, usage};

/// Where ssh connects: `[user@]host[:port]`, or `[user@][v6addr]:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dest {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl Dest {
    /// Parses a destination as written on the command line or in hosts.toml. Refused: empty
    /// parts, a port that is not 1-65535, whitespace, control characters, and a leading `-`,
    /// which ssh would read as an option.
    pub fn parse(text: &str) -> Result<Dest> {
        let bad = |why: &str| {
            usage(format!(
                "invalid host {}: {why}; write [user@]host[:port], e.g. alice@build.lan:2222",
                quoted(text)
            ))
        };
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("it holds whitespace or a control character"));
        }
        let (user, rest) = match text.rsplit_once('@') {
            Some((user, rest)) => (Some(user), rest),
            None => (None, text),
        };
        let (host, port) = split_port(rest).ok_or_else(|| bad("its port is not 1-65535"))?;
        for part in user.into_iter().chain([host]) {
            if part.is_empty() {
                return Err(bad("a part is empty"));
            }
            if part.starts_with('-') {
                return Err(bad("a part starts with '-'"));
            }
        }
        Ok(Dest {
            user: user.map(str::to_string),
            host: host.to_string(),
            port,
        })
    }

    /// ssh's arguments for it: `[-p PORT] -- [user@]host`, the `--` so no part can be an option.
    pub fn ssh_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(port) = self.port {
            args.extend(["-p".to_string(), port.to_string()]);
        }
        args.push("--".to_string());
        args.push(match &self.user {
            Some(user) => format!("{user}@{}", self.host),
            None => self.host.clone(),
        });
        args
    }
}

/// `host[:port]` or `[v6]:port` into the host and the port; `None` for a bad port.
fn split_port(text: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = match text.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed.split_once(']')?;
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':')?)),
            }
        }
        // More than one ':' is a bare IPv6 address, which has no port.
        None => match text.split_once(':') {
            Some((host, port)) if !port.contains(':') => (host, Some(port)),
            _ => (text, None),
        },
    };
    match port {
        None => Some((host, None)),
        Some(port) => match port.parse::<u16>() {
            Ok(0) | Err(_) => None,
            Ok(port) => Some((host, Some(port))),
        },
    }
}

impl fmt::Display for Dest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        match (self.host.contains(':'), self.port) {
            (true, Some(port)) => write!(f, "[{}]:{port}", self.host),
            (false, Some(port)) => write!(f, "{}:{port}", self.host),
            (_, None) => f.write_str(&self.host),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("box", None, "box", None)]
    #[case("alice@box", Some("alice"), "box", None)]
    #[case("alice@box.lan:2222", Some("alice"), "box.lan", Some(2222))]
    #[case("10.25.1.2:22", None, "10.25.1.2", Some(22))]
    #[case("[fe80::1]:2222", None, "fe80::1", Some(2222))]
    #[case("bob@[::1]", Some("bob"), "::1", None)]
    #[case("::1", None, "::1", None)]
    #[case("a@b@box", Some("a@b"), "box", None)]
    fn destinations_parse_and_print_as_written(
        #[case] text: &str,
        #[case] user: Option<&str>,
        #[case] host: &str,
        #[case] port: Option<u16>,
    ) {
        let dest = Dest::parse(text).expect(text);
        assert_eq!(dest.user.as_deref(), user);
        assert_eq!(dest.host, host);
        assert_eq!(dest.port, port);
        let shown = dest.to_string();
        assert_eq!(Dest::parse(&shown).expect(&shown), dest);
    }

    #[rstest]
    #[case("", "a part is empty")]
    #[case("alice@", "a part is empty")]
    #[case("@box", "a part is empty")]
    #[case("-oProxyCommand=x", "a part starts with '-'")]
    #[case("-l@box", "a part starts with '-'")]
    #[case("box:0", "its port is not 1-65535")]
    #[case("box:99999", "its port is not 1-65535")]
    #[case("box:", "its port is not 1-65535")]
    #[case("[::1]x", "its port is not 1-65535")]
    #[case("bo x", "it holds whitespace or a control character")]
    #[case("box\n", "it holds whitespace or a control character")]
    fn bad_destinations_are_refused_with_the_form(#[case] text: &str, #[case] why: &str) {
        let err = Dest::parse(text).expect_err(text).to_string();
        assert_eq!(
            err,
            format!(
                "invalid host {}: {why}; write [user@]host[:port], e.g. alice@build.lan:2222",
                quoted(text)
            )
        );
    }

    #[test]
    fn ssh_gets_the_port_then_the_destination_after_a_double_dash() {
        let dest = Dest::parse("alice@box:2222").expect("dest");
        assert_eq!(dest.ssh_args(), ["-p", "2222", "--", "alice@box"]);
        assert_eq!(Dest::parse("box").expect("dest").ssh_args(), ["--", "box"]);
    }
}
