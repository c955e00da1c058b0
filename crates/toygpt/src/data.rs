//! Character-level data: a vocabulary of the text's distinct characters, a train/validation
//! split, and seeded batch sampling (a batch is a pure function of the seed and the step, so a
//! resumed run sees the same batches as an uninterrupted one).

use crate::error::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};

/// Tokenised text with its vocabulary and split.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// Sorted distinct characters; a token is an index into it.
    pub chars: Vec<char>,
    pub train: Vec<u32>,
    pub val: Vec<u32>,
}

/// One batch: `tokens[B, T]` and `targets[B, T]` (the next characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub tokens: Vec<u32>,
    pub targets: Vec<u32>,
}

impl Corpus {
    /// Reads a UTF-8 text file (see [`Corpus::from_text`]).
    pub fn load(path: &Path, val_fraction: f64) -> Result<Corpus> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::DataFile {
            path: path.to_path_buf(),
            source,
        })?;
        if text.is_empty() {
            return Err(Error::EmptyData(path.to_path_buf()));
        }
        Self::from_text(&text, val_fraction)
    }

    /// The last `val_fraction` of the text is the validation split (nanoGPT's
    /// shakespeare_char uses 0.1).
    pub fn from_text(text: &str, val_fraction: f64) -> Result<Corpus> {
        if text.is_empty() {
            return Err(Error::EmptyData(PathBuf::from("<text>")));
        }
        if !(0.0..1.0).contains(&val_fraction) {
            return Err(Error::Config(format!(
                "validation fraction must be in [0, 1), got {val_fraction}"
            )));
        }
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        if chars.len() < 2 {
            return Err(Error::TooFewSymbols(chars.len()));
        }
        let tokens: Vec<u32> = text
            .chars()
            .map(|ch| {
                chars
                    .binary_search(&ch)
                    .expect("vocabulary built from this text") as u32
            })
            .collect();
        let split = ((tokens.len() as f64) * (1.0 - val_fraction)).round() as usize;
        let (train, val) = tokens.split_at(split);
        Ok(Corpus {
            chars,
            train: train.to_vec(),
            val: val.to_vec(),
        })
    }

    pub fn vocab(&self) -> usize {
        self.chars.len()
    }

    /// Fails unless both splits hold at least one window of `context + 1` tokens.
    pub fn check_context(&self, context: usize) -> Result<()> {
        for (split, data) in [("train", &self.train), ("validation", &self.val)] {
            if data.len() < context + 1 {
                return Err(Error::ContextTooLong {
                    split,
                    len: data.len(),
                    need: context + 1,
                });
            }
        }
        Ok(())
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        text.chars()
            .map(|ch| {
                self.chars
                    .binary_search(&ch)
                    .map(|i| i as u32)
                    .map_err(|_| {
                        Error::Config(format!("character {ch:?} is not in the vocabulary"))
                    })
            })
            .collect()
    }

    pub fn decode(&self, tokens: &[u32]) -> String {
        tokens
            .iter()
            .map(|&t| self.chars.get(t as usize).copied().unwrap_or('?'))
            .collect()
    }

    /// `b` random windows of `t + 1` tokens from the split, drawn from the stream
    /// `(seed, stream, step)`. With `label_noise` = p, each target is replaced by a uniformly
    /// random token with probability p (the inputs stay clean).
    #[allow(clippy::too_many_arguments)]
    pub fn batch(
        &self,
        split: Split,
        b: usize,
        t: usize,
        seed: u64,
        step: u64,
        label_noise: f64,
    ) -> Result<Batch> {
        let data = match split {
            Split::Train => &self.train,
            Split::Val => &self.val,
        };
        if data.len() < t + 1 {
            return Err(Error::ContextTooLong {
                split: split.name(),
                len: data.len(),
                need: t + 1,
            });
        }
        let mut rng = stream_rng(seed, split as u64, step);
        let mut tokens = Vec::with_capacity(b * t);
        let mut targets = Vec::with_capacity(b * t);
        for _ in 0..b {
            let start = rng.random_range(0..data.len() - t);
            tokens.extend_from_slice(&data[start..start + t]);
            targets.extend_from_slice(&data[start + 1..start + t + 1]);
        }
        if label_noise > 0.0 {
            let v = self.vocab() as u32;
            for y in targets.iter_mut() {
                if rng.random_bool(label_noise.min(1.0)) {
                    *y = rng.random_range(0..v);
                }
            }
        }
        Ok(Batch { tokens, targets })
    }
}

/// Which part of the corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train = 0,
    Val = 1,
}

impl Split {
    fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "validation",
        }
    }
}

/// An independent RNG for each `(seed, stream, step)`: batches, noise and sampled labels do
/// not depend on how many draws earlier steps made, so checkpoints need no RNG state.
pub fn stream_rng(seed: u64, stream: u64, step: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng.set_word_pos(step as u128 * (1u128 << 40));
    rng
}
