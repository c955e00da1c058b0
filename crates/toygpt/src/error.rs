//! Typed errors: bad data, bad configurations and failures underneath (wgopt, files).

use std::path::PathBuf;

/// What can go wrong in toygpt. Every variant says what to change.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read data file {path}: {source}")]
    DataFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("data file {0} is empty")]
    EmptyData(PathBuf),
    #[error("data has {0} distinct symbol(s); a language model needs at least 2")]
    TooFewSymbols(usize),
    #[error("the {split} split has {len} tokens, fewer than context + 1 = {need}: use a shorter --context or more data")]
    ContextTooLong {
        split: &'static str,
        len: usize,
        need: usize,
    },
    #[error("invalid model configuration: {0}")]
    Config(String),
    #[error("unknown optimizer {name:?}; known: {known}")]
    UnknownOptimizer { name: String, known: String },
    #[error("token {token} is outside the vocabulary of {vocab}")]
    TokenOutOfRange { token: usize, vocab: usize },
    #[error("checkpoint {path}: {why}")]
    Checkpoint { path: PathBuf, why: String },
    #[error(transparent)]
    Wgopt(#[from] wgopt::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, Error>;
