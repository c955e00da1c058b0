//! MKOR's layout and plans: where each layer's factors, statistics and packed gradients
//! live ([`Placement`]), the per-parameter table rows, and every buffer and dispatch of the
//! program, built once ([`Plan`]).

use super::{
    MkorFactor, MkorLayerDesc, MkorParam, MkorSchedule, APPLY, DOT, FLAGS, GEMV, NORMS, PACK, RANK1,
};
use crate::blocks::{element_blocks, ElementBlock, ParamTable};
use crate::program::Build;
use wgopt_reference::optim::mkor::{identity, layers_of, MkorBase, MkorLayer};
use wgopt_reference::optim::MkorConfig;
use wgopt_scheduler::arena::Arena;
use wgopt_scheduler::guard::grid;
use wgopt_scheduler::recorder::Dispatch;
use wgopt_scheduler::{Error, Result};
use wgopt_solvers::linalg::matmul::{GemmOffsets, Matmul, MatmulSpec};

/// Where each layer's pieces live (offsets in floats).
#[derive(Debug, Clone)]
pub(super) struct Placement {
    pub(super) layers: Vec<MkorLayer>,
    /// Layer names (their weights' names), for statistics.
    pub(super) names: Vec<String>,
    pub(super) a_off: Vec<u32>,
    pub(super) g_off: Vec<u32>,
    pub(super) v_off: Vec<u32>,
    pub(super) p_off: Vec<u32>,
    pub(super) a_total: u64,
    pub(super) g_total: u64,
    pub(super) v_total: u64,
    pub(super) p_total: u64,
}

/// MKOR's GPU buffers.
#[derive(Debug)]
pub(super) struct Buffers {
    pub(super) a_inv: wgpu::Buffer,
    pub(super) g_inv: wgpu::Buffer,
    pub(super) flags: wgpu::Buffer,
    pub(super) vectors: wgpu::Buffer,
    /// Everything else the dispatches bind (kept alive).
    _rest: Vec<wgpu::Buffer>,
}

/// The layers of the preconditioned groups and where their pieces go.
pub(super) fn placement(cx: &Build<'_, MkorConfig>) -> Result<Placement> {
    let layout = cx.layout();
    let slots = cx.groups.slots();
    let tensors: Vec<(&str, &[usize], bool)> = slots
        .iter()
        .map(|&i| {
            let s = &layout.slots[i];
            let pre = cx.groups.config(s.group).precondition;
            (s.name.as_str(), &s.shape[..], pre)
        })
        .collect();
    let local = layers_of(&tensors).map_err(|e| Error::InvalidHyperparameter(e.to_string()))?;
    // Local indices → layout slots.
    let layers: Vec<MkorLayer> = local
        .iter()
        .map(|l| MkorLayer {
            weight: slots[l.weight],
            bias: l.bias.map(|b| slots[b]),
            ..*l
        })
        .collect();
    let mut p = Placement {
        names: layers
            .iter()
            .map(|l| layout.slots[l.weight].name.clone())
            .collect(),
        a_off: Vec::new(),
        g_off: Vec::new(),
        v_off: Vec::new(),
        p_off: Vec::new(),
        a_total: 0,
        g_total: 0,
        v_total: 0,
        p_total: 0,
        layers,
    };
    for l in &p.layers {
        let (a, g) = (l.a_dim() as u64, l.d_out as u64);
        p.a_off.push(p.a_total as u32);
        p.g_off.push(p.g_total as u32);
        p.v_off.push(p.v_total as u32);
        p.p_off.push(p.p_total as u32);
        p.a_total += a * a;
        p.g_total += g * g;
        p.v_total += a + g;
        p.p_total += g * a;
    }
    let limit = cx.engine.chunk_bytes() / 4;
    for (what, n) in [
        ("A⁻¹ factors", p.a_total),
        ("G⁻¹ factors", p.g_total),
        ("packed gradients", p.p_total),
    ] {
        if n > limit || n > u32::MAX as u64 {
            return Err(Error::OverLimit {
                what: format!("MKOR {what}"),
                size: n * 4,
                limit: limit * 4,
                unit: "bytes",
            });
        }
    }
    Ok(p)
}

