//! Aider. It keeps its chat history in `.aider.chat.history.md` of the working directory and
//! no session id, so there is nothing to pin: its `--restore-chat-history` is the user's
//! choice, in the product's command.

use super::Profile;

pub struct Aider;

impl Profile for Aider {
    fn name(&self) -> &'static str {
        "aider"
    }

    fn programs(&self) -> &'static [&'static str] {
        &["aider"]
    }
}
