//! Helpers of the optimizers that are not a single `Fused` rule (AdamP/SGDP, FRUGAL, M-FAC):
//! group resolution with the same checks as `Fused`, and element blocks — workgroup w of an
//! update kernel handles block w (at most `block` elements of one parameter piece), so no
//! invocation walks the segments of other parameters.

use bytemuck::{Pod, Zeroable};
use wgopt_scheduler::{Error, Layout, Result};

/// Elements per block (one workgroup of 256 invocations, four elements each).
pub const ELEMENT_BLOCK: usize = 1024;

/// One block of an update pass. WGSL twin: `ElementBlock` in shaders/common/element_block.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
pub struct ElementBlock {
    pub start: u32,
    pub end: u32,
    pub first_elem: u32,
    pub param: u32,
}

/// (layout group index, label, config) sorted by group, and the layout slots they cover.
pub(crate) type Resolved<C> = (Vec<(usize, String, C)>, Vec<usize>);

/// Validates and resolves `groups` against the layout; `name` prefixes errors.
pub(crate) fn resolve_groups<C: Clone>(
    name: &str,
    layout: &Layout,
    groups: &[(String, C)],
    validate: impl Fn(&C) -> Result<()>,
) -> Result<Resolved<C>> {
    if groups.is_empty() {
        return Err(Error::InvalidHyperparameter(format!(
            "{name}: no parameter groups given"
        )));
    }
    let mut resolved: Vec<(usize, String, C)> = Vec::with_capacity(groups.len());
    for (label, cfg) in groups {
        validate(cfg)?;
        let gi = layout.group_index(label)?;
        if resolved.iter().any(|(g, _, _)| *g == gi) {
            return Err(Error::InvalidHyperparameter(format!(
                "{name}: group {label:?} given twice"
            )));
        }
        resolved.push((gi, label.clone(), cfg.clone()));
    }
    resolved.sort_by_key(|g| g.0);
    let slots = (0..layout.slots.len())
        .filter(|&i| resolved.iter().any(|g| g.0 == layout.slots[i].group))
        .collect();
    Ok((resolved, slots))
}

/// Per chunk, the [`ELEMENT_BLOCK`]-element blocks of every piece of `slots[k]` (`param` = k).
pub(crate) fn element_blocks(layout: &Layout, slots: &[usize]) -> Vec<Vec<ElementBlock>> {
    let mut per_chunk = vec![Vec::new(); layout.chunk_lens.len()];
    for (k, &i) in slots.iter().enumerate() {
        for piece in &layout.slots[i].pieces {
            for b in (0..piece.len).step_by(ELEMENT_BLOCK) {
                per_chunk[piece.chunk].push(ElementBlock {
                    start: (piece.offset + b) as u32,
                    end: (piece.offset + (b + ELEMENT_BLOCK).min(piece.len)) as u32,
                    first_elem: (piece.start + b) as u32,
                    param: k as u32,
                });
            }
        }
    }
    per_chunk
}