/// The per-parameter rows (slot order) and their groups.
pub(super) fn param_rows(
    cx: &Build<'_, MkorConfig>,
    p: &Placement,
) -> (Vec<MkorParam>, Vec<usize>) {
    let layout = cx.layout();
    let mut rows = Vec::new();
    let mut groups = Vec::new();
    for &i in cx.groups.slots() {
        let mut q = MkorParam::default();
        for (l, layer) in p.layers.iter().enumerate() {
            let kind = if layer.weight == i {
                1
            } else if layer.bias == Some(i) {
                2
            } else {
                continue;
            };
            q.kind = kind;
            q.layer = l as u32;
            q.p_off = p.p_off[l];
            q.a_dim = layer.a_dim() as u32;
            q.d_in = layer.d_in as u32;
        }
        rows.push(q);
        groups.push(layout.slots[i].group);
    }
    (rows, groups)
}

/// The buffers and dispatches, built once.
pub(super) struct Plan<'a> {
    cx: &'a Build<'a, MkorConfig>,
    place: &'a Placement,
    schedule_buf: wgpu::Buffer,
    pub(super) a_inv: wgpu::Buffer,
    pub(super) g_inv: wgpu::Buffer,
    pub(super) flags: wgpu::Buffer,
    pub(super) vectors: wgpu::Buffer,
    packed: wgpu::Buffer,
    product: wgpu::Buffer,
    delta: wgpu::Buffer,
    scale: wgpu::Buffer,
    /// Adam's second state binding, unused by SGD.
    dummy: wgpu::Buffer,
    rest: Vec<wgpu::Buffer>,
}

fn identities(dims: impl Iterator<Item = usize>) -> Vec<f32> {
    dims.flat_map(identity).collect()
}

impl<'a> Plan<'a> {
    pub(super) fn new(
        cx: &'a Build<'a, MkorConfig>,
        place: &'a Placement,
        s: MkorSchedule,
    ) -> Self {
        let engine = cx.engine;
        let storage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST;
        let floats = |label: &str, n: u64| engine.create_buffer(label, n.max(1) * 4, storage);
        let a_init = identities(place.layers.iter().map(|l| l.a_dim()));
        let g_init = identities(place.layers.iter().map(|l| l.d_out));
        // Both flags set: the first factor step resets F⁻¹ = I to I, as upstream's does.
        let flags_init = vec![1.0f32; 2 * place.layers.len().max(1)];
        let upload = |label: &str, data: &[f32]| {
            let data = if data.is_empty() { &[0.0f32][..] } else { data };
            engine.upload(label, bytemuck::cast_slice(data), storage)
        };
        Plan {
            dummy: floats("mkor unused state", 1),
            schedule_buf: engine.upload(
                "mkor schedule",
                bytemuck::bytes_of(&s),
                wgpu::BufferUsages::UNIFORM,
            ),
            a_inv: upload("mkor A⁻¹", &a_init),
            g_inv: upload("mkor G⁻¹", &g_init),
            flags: upload("mkor flags", &flags_init),
            vectors: floats("mkor statistics", place.v_total),
            packed: floats("mkor packed gradients", place.p_total),
            product: floats("mkor G⁻¹·M", place.p_total),
            delta: floats("mkor Δ", place.p_total),
            scale: floats("mkor rescale", place.layers.len() as u64),
            rest: Vec::new(),
            cx,
            place,
        }
    }

