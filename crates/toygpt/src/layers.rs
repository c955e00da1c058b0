//! One free function per layer, forward and backward side by side (after llm.c's
//! `train_gpt2.c`). Buffers are flat, row-major, `[B, T, C]` unless said otherwise; backward
//! functions *accumulate* into their gradient outputs (`+=`), so the caller zeroes them once.
//! Generic over [`Real`] so the gradient check can run the same code in f64.

use ndarray::{linalg::general_mat_mul, ArrayView2, ArrayViewMut2, LinalgScalar};
use num_traits::Float;

/// The element type: f32 for training, f64 for the gradient check.
pub trait Real: Float + LinalgScalar + Send + Sync + Default + std::fmt::Debug {
    fn c(x: f64) -> Self;
}
impl Real for f32 {
    fn c(x: f64) -> Self {
        x as f32
    }
}
impl Real for f64 {
    fn c(x: f64) -> Self {
        x
    }
}

/// LayerNorm's ε (GPT-2's).
const LN_EPS: f64 = 1e-5;

/// `out[b,t,:] = wte[tokens[b,t], :] + wpe[t, :]`.
pub fn encoder_forward<F: Real>(
    out: &mut [F],
    tokens: &[u32],
    wte: &[F],
    wpe: &[F],
    t: usize,
    c: usize,
) {
    for (i, &tok) in tokens.iter().enumerate() {
        let pos = i % t;
        let o = &mut out[i * c..(i + 1) * c];
        let e = &wte[tok as usize * c..(tok as usize + 1) * c];
        let p = &wpe[pos * c..(pos + 1) * c];
        for j in 0..c {
            o[j] = e[j] + p[j];
        }
    }
}

pub fn encoder_backward<F: Real>(
    dwte: &mut [F],
    dwpe: &mut [F],
    dout: &[F],
    tokens: &[u32],
    t: usize,
    c: usize,
) {
    for (i, &tok) in tokens.iter().enumerate() {
        let pos = i % t;
        let d = &dout[i * c..(i + 1) * c];
        let e = &mut dwte[tok as usize * c..(tok as usize + 1) * c];
        for j in 0..c {
            e[j] = e[j] + d[j];
        }
        let p = &mut dwpe[pos * c..(pos + 1) * c];
        for j in 0..c {
            p[j] = p[j] + d[j];
        }
    }
}

/// LayerNorm over the last axis; keeps the mean and 1/σ of every row for the backward pass.
pub fn layernorm_forward<F: Real>(
    out: &mut [F],
    mean: &mut [F],
    rstd: &mut [F],
    inp: &[F],
    w: &[F],
    b: &[F],
    c: usize,
) {
    let n = F::c(c as f64);
    for (row, x) in inp.chunks_exact(c).enumerate() {
        let m = x.iter().fold(F::zero(), |a, &v| a + v) / n;
        let var = x.iter().fold(F::zero(), |a, &v| a + (v - m) * (v - m)) / n;
        let s = F::one() / (var + F::c(LN_EPS)).sqrt();
        let o = &mut out[row * c..(row + 1) * c];
        for j in 0..c {
            o[j] = (x[j] - m) * s * w[j] + b[j];
        }
        mean[row] = m;
        rstd[row] = s;
    }
}

#[allow(clippy::too_many_arguments)]
pub fn layernorm_backward<F: Real>(
    dinp: &mut [F],
    dw: &mut [F],
    db: &mut [F],
    dout: &[F],
    inp: &[F],
    w: &[F],
    mean: &[F],
    rstd: &[F],
    c: usize,
) {
    let n = F::c(c as f64);
    for (row, x) in inp.chunks_exact(c).enumerate() {
        let d = &dout[row * c..(row + 1) * c];
        let (m, s) = (mean[row], rstd[row]);
        let mut dnorm_mean = F::zero();
        let mut dnorm_norm_mean = F::zero();
        for j in 0..c {
            let norm = (x[j] - m) * s;
            let dnorm = w[j] * d[j];
            dnorm_mean = dnorm_mean + dnorm;
            dnorm_norm_mean = dnorm_norm_mean + dnorm * norm;
        }
        dnorm_mean = dnorm_mean / n;
        dnorm_norm_mean = dnorm_norm_mean / n;
        let di = &mut dinp[row * c..(row + 1) * c];
        for j in 0..c {
            let norm = (x[j] - m) * s;
            let dnorm = w[j] * d[j];
            db[j] = db[j] + d[j];
            dw[j] = dw[j] + norm * d[j];
            di[j] = di[j] + (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
        }
    }
}

fn view<F>(data: &[F], rows: usize, cols: usize) -> ArrayView2<'_, F> {
    ArrayView2::from_shape((rows, cols), data).expect("buffer sized by the caller")
}

fn view_mut<F>(data: &mut [F], rows: usize, cols: usize) -> ArrayViewMut2<'_, F> {
    ArrayViewMut2::from_shape((rows, cols), data).expect("buffer sized by the caller")
}

