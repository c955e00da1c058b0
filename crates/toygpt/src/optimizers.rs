//! Every wgopt optimizer by name, from wgopt's table (`wgopt::optim::table`): its parameter
//! grouping for a GPT, the hyperparameters the comparison uses by default (with their
//! sources), and the optimizer with its family's extra calls ([`Driver`]).
//!
//! Hyperparameters are `key=value` pairs with the config structs' field names; for a hybrid,
//! keys prefixed `adamw.` go to its AdamW part.

use crate::error::{Error, Result};
use wgopt::optim::registry::{self, split_partner, Request};
pub use wgopt::optim::Driver;
use wgopt::optim::Router;
use wgopt::{GuardConfig, ParamSet};

/// The default optimizer of the example (Muon's recipe: Muon + AdamW).
pub const DEFAULT_OPTIMIZER: &str = "muon+adamw";

/// Every name [`build`] accepts.
pub fn all_names() -> Vec<&'static str> {
    registry::names()
}

/// Fails with the list of known names unless `name` is one.
pub fn check_name(name: &str) -> Result<()> {
    entry(name).map(|_| ())
}

/// The table's row for `name`, or the toy GPT's error listing the known names.
fn entry(name: &str) -> Result<&'static registry::Entry> {
    registry::find(name).map_err(|_| Error::UnknownOptimizer {
        name: name.into(),
        known: all_names().join(", "),
    })
}

/// How parameters are grouped: hybrids split matrices from the rest; everything else splits
/// decayed matrices and embeddings from undecayed gains and biases.
pub fn router(name: &str) -> Router {
    registry::find(name).map_or_else(|_| Router::decay_split(), |e| (e.router)())
}

/// The comparison's hyperparameters for `name` at the AdamW baseline learning rate
/// `adamw_lr`, and where they come from. Learning rates of Adam-like methods are tied to
/// `adamw_lr` so one number tunes the whole race.
pub fn recommended(
    name: &str,
    adamw_lr: f64,
    tokens_per_batch: usize,
) -> (Vec<(String, String)>, &'static str) {
    match registry::find(name) {
        Ok(e) => ((e.recommended)(adamw_lr, tokens_per_batch), e.source),
        Err(_) => (Vec::new(), "unknown optimizer"),
    }
}

/// Builds optimizer `name` over `params` (grouped by [`router`]`(name)`).
pub fn build(
    name: &str,
    params: &ParamSet,
    hparams: &[(String, String)],
    guard: GuardConfig,
    seed: u64,
) -> Result<Driver> {
    let entry = entry(name)?;
    let (main, partner) = split_partner(hparams);
    let req = Request {
        hparams: &main,
        partner: &partner,
        no_decay: &["no_decay"],
        guard,
        seed,
    };
    Ok(entry.recipe.build(params, &req)?)
}
