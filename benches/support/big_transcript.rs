//! A large transcript in the shape Claude Code 2.1 writes, for the transcript benchmark and
//! the memory test: turns of a prompt, an answer split over records of one response, a tool
//! call and its result on a branch of its own, the turn's end, and file-history snapshots.

use std::io::{BufWriter, Write};
use std::path::Path;

/// Writes records to `path` until it holds `bytes`; returns how many lines it wrote.
pub fn write(path: &Path, bytes: u64) -> std::io::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let session = "7f3e2a10-5b4c-4d2e-9f1a-0c8b7d6e5f40";
    let text = "lorem ipsum dolor sit amet, consectetur adipiscing elit; ".repeat(56);
    let output = "drwxr-xr-x 2 root root 4096 Nov 23 20:26 src/cmd/doctor\\n".repeat(55);
    let (mut written, mut records, mut n) = (0u64, 0u64, 0u64);
    let mut parent = String::from("null");
    let uuid = |n: u64| {
        format!(
            "\"{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}\"",
            n,
            n & 0xffff,
            n & 0xfff,
            (n >> 12) & 0xfff,
            n
        )
    };
    while written < bytes {
        let ts = |k: u64| {
            format!(
                "\"2026-11-{:02}T{:02}:{:02}:{:02}.{:03}Z\"",
                1 + (n / 86_400) % 28,
                (n / 3600) % 24,
                (n / 60) % 60,
                n % 60,
                k
            )
        };
        let common = format!("\"isSidechain\":false,\"userType\":\"external\",\"entrypoint\":\"cli\",\"cwd\":\"/home/dev/src/web\",\"sessionId\":\"{session}\",\"version\":\"2.1.197\",\"gitBranch\":\"main\"");
        let (prompt, answer, call, result, end) = (
            uuid(5 * n),
            uuid(5 * n + 1),
            uuid(5 * n + 2),
            uuid(5 * n + 3),
            uuid(5 * n + 4),
        );
        let tool = format!("toolu_{n:020}");
        let lines = [
            format!("{{\"type\":\"file-history-snapshot\",\"messageId\":{prompt},\"snapshot\":{{\"messageId\":{prompt},\"trackedFileBackups\":{{}},\"timestamp\":{}}},\"isSnapshotUpdate\":false}}", ts(0)),
            format!("{{\"parentUuid\":{parent},{common},\"type\":\"user\",\"message\":{{\"role\":\"user\",\"content\":\"turn {n}: look at the failing test and fix it\"}},\"uuid\":{prompt},\"timestamp\":{},\"permissionMode\":\"default\"}}", ts(1)),
            format!("{{\"parentUuid\":{prompt},{common},\"message\":{{\"id\":\"msg_{n:020}\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-opus-4-8\",\"content\":[{{\"type\":\"text\",\"text\":\"{text}\"}}],\"stop_reason\":null,\"usage\":{{\"input_tokens\":100,\"output_tokens\":10}}}},\"requestId\":\"req_{n}\",\"type\":\"assistant\",\"uuid\":{answer},\"timestamp\":{}}}", ts(2)),
            format!("{{\"parentUuid\":{answer},{common},\"message\":{{\"id\":\"msg_{n:020}\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-opus-4-8\",\"content\":[{{\"type\":\"tool_use\",\"id\":\"{tool}\",\"name\":\"Bash\",\"input\":{{\"command\":\"ls -la src\",\"description\":\"List the sources\"}}}}],\"stop_reason\":\"tool_use\",\"usage\":{{\"input_tokens\":100,\"output_tokens\":10}}}},\"type\":\"assistant\",\"uuid\":{call},\"timestamp\":{}}}", ts(3)),
            format!("{{\"parentUuid\":{call},{common},\"type\":\"user\",\"message\":{{\"role\":\"user\",\"content\":[{{\"tool_use_id\":\"{tool}\",\"type\":\"tool_result\",\"content\":\"{output}\",\"is_error\":false}}]}},\"uuid\":{result},\"timestamp\":{},\"toolUseResult\":{{\"stdout\":\"(see content)\",\"stderr\":\"\",\"interrupted\":false}},\"sourceToolAssistantUUID\":{call}}}", ts(4)),
            format!("{{\"parentUuid\":{result},{common},\"type\":\"system\",\"subtype\":\"turn_duration\",\"durationMs\":2200,\"messageCount\":4,\"timestamp\":{},\"uuid\":{end},\"isMeta\":false}}", ts(5)),
        ];
        for line in &lines {
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
            written += line.len() as u64 + 1;
        }
        records += lines.len() as u64;
        parent = end;
        n += 1;
    }
    out.flush()?;
    Ok(records)
}
