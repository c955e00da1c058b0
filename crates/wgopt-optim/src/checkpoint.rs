//! Optimizer checkpoints in safetensors.
//!
//! Tensors are named `<parameter name>.<field>` with PyTorch's field names (`exp_avg`,
//! `exp_avg_sq`, `max_exp_avg_sq`, `momentum_buffer`), f32, in the parameter's shape. The
//! header's `__metadata__` holds the format tag, the optimizer name, the step counters
//! (`step` = applied steps, as torch's `state['step']`), each group's hyperparameters and the
//! schedule, as JSON strings. A round trip is bit-exact. Loading validates the whole file
//! against the optimizer before it changes anything, and names the parameter or field at fault.

use crate::fused::{Fused, Rule};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use wgopt_reference::schedule::Schedule;
use wgopt_scheduler::{Error, ParamSet, Result};

/// Format tag written into every checkpoint.
pub const FORMAT: &str = "wgopt.optimizer.v1";

#[derive(Serialize, Deserialize)]
struct GroupEntry<C> {
    group: String,
    config: C,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::Checkpoint(msg.into())
}

pub(crate) fn save<R: Rule>(opt: &Fused<R>, params: &ParamSet) -> Result<Vec<u8>> {
    let engine = params.engine();
    let layout = params.layout();
    let mut names = Vec::new();
    let mut blobs: Vec<Vec<u8>> = Vec::new();
    for (field, arena) in opt.state_arenas() {
        let all = arena.read_all(engine, layout)?;
        for &i in opt.slots() {
            names.push((format!("{}.{}", layout.slots[i].name, field), i));
            blobs.push(bytemuck::cast_slice(&all[i]).to_vec());
        }
    }
    let views: Vec<(String, TensorView<'_>)> = names
        .iter()
        .zip(&blobs)
        .map(|((n, i), b)| {
            TensorView::new(Dtype::F32, layout.slots[*i].shape.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| bad(format!("{n}: {e}")))
        })
        .collect::<Result<_>>()?;
    let (iteration, applied, skipped) = opt.counters();
    let groups: Vec<GroupEntry<R::Config>> = opt
        .groups()
        .map(|(g, c)| GroupEntry {
            group: g.to_string(),
            config: c.clone(),
        })
        .collect();
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), FORMAT.to_string());
    meta.insert("optimizer".to_string(), R::NAME.to_string());
    meta.insert("step".to_string(), applied.to_string());
    meta.insert("skipped".to_string(), skipped.to_string());
    meta.insert("iteration".to_string(), iteration.to_string());
    meta.insert("groups".to_string(), to_json(&groups)?);
    meta.insert("schedule".to_string(), to_json(opt.schedule())?);
    safetensors::serialize(views, Some(meta)).map_err(|e| bad(e.to_string()))
}

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| bad(e.to_string()))
}

fn meta_u64(meta: &HashMap<String, String>, key: &str) -> Result<u64> {
    meta.get(key)
        .ok_or_else(|| bad(format!("metadata field {key:?} is missing")))?
        .parse()
        .map_err(|_| bad(format!("metadata field {key:?} is not an integer")))
}

pub(crate) fn load<R: Rule>(opt: &mut Fused<R>, params: &ParamSet, bytes: &[u8]) -> Result<()> {
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| bad(format!("not a readable safetensors file: {e}")))?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
    let meta = header
        .metadata()
        .clone()
        .ok_or_else(|| bad("no __metadata__ in the header"))?;
    match meta.get("format") {
        Some(f) if f == FORMAT => {}
        other => {
            return Err(bad(format!(
                "metadata field \"format\" is {other:?}, expected {FORMAT:?}"
            )))
        }
    }
    match meta.get("optimizer") {
        Some(o) if o == R::NAME => {}
        other => {
            return Err(bad(format!(
                "checkpoint is for optimizer {other:?}, this optimizer is {:?}",
                R::NAME
            )))
        }
    }
    let applied = meta_u64(&meta, "step")?;
    let skipped = meta_u64(&meta, "skipped")?;
    let iteration = meta_u64(&meta, "iteration")?;
    let groups: Vec<GroupEntry<R::Config>> = serde_json::from_str(
        meta.get("groups")
            .ok_or_else(|| bad("metadata field \"groups\" is missing"))?,
    )
    .map_err(|e| bad(format!("metadata field \"groups\": {e}")))?;
    let schedule: Schedule = serde_json::from_str(
        meta.get("schedule")
            .ok_or_else(|| bad("metadata field \"schedule\" is missing"))?,
    )
    .map_err(|e| bad(format!("metadata field \"schedule\": {e}")))?;
    let ours: Vec<(String, R::Config)> = opt
        .groups()
        .map(|(g, c)| (g.to_string(), c.clone()))
        .collect();
    if groups.len() != ours.len() {
        return Err(bad(format!(
            "checkpoint has {} groups, this optimizer {}",
            groups.len(),
            ours.len()
        )));
    }
    let mut configs = Vec::with_capacity(ours.len());
    for (label, cfg) in &ours {
        let entry = groups
            .iter()
            .find(|g| &g.group == label)
            .ok_or_else(|| bad(format!("group {label:?} is not in the checkpoint")))?;
        R::validate(&entry.config)?;
        if R::constants(&entry.config) != R::constants(cfg) {
            return Err(bad(format!(
                "group {label:?} was saved with kernel flags {:?}, this optimizer has {:?}",
                R::constants(&entry.config),
                R::constants(cfg)
            )));
        }
        configs.push(entry.config.clone());
    }
    // Validate every tensor before writing any.
    let layout = params.layout();
    let mut expected = std::collections::HashSet::new();
    let mut uploads: Vec<(usize, usize, Vec<f32>)> = Vec::new();
    for (fi, (field, _)) in opt.state_arenas().iter().enumerate() {
        for &i in opt.slots() {
            let slot = &layout.slots[i];
            let name = format!("{}.{}", slot.name, field);
            let t = file.tensor(&name).map_err(|_| {
                bad(format!(
                    "parameter {:?}: tensor {name:?} is missing",
                    slot.name
                ))
            })?;
            if t.dtype() != Dtype::F32 || t.shape() != slot.shape.as_slice() {
                return Err(bad(format!(
                    "parameter {:?}: {name:?} is {:?}{:?}, expected F32{:?}",
                    slot.name,
                    t.dtype(),
                    t.shape(),
                    slot.shape
                )));
            }
            uploads.push((fi, i, bytemuck::pod_collect_to_vec(t.data())));
            expected.insert(name);
        }
    }
    if let Some(extra) = file.names().into_iter().find(|n| !expected.contains(*n)) {
        return Err(bad(format!(
            "tensor {extra:?} does not belong to any parameter or field of this optimizer"
        )));
    }
    let engine = opt.engine().clone();
    for (fi, i, data) in uploads {
        opt.state_arenas()[fi]
            .1
            .write(&engine, &layout.slots[i], &data)?;
    }
    opt.restore(iteration, applied, skipped, configs, schedule);
    Ok(())
}