    /// The four stages for every A⁻¹, then for every G⁻¹.
    pub(super) fn factor_dispatches(&mut self) -> Vec<Dispatch> {
        let (engine, p) = (self.cx.engine, self.place);
        let n_layers = p.layers.len();
        if n_layers == 0 {
            return Vec::new();
        }
        let storage = wgpu::BufferUsages::STORAGE;
        let dims: Vec<(usize, usize)> = p.layers.iter().map(|l| (l.a_dim(), l.d_out)).collect();
        let uw_total: usize = dims.iter().map(|(a, g)| 2 * (a + g)).sum();
        let uw = engine.create_buffer("mkor u, w", uw_total.max(1) as u64 * 4, storage);
        let denoms = engine.create_buffer("mkor denominators", 2 * n_layers as u64 * 4, storage);
        let maxbits = engine.create_buffer("mkor maxima", 2 * n_layers as u64 * 4, storage);
        let mut uw_off = 0u32;
        let mut tables: [Vec<MkorFactor>; 2] = [Vec::new(), Vec::new()];
        for (l, &(a, g)) in dims.iter().enumerate() {
            for (kind, n) in [(0usize, a), (1, g)] {
                let (base, v_off) = match kind {
                    0 => (p.a_off[l], p.v_off[l]),
                    _ => (p.g_off[l], p.v_off[l] + a as u32),
                };
                tables[kind].push(MkorFactor {
                    base,
                    n: n as u32,
                    v_off,
                    uw_off,
                    flag: (2 * l + kind) as u32,
                    other_flag: (2 * l + 1 - kind) as u32,
                    index: (kind * n_layers + l) as u32,
                    _pad: 0,
                });
                uw_off += 2 * n as u32;
            }
        }
        let mut out = Vec::new();
        for (kind, table) in tables.iter().enumerate() {
            let f = if kind == 0 { &self.a_inv } else { &self.g_inv };
            let tbuf = engine.upload("mkor factors", bytemuck::cast_slice(table), storage);
            let max_n = table.iter().map(|q| q.n).max().unwrap_or(1);
            let rows = [max_n, table.len() as u32, 1];
            let (s, st, fl) = (&self.schedule_buf, self.cx.stats, &self.flags);
            out.push(engine.dispatch(&GEMV, &[], &[s, &tbuf, st, fl, f, &self.vectors, &uw], rows));
            out.push(engine.dispatch(
                &DOT,
                &[],
                &[s, &tbuf, st, fl, &self.vectors, &uw, &denoms],
                [table.len() as u32, 1, 1],
            ));
            out.push(engine.dispatch(
                &RANK1,
                &[],
                &[s, &tbuf, st, fl, f, &uw, &denoms, &maxbits],
                rows,
            ));
            out.push(engine.dispatch(
                &FLAGS,
                &[],
                &[s, &tbuf, st, fl, &maxbits],
                [(table.len() as u32).div_ceil(64), 1, 1],
            ));
            self.rest.push(tbuf);
        }
        self.rest.extend([uw, denoms, maxbits]);
        out
    }

    /// `mkor_pack` per chunk that holds layer tensors.
    pub(super) fn packs(&mut self, table: &ParamTable<MkorParam>) -> Vec<Dispatch> {
        let (engine, p) = (self.cx.engine, self.place);
        let slots = self.cx.groups.slots();
        let grad = self.cx.params.grad_arena();
        let in_layer: Vec<bool> = slots
            .iter()
            .map(|&i| p.layers.iter().any(|l| l.weight == i || l.bias == Some(i)))
            .collect();
        let mut out = Vec::new();
        for (chunk, blocks) in element_blocks(self.cx.layout(), slots).iter().enumerate() {
            let blocks: Vec<ElementBlock> = blocks
                .iter()
                .filter(|b| in_layer[b.param as usize])
                .copied()
                .collect();
            if blocks.is_empty() {
                continue;
            }
            let buf = engine.upload(
                "mkor pack blocks",
                bytemuck::cast_slice(&blocks),
                wgpu::BufferUsages::STORAGE,
            );
            out.push(engine.dispatch(
                &PACK,
                &[],
                &[&buf, table.buffer(), &grad.chunks[chunk], &self.packed],
                grid(engine, blocks.len() as u32),
            ));
            self.rest.push(buf);
        }
        out
    }

