//! The model's shape.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// A GPT's dimensions (GPT-2's names: `n_layer`, `n_head`, `n_embd`, context = `block_size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GptConfig {
    pub vocab: usize,
    pub context: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_embd: usize,
}

impl GptConfig {
    /// The default toy: 2 layers, 4 heads, width 64, context 64 (about 0.1 M parameters; a
    /// step on 16 sequences is about 0.7 GFLOP, a few hundred per minute on two CPU cores).
    pub fn toy(vocab: usize) -> Self {
        GptConfig {
            vocab,
            context: 64,
            n_layer: 2,
            n_head: 4,
            n_embd: 64,
        }
    }

    /// Per-head width.
    pub fn head_size(&self) -> usize {
        self.n_embd / self.n_head.max(1)
    }

    /// Rejects zero sizes and widths the heads do not divide.
    pub fn validate(&self) -> Result<()> {
        let named = [
            ("vocab", self.vocab),
            ("context", self.context),
            ("n_layer", self.n_layer),
            ("n_head", self.n_head),
            ("n_embd", self.n_embd),
        ];
        for (name, v) in named {
            if v == 0 {
                return Err(Error::Config(format!("{name} must be positive")));
            }
        }
        if self.vocab < 2 {
            return Err(Error::TooFewSymbols(self.vocab));
        }
        if !self.n_embd.is_multiple_of(self.n_head) {
            return Err(Error::Config(format!(
                "n_embd {} is not a multiple of n_head {}",
                self.n_embd, self.n_head
            )));
        }
        // Keeps every activation buffer far below usize overflow and host memory.
        let widest = self.n_embd.max(self.vocab).saturating_mul(4);
        if widest.saturating_mul(self.context) > 1 << 28 {
            return Err(Error::Config("model too large for a toy".into()));
        }
        Ok(())
    }
}
