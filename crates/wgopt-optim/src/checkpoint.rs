//! Optimizer checkpoints in safetensors.
//!
//! Tensors are named `<parameter name>.<field>` with PyTorch's field names (`exp_avg`,
//! `exp_avg_sq`, `max_exp_avg_sq`, `momentum_buffer`), f32, in the parameter's shape. The
//! header's `__metadata__` holds the format tag, the optimizer name, the step counters
//! (`step` = applied steps, as torch's `state['step']`), each group's hyperparameters and the
//! schedule, as JSON strings. A hybrid stores each part's metadata under the part's name as a
//! prefix (`muon.groups`, `adam.groups`, …); parameter names are disjoint between parts. A round
//! trip is bit-exact. Loading validates the whole file against the optimizer before it changes
//! anything, and names the parameter or field at fault.

use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use wgopt_reference::schedule::Schedule;
use wgopt_scheduler::arena::Arena;
use wgopt_scheduler::{Engine, Error, ParamSet, Result};

/// Format tag written into every checkpoint.
pub const FORMAT: &str = "wgopt.optimizer.v1";

/// What an optimizer exposes so its state can be saved and restored.
pub(crate) trait Stateful {
    type Config: Clone + Serialize + DeserializeOwned;
    /// Name written into (and required from) the file.
    fn checkpoint_name(&self) -> &'static str;
    fn engine(&self) -> &Engine;
    /// State arenas by field name.
    fn state_fields(&self) -> Vec<(&'static str, &Arena)>;
    /// Layout indices of the parameters this optimizer updates.
    fn state_slots(&self) -> &[usize];
    /// (iteration, applied, skipped).
    fn counters(&self) -> (u64, u64, u64);
    fn group_configs(&self) -> Vec<(String, Self::Config)>;
    fn schedule(&self) -> &Schedule;
    /// Accepts a saved config for group `label` if it is valid and selects the same kernels and
    /// plans as `ours`; the error says what differs.
    fn check_config(&self, label: &str, saved: &Self::Config, ours: &Self::Config) -> Result<()>;
    fn restore(
        &mut self,
        iteration: u64,
        applied: u64,
        skipped: u64,
        configs: Vec<Self::Config>,
        schedule: Schedule,
    );
    /// Whole GPU buffers of state that is not shaped like the parameters (M-FAC's gradient
    /// window), saved as `<name>` tensors of the given shape and written back as a whole.
    fn extra_buffers(&self) -> Vec<(String, &wgpu::Buffer, Vec<usize>)> {
        Vec::new()
    }
}

#[derive(Serialize, Deserialize)]
struct GroupEntry<C> {
    group: String,
    config: C,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::Checkpoint(msg.into())
}

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| bad(e.to_string()))
}

/// Tensors (name, shape, little-endian f32 bytes) and metadata of a checkpoint being written.
#[derive(Default)]
pub(crate) struct Contents {
    tensors: Vec<(String, Vec<usize>, Vec<u8>)>,
    meta: HashMap<String, String>,
}

impl Contents {
    pub(crate) fn new(optimizer: &str) -> Contents {
        let mut c = Contents::default();
        c.meta.insert("format".into(), FORMAT.into());
        c.meta.insert("optimizer".into(), optimizer.into());
        c
    }

    /// Adds one optimizer's state; `prefix` ("" for a plain optimizer) namespaces its metadata.
    pub(crate) fn add<S: Stateful>(
        &mut self,
        opt: &S,
        params: &ParamSet,
        prefix: &str,
    ) -> Result<()> {
        let layout = params.layout();
        for (field, arena) in opt.state_fields() {
            let all = arena.read_all(opt.engine(), layout)?;
            for &i in opt.state_slots() {
                let s = &layout.slots[i];
                self.tensors.push((
                    format!("{}.{field}", s.name),
                    s.shape.clone(),
                    bytemuck::cast_slice(&all[i]).to_vec(),
                ));
            }
        }
        for (name, buffer, shape) in opt.extra_buffers() {
            let n: usize = shape.iter().product();
            let data = wgopt_scheduler::arena::read_range(opt.engine(), buffer, 0, n as u64 * 4)?;
            self.tensors
                .push((name, shape, bytemuck::cast_slice(&data).to_vec()));
        }
        let (iteration, applied, skipped) = opt.counters();
        let groups: Vec<GroupEntry<S::Config>> = opt
            .group_configs()
            .into_iter()
            .map(|(group, config)| GroupEntry { group, config })
            .collect();
        let m = &mut self.meta;
        m.insert(format!("{prefix}step"), applied.to_string());
        m.insert(format!("{prefix}skipped"), skipped.to_string());
        m.insert(format!("{prefix}iteration"), iteration.to_string());
        m.insert(format!("{prefix}groups"), to_json(&groups)?);
        m.insert(format!("{prefix}schedule"), to_json(opt.schedule())?);
        Ok(())
    }

