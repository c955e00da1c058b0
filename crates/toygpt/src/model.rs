//! The GPT: parameters (GPT-2's names and initialisation), activations, forward and backward.

use crate::config::GptConfig;
use crate::error::{Error, Result};
use crate::layers::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use wgopt::reference::optim::mkor::{batch_statistics, LayerStatistics};

/// Tensors per transformer block, in [`param_specs`] order.
const PER_LAYER: usize = 12;
const LN1_W: usize = 0;
const LN1_B: usize = 1;
const QKV_W: usize = 2;
const QKV_B: usize = 3;
const ATTPROJ_W: usize = 4;
const ATTPROJ_B: usize = 5;
const LN2_W: usize = 6;
const LN2_B: usize = 7;
const FC_W: usize = 8;
const FC_B: usize = 9;
const FCPROJ_W: usize = 10;
const FCPROJ_B: usize = 11;
const WTE: usize = 0;
const WPE: usize = 1;

/// Every parameter's GPT-2 name and shape (`[out, in]` for linear weights), in the order of
/// [`Gpt::params`]. The names route cleanly: `wte`/`wpe` are embeddings, 1-D tensors are
/// gains and biases.
pub fn param_specs(cfg: &GptConfig) -> Vec<(String, Vec<usize>)> {
    let c = cfg.n_embd;
    let mut v = vec![
        ("wte".to_string(), vec![cfg.vocab, c]),
        ("wpe".to_string(), vec![cfg.context, c]),
    ];
    for l in 0..cfg.n_layer {
        let p = |s: &str| format!("h{l}.{s}");
        v.extend([
            (p("ln_1.weight"), vec![c]),
            (p("ln_1.bias"), vec![c]),
            (p("attn.c_attn.weight"), vec![3 * c, c]),
            (p("attn.c_attn.bias"), vec![3 * c]),
            (p("attn.c_proj.weight"), vec![c, c]),
            (p("attn.c_proj.bias"), vec![c]),
            (p("ln_2.weight"), vec![c]),
            (p("ln_2.bias"), vec![c]),
            (p("mlp.c_fc.weight"), vec![4 * c, c]),
            (p("mlp.c_fc.bias"), vec![4 * c]),
            (p("mlp.c_proj.weight"), vec![c, 4 * c]),
            (p("mlp.c_proj.bias"), vec![c]),
        ]);
    }
    v.push(("ln_f.weight".into(), vec![c]));
    v.push(("ln_f.bias".into(), vec![c]));
    v
}

/// A GPT's configuration and parameters (tied LM head: the logits are `ln_f(x) · wteᵀ`).
#[derive(Debug, Clone)]
pub struct Gpt<F> {
    pub cfg: GptConfig,
    /// In [`param_specs`] order.
    pub params: Vec<Vec<F>>,
}

impl<F: Real> Gpt<F> {
    /// GPT-2's initialisation: N(0, 0.02) weights and embeddings, residual projections
    /// (`c_proj`) scaled by 1/√(2·n_layer), zero biases, unit LayerNorm gains.
    pub fn new(cfg: GptConfig, seed: u64) -> Result<Self> {
        cfg.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let base = Normal::new(0.0f64, 0.02).expect("positive std");
        let proj_scale = 1.0 / (2.0 * cfg.n_layer as f64).sqrt();
        let params = param_specs(&cfg)
            .iter()
            .map(|(name, shape)| {
                let n: usize = shape.iter().product();
                if shape.len() == 1 {
                    let one = name.ends_with("weight");
                    vec![if one { F::one() } else { F::zero() }; n]
                } else {
                    let s = if name.ends_with("c_proj.weight") {
                        proj_scale
                    } else {
                        1.0
                    };
                    (0..n).map(|_| F::c(base.sample(&mut rng) * s)).collect()
                }
            })
            .collect();
        Ok(Gpt { cfg, params })
    }

