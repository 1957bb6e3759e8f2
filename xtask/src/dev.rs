//! `cargo xtask dev`: runs quotecast locally.

use anyhow::{Result, bail};

pub fn run(_args: &[String]) -> Result<()> {
    bail!(
        "the local stack is not built yet: `cargo xtask dev` will start it once the \
         AppSync-compatible server and the embedded broker exist (see ARCHITECTURE.md)"
    )
}
