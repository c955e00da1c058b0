//! Helpers of the optimizers that are not a single `Fused` rule (AdamP/SGDP, FRUGAL, M-FAC):
//! group resolution with the same checks as `Fused`, and element blocks — workgroup w of an
//! update kernel handles block w (at most `block` elements of one parameter piece), so no
//! invocation walks the segments of other parameters.

use wgopt_scheduler::{Error, Layout, Result};

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

/// Per chunk, blocks `[start, end, first element of the parameter at start, k]` (elements
/// within the chunk) of every piece of `slots[k]`.
pub(crate) fn element_blocks(layout: &Layout, slots: &[usize], block: usize) -> Vec<Vec<[u32; 4]>> {
    let mut per_chunk = vec![Vec::new(); layout.chunk_lens.len()];
    for (k, &i) in slots.iter().enumerate() {
        for piece in &layout.slots[i].pieces {
            for b in (0..piece.len).step_by(block) {
                per_chunk[piece.chunk].push([
                    (piece.offset + b) as u32,
                    (piece.offset + (b + block).min(piece.len)) as u32,
                    (piece.start + b) as u32,
                    k as u32,
                ]);
            }
        }
    }
    per_chunk
}
