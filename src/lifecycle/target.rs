//! What a `transcript` command's target names: a transcript file, or a product's pinned
//! conversation with the environment its agent runs in. Read-only and lock-free, so `query`
//! reads with it too.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::agent::AgentEnv;
use crate::context::Ctx;
use crate::error::{quoted, usage};
use crate::pin::Pin;
use crate::product::{self, Product};

use crate::transcript::{Finding, FindingId, Report, Severity};

/// A transcript file, and the product pinned to it when the target named a product.
pub struct Target {
    pub file: Option<PathBuf>,
    pub product: Option<(Product, Pin)>,
    /// Where the agent keeps its data: the product's environment for a product.
    pub env: AgentEnv,
}

/// What `target` names: an existing transcript file, or a product's pinned conversation.
pub fn resolve(ctx: &Ctx, target: &str) -> Result<Target> {
    let paths = &ctx.paths;
    let path = Path::new(target);
    if path.is_file() {
        return Ok(Target {
            file: Some(path.to_path_buf()),
            product: None,
            env: AgentEnv::caller(),
        });
    }
    if target.contains('/') || target.ends_with(".jsonl") {
        return Err(usage(format!(
            "no transcript file {}; pass an existing .jsonl file or a product name",
            quoted(target)
        )));
    }
    product::check_name(target)?;
    let product = Product::load(paths, target)?;
    if !product.agent.profile().checks_transcripts() {
        return Err(usage(format!(
            "{target} runs a {} agent; sessctl transcript reads Claude Code transcripts, so pass a Claude Code .jsonl file",
            product.agent.name()
        )));
    }
    let pin = Pin::load(&paths.pin_file(target))?.ok_or_else(|| {
        usage(format!(
            "product {target:?} has no pinned conversation yet: it is chosen before its first start; pass the transcript file instead"
        ))
    })?;
    let env = product_env(ctx, &product);
    Ok(Target {
        file: product.agent.profile().transcript(&env, &pin.session_id)?,
        product: Some((product, pin)),
        env,
    })
}

/// Where the product's agent keeps its data: the unit's environment decides; with no manager
/// to ask, the caller's stands in.
pub fn product_env(ctx: &Ctx, product: &Product) -> AgentEnv {
    let manager = ctx.systemd().and_then(|s| s.environment()).ok();
    AgentEnv::of(&product.env, manager.as_deref())
}

/// The report on a pinned conversation that has no transcript.
pub fn missing(product: &Product, pin: &Pin, env: &AgentEnv) -> Report {
    Report {
        file: PathBuf::new(),
        lines: 0,
        records: 0,
        session_id: Some(pin.session_id.clone()),
        leaf: None,
        chain_length: 0,
        api_messages: 0,
        findings: vec![Finding {
            id: FindingId::MissingTranscript,
            severity: Severity::Error,
            line: 0,
            uuid: None,
            detail: format!(
                "{}'s pinned conversation {} has no transcript under {}: the next start begins a new, empty conversation",
                product.name,
                pin.session_id,
                product.agent.profile().conversations_dir(env).map_or("the agent's folders".into(), |p| p.display().to_string())
            ),
        }],
    }
}
