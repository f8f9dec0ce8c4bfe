//! `--env` values kept off the dashboard unless asked for (`?reveal=env`): they are often API
//! keys, and a phone's screen is seen by others. They reach the dashboard inside free text, as
//! `--env NAME=VALUE` words in doctor's fixes and status messages (quoted for a shell) and as
//! `Environment=NAME=VALUE` lines in doctor's evidence of an edited unit. The CLI, in the
//! user's own terminal, shows them as they are.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::api::ApiError;

/// What a masked value shows.
const MASK: &str = "••••";
/// What begins an environment assignment in sessctl's texts.
const MARKERS: [&str; 2] = ["--env ", "Environment="];

/// The query of a request that may show `--env` values: `?reveal=env`.
#[derive(Debug, Default, Deserialize)]
pub struct Reveal {
    reveal: Option<String>,
}

impl Reveal {
    /// `value` as JSON, with every `--env` value masked unless this request asked for them.
    pub fn apply<T: Serialize>(&self, value: &T) -> Result<Value, ApiError> {
        let value = serde_json::to_value(value)
            .map_err(|err| ApiError::internal(format!("writing JSON: {err}")))?;
        Ok(match self.reveal.as_deref() {
            Some("env") => value,
            _ => masked(value),
        })
    }
}

/// `value` with every string in it masked by [`mask`].
fn masked(value: Value) -> Value {
    match value {
        Value::String(text) => Value::String(mask(&text)),
        Value::Array(items) => Value::Array(items.into_iter().map(masked).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, masked(v))).collect()),
        other => other,
    }
}

/// `text` with the value of every `--env NAME=VALUE` word (bare or quoted, as
/// `Product::enable_command` writes it) and every `Environment=NAME=VALUE` of a unit shown as
/// [`MASK`].
fn mask(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((at, marker)) = MARKERS
        .iter()
        .filter_map(|m| rest.find(m).map(|at| (at, m.len())))
        .min()
    {
        out.push_str(&rest[..at + marker]);
        rest = &rest[at + marker..];
        let quotes = rest.len() - rest.trim_start_matches(['\'', '"', '\\']).len();
        let word = &rest[quotes..];
        let Some(eq) = word
            .find('=')
            .filter(|&eq| !word[..eq].contains(char::is_whitespace))
        else {
            continue;
        };
        let value = &word[eq + 1..];
        let end = match &rest[..quotes] {
            "'" => single_quoted_end(value),
            "" => value.find(char::is_whitespace).unwrap_or(value.len()),
            _ => value.find(['"', '\\']).unwrap_or(value.len()),
        };
        out.push_str(&rest[..quotes + eq + 1]);
        out.push_str(MASK);
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

/// Where a single-quoted shell word that `value` continues ends: at its closing quote, past
/// every `'\''` (a quote inside it, as sessctl writes one).
fn single_quoted_end(value: &str) -> usize {
    let mut at = 0;
    while let Some(quote) = value[at..].find('\'') {
        at += quote;
        if !value[at..].starts_with("'\\''") {
            return at;
        }
        at += "'\\''".len();
    }
    value.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_are_masked_bare_quoted_and_in_unit_lines() {
        for (text, shown) in [
            (
                "run `sessctl enable web --env SECRET_X=hunter2 --env B=2 -- claude`",
                "run `sessctl enable web --env SECRET_X=•••• --env B=•••• -- claude`",
            ),
            (
                "sessctl enable web --env 'K=a b'\\''c' -- sh",
                "sessctl enable web --env 'K=••••' -- sh",
            ),
            (
                "the unit says \"Environment=\\\"TOKEN=abc def\\\"\"",
                "the unit says \"Environment=\\\"TOKEN=••••\\\"\"",
            ),
            (
                "no environment here; --env alone",
                "no environment here; --env alone",
            ),
        ] {
            assert_eq!(mask(text), shown, "{text}");
        }
    }

    #[test]
    fn reveal_env_shows_them_and_anything_else_masks_every_string() {
        let value = serde_json::json!({"fix": ["--env K=v"], "n": 1});
        let reveal = |q: Option<&str>| Reveal {
            reveal: q.map(str::to_string),
        };
        assert_eq!(reveal(Some("env")).apply(&value).unwrap(), value);
        let masked = serde_json::json!({"fix": ["--env K=••••"], "n": 1});
        assert_eq!(reveal(None).apply(&value).unwrap(), masked);
        assert_eq!(reveal(Some("all")).apply(&value).unwrap(), masked);
    }
}