    /// T = G⁻¹·M then Δ = T·A⁻¹, one batched launch per layer shape and product.
    pub(super) fn gemms(&self) -> Result<Vec<Matmul>> {
        let p = self.place;
        let mut shapes: Vec<(usize, usize)> =
            p.layers.iter().map(|l| (l.d_out, l.a_dim())).collect();
        shapes.sort();
        shapes.dedup();
        let mut out = Vec::new();
        for (m, n) in shapes {
            let members: Vec<usize> = (0..p.layers.len())
                .filter(|&l| (p.layers[l].d_out, p.layers[l].a_dim()) == (m, n))
                .collect();
            // T = G⁻¹·M reads G⁻¹ and the packed block; Δ = T·A⁻¹ reads T and A⁻¹.
            let offsets = |a: &[u32], b: &[u32]| -> Vec<GemmOffsets> {
                members
                    .iter()
                    .map(|&l| GemmOffsets {
                        a: a[l],
                        b: b[l],
                        c: 0,
                        d: p.p_off[l],
                    })
                    .collect()
            };
            let (first, second) = (offsets(&p.g_off, &p.p_off), offsets(&p.p_off, &p.a_off));
            let spec = |k: usize, a, b, d, offsets| MatmulSpec {
                m: m as u32,
                n: n as u32,
                k: k as u32,
                trans_a: false,
                trans_b: false,
                alpha: 1.0,
                beta: 0.0,
                a,
                b,
                c: None,
                d,
                offsets,
            };
            let engine = self.cx.engine;
            out.push(Matmul::gemm(
                engine,
                &spec(m, &self.g_inv, &self.packed, &self.product, &first),
            )?);
            out.push(Matmul::gemm(
                engine,
                &spec(n, &self.product, &self.a_inv, &self.delta, &second),
            )?);
        }
        Ok(out)
    }

    /// The per-layer rescale (none without layers).
    pub(super) fn norms(&mut self) -> Option<Dispatch> {
        let (engine, p) = (self.cx.engine, self.place);
        if p.layers.is_empty() {
            return None;
        }
        let descs: Vec<MkorLayerDesc> = p
            .layers
            .iter()
            .enumerate()
            .map(|(l, layer)| MkorLayerDesc {
                p_off: p.p_off[l],
                d_out: layer.d_out as u32,
                a_dim: layer.a_dim() as u32,
                d_in: layer.d_in as u32,
            })
            .collect();
        let dbuf = engine.upload(
            "mkor layers",
            bytemuck::cast_slice(&descs),
            wgpu::BufferUsages::STORAGE,
        );
        let d = engine.dispatch(
            &NORMS,
            &[],
            &[&dbuf, &self.packed, &self.delta, &self.scale],
            [descs.len() as u32, 1, 1],
        );
        self.rest.push(dbuf);
        Some(d)
    }

    /// The base step per chunk over every parameter of the program.
    pub(super) fn apply(
        &mut self,
        table: &ParamTable<MkorParam>,
        states: &[(&'static str, Arena)],
        base: MkorBase,
    ) -> Vec<Dispatch> {
        let engine = self.cx.engine;
        let (param, grad) = (self.cx.params.param_arena(), self.cx.params.grad_arena());
        let code = match base {
            MkorBase::Sgd => 0.0,
            MkorBase::Adam => 1.0,
        };
        let mut out = Vec::new();
        for (chunk, blocks) in element_blocks(self.cx.layout(), self.cx.groups.slots())
            .iter()
            .enumerate()
        {
            if blocks.is_empty() {
                continue;
            }
            let buf = engine.upload(
                "mkor apply blocks",
                bytemuck::cast_slice(blocks),
                wgpu::BufferUsages::STORAGE,
            );
            let state_a = &states[0].1.chunks[chunk];
            // SGD has one state: bind it twice is not allowed (both read_write), so SGD binds
            // the gradient-sized scratch of its own arena only once and a dummy second.
            let state_b = states.get(1).map_or(&self.dummy, |s| &s.1.chunks[chunk]);
            let bound = [
                &buf,
                table.buffer(),
                self.cx.stats,
                &param.chunks[chunk],
                &grad.chunks[chunk],
                &self.delta,
                &self.scale,
                state_a,
                state_b,
            ];
            out.push(engine.dispatch(
                &APPLY,
                &[("BASE", code)],
                &bound,
                grid(engine, blocks.len() as u32),
            ));
            self.rest.push(buf);
        }
        out
    }

    pub(super) fn finish(self) -> Buffers {
        let mut rest = self.rest;
        rest.extend([
            self.schedule_buf,
            self.packed,
            self.product,
            self.delta,
            self.scale,
            self.dummy,
        ]);
        Buffers {
            a_inv: self.a_inv,
            g_inv: self.g_inv,
            flags: self.flags,
            vectors: self.vectors,
            _rest: rest,
        }
    }
}
