//! The model's shape.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Most blocks the toy GPT builds (its CPU forward is for models of a few million weights).
pub const MAX_LAYERS: usize = 256;
/// Most parameters the toy GPT builds (2^27: 512 MiB of f32 weights).
pub const MAX_PARAMETERS: usize = 1 << 27;
/// Most f32 activations one step may keep (2^29: 2 GiB), bounding layers × batch × width.
pub const MAX_ACTIVATION_FLOATS: usize = 1 << 29;

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
        if self.n_layer > MAX_LAYERS {
            return Err(Error::Config(format!(
                "n_layer must be at most {MAX_LAYERS} for the toy GPT, got {}",
                self.n_layer
            )));
        }
        if self.parameters() > MAX_PARAMETERS {
            return Err(Error::Config(format!(
                "the model would have {} parameters, over the toy's limit of {MAX_PARAMETERS}",
                self.parameters()
            )));
        }
        Ok(())
    }

    /// Parameter count (saturating): embeddings, 12·d² + 13·d per block, final norm and head.
    pub fn parameters(&self) -> usize {
        let d = self.n_embd;
        let block = d
            .saturating_mul(d)
            .saturating_mul(12)
            .saturating_add(13 * d);
        let embed = self.vocab.saturating_add(self.context).saturating_mul(d);
        block
            .saturating_mul(self.n_layer)
            .saturating_add(embed.saturating_mul(2))
            .saturating_add(2 * d)
    }

    /// f32 activations one training step keeps for `batch` sequences (saturating, an upper
    /// estimate: per token and layer about 16·d values plus the attention rows).
    pub fn activation_floats(&self, batch: usize) -> usize {
        let per_token_layer = self
            .n_embd
            .saturating_mul(16)
            .saturating_add(self.n_head.saturating_mul(self.context));
        batch
            .saturating_mul(self.context)
            .saturating_mul(self.n_layer.saturating_add(1))
            .saturating_mul(per_token_layer)
            .saturating_add(
                batch
                    .saturating_mul(self.context)
                    .saturating_mul(self.vocab)
                    .saturating_mul(2),
            )
    }
}
