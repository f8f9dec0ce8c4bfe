//! sessctl's integration tests: one crate, the real binary, a real private user manager.

mod support;

mod architecture;
mod attach;
mod attacker;
mod browser;
mod chaos;
mod churn;
mod completions;
mod conversation;
mod dashboard;
mod dashboard_create;
mod dashboard_list;
mod demo;
mod doctor;
mod errors;
mod gc;
mod journal;
mod layout;
mod lifecycle;
mod limits;
mod login;
mod output;
mod package;
mod pair;
mod push_browser;
mod readme;
mod real_adopt;
mod real_approve;
mod real_claude;
mod real_codex;
mod real_gemini;
mod render;
mod resume;
mod transcript;
mod waiting;