/// `out[n, oc] = inp[n, c] · w[oc, c]ᵀ (+ b[oc])`, through ndarray's GEMM (matrixmultiply,
/// threaded on large products).
pub fn matmul_forward<F: Real>(
    out: &mut [F],
    inp: &[F],
    w: &[F],
    b: Option<&[F]>,
    n: usize,
    c: usize,
    oc: usize,
) {
    let mut o = view_mut(out, n, oc);
    general_mat_mul(
        F::one(),
        &view(inp, n, c),
        &view(w, oc, c).t(),
        F::zero(),
        &mut o,
    );
    if let Some(b) = b {
        for mut row in o.rows_mut() {
            for (x, &bj) in row.iter_mut().zip(b) {
                *x = *x + bj;
            }
        }
    }
}

/// `dinp += dout · w`, `dw += doutᵀ · inp`, `db += Σ_rows dout`.
#[allow(clippy::too_many_arguments)]
pub fn matmul_backward<F: Real>(
    dinp: &mut [F],
    dw: &mut [F],
    db: Option<&mut [F]>,
    dout: &[F],
    inp: &[F],
    w: &[F],
    n: usize,
    c: usize,
    oc: usize,
) {
    let d = view(dout, n, oc);
    general_mat_mul(
        F::one(),
        &d,
        &view(w, oc, c),
        F::one(),
        &mut view_mut(dinp, n, c),
    );
    general_mat_mul(
        F::one(),
        &d.t(),
        &view(inp, n, c),
        F::one(),
        &mut view_mut(dw, oc, c),
    );
    if let Some(db) = db {
        for row in d.rows() {
            for (x, &g) in db.iter_mut().zip(row) {
                *x = *x + g;
            }
        }
    }
}

/// Threads for batch-parallel layers: one per core, at most one per sequence.
fn threads_for(b: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(b)
        .max(1)
}

/// Causal multi-head attention over `qkv[B, T, 3C]` (q, k, v side by side); `att[B, NH, T, T]`
/// keeps the softmax weights (the upper triangle stays zero) for the backward pass. Sequences
/// are independent, so they are split across threads (the GEMMs thread themselves).
pub fn attention_forward<F: Real>(
    out: &mut [F],
    att: &mut [F],
    qkv: &[F],
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
) {
    let per = b.div_ceil(threads_for(b));
    std::thread::scope(|s| {
        let parts = out
            .chunks_mut(per * t * c)
            .zip(att.chunks_mut(per * nh * t * t))
            .zip(qkv.chunks(per * t * 3 * c));
        for ((o, a), q) in parts {
            let bb = o.len() / (t * c);
            s.spawn(move || attention_forward_serial(o, a, q, bb, t, c, nh));
        }
    });
}

fn attention_forward_serial<F: Real>(
    out: &mut [F],
    att: &mut [F],
    qkv: &[F],
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
) {
    let hs = c / nh;
    let scale = F::one() / F::c(hs as f64).sqrt();
    let c3 = 3 * c;
    for bb in 0..b {
        for tt in 0..t {
            for h in 0..nh {
                let q = &qkv[(bb * t + tt) * c3 + h * hs..][..hs];
                let a = &mut att[((bb * nh + h) * t + tt) * t..][..t];
                let mut maxv = F::neg_infinity();
                for t2 in 0..=tt {
                    let k = &qkv[(bb * t + t2) * c3 + c + h * hs..][..hs];
                    let s = q.iter().zip(k).fold(F::zero(), |acc, (&x, &y)| acc + x * y) * scale;
                    a[t2] = s;
                    maxv = maxv.max(s);
                }
                let mut sum = F::zero();
                for v in a.iter_mut().take(tt + 1) {
                    *v = (*v - maxv).exp();
                    sum = sum + *v;
                }
                let inv = F::one() / sum;
                for v in a.iter_mut().take(tt + 1) {
                    *v = *v * inv;
                }
                for v in a.iter_mut().skip(tt + 1) {
                    *v = F::zero();
                }
                let o = &mut out[(bb * t + tt) * c + h * hs..][..hs];
                o.iter_mut().for_each(|x| *x = F::zero());
                for (t2, &w) in a.iter().enumerate().take(tt + 1) {
                    let v = &qkv[(bb * t + t2) * c3 + 2 * c + h * hs..][..hs];
                    for j in 0..hs {
                        o[j] = o[j] + w * v[j];
                    }
                }
            }
        }
    }
}

/// Backward of [`attention_forward`]: the softmax Jacobian is applied row by row, so no
/// `[B, NH, T, T]` gradient buffer is needed, only one row of length T. Batch-parallel like
/// the forward (a sequence's gradient rows depend on that sequence alone).
#[allow(clippy::too_many_arguments)]
pub fn attention_backward<F: Real>(
    dqkv: &mut [F],
    dout: &[F],
    qkv: &[F],
    att: &[F],
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
) {
    let per = b.div_ceil(threads_for(b));
    std::thread::scope(|s| {
        let parts = dqkv
            .chunks_mut(per * t * 3 * c)
            .zip(dout.chunks(per * t * c))
            .zip(qkv.chunks(per * t * 3 * c))
            .zip(att.chunks(per * nh * t * t));
        for (((dq, d), q), a) in parts {
            let bb = d.len() / (t * c);
            s.spawn(move || attention_backward_serial(dq, d, q, a, bb, t, c, nh));
        }
    });
}

