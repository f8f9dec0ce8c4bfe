//! The project's own fake vendor APIs, for running the real agent clients offline: the server
//! every vendor shares, and the Anthropic Messages API. `fake_openai` (the Responses API, for
//! Codex) and `fake_gemini` (for Gemini CLI) are the other vendors, each a [`Vendor`].
//!
//! It listens on 127.0.0.1 inside the private manager's network namespace (which has only
//! `lo`), so the agents the manager starts reach it and nothing else. It logs every request.
//! The Messages API checks tool_use/tool_result pairing as the real API does (answering 400
//! with the real error text), and answers by cue:
//! - a prompt holding `RUN: <command>` gets a Bash `tool_use` running it; several cues in one
//!   prompt get parallel calls in one response;
//! - a compaction request (its last text asks for "TEXT ONLY") gets a summary holding
//!   [`SUMMARY`];
//! - anything else gets a short text, which echoes the prompt's first word.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};

use super::loopback::{self, Loopback};

/// The text every compaction summary holds.
pub const SUMMARY: &str = "FAKE-COMPACT-SUMMARY";

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub body: Value,
    pub status: u16,
    /// When the answer was handed to the server to send: benches/waiting.rs times from it,
    /// the tests do not.
    #[allow(dead_code)]
    pub answered: std::time::Instant,
}

impl Request {
    /// Every text of the conversation the request carries, tool results included, joined:
    /// Anthropic's `messages`, OpenAI's Responses `input`, or Gemini's `contents`.
    pub fn text(&self) -> String {
        ["messages", "input", "contents"]
            .iter()
            .map(|key| &self.body[key])
            .find(|history| !history.is_null())
            .map_or_else(String::new, Value::to_string)
    }
}

/// One vendor's API: how it answers, and which of its requests are the conversation's.
#[derive(Clone, Copy)]
pub struct Vendor {
    /// The answer to a request (method, path with query, JSON body or null).
    pub answer: fn(&Method, &str, &Value) -> Answer,
    /// Whether a logged request is a turn of the conversation itself, not a side request of
    /// the client (titles, token counts, model lists).
    pub is_conversation: fn(&Request) -> bool,
}

/// What the fake sends back.
pub struct Answer {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: String,
}

impl Answer {
    pub fn json(body: &Value) -> Answer {
        Answer::new(StatusCode::OK, "application/json", body.to_string())
    }

    pub fn new(status: StatusCode, content_type: &'static str, body: String) -> Answer {
        Answer {
            status,
            content_type,
            body,
        }
    }

    pub fn not_found() -> Answer {
        Answer::new(StatusCode::NOT_FOUND, "text/plain", String::new())
    }
}

/// The Anthropic Messages API.
pub const ANTHROPIC: Vendor = Vendor {
    answer: anthropic,
    is_conversation: |r| {
        // A Messages call that offers the agent its tools (titles offer none).
        r.path.starts_with("/v1/messages")
            && !r.path.contains("count_tokens")
            && r.body["tools"].as_array().is_some_and(|t| !t.is_empty())
    },
};

#[derive(Clone)]
struct Shared {
    log: Arc<Mutex<Vec<Request>>>,
    file: PathBuf,
    vendor: Vendor,
}

/// A running fake API; it stops when dropped.
pub struct FakeApi {
    pub port: u16,
    shared: Shared,
    _server: Loopback,
}

impl FakeApi {
    /// `vendor`'s API on 127.0.0.1 in network namespace `netns`, logging requests to `log_file`.
    pub fn serve(netns: BorrowedFd<'_>, log_file: &Path, vendor: Vendor) -> FakeApi {
        let shared = Shared {
            log: Arc::default(),
            file: log_file.to_path_buf(),
            vendor,
        };
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let server = loopback::serve("the fake API", Some(netns), app, None);
        FakeApi {
            port: server.port,
            shared,
            _server: server,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.log.lock().expect("the request log").clone()
    }

    /// The conversation's requests, oldest first.
    pub fn conversation(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(self.shared.vendor.is_conversation)
            .collect()
    }
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    body: axum::body::Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = uri.to_string();
    let answer = (shared.vendor.answer)(&method, &path, &body);
    let request = Request {
        method: method.to_string(),
        path,
        body,
        status: answer.status.as_u16(),
        answered: std::time::Instant::now(),
    };
    if let Ok(mut file) = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&shared.file)
    {
        let line = json!({"method": request.method, "path": request.path, "status": request.status, "body": request.body});
        let _ = writeln!(file, "{line}");
    }
    shared.log.lock().expect("the request log").push(request);
    Response::builder()
        .status(answer.status)
        .header("content-type", answer.content_type)
        .body(Body::from(answer.body))
        .expect("a response")
}

/// The Messages API's answer.
fn anthropic(method: &Method, path: &str, body: &Value) -> Answer {
    let path = path.split('?').next().unwrap_or(path);
    match (method.as_str(), path) {
        ("HEAD" | "GET", "/") => Answer::new(StatusCode::OK, "text/plain", String::new()),
        ("GET", "/v1/models") => Answer::json(&models()),
        ("POST", "/v1/messages/count_tokens") => Answer::json(&json!({"input_tokens": 1000})),
        ("POST", "/v1/messages") => match pairing_error(body) {
            Some(message) => Answer::new(
                StatusCode::BAD_REQUEST,
                "application/json",
                json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}})
                    .to_string(),
            ),
            None if body["stream"] == true => {
                Answer::new(StatusCode::OK, "text/event-stream", sse(&reply(body)))
            }
            None => Answer::json(&reply(body)),
        },
        _ => Answer::not_found(),
    }
}