    /// The same model in another precision (the gradient check runs f64).
    pub fn cast<G: Real>(&self) -> Gpt<G> {
        Gpt {
            cfg: self.cfg,
            params: self
                .params
                .iter()
                .map(|p| {
                    p.iter()
                        .map(|&x| G::c(x.to_f64().unwrap_or(f64::NAN)))
                        .collect()
                })
                .collect(),
        }
    }

    /// Number of scalar parameters.
    pub fn num_params(&self) -> usize {
        self.params.iter().map(Vec::len).sum()
    }

    /// Zeroed buffers of the parameters' shapes (gradients, probes).
    pub fn zeros_like(&self) -> Vec<Vec<F>> {
        self.params
            .iter()
            .map(|p| vec![F::zero(); p.len()])
            .collect()
    }

    fn layer(&self, l: usize, k: usize) -> &[F] {
        &self.params[2 + l * PER_LAYER + k]
    }

    fn lnf(&self) -> (&[F], &[F]) {
        let i = 2 + self.cfg.n_layer * PER_LAYER;
        (&self.params[i], &self.params[i + 1])
    }

    fn check_tokens(&self, tokens: &[u32]) -> Result<()> {
        match tokens.iter().find(|&&t| t as usize >= self.cfg.vocab) {
            Some(&t) => Err(Error::TokenOutOfRange {
                token: t as usize,
                vocab: self.cfg.vocab,
            }),
            None => Ok(()),
        }
    }

    /// Runs the model on `tokens[B, T]` (`acts` fixes B and T ≤ context) and returns the mean
    /// cross-entropy against `targets[B, T]`. Softmax probabilities stay in `acts.probs`.
    pub fn forward(&self, acts: &mut Activations<F>, tokens: &[u32], targets: &[u32]) -> Result<F> {
        let (b, t) = (acts.b, acts.t);
        let n = b * t;
        if tokens.len() != n || targets.len() != n || t > self.cfg.context {
            return Err(Error::Config(format!(
                "forward on {} tokens / {} targets with activations for {b}×{t} (context {})",
                tokens.len(),
                targets.len(),
                self.cfg.context
            )));
        }
        self.check_tokens(tokens)?;
        self.check_tokens(targets)?;
        let (c, v) = (self.cfg.n_embd, self.cfg.vocab);
        encoder_forward(
            &mut acts.encoded,
            tokens,
            &self.params[WTE],
            &self.params[WPE],
            t,
            c,
        );
        for l in 0..self.cfg.n_layer {
            let (before, rest) = acts.layers.split_at_mut(l);
            let input: &[F] = if l == 0 {
                &acts.encoded
            } else {
                &before[l - 1].res3
            };
            self.block_forward(l, &mut rest[0], input, b, t);
        }
        let last: &[F] = match acts.layers.last() {
            Some(a) => &a.res3,
            None => &acts.encoded,
        };
        let (lw, lb) = self.lnf();
        layernorm_forward(
            &mut acts.lnf,
            &mut acts.lnf_mean,
            &mut acts.lnf_rstd,
            last,
            lw,
            lb,
            c,
        );
        matmul_forward(
            &mut acts.logits,
            &acts.lnf,
            &self.params[WTE],
            None,
            n,
            c,
            v,
        );
        softmax_crossentropy_forward(&mut acts.probs, &mut acts.losses, &acts.logits, targets, v);
        let sum = acts.losses.iter().fold(F::zero(), |s, &x| s + x);
        Ok(sum / F::c(n as f64))
    }

