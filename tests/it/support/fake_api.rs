//! The project's own fake Anthropic Messages API, for running the real Claude Code offline.
//!
//! It listens on 127.0.0.1 inside the private manager's network namespace (which has only
//! `lo`), so the agents the manager starts reach it and nothing else. It logs every request,
//! checks tool_use/tool_result pairing as the real API does (answering 400 with the real error
//! text), and answers by cue:
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
use nix::sched::{setns, CloneFlags};
use serde_json::{json, Value};

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
    /// A request of the conversation itself: a Messages call that offers the agent its tools
    /// (the client's side requests, such as titles, offer none).
    pub fn is_conversation(&self) -> bool {
        self.path.starts_with("/v1/messages")
            && !self.path.contains("count_tokens")
            && self.body["tools"].as_array().is_some_and(|t| !t.is_empty())
    }

    /// Every text the request's messages carry, tool results included, joined.
    pub fn text(&self) -> String {
        self.body["messages"].to_string()
    }
}

#[derive(Clone)]
struct Shared {
    log: Arc<Mutex<Vec<Request>>>,
    file: PathBuf,
}

/// A running fake API; it stops when dropped.
pub struct FakeApi {
    pub port: u16,
    shared: Shared,
    runtime: Option<tokio::runtime::Runtime>,
}

impl FakeApi {
    /// Serves on 127.0.0.1 in network namespace `netns`, logging requests to `log_file` too.
    pub fn start(netns: BorrowedFd<'_>, log_file: &Path) -> FakeApi {
        // A socket belongs to the namespace of the thread that made it: bind on a thread that
        // joined `netns`, then serve from the runtime's own threads.
        let listener = std::thread::scope(|s| {
            s.spawn(|| {
                setns(netns, CloneFlags::CLONE_NEWNET).expect("joining the manager's netns");
                std::net::TcpListener::bind("127.0.0.1:0").expect("binding the fake API")
            })
            .join()
            .expect("the binding thread")
        });
        let port = listener.local_addr().expect("local address").port();
        listener.set_nonblocking(true).expect("non-blocking");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let shared = Shared {
            log: Arc::default(),
            file: log_file.to_path_buf(),
        };
        let app = Router::new().fallback(handle).with_state(shared.clone());
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            let _ = axum::serve(listener, app).await;
        });
        FakeApi {
            port,
            shared,
            runtime: Some(runtime),
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
            .filter(Request::is_conversation)
            .collect()
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    body: axum::body::Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = uri.path().to_string();
    let (status, response) = answer(&method, &path, &body);
    let reply = response_body(&body, &path, status);
    let request = Request {
        method: method.to_string(),
        path: uri.to_string(),
        body,
        status: status.as_u16(),
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
    response.status(status).body(reply).expect("a response")
}

fn answer(
    method: &Method,
    path: &str,
    body: &Value,
) -> (StatusCode, axum::http::response::Builder) {
    let builder = Response::builder();
    let json_type = ("content-type", "application/json");
    match (method.as_str(), path) {
        ("HEAD" | "GET", "/") => (StatusCode::OK, builder),
        ("GET", "/v1/models") => (StatusCode::OK, builder.header(json_type.0, json_type.1)),
        ("POST", "/v1/messages/count_tokens") => {
            (StatusCode::OK, builder.header(json_type.0, json_type.1))
        }
        ("POST", "/v1/messages") => match pairing_error(body) {
            Some(_) => (
                StatusCode::BAD_REQUEST,
                builder.header(json_type.0, json_type.1),
            ),
            None if body["stream"] == true => (
                StatusCode::OK,
                builder.header("content-type", "text/event-stream"),
            ),
            None => (StatusCode::OK, builder.header(json_type.0, json_type.1)),
        },
        _ => (StatusCode::NOT_FOUND, builder),
    }
}

fn response_body(body: &Value, path: &str, status: StatusCode) -> Body {
    match path {
        "/v1/models" => Body::from(models().to_string()),
        "/v1/messages/count_tokens" => Body::from(json!({"input_tokens": 1000}).to_string()),
        "/v1/messages" if status == StatusCode::BAD_REQUEST => Body::from(
            json!({"type": "error", "error": {"type": "invalid_request_error",
                "message": pairing_error(body).unwrap_or_default()}})
            .to_string(),
        ),
        "/v1/messages" => {
            let message = reply(body);
            if body["stream"] == true {
                Body::from(sse(&message))
            } else {
                Body::from(message.to_string())
            }
        }
        _ => Body::empty(),
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

fn unique() -> String {
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
