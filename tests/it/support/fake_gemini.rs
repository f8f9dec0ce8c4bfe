//! The project's own fake Gemini API (`generativelanguage.googleapis.com`'s `v1beta`), as
//! Gemini CLI 0.61 calls it with `GOOGLE_GEMINI_BASE_URL` pointing here and `GEMINI_API_KEY`
//! set (observed: the key in `x-goog-api-key`, any key accepted):
//! - the conversation: `POST /v1beta/models/<model>:streamGenerateContent?alt=sse`, with the
//!   history in `contents`, the agent's tools in `tools[].functionDeclarations`;
//! - side requests: `:generateContent` with a `responseJsonSchema` (the model router's
//!   complexity score, and next-speaker and loop checks), and `:countTokens`.
//!
//! It answers by cue: a prompt holding `RUN: <command>` gets a `functionCall` of the shell tool
//! (`run_shell_command`), one per cue; a request that asks for JSON gets an object of its
//! schema; anything else a short text echoing the prompt's first word.

use axum::http::{Method, StatusCode};
use serde_json::{json, Map, Value};

use super::fake_api::{Answer, Request, Vendor};

/// Gemini CLI's shell tool.
pub const SHELL_TOOL: &str = "run_shell_command";

/// The Gemini API.
pub const GEMINI_API: Vendor = Vendor {
    answer,
    is_conversation,
};

/// A turn of the conversation: a streamed generation that offers the agent its shell tool.
/// The side requests offer no tools.
fn is_conversation(r: &Request) -> bool {
    r.path.contains(":streamGenerateContent")
        && r.body["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["functionDeclarations"].as_array())
            .flatten()
            .any(|f| f["name"] == SHELL_TOOL)
}

fn answer(method: &Method, path: &str, body: &Value) -> Answer {
    let path = path.split('?').next().unwrap_or(path);
    if method != Method::POST || !path.starts_with("/v1beta/models/") {
        return not_found();
    }
    if path.ends_with(":countTokens") {
        Answer::json(&json!({"totalTokens": 1000}))
    } else if path.ends_with(":streamGenerateContent") {
        let data = format!("data: {}\r\n\r\n", reply(body));
        Answer::new(StatusCode::OK, "text/event-stream", data)
    } else if path.ends_with(":generateContent") {
        Answer::json(&reply(body))
    } else {
        not_found()
    }
}

fn not_found() -> Answer {
    let error = json!({"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}});
    Answer::new(StatusCode::NOT_FOUND, "application/json", error.to_string())
}

/// One whole response: a candidate with the parts the cue asks for.
fn reply(body: &Value) -> Value {
    let last = body["contents"]
        .as_array()
        .and_then(|c| c.last())
        .cloned()
        .unwrap_or(Value::Null);
    let parts: Vec<Value> = last["parts"].as_array().cloned().unwrap_or_default();
    // The first prompt shares its content with the session context: the prompt is the last
    // text.
    let prompt = parts
        .iter()
        .rev()
        .find_map(|p| p["text"].as_str())
        .unwrap_or("");
    let answered = parts.iter().any(|p| !p["functionResponse"].is_null());
    let commands: Vec<&str> = prompt
        .split("RUN: ")
        .skip(1)
        .map(|c| c.lines().next().unwrap_or("").trim())
        .collect();
    let offers_shell = body["tools"].to_string().contains(SHELL_TOOL);
    let parts: Vec<Value> = match &body["generationConfig"]["responseJsonSchema"] {
        Value::Object(schema) => vec![json!({"text": of_schema(schema).to_string()})],
        _ if offers_shell && !answered && !commands.is_empty() => commands
            .iter()
            .map(|command| {
                json!({"functionCall": {"name": SHELL_TOOL,
                       "args": {"command": command, "description": "Run the cued command"}}})
            })
            .collect(),
        _ => {
            let first = prompt.split_whitespace().next().unwrap_or("");
            vec![json!({"text": format!("Understood: {first}")})]
        }
    };
    json!({
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 10, "totalTokenCount": 110},
        "modelVersion": body["model"].as_str().unwrap_or("gemini-fake"),
    })
}

/// An object with every property of a JSON schema: the user speaks next, scores are low,
/// nothing loops.
fn of_schema(schema: &Map<String, Value>) -> Value {
    let properties = schema.get("properties").and_then(Value::as_object);
    let object: Map<String, Value> = properties
        .into_iter()
        .flatten()
        .map(|(key, spec)| {
            let value = match spec["enum"].as_array() {
                Some(choices) if choices.contains(&json!("user")) => json!("user"),
                Some(choices) => choices.first().cloned().unwrap_or(Value::Null),
                None => match spec["type"]
                    .as_str()
                    .map(str::to_ascii_uppercase)
                    .as_deref()
                {
                    Some("INTEGER" | "NUMBER") => json!(1),
                    Some("BOOLEAN") => json!(false),
                    Some("ARRAY") => json!([]),
                    Some("OBJECT") => json!({}),
                    _ => json!("fake"),
                },
            };
            (key.clone(), value)
        })
        .collect();
    Value::Object(object)
}
