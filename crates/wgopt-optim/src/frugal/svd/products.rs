//! The GEMMs of FRUGAL's SVD projector, per weight: the projection P(G), the batched lift of
//! [P(G) | U], and the sketch products of a basis refresh.

use super::super::FrugalParam;
use wgopt_reference::optim::frugal::svd::SvdShape;
use wgopt_scheduler::{Engine, Result};
use wgopt_solvers::linalg::matmul::{GemmOffsets, Matmul, MatmulSpec};

/// The buffers every weight's products bind.
pub(super) struct Shared<'a> {
    pub(super) grad: &'a wgpu::Buffer,
    pub(super) low: &'a wgpu::Buffer,
    pub(super) basis: &'a wgpu::Buffer,
    pub(super) omega: &'a wgpu::Buffer,
    pub(super) y: &'a wgpu::Buffer,
    pub(super) z: &'a wgpu::Buffer,
    pub(super) delta: &'a wgpu::Buffer,
}

fn gemm(
    engine: &Engine,
    (m, n, k): (usize, usize, usize),
    (trans_a, trans_b): (bool, bool),
    (a, b, d): (&wgpu::Buffer, &wgpu::Buffer, &wgpu::Buffer),
    offsets: &[GemmOffsets],
) -> Result<Matmul> {
    Matmul::gemm(
        engine,
        &MatmulSpec {
            m: m as u32,
            n: n as u32,
            k: k as u32,
            trans_a,
            trans_b,
            alpha: 1.0,
            beta: 0.0,
            a,
            b,
            c: None,
            d,
            offsets,
        },
    )
}

fn at(a: u32, b: u32, d: u32) -> GemmOffsets {
    GemmOffsets { a, b, c: 0, d }
}

/// The projection, lift and sketch products of one weight (`g`: its gradient offset; `q`: its
/// table row, whose `col_base` is its [P(G) | U] pair).
pub(super) fn products(
    engine: &Engine,
    s: &SvdShape,
    (g, basis_off): (u32, u32),
    q: &FrugalParam,
    buf: &Shared<'_>,
) -> Result<(Matmul, Matmul, Vec<Matmul>)> {
    let (rows, cols, r, k, d) = (s.rows, s.cols, s.r, s.k, s.d);
    let (lo, len, numel) = (q.col_base, q.n_units, q.numel);
    let lifts = [at(lo, basis_off, 0), at(lo + len, basis_off, numel)];
    let (project, lift) = if s.right {
        // P(G) = G·W (rows×r); P⁻¹(L) = L·Wᵀ.
        (
            gemm(
                engine,
                (rows, r, cols),
                (false, false),
                (buf.grad, buf.basis, buf.low),
                &[at(g, basis_off, lo)],
            )?,
            gemm(
                engine,
                (rows, cols, r),
                (false, true),
                (buf.low, buf.basis, buf.delta),
                &lifts,
            )?,
        )
    } else {
        // P(G) = Wᵀ·G (r×cols); P⁻¹(L) = W·L.
        (
            gemm(
                engine,
                (r, cols, rows),
                (true, false),
                (buf.basis, buf.grad, buf.low),
                &[at(basis_off, g, lo)],
            )?,
            gemm(
                engine,
                (rows, cols, r),
                (false, false),
                (buf.basis, buf.low, buf.delta),
                &[at(basis_off, lo, 0), at(basis_off, lo + len, numel)],
            )?,
        )
    };
    // H·X and Hᵀ·X for X with k columns: H = G (right) or Gᵀ (left), G stored rows×cols.
    let other = s.other;
    let h = |x: &wgpu::Buffer, xo: u32, out: &wgpu::Buffer, oo: u32| {
        gemm(
            engine,
            (other, k, d),
            (!s.right, false),
            (buf.grad, x, out),
            &[at(g, xo, oo)],
        )
    };
    let ht = |x: &wgpu::Buffer, xo: u32, out: &wgpu::Buffer, oo: u32| {
        gemm(
            engine,
            (d, k, other),
            (s.right, false),
            (buf.grad, x, out),
            &[at(g, xo, oo)],
        )
    };
    let dk = (d * k) as u32;
    let sketch = vec![
        h(buf.omega, 0, buf.y, 0)?,
        ht(buf.y, 0, buf.z, 0)?,
        h(buf.z, 0, buf.y, 0)?,
        ht(buf.y, 0, buf.z, dk)?,
    ];
    Ok((project, lift, sketch))
}