    /// Gradients of the mean cross-entropy against `targets` (which may differ from the
    /// forward's: Sophia's estimator backpropagates sampled labels through the same forward)
    /// into `grads` (overwritten).
    pub fn backward(
        &self,
        acts: &mut Activations<F>,
        tokens: &[u32],
        targets: &[u32],
        grads: &mut [Vec<F>],
    ) -> Result<()> {
        let (b, t) = (acts.b, acts.t);
        let n = b * t;
        if targets.len() != n || tokens.len() != n || grads.len() != self.params.len() {
            return Err(Error::Config(
                "backward: buffers do not match the forward".into(),
            ));
        }
        self.check_tokens(targets)?;
        let (c, v) = (self.cfg.n_embd, self.cfg.vocab);
        for g in grads.iter_mut() {
            g.iter_mut().for_each(|x| *x = F::zero());
        }
        let stats = &mut acts.linear_stats;
        stats.layers.clear();
        let s = &mut acts.scratch;
        softmax_crossentropy_backward(
            &mut s.dlogits,
            &acts.probs,
            targets,
            v,
            F::one() / F::c(n as f64),
        );
        let (head, rest) = grads.split_at_mut(2);
        let (dwte, dwpe) = head.split_at_mut(1);
        let (dwte, dwpe) = (&mut dwte[0], &mut dwpe[0]);
        zero(&mut s.dln);
        matmul_backward(
            &mut s.dln,
            dwte,
            None,
            &s.dlogits,
            &acts.lnf,
            &self.params[WTE],
            n,
            c,
            v,
        );
        let (dlayers, dlnf) = rest.split_at_mut(self.cfg.n_layer * PER_LAYER);
        let last: &[F] = match acts.layers.last() {
            Some(a) => &a.res3,
            None => &acts.encoded,
        };
        let (lw, _) = self.lnf();
        zero(&mut s.dres);
        let (dlw, dlb) = dlnf.split_at_mut(1);
        layernorm_backward(
            &mut s.dres,
            &mut dlw[0],
            &mut dlb[0],
            &s.dln,
            last,
            lw,
            &acts.lnf_mean,
            &acts.lnf_rstd,
            c,
        );
        for l in (0..self.cfg.n_layer).rev() {
            let input: &[F] = if l == 0 {
                &acts.encoded
            } else {
                &acts.layers[l - 1].res3
            };
            let d = &mut dlayers[l * PER_LAYER..(l + 1) * PER_LAYER];
            self.block_backward(l, &acts.layers[l], input, d, s, stats, (b, t))?;
        }
        encoder_backward(dwte, dwpe, &s.dres, tokens, t, c);
        Ok(())
    }

    /// One pre-LN block: res2 = input + attproj(attention(qkv(ln1(input)))), then
    /// res3 = res2 + fcproj(gelu(fc(ln2(res2)))), every intermediate kept in `a` for backward.
    fn block_forward(&self, l: usize, a: &mut LayerActs<F>, input: &[F], b: usize, t: usize) {
        let (n, c, nh) = (b * t, self.cfg.n_embd, self.cfg.n_head);
        let p = |k| self.layer(l, k);
        layernorm_forward(
            &mut a.ln1,
            &mut a.ln1_mean,
            &mut a.ln1_rstd,
            input,
            p(LN1_W),
            p(LN1_B),
            c,
        );
        matmul_forward(&mut a.qkv, &a.ln1, p(QKV_W), Some(p(QKV_B)), n, c, 3 * c);
        attention_forward(&mut a.atty, &mut a.att, &a.qkv, b, t, c, nh);
        matmul_forward(
            &mut a.attproj,
            &a.atty,
            p(ATTPROJ_W),
            Some(p(ATTPROJ_B)),
            n,
            c,
            c,
        );
        residual_forward(&mut a.res2, input, &a.attproj);
        layernorm_forward(
            &mut a.ln2,
            &mut a.ln2_mean,
            &mut a.ln2_rstd,
            &a.res2,
            p(LN2_W),
            p(LN2_B),
            c,
        );
        matmul_forward(&mut a.fch, &a.ln2, p(FC_W), Some(p(FC_B)), n, c, 4 * c);
        gelu_forward(&mut a.fch_gelu, &a.fch);
        matmul_forward(
            &mut a.fcproj,
            &a.fch_gelu,
            p(FCPROJ_W),
            Some(p(FCPROJ_B)),
            n,
            4 * c,
            c,
        );
        residual_forward(&mut a.res3, &a.res2, &a.fcproj);
    }

