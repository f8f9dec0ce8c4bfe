//! The user journal (systemd-journald), over its native protocol: each event of a product's
//! log is also an entry that `journalctl --user -t sessctl SESSCTL_PRODUCT=<p>` finds.
//!
//! The product's JSONL log stays the record that always exists: with no journal listening,
//! an entry is dropped without a word, so sessctl runs the same with or without journald.
//!
//! May import: nothing of sessctl; `state` hands it an event's words.

use libsystemd::logging::{journal_send, Priority};

/// Each event kind's MESSAGE_ID (sd-id128), fixed for good: a catalog or a `journalctl
/// MESSAGE_ID=` filter may name it. The README lists them.
pub const MESSAGE_IDS: [(&str, &str); 17] = [
    ("enable", "9eab07099a604f07b7c990bab576a187"),
    ("start", "3dcbcf397a87476990417e6f3c143349"),
    ("resume", "b27af6525b7f4d46a7ac98c54662ac14"),
    ("attach", "88f8764cee794e71a5f6bf3b2f9bbc00"),
    ("stop", "3d16d8407859476ebab6bbf0e5ea20a5"),
    ("restart", "d86bc25839e043c180abc6a28749decc"),
    ("disable", "1c83baaef15f495da4f06ad9636e0f05"),
    ("lost", "b08ce1e3cb4d475b9241ad1851c8c1d3"),
    ("recovered", "afac81c8159e42f895e17fb8031a7ee2"),
    ("settled", "cd68d77d8e784c31b26d445e640f3b20"),
    ("agent-start", "4a4d50e15cdb4c58afad85f6dd3acbb0"),
    ("exit", "e3968fd1f059435f9e8afa038f10aa1e"),
    ("on-waiting", "b2ac3031607441ca8d2c88cd9749f0ef"),
    ("adopt", "fdcee69bed2340bcb4db3c48e2f9f024"),
    ("repin", "d487f623afb945be9c95c588004d7ddb"),
    ("restore", "deebf4b8e6364f17a2fc6c32f1524135"),
    ("gc", "f89800d93f5f4bfe868012f75aed50df"),
];

/// The MESSAGE_ID of event kind `kind`, if it is one of [`MESSAGE_IDS`].
pub fn message_id(kind: &str) -> Option<&'static str> {
    MESSAGE_IDS
        .iter()
        .find_map(|(k, id)| (*k == kind).then_some(*id))
}

/// Sends one entry: `message`, identified as sessctl, with the product, the event kind, its
/// MESSAGE_ID and `fields` (names already in the journal's upper case). A session lost is a
/// warning; everything else is information.
pub fn send(product: &str, kind: &str, message: &str, fields: &[(&str, String)]) {
    let priority = match kind {
        "lost" => Priority::Warning,
        _ => Priority::Info,
    };
    let standard = [
        ("SYSLOG_IDENTIFIER", "sessctl"),
        ("SESSCTL_PRODUCT", product),
        ("SESSCTL_EVENT", kind),
    ];
    let id = message_id(kind).map(|id| ("MESSAGE_ID", id));
    let all = standard
        .into_iter()
        .chain(id)
        .chain(fields.iter().map(|(k, v)| (*k, v.as_str())));
    // No journal (a container, a system without journald, a test's private manager): the
    // JSONL log has the event, and a warning here would be noise on every command.
    let _ = journal_send(priority, message, all);
}