fn models() -> Value {
    let ids = [
        "claude-sonnet-4-5-20250929",
        "claude-opus-4-1-20250805",
        "claude-haiku-4-5-20251001",
    ];
    let data: Vec<Value> = ids
        .iter()
        .map(|id| json!({"type": "model", "id": id, "display_name": id, "created_at": "2025-01-01T00:00:00Z"}))
        .collect();
    json!({"data": data, "has_more": false, "first_id": ids[0], "last_id": ids[2]})
}

/// The messages that count for pairing: the API's own roles.
fn turns(body: &Value) -> Vec<&Value> {
    body["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter(|m| matches!(m["role"].as_str(), Some("user" | "assistant")))
                .collect()
        })
        .unwrap_or_default()
}

fn blocks<'a>(message: &'a Value, kind: &str) -> Vec<&'a Value> {
    message["content"]
        .as_array()
        .map(|c| c.iter().filter(|b| b["type"] == kind).collect())
        .unwrap_or_default()
}

/// The real API's 400 for broken pairing: a tool_use without its result in the very next
/// message, or a result whose call is not in the message before.
fn pairing_error(body: &Value) -> Option<String> {
    let turns = turns(body);
    for (n, message) in turns.iter().enumerate() {
        if message["role"] == "assistant" {
            let next: Vec<&str> = turns
                .get(n + 1)
                .map(|m| blocks(m, "tool_result"))
                .unwrap_or_default()
                .iter()
                .filter_map(|b| b["tool_use_id"].as_str())
                .collect();
            let missing: Vec<&str> = blocks(message, "tool_use")
                .iter()
                .filter_map(|b| b["id"].as_str())
                .filter(|id| !next.contains(id))
                .collect();
            if !missing.is_empty() && n + 1 < turns.len() {
                return Some(format!("messages.{n}: `tool_use` ids were found without `tool_result` blocks immediately after: {}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.", missing.join(", ")));
            }
        } else {
            let previous: Vec<&str> = n
                .checked_sub(1)
                .map(|p| blocks(turns[p], "tool_use"))
                .unwrap_or_default()
                .iter()
                .filter_map(|b| b["id"].as_str())
                .collect();
            for (k, block) in message["content"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                let id = block["tool_use_id"].as_str().unwrap_or_default();
                if block["type"] == "tool_result" && !previous.contains(&id) {
                    return Some(format!("messages.{n}.content.{k}: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."));
                }
            }
        }
    }
    None
}

/// The text of the last user message.
fn last_prompt(body: &Value) -> String {
    let Some(last) = turns(body).into_iter().rev().find(|m| m["role"] == "user") else {
        return String::new();
    };
    match &last["content"] {
        Value::String(text) => text.clone(),
        // The client puts reminders first; the prompt is the last text block.
        Value::Array(blocks) => blocks
            .iter()
            .rev()
            .find_map(|b| b["text"].as_str())
            .unwrap_or("")
            .to_string(),
        _ => String::new(),
    }
}

fn reply(body: &Value) -> Value {
    let prompt = last_prompt(body);
    let has_tools = body["tools"].as_array().is_some_and(|t| !t.is_empty());
    let answered_tool = turns(body)
        .last()
        .is_some_and(|m| !blocks(m, "tool_result").is_empty());
    let commands: Vec<&str> = prompt
        .split("RUN: ")
        .skip(1)
        .map(|c| c.lines().next().unwrap_or("").trim())
        .collect();
    let content: Vec<Value> = if prompt.contains("TEXT ONLY") {
        vec![
            json!({"type": "text", "text": format!("<summary>{SUMMARY}: the conversation so far.</summary>")}),
        ]
    } else if has_tools && !answered_tool && !commands.is_empty() {
        commands
            .iter()
            .map(|command| {
                json!({"type": "tool_use", "id": format!("toolu_{}", unique()), "name": "Bash",
                       "input": {"command": command, "description": "Run the cued command"}})
            })
            .collect()
    } else {
        let first = prompt.split_whitespace().next().unwrap_or("");
        vec![json!({"type": "text", "text": format!("Understood: {first}")})]
    };
    let stop = if content[0]["type"] == "tool_use" {
        "tool_use"
    } else {
        "end_turn"
    };
    json!({
        "id": format!("msg_{}", unique()), "type": "message", "role": "assistant",
        "model": body["model"].as_str().unwrap_or("claude-sonnet-4-5"),
        "content": content, "stop_reason": stop, "stop_sequence": null,
        "usage": {"input_tokens": 100, "output_tokens": 10,
                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
    })
}

/// A new id, unique in this test process.
pub fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{:016x}{:08x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// `message` as the event stream the client reads when it asks for `stream: true`.
fn sse(message: &Value) -> String {
    let mut out = String::new();
    let mut event = |name: &str, data: Value| {
        out.push_str(&format!("event: {name}\ndata: {data}\n\n"));
    };
    let mut start = message.clone();
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    event(
        "message_start",
        json!({"type": "message_start", "message": start}),
    );
    for (index, block) in message["content"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let (empty, delta) = if block["type"] == "tool_use" {
            let mut empty = block.clone();
            empty["input"] = json!({});
            let delta =
                json!({"type": "input_json_delta", "partial_json": block["input"].to_string()});
            (empty, delta)
        } else {
            (
                json!({"type": "text", "text": ""}),
                json!({"type": "text_delta", "text": block["text"]}),
            )
        };
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": empty}),
        );
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": delta}),
        );
        event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        );
    }
    event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": message["stop_reason"], "stop_sequence": null},
               "usage": {"output_tokens": 10}}),
    );
    event("message_stop", json!({"type": "message_stop"}));
    out
}