    /// Backward through block `l` (see [`Gpt::block_forward`]): `s.dres` carries d res3 in and
    /// d input out; the block's parameter gradients accumulate into `d` (its `PER_LAYER`
    /// tensors) and MKOR's statistics of its linear layers go to `stats`.
    #[allow(clippy::too_many_arguments)]
    fn block_backward(
        &self,
        l: usize,
        a: &LayerActs<F>,
        input: &[F],
        d: &mut [Vec<F>],
        s: &mut Scratch<F>,
        stats: &mut LinearStats,
        (b, t): (usize, usize),
    ) -> Result<()> {
        let (n, c, nh) = (b * t, self.cfg.n_embd, self.cfg.n_head);
        let p = |k| self.layer(l, k);
        let [dln1w, dln1b, dqkvw, dqkvb, dattw, dattb, dln2w, dln2b, dfcw, dfcb, dfcpw, dfcpb] = d
        else {
            unreachable!("PER_LAYER tensors per block")
        };
        let index = |k: usize| 2 + l * PER_LAYER + k;
        // res3 = res2 + fcproj(gelu(fc(ln2(res2)))): dres carries d res3, then d res2.
        stats.record(index(FCPROJ_W), &a.fch_gelu, &s.dres, n)?;
        zero(&mut s.d4c_a);
        matmul_backward(
            &mut s.d4c_a,
            dfcpw,
            Some(dfcpb),
            &s.dres,
            &a.fch_gelu,
            p(FCPROJ_W),
            n,
            4 * c,
            c,
        );
        zero(&mut s.d4c_b);
        gelu_backward(&mut s.d4c_b, &a.fch, &s.d4c_a);
        stats.record(index(FC_W), &a.ln2, &s.d4c_b, n)?;
        zero(&mut s.dln);
        matmul_backward(
            &mut s.dln,
            dfcw,
            Some(dfcb),
            &s.d4c_b,
            &a.ln2,
            p(FC_W),
            n,
            c,
            4 * c,
        );
        layernorm_backward(
            &mut s.dres,
            dln2w,
            dln2b,
            &s.dln,
            &a.res2,
            p(LN2_W),
            &a.ln2_mean,
            &a.ln2_rstd,
            c,
        );
        // res2 = input + attproj(attention(qkv(ln1(input)))).
        stats.record(index(ATTPROJ_W), &a.atty, &s.dres, n)?;
        zero(&mut s.datty);
        matmul_backward(
            &mut s.datty,
            dattw,
            Some(dattb),
            &s.dres,
            &a.atty,
            p(ATTPROJ_W),
            n,
            c,
            c,
        );
        zero(&mut s.dqkv);
        attention_backward(&mut s.dqkv, &s.datty, &a.qkv, &a.att, b, t, c, nh);
        stats.record(index(QKV_W), &a.ln1, &s.dqkv, n)?;
        zero(&mut s.dln);
        matmul_backward(
            &mut s.dln,
            dqkvw,
            Some(dqkvb),
            &s.dqkv,
            &a.ln1,
            p(QKV_W),
            n,
            c,
            3 * c,
        );
        layernorm_backward(
            &mut s.dres,
            dln1w,
            dln1b,
            &s.dln,
            input,
            p(LN1_W),
            &a.ln1_mean,
            &a.ln1_rstd,
            c,
        );
        Ok(())
    }
}

/// MKOR's layer statistics, collected by [`Gpt::backward`] when asked
/// ([`Activations::collect_linear_stats`]): (parameter index of the weight, ā, ḡ) per linear
/// layer of the blocks (the tied LM head is an embedding and is not collected).
#[derive(Debug, Clone, Default)]
pub struct LinearStats {
    /// Clamp of the statistics (MKOR's `clip`); `None`: collect nothing.
    pub clip: Option<f64>,
    pub layers: Vec<(usize, LayerStatistics)>,
}