#[allow(clippy::too_many_arguments)]
fn attention_backward_serial<F: Real>(
    dqkv: &mut [F],
    dout: &[F],
    qkv: &[F],
    att: &[F],
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
) {
    let hs = c / nh;
    let scale = F::one() / F::c(hs as f64).sqrt();
    let c3 = 3 * c;
    let mut datt = vec![F::zero(); t];
    for bb in 0..b {
        for tt in 0..t {
            for h in 0..nh {
                let a = &att[((bb * nh + h) * t + tt) * t..][..t];
                let d = &dout[(bb * t + tt) * c + h * hs..][..hs];
                // out = Σ a·v: datt[t2] = d·v[t2], dv[t2] += a[t2]·d.
                for t2 in 0..=tt {
                    let vo = (bb * t + t2) * c3 + 2 * c + h * hs;
                    let mut s = F::zero();
                    for j in 0..hs {
                        s = s + d[j] * qkv[vo + j];
                        dqkv[vo + j] = dqkv[vo + j] + a[t2] * d[j];
                    }
                    datt[t2] = s;
                }
                // Softmax: dpre[t2] = a[t2]·(datt[t2] − Σ a·datt).
                let dot = (0..=tt).fold(F::zero(), |acc, t2| acc + a[t2] * datt[t2]);
                let qo = (bb * t + tt) * c3 + h * hs;
                for t2 in 0..=tt {
                    let dpre = a[t2] * (datt[t2] - dot) * scale;
                    let ko = (bb * t + t2) * c3 + c + h * hs;
                    for j in 0..hs {
                        dqkv[qo + j] = dqkv[qo + j] + dpre * qkv[ko + j];
                        dqkv[ko + j] = dqkv[ko + j] + dpre * qkv[qo + j];
                    }
                }
            }
        }
    }
}

/// GPT-2's tanh approximation of GELU.
pub fn gelu_forward<F: Real>(out: &mut [F], inp: &[F]) {
    let k = F::c((2.0 / std::f64::consts::PI).sqrt());
    let (half, cubic) = (F::c(0.5), F::c(0.044715));
    for (o, &x) in out.iter_mut().zip(inp) {
        *o = half * x * (F::one() + (k * (x + cubic * x * x * x)).tanh());
    }
}

pub fn gelu_backward<F: Real>(dinp: &mut [F], inp: &[F], dout: &[F]) {
    let k = F::c((2.0 / std::f64::consts::PI).sqrt());
    let (half, cubic) = (F::c(0.5), F::c(0.044715));
    for ((di, &x), &d) in dinp.iter_mut().zip(inp).zip(dout) {
        let th = (k * (x + cubic * x * x * x)).tanh();
        let sech2 = F::one() - th * th;
        let local =
            half * (F::one() + th) + half * x * sech2 * k * (F::one() + F::c(3.0) * cubic * x * x);
        *di = *di + local * d;
    }
}

/// `out = a + b`.
pub fn residual_forward<F: Real>(out: &mut [F], a: &[F], b: &[F]) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = x + y;
    }
}

/// `da += dout`, `db += dout`.
pub fn residual_backward<F: Real>(da: &mut [F], db: &mut [F], dout: &[F]) {
    for ((x, y), &d) in da.iter_mut().zip(db.iter_mut()).zip(dout) {
        *x = *x + d;
        *y = *y + d;
    }
}

/// Row-wise softmax of `logits[N, V]` into `probs`, and the cross-entropy `−ln p[target]` of
/// every row into `losses`.
pub fn softmax_crossentropy_forward<F: Real>(
    probs: &mut [F],
    losses: &mut [F],
    logits: &[F],
    targets: &[u32],
    v: usize,
) {
    for (row, l) in logits.chunks_exact(v).enumerate() {
        let maxv = l.iter().fold(F::neg_infinity(), |a, &x| a.max(x));
        let p = &mut probs[row * v..(row + 1) * v];
        let mut sum = F::zero();
        for (pi, &x) in p.iter_mut().zip(l) {
            *pi = (x - maxv).exp();
            sum = sum + *pi;
        }
        let inv = F::one() / sum;
        p.iter_mut().for_each(|x| *x = *x * inv);
        // log-sum-exp form: finite even where p[target] underflows.
        losses[row] = maxv + sum.ln() - l[targets[row] as usize];
    }
}

/// `dlogits = (probs − onehot(target)) · scale` (scale = 1/N for the mean loss).
pub fn softmax_crossentropy_backward<F: Real>(
    dlogits: &mut [F],
    probs: &[F],
    targets: &[u32],
    v: usize,
    scale: F,
) {
    for (row, (d, p)) in dlogits
        .chunks_exact_mut(v)
        .zip(probs.chunks_exact(v))
        .enumerate()
    {
        for (j, (dj, &pj)) in d.iter_mut().zip(p).enumerate() {
            let onehot = if j == targets[row] as usize {
                F::one()
            } else {
                F::zero()
            };
            *dj = (pj - onehot) * scale;
        }
    }
}
