//! # toygpt
//!
//! A character-level GPT small enough to train on a laptop: token and position embeddings,
//! pre-LayerNorm blocks with causal multi-head attention and a GELU MLP, a final LayerNorm and
//! a tied LM head. Forward and backward are hand-written on the CPU over flat buffers (one
//! free function per layer in [`layers`], after llm.c); the matrix products go through
//! ndarray's threaded GEMM. wgopt owns the parameters on the GPU and applies every optimizer
//! step there; [`trainer`] is the loop that joins the two, including the curvature estimates
//! (Sophia's Gauss–Newton–Bartlett, finite-difference Hessian-vector products) in
//! [`curvature`].

pub mod config;
pub mod curvature;
pub mod data;
pub mod error;
pub mod layers;
pub mod model;
pub mod optimizers;
pub mod report;
pub mod trainer;

pub use config::GptConfig;
pub use data::{Batch, Corpus, Split};
pub use error::{Error, Result};
pub use layers::Real;
pub use model::{param_specs, Activations, Gpt};
pub use trainer::{StepReport, StepTimes, TrainConfig, Trainer};
