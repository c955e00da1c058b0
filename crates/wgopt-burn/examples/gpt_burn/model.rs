//! A GPT in burn's modules: token and position embeddings, pre-LayerNorm blocks of causal
//! multi-head attention and a GELU MLP, a final LayerNorm and a head tied to the token
//! embedding (nanoGPT's shape). Parameter paths are burn's: `wte.weight`,
//! `blocks.0.qkv.weight`, `blocks.0.ln1.gamma`, … — wgopt's routers send the blocks' matrices
//! to Muon/ROOT and the embeddings, norms and biases to AdamW by these names.

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{
    Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig,
};
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::{Bool, Device, Int, Tensor};

/// The model's size.
#[derive(Debug, Clone, Copy)]
pub struct GptShape {
    pub vocab: usize,
    pub context: usize,
    pub layers: usize,
    pub heads: usize,
    pub width: usize,
}

/// GPT-2's initialisation: N(0, 0.02) weights, zero biases.
fn init() -> Initializer {
    Initializer::Normal {
        mean: 0.0,
        std: 0.02,
    }
}

fn linear(d_in: usize, d_out: usize, device: &Device) -> Linear {
    LinearConfig::new(d_in, d_out)
        .with_initializer(init())
        .init(device)
}

#[derive(Module, Debug)]
pub struct Block {
    ln1: LayerNorm,
    qkv: Linear,
    proj: Linear,
    ln2: LayerNorm,
    fc: Linear,
    fc_proj: Linear,
    heads: usize,
}

impl Block {
    fn new(s: &GptShape, device: &Device) -> Block {
        let c = s.width;
        Block {
            ln1: LayerNormConfig::new(c).init(device),
            qkv: linear(c, 3 * c, device),
            proj: linear(c, c, device),
            ln2: LayerNormConfig::new(c).init(device),
            fc: linear(c, 4 * c, device),
            fc_proj: linear(4 * c, c, device),
            heads: s.heads,
        }
    }

    /// x + attention(ln1 x), then + MLP(ln2 ·); `mask` is true above the diagonal (the
    /// future, filled with −1e9 before the softmax).
    fn forward(&self, x: Tensor<3>, mask: &Tensor<4, Bool>) -> Tensor<3> {
        let [b, t, c] = x.dims();
        let (h, d) = (self.heads, c / self.heads);
        let qkv = self.qkv.forward(self.ln1.forward(x.clone()));
        let split = |i: usize| {
            qkv.clone()
                .narrow(2, i * c, c)
                .reshape([b, t, h, d])
                .swap_dims(1, 2)
        };
        let (q, k, v) = (split(0), split(1), split(2));
        let scores = q.matmul(k.swap_dims(2, 3)).div_scalar((d as f64).sqrt());
        let att = softmax(scores.mask_fill(mask.clone(), -1e9), 3);
        let y = att.matmul(v).swap_dims(1, 2).reshape([b, t, c]);
        let x = x + self.proj.forward(y);
        let m = self
            .fc_proj
            .forward(gelu(self.fc.forward(self.ln2.forward(x.clone()))));
        x + m
    }
}

#[derive(Module, Debug)]
pub struct Gpt {
    wte: Embedding,
    wpe: Embedding,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
}

impl Gpt {
    pub fn new(s: &GptShape, device: &Device) -> Gpt {
        Gpt {
            wte: EmbeddingConfig::new(s.vocab, s.width)
                .with_initializer(init())
                .init(device),
            wpe: EmbeddingConfig::new(s.context, s.width)
                .with_initializer(init())
                .init(device),
            blocks: (0..s.layers).map(|_| Block::new(s, device)).collect(),
            ln_f: LayerNormConfig::new(s.width).init(device),
        }
    }

    /// Logits `[B·T, vocab]` for tokens `[B, T]`; the head is `wte`ᵀ.
    pub fn logits(&self, tokens: Tensor<2, Int>) -> Tensor<2> {
        let [b, t] = tokens.dims();
        let device = tokens.device();
        let positions = Tensor::<1, Int>::arange(0..t as i64, &device).reshape([1, t]);
        let mut x = self.wte.forward(tokens) + self.wpe.forward(positions);
        // burn's `tril_mask` is false on and below the diagonal and true above it: the keys a
        // query must not see.
        let mask = Tensor::<2, Bool>::tril_mask([t, t], 0, &device).reshape([1, 1, t, t]);
        let mask = mask.expand([b, self.blocks.first().map_or(1, |bl| bl.heads), t, t]);
        for block in &self.blocks {
            x = block.forward(x, &mask);
        }
        let c = x.dims()[2];
        let x = self.ln_f.forward(x).reshape([b * t, c]);
        x.matmul(self.wte.weight.val().transpose())
    }

    /// Mean cross-entropy of the next-token predictions.
    pub fn loss(&self, tokens: Tensor<2, Int>, targets: Tensor<2, Int>) -> Tensor<1> {
        let [b, t] = targets.dims();
        cross_entropy(self.logits(tokens), targets.reshape([b * t]))
    }

    /// Sophia-G's Gauss–Newton–Bartlett loss: the cross-entropy against labels sampled from
    /// the model's own softmax (Gumbel-max on detached logits), whose gradient Sophia squares.
    pub fn sampled_label_loss(&self, tokens: Tensor<2, Int>) -> Tensor<1> {
        let logits = self.logits(tokens);
        let u = Tensor::<2>::random(
            logits.dims(),
            burn::tensor::Distribution::Uniform(1e-12, 1.0),
            &logits.device(),
        );
        let gumbel = u.log().neg().log().neg();
        let labels = (logits.clone().detach() + gumbel)
            .argmax(1)
            .flatten::<1>(0, 1);
        cross_entropy(logits, labels)
    }
}

fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    CrossEntropyLossConfig::new()
        .init(&logits.device())
        .forward(logits, targets)
}