    pub(crate) fn serialize(self) -> Result<Vec<u8>> {
        let views: Vec<(String, TensorView<'_>)> = self
            .tensors
            .iter()
            .map(|(n, shape, b)| {
                TensorView::new(Dtype::F32, shape.clone(), b)
                    .map(|v| (n.clone(), v))
                    .map_err(|e| bad(format!("{n}: {e}")))
            })
            .collect::<Result<_>>()?;
        safetensors::serialize(views, Some(self.meta)).map_err(|e| bad(e.to_string()))
    }
}

/// A parsed checkpoint file.
pub(crate) struct File<'a> {
    tensors: SafeTensors<'a>,
    meta: HashMap<String, String>,
    /// Tensor names claimed by the parts validated so far.
    claimed: HashSet<String>,
}

/// Everything one part will write, checked but not yet applied.
pub(crate) struct Restore<C> {
    uploads: Vec<(usize, usize, Vec<f32>)>,
    /// (index into `extra_buffers`, data)
    buffers: Vec<(usize, Vec<f32>)>,
    counters: (u64, u64, u64),
    configs: Vec<C>,
    schedule: Schedule,
}

impl<'a> File<'a> {
    /// Parses and checks the format tag and the optimizer name.
    pub(crate) fn open(bytes: &'a [u8], optimizer: &str) -> Result<File<'a>> {
        let tensors = SafeTensors::deserialize(bytes)
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
            Some(o) if o == optimizer => {}
            other => {
                return Err(bad(format!(
                    "checkpoint is for optimizer {other:?}, this optimizer is {optimizer:?}"
                )))
            }
        }
        Ok(File {
            tensors,
            meta,
            claimed: HashSet::new(),
        })
    }

    fn get(&self, key: &str) -> Result<&String> {
        self.meta
            .get(key)
            .ok_or_else(|| bad(format!("metadata field {key:?} is missing")))
    }

    fn get_u64(&self, key: &str) -> Result<u64> {
        self.get(key)?
            .parse()
            .map_err(|_| bad(format!("metadata field {key:?} is not an integer")))
    }

