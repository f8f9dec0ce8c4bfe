//! `sessctl dashboard pair`: the QR code it prints reads back as the link printed under it, and
//! that link logs a phone in once, and not once its two minutes are over. `sessctl serve` runs
//! on an ephemeral loopback port with no manager, as in login.rs.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::dashboard::{open_link, refused_link, serve};
use crate::support::Env;

const BASE: &str = "http://sessctl.localhost:7878";
const PHONE: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Mobile Safari/537.36";
const LIFETIME: Duration = Duration::from_secs(120);

/// What `sessctl dashboard pair` printed: the code's lines, and the link under them.
struct Printed {
    code: Vec<String>,
    link: String,
}

/// Runs `sessctl dashboard pair` (its stdout a pipe, so the code is unpainted) and splits what
/// it printed; the last line says how long the link lasts.
fn pair(env: &Env) -> Printed {
    let out = env
        .sessctl()
        .args(["dashboard", "pair"])
        .stdout_read()
        .run();
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    assert_eq!(
        lines.pop().as_deref(),
        Some("valid for 2 minutes, once"),
        "{text}"
    );
    let link = lines.pop().unwrap_or_else(|| panic!("no link in {text}"));
    assert!(link.starts_with(&format!("{BASE}/login?code=")), "{text}");
    assert!(
        lines
            .iter()
            .all(|l| !l.is_empty() && l.chars().all(|c| " ▀▄█".contains(c))),
        "{text}"
    );
    Printed { code: lines, link }
}

/// Reads the half-block code as a camera would: a bitmap with the top and bottom half of each
/// character as two rows, each module four pixels square, handed to a QR decoder.
fn decode(code: &[String]) -> String {
    const SCALE: usize = 4;
    let rows: Vec<Vec<bool>> = code
        .iter()
        .flat_map(|line| {
            let top = line.chars().map(|c| c == '▀' || c == '█').collect();
            let bottom = line.chars().map(|c| c == '▄' || c == '█').collect();
            [top, bottom]
        })
        .collect();
    let width = rows[0].len();
    assert!(rows.iter().all(|r| r.len() == width), "{code:#?}");
    let mut image =
        rqrr::PreparedImage::prepare_from_bitmap(width * SCALE, rows.len() * SCALE, |x, y| {
            rows[y / SCALE][x / SCALE]
        });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one code in {code:#?}");
    grids[0].decode().expect("a readable code").1
}

/// The one-time codes in the logins file.
fn codes(env: &Env) -> Vec<Value> {
    let file = env
        .var("XDG_STATE_HOME")
        .join("sessctl/dashboard/logins.json");
    let logins: Value =
        serde_json::from_slice(&std::fs::read(file).expect("logins")).expect("JSON");
    logins["codes"].as_array().expect("codes").clone()
}

#[test]
fn the_code_reads_back_as_the_printed_link_which_lasts_two_minutes() {
    let env = Env::offline();
    let before = SystemTime::now();
    let printed = pair(&env);
    let after = SystemTime::now();
    assert_eq!(decode(&printed.code), printed.link);
    // Its code expires two minutes after it was made (`dashboard url`'s lasts ten).
    let codes = codes(&env);
    assert_eq!(codes.len(), 1, "{codes:?}");
    let expires = codes[0]["expires"].as_str().expect("an expiry");
    let (earliest, latest) = (
        sessctl::state::rfc3339(before + LIFETIME),
        sessctl::state::rfc3339(after + LIFETIME),
    );
    assert!(
        earliest.as_str() <= expires && expires <= latest.as_str(),
        "{expires} not in {earliest}..={latest}"
    );
}

#[test]
fn the_link_logs_a_phone_in_once() {
    let env = Env::offline();
    let served = serve(&env);
    let c = &served.client;
    let link = pair(&env).link;
    let path = link.strip_prefix(BASE).expect("a link to the dashboard");
    let phone = open_link(c, path, PHONE);
    assert_eq!(c.get("/api/products", &phone.headers()).status, 200);
    refused_link(c, path);
}

#[test]
fn the_link_opens_nothing_after_two_minutes() {
    let env = Env::offline();
    let served = serve(&env);
    let link = pair(&env).link;
    // Stands in for waiting the two minutes out: the code's stored expiry moves to the past,
    // which is all that time passing changes (the server compares it with its own clock).
    let file = env
        .var("XDG_STATE_HOME")
        .join("sessctl/dashboard/logins.json");
    let mut logins: Value =
        serde_json::from_slice(&std::fs::read(&file).expect("logins")).expect("JSON");
    logins["codes"][0]["expires"] =
        sessctl::state::rfc3339(SystemTime::now() - Duration::from_secs(1)).into();
    std::fs::write(&file, serde_json::to_vec_pretty(&logins).expect("JSON"))
        .expect("writing logins");
    refused_link(&served.client, link.strip_prefix(BASE).expect("a link"));
}
