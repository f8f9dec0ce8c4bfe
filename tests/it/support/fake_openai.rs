//! The project's fake OpenAI Responses API, for running the real Codex CLI offline: a
//! [`Vendor`] of the shared fake server, which logs every request.
//!
//! Codex 0.171.0 (with a custom `model_providers` entry, `wire_api = "responses"`) sends only
//! `POST <base_url>/responses`, always with `stream: true`: the conversation's turns, and for a
//! new conversation one side request for its title. Each body's
//! `client_metadata["x-codex-turn-metadata"]` is a JSON string that names the request's
//! `thread_source` (`user` for the conversation, `thread_title` for the title) and its
//! `history_initialization` (`new`, or `cold_resume` after `codex resume`). The title request
//! offers no tools and asks for JSON (`text.format`, a schema with one `title` string).
//!
//! Answers, as server-sent events (`response.created`, `response.output_item.added` and
//! `.done` per item, `response.completed`), by cue:
//! - a prompt holding `RUN: <command>` gets a call of the shell tool Codex offers
//!   (`exec_command` in 0.171), one per cue; the request that carries the call's output gets
//!   a text;
//! - the title request gets `{"title": …}`;
//! - anything else gets a short text, which echoes the prompt's first word.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use super::fake_api::{unique, Answer, Request, Vendor};

/// The Responses API.
pub const OPENAI: Vendor = Vendor {
    answer: openai,
    is_conversation: |r| r.path.ends_with("/responses") && thread_source(&r.body) != "thread_title",
};

/// What the request is for, as Codex labels it: `user`, `thread_title`, … (empty if unsaid).
pub fn thread_source(body: &Value) -> String {
    turn_metadata(body)["thread_source"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// How Codex began the request's history: `new`, or `cold_resume` after `codex resume`.
pub fn history_initialization(request: &Request) -> String {
    turn_metadata(&request.body)["history_initialization"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The turn metadata Codex sends as a JSON string inside `client_metadata`.
fn turn_metadata(body: &Value) -> Value {
    body["client_metadata"]["x-codex-turn-metadata"]
        .as_str()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null)
}

fn openai(method: &Method, path: &str, body: &Value) -> Answer {
    let path = path.split('?').next().unwrap_or(path);
    match (method.as_str(), path) {
        ("POST", p) if p.ends_with("/responses") => {
            Answer::new(StatusCode::OK, "text/event-stream", sse(&output(body)))
        }
        _ => Answer::not_found(),
    }
}

/// The input items of the request, oldest first.
fn input(body: &Value) -> &[Value] {
    body["input"].as_array().map_or(&[], Vec::as_slice)
}

/// The text of the last user message: the prompt (the environment context Codex sends as a
/// user message comes before it).
fn last_prompt(body: &Value) -> String {
    input(body)
        .iter()
        .rev()
        .find(|item| item["type"] == "message" && item["role"] == "user")
        .and_then(|item| item["content"].as_array())
        .map(|content| {
            content
                .iter()
                .filter_map(|c| c["text"].as_str())
                .collect::<Vec<_>>()
                .join("")
        })
        .unwrap_or_default()
}

/// The output items of the answer.
fn output(body: &Value) -> Vec<Value> {
    let prompt = last_prompt(body);
    let first = prompt.split_whitespace().next().unwrap_or("");
    if !body["text"]["format"].is_null() {
        return vec![message(
            &json!({"title": format!("Title {first}")}).to_string(),
        )];
    }
    let answered_tool = input(body)
        .last()
        .is_some_and(|item| item["type"] == "function_call_output");
    let commands: Vec<&str> = prompt
        .split("RUN: ")
        .skip(1)
        .map(|c| c.lines().next().unwrap_or("").trim())
        .collect();
    match shell_tool(body) {
        Some(tool) if !answered_tool && !commands.is_empty() => {
            commands.iter().map(|c| call(tool, c)).collect()
        }
        _ => vec![message(&format!("Understood: {first}"))],
    }
}

/// The name of the shell tool the request offers, of those this fake knows how to call.
fn shell_tool(body: &Value) -> Option<&'static str> {
    let offered: Vec<&str> = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str())
        .collect();
    ["exec_command", "shell_command", "shell"]
        .into_iter()
        .find(|name| offered.contains(name))
}

fn message(text: &str) -> Value {
    json!({"type": "message", "id": format!("msg_{}", unique()), "role": "assistant",
           "status": "completed",
           "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

/// A call of shell tool `tool` running `command`, with the arguments that tool takes.
fn call(tool: &str, command: &str) -> Value {
    let arguments = match tool {
        "exec_command" => json!({"cmd": command}),
        "shell_command" => json!({"command": command}),
        _ => json!({"command": ["bash", "-lc", command]}),
    };
    json!({"type": "function_call", "id": format!("fc_{}", unique()),
           "call_id": format!("call_{}", unique()), "name": tool,
           "arguments": arguments.to_string(), "status": "completed"})
}

/// `items` as the event stream of one response.
fn sse(items: &[Value]) -> String {
    let id = format!("resp_{}", unique());
    let mut out = String::new();
    let mut event = |data: Value| {
        let name = data["type"].as_str().unwrap_or_default().to_string();
        out.push_str(&format!("event: {name}\ndata: {data}\n\n"));
    };
    event(json!({"type": "response.created",
                 "response": {"id": id, "object": "response", "status": "in_progress", "output": []}}));
    for (index, item) in items.iter().enumerate() {
        let mut started = item.clone();
        started["status"] = "in_progress".into();
        event(
            json!({"type": "response.output_item.added", "output_index": index, "item": started}),
        );
        event(json!({"type": "response.output_item.done", "output_index": index, "item": item}));
    }
    event(json!({"type": "response.completed",
                 "response": {"id": id, "object": "response", "status": "completed", "output": items,
                              "usage": {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 0},
                                        "output_tokens": 10, "output_tokens_details": {"reasoning_tokens": 0},
                                        "total_tokens": 110}}}));
    out
}