    /// Checks one part against the file; returns what to write.
    pub(crate) fn validate<S: Stateful>(
        &mut self,
        opt: &S,
        params: &ParamSet,
        prefix: &str,
    ) -> Result<Restore<S::Config>> {
        let counters = (
            self.get_u64(&format!("{prefix}iteration"))?,
            self.get_u64(&format!("{prefix}step"))?,
            self.get_u64(&format!("{prefix}skipped"))?,
        );
        let key = format!("{prefix}groups");
        let groups: Vec<GroupEntry<S::Config>> = serde_json::from_str(self.get(&key)?)
            .map_err(|e| bad(format!("metadata field {key:?}: {e}")))?;
        let key = format!("{prefix}schedule");
        let schedule: Schedule = serde_json::from_str(self.get(&key)?)
            .map_err(|e| bad(format!("metadata field {key:?}: {e}")))?;
        let ours = opt.group_configs();
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
            opt.check_config(label, &entry.config, cfg)?;
            configs.push(entry.config.clone());
        }
        let layout = params.layout();
        let mut uploads = Vec::new();
        for (fi, (field, _)) in opt.state_fields().iter().enumerate() {
            for &i in opt.state_slots() {
                let slot = &layout.slots[i];
                let name = format!("{}.{}", slot.name, field);
                let t = self.tensors.tensor(&name).map_err(|_| {
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
                self.claimed.insert(name);
            }
        }
        let mut buffers = Vec::new();
        for (bi, (name, _, shape)) in opt.extra_buffers().iter().enumerate() {
            let t = self
                .tensors
                .tensor(name)
                .map_err(|_| bad(format!("tensor {name:?} is missing")))?;
            if t.dtype() != Dtype::F32 || t.shape() != shape.as_slice() {
                return Err(bad(format!(
                    "{name:?} is {:?}{:?}, expected F32{shape:?}",
                    t.dtype(),
                    t.shape()
                )));
            }
            buffers.push((bi, bytemuck::pod_collect_to_vec(t.data())));
            self.claimed.insert(name.clone());
        }
        Ok(Restore {
            uploads,
            buffers,
            counters,
            configs,
            schedule,
        })
    }

    /// After every part is validated: no tensor may be left unclaimed.
    pub(crate) fn check_nothing_left(&self) -> Result<()> {
        match self
            .tensors
            .names()
            .into_iter()
            .find(|n| !self.claimed.contains(*n))
        {
            Some(extra) => Err(bad(format!(
                "tensor {extra:?} does not belong to any parameter or field of this optimizer"
            ))),
            None => Ok(()),
        }
    }
}

/// Writes a validated part.
pub(crate) fn apply<S: Stateful>(
    opt: &mut S,
    params: &ParamSet,
    r: Restore<S::Config>,
) -> Result<()> {
    let layout = params.layout();
    {
        let fields = opt.state_fields();
        for (fi, i, data) in &r.uploads {
            fields[*fi].1.write(opt.engine(), &layout.slots[*i], data)?;
        }
        let extra = opt.extra_buffers();
        for (bi, data) in &r.buffers {
            opt.engine()
                .queue()
                .write_buffer(extra[*bi].1, 0, bytemuck::cast_slice(data));
        }
    }
    let (iteration, applied, skipped) = r.counters;
    opt.restore(iteration, applied, skipped, r.configs, r.schedule);
    Ok(())
}

/// Saves a single optimizer.
pub(crate) fn save<S: Stateful>(opt: &S, params: &ParamSet) -> Result<Vec<u8>> {
    let mut c = Contents::new(opt.checkpoint_name());
    c.add(opt, params, "")?;
    c.serialize()
}

/// Saves a single optimizer plus a wrapper's own counters as metadata entries (Sophia's and
/// AdaHessian's probe draw number, without which a resumed run would reuse old probes).
pub(crate) fn save_with_counters<S: Stateful>(
    opt: &S,
    params: &ParamSet,
    counters: &[(&str, u64)],
) -> Result<Vec<u8>> {
    let mut c = Contents::new(opt.checkpoint_name());
    c.add(opt, params, "")?;
    for (k, v) in counters {
        c.meta.insert((*k).to_string(), v.to_string());
    }
    c.serialize()
}

/// Loads a single optimizer saved by [`save_with_counters`] and returns the named counters
/// (each required; nothing is written unless all are present and valid).
pub(crate) fn load_with_counters<S: Stateful>(
    opt: &mut S,
    params: &ParamSet,
    bytes: &[u8],
    keys: &[&str],
) -> Result<Vec<u64>> {
    let mut file = File::open(bytes, opt.checkpoint_name())?;
    let values = keys
        .iter()
        .map(|k| file.get_u64(k))
        .collect::<Result<Vec<u64>>>()?;
    let r = file.validate(opt, params, "")?;
    file.check_nothing_left()?;
    apply(opt, params, r)?;
    Ok(values)
}

/// Loads a single optimizer.
pub(crate) fn load<S: Stateful>(opt: &mut S, params: &ParamSet, bytes: &[u8]) -> Result<()> {
    let mut file = File::open(bytes, opt.checkpoint_name())?;
    let r = file.validate(opt, params, "")?;
    file.check_nothing_left()?;
    apply(opt, params, r)
}