impl LinearStats {
    /// Records the statistics of the layer whose weight is parameter `index`: `inp` rows ×
    /// d_in, `dout` rows × d_out (a bias, so ā gets the ones column).
    fn record<F: Real>(&mut self, index: usize, inp: &[F], dout: &[F], rows: usize) -> Result<()> {
        let Some(clip) = self.clip else {
            return Ok(());
        };
        let to32 = |v: &[F]| -> Vec<f32> {
            v.iter()
                .map(|x| x.to_f64().unwrap_or(f64::NAN) as f32)
                .collect()
        };
        let stats = batch_statistics(&to32(inp), &to32(dout), rows, true, clip)
            .map_err(|e| Error::Config(format!("MKOR statistics: {e}")))?;
        self.layers.push((index, stats));
        Ok(())
    }
}

fn zero<F: Real>(x: &mut [F]) {
    x.iter_mut().for_each(|v| *v = F::zero());
}

/// One block's saved activations.
#[derive(Debug, Clone)]
pub struct LayerActs<F> {
    ln1: Vec<F>,
    ln1_mean: Vec<F>,
    ln1_rstd: Vec<F>,
    qkv: Vec<F>,
    atty: Vec<F>,
    att: Vec<F>,
    attproj: Vec<F>,
    res2: Vec<F>,
    ln2: Vec<F>,
    ln2_mean: Vec<F>,
    ln2_rstd: Vec<F>,
    fch: Vec<F>,
    fch_gelu: Vec<F>,
    fcproj: Vec<F>,
    res3: Vec<F>,
}

/// Gradient buffers of the backward pass (activation-shaped, reused across layers).
#[derive(Debug, Clone)]
struct Scratch<F> {
    dlogits: Vec<F>,
    dres: Vec<F>,
    dln: Vec<F>,
    datty: Vec<F>,
    dqkv: Vec<F>,
    d4c_a: Vec<F>,
    d4c_b: Vec<F>,
}

/// Everything forward saves for backward, for a fixed batch B × T; allocate once per shape.
#[derive(Debug, Clone)]
pub struct Activations<F> {
    pub b: usize,
    pub t: usize,
    encoded: Vec<F>,
    layers: Vec<LayerActs<F>>,
    lnf: Vec<F>,
    lnf_mean: Vec<F>,
    lnf_rstd: Vec<F>,
    logits: Vec<F>,
    /// Softmax of the logits, `[B·T, vocab]`.
    pub probs: Vec<F>,
    /// Per-position cross-entropy, `[B·T]`.
    pub losses: Vec<F>,
    /// MKOR's layer statistics from the last backward (set `clip` to collect).
    pub linear_stats: LinearStats,
    scratch: Scratch<F>,
}

impl<F: Real> Activations<F> {
    pub fn new(cfg: &GptConfig, b: usize, t: usize) -> Self {
        let (n, c, v, nh) = (b * t, cfg.n_embd, cfg.vocab, cfg.n_head);
        let z = |len: usize| vec![F::zero(); len];
        let layer = || LayerActs {
            ln1: z(n * c),
            ln1_mean: z(n),
            ln1_rstd: z(n),
            qkv: z(n * 3 * c),
            atty: z(n * c),
            att: z(b * nh * t * t),
            attproj: z(n * c),
            res2: z(n * c),
            ln2: z(n * c),
            ln2_mean: z(n),
            ln2_rstd: z(n),
            fch: z(n * 4 * c),
            fch_gelu: z(n * 4 * c),
            fcproj: z(n * c),
            res3: z(n * c),
        };
        Activations {
            b,
            t,
            encoded: z(n * c),
            layers: (0..cfg.n_layer).map(|_| layer()).collect(),
            lnf: z(n * c),
            lnf_mean: z(n),
            lnf_rstd: z(n),
            logits: z(n * v),
            probs: z(n * v),
            losses: z(n),
            linear_stats: LinearStats::default(),
            scratch: Scratch {
                dlogits: z(n * v),
                dres: z(n * c),
                dln: z(n * c),
                datty: z(n * c),
                dqkv: z(n * 3 * c),
                d4c_a: z(n * 4 * c),
                d4c_b: z(n * 4 * c),
            },
        }
    }
}
