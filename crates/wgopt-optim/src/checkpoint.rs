//! Optimizer checkpoints in safetensors, for every optimizer through its [`Stepper`].
//!
//! Tensors are named `<parameter name>.<field>` with PyTorch's field names (`exp_avg`,
//! `exp_avg_sq`, `max_exp_avg_sq`, `momentum_buffer`), f32, in the parameter's shape; state
//! that is not shaped like the parameters (M-FAC's window) is saved whole under its own name.
//! The header's `__metadata__` holds the format tag, the optimizer name, the step counters
//! (`step` = applied steps, as torch's `state['step']`), each group's hyperparameters, the
//! schedule and the program's own counters (Sophia's `probe_draws`), as strings. A hybrid
//! stores each part's metadata under the part's name as a prefix (`muon.groups`,
//! `adam.groups`, …); parameter names are disjoint between parts. A round trip is bit-exact.
//! Loading validates the whole file against the optimizer before it changes anything, and
//! names the parameter or field at fault. Files are sealed
//! ([`wgopt_scheduler::files::seal`]): a CRC-32 per tensor and one over the metadata, so a
//! flipped byte is refused with the tensor's name; every state value must also be finite
//! (a file without checksums, from before sealing, is still read, with that check alone).

use crate::program::Program;
use crate::stepper::{Counters, Part, Stepper};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use wgopt_scheduler::{Engine, Error, ParamSet, Result};

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

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| bad(e.to_string()))
}

/// Tensors (name, shape, little-endian f32 bytes) and metadata of a checkpoint being written.
#[derive(Default)]
struct Contents {
    tensors: Vec<(String, Vec<usize>, Vec<u8>)>,
    meta: HashMap<String, String>,
}

impl Contents {
    fn new(optimizer: &str) -> Contents {
        let mut c = Contents::default();
        c.meta.insert("format".into(), FORMAT.into());
        c.meta.insert("optimizer".into(), optimizer.into());
        c
    }

    /// Adds one part's state; `prefix` ("" for a single optimizer) namespaces its metadata.
    fn add<P: Program>(
        &mut self,
        (engine, params): (&Engine, &ParamSet),
        part: &Part<P>,
        counters: &Counters,
        prefix: &str,
    ) -> Result<()> {
        let layout = params.layout();
        for (field, arena) in part.program.state() {
            let all = arena.read_all(engine, layout)?;
            for &i in part.groups.slots() {
                let s = &layout.slots[i];
                self.tensors.push((
                    format!("{}.{field}", s.name),
                    s.shape.clone(),
                    bytemuck::cast_slice(&all[i]).to_vec(),
                ));
            }
        }
        for (name, buffer, shape) in part.program.whole_buffers() {
            let n: usize = shape.iter().product();
            let data = wgopt_scheduler::arena::read_range(engine, buffer, 0, n as u64 * 4)?;
            self.tensors
                .push((name, shape, bytemuck::cast_slice(&data).to_vec()));
        }
        let groups: Vec<GroupEntry<&P::Config>> = part
            .groups
            .iter()
            .map(|g| GroupEntry {
                group: g.label.clone(),
                config: &g.config,
            })
            .collect();
        let m = &mut self.meta;
        m.insert(
            format!("{prefix}step"),
            counters.expected_applied.to_string(),
        );
        m.insert(format!("{prefix}skipped"), counters.skipped.to_string());
        m.insert(format!("{prefix}iteration"), counters.iteration.to_string());
        m.insert(format!("{prefix}groups"), to_json(&groups)?);
        m.insert(format!("{prefix}schedule"), to_json(&counters.schedule)?);
        for (k, v) in P::COUNTERS.iter().zip(part.program.counters()) {
            m.insert(format!("{prefix}{k}"), v.to_string());
        }
        Ok(())
    }

    fn serialize(mut self) -> Result<Vec<u8>> {
        wgopt_scheduler::files::seal(
            &mut self.meta,
            self.tensors.iter().map(|(n, _, b)| (n.as_str(), &b[..])),
        );
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
struct File<'a> {
    tensors: SafeTensors<'a>,
    meta: HashMap<String, String>,
    /// Tensor names claimed by the parts validated so far.
    claimed: HashSet<String>,
}

/// Everything one part will write, checked but not yet applied.
struct Restore<C> {
    /// (state field index, layout slot, data)
    uploads: Vec<(usize, usize, Vec<f32>)>,
    /// (index into `whole_buffers`, data)
    buffers: Vec<(usize, Vec<f32>)>,
    counters: Counters,
    configs: Vec<C>,
    program_counters: Vec<u64>,
}

impl<'a> File<'a> {
    /// Parses and checks the format tag and the optimizer name.
    fn open(bytes: &'a [u8], optimizer: &str) -> Result<File<'a>> {
        wgopt_scheduler::files::verify_sealed(bytes)?;
        let tensors = SafeTensors::deserialize(bytes)
            .map_err(|e| bad(format!("not a readable safetensors file: {e}")))?;
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
        let meta = header
            .metadata()
            .clone()
            .ok_or_else(|| bad("no __metadata__ in the header"))?;
        let expect = |key: &str, want: &str| match meta.get(key) {
            Some(v) if v == want => Ok(()),
            other => Err(bad(format!(
                "metadata field {key:?} is {other:?}, expected {want:?} (this optimizer)"
            ))),
        };
        expect("format", FORMAT)?;
        expect("optimizer", optimizer)?;
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

    fn get_json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<T> {
        serde_json::from_str(self.get(key)?)
            .map_err(|e| bad(format!("metadata field {key:?}: {e}")))
    }

    fn counters(&self, prefix: &str) -> Result<Counters> {
        Ok(Counters {
            iteration: self.get_u64(&format!("{prefix}iteration"))?,
            expected_applied: self.get_u64(&format!("{prefix}step"))?,
            skipped: self.get_u64(&format!("{prefix}skipped"))?,
            schedule: self.get_json(&format!("{prefix}schedule"))?,
        })
    }

    /// The saved configs in `part`'s group order, each valid and with the same plan flags.
    fn configs<P: Program>(&self, part: &Part<P>, prefix: &str) -> Result<Vec<P::Config>> {
        let saved: Vec<GroupEntry<P::Config>> = self.get_json(&format!("{prefix}groups"))?;
        if saved.len() != part.groups.iter().count() {
            return Err(bad(format!(
                "checkpoint has {} groups, this optimizer {}",
                saved.len(),
                part.groups.iter().count()
            )));
        }
        let mut configs = Vec::with_capacity(saved.len());
        for g in part.groups.iter() {
            let entry = saved
                .iter()
                .find(|e| e.group == g.label)
                .ok_or_else(|| bad(format!("group {:?} is not in the checkpoint", g.label)))?;
            wgopt_reference::optim::OptimizerConfig::validate(&entry.config)
                .map_err(|e| bad(format!("group {:?}: {e}", g.label)))?;
            let (saved, ours) = (P::plan_flags(&entry.config), P::plan_flags(&g.config));
            if saved != ours {
                return Err(bad(format!(
                    "group {:?} was saved with kernel and plan flags {saved:?}; this \
                     optimizer's kernels and plans use {ours:?}",
                    g.label
                )));
            }
            configs.push(entry.config.clone());
        }
        Ok(configs)
    }

    /// One tensor, checked to be F32 of `shape`, claimed.
    fn tensor(&mut self, name: &str, shape: &[usize], owner: &str) -> Result<Vec<f32>> {
        let t = self
            .tensors
            .tensor(name)
            .map_err(|_| bad(format!("{owner}: tensor {name:?} is missing")))?;
        if t.dtype() != Dtype::F32 || t.shape() != shape {
            return Err(bad(format!(
                "{owner}: {name:?} is {:?}{:?}, expected F32{shape:?}",
                t.dtype(),
                t.shape()
            )));
        }
        let data: Vec<f32> = bytemuck::pod_collect_to_vec(t.data());
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(bad(format!(
                "{owner}: {name:?} holds {} at element {i}; optimizer state must be finite",
                data[i]
            )));
        }
        self.claimed.insert(name.to_string());
        Ok(data)
    }

    /// Checks one part against the file; returns what to write.
    fn validate<P: Program>(
        &mut self,
        params: &ParamSet,
        part: &Part<P>,
        prefix: &str,
    ) -> Result<Restore<P::Config>> {
        let counters = self.counters(prefix)?;
        let configs = self.configs(part, prefix)?;
        let program_counters = P::COUNTERS
            .iter()
            .map(|k| self.get_u64(&format!("{prefix}{k}")))
            .collect::<Result<Vec<u64>>>()?;
        let layout = params.layout();
        let mut uploads = Vec::new();
        for (fi, (field, _)) in part.program.state().iter().enumerate() {
            for &i in part.groups.slots() {
                let slot = &layout.slots[i];
                let name = format!("{}.{}", slot.name, field);
                let owner = format!("parameter {:?}", slot.name);
                uploads.push((fi, i, self.tensor(&name, &slot.shape, &owner)?));
            }
        }
        let mut buffers = Vec::new();
        for (bi, (name, _, shape)) in part.program.whole_buffers().iter().enumerate() {
            buffers.push((bi, self.tensor(name, shape, "optimizer state")?));
        }
        Ok(Restore {
            uploads,
            buffers,
            counters,
            configs,
            program_counters,
        })
    }

    /// After every part is validated: no tensor may be left unclaimed.
    fn check_nothing_left(&self) -> Result<()> {
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

/// One line per hyperparameter whose value in `new` differs from `old` (as JSON fields).
fn differences<C: Serialize>(what: &str, old: &C, new: &C, out: &mut Vec<String>) {
    let (Ok(old), Ok(new)) = (serde_json::to_value(old), serde_json::to_value(new)) else {
        return;
    };
    match (old.as_object(), new.as_object()) {
        (Some(o), Some(n)) => {
            for (k, v) in n {
                if o.get(k) != Some(v) {
                    let was = o.get(k).map_or("(unset)".to_string(), |x| x.to_string());
                    out.push(format!("{what}: {k} {was} -> {v}"));
                }
            }
        }
        _ if old != new => out.push(format!("{what}: {old} -> {new}")),
        _ => {}
    }
}

/// Writes a validated part's state and configs (the stepper restores the counters); appends
/// what the configs changed to `replaced`.
fn apply<P: Program>(
    (engine, params): (&Engine, &ParamSet),
    part: &mut Part<P>,
    r: Restore<P::Config>,
    replaced: &mut Vec<String>,
) -> Result<()> {
    let layout = params.layout();
    {
        let fields = part.program.state();
        for (fi, i, data) in &r.uploads {
            fields[*fi].1.write(engine, &layout.slots[*i], data)?;
        }
        let whole = part.program.whole_buffers();
        for (bi, data) in &r.buffers {
            engine.write_buffer(whole[*bi].1, 0, bytemuck::cast_slice(data));
        }
    }
    let labels: Vec<String> = part.groups.iter().map(|g| g.label.clone()).collect();
    for (label, config) in labels.iter().zip(r.configs) {
        if let Some(g) = part.groups.get_mut(label) {
            differences(
                &format!("{} group {label:?}", P::PART),
                &g.config,
                &config,
                replaced,
            );
            g.config = config;
        }
    }
    part.program.restored(&r.program_counters)
}

/// The metadata prefixes of a stepper's parts.
fn prefixes<A: Program, B: Program>(s: &Stepper<A, B>) -> (String, String) {
    match s.second {
        None => (String::new(), String::new()),
        Some(_) => (format!("{}.", A::PART), format!("{}.", B::PART)),
    }
}

/// Serialises state, counters, hyperparameters and schedule (the caller synced the counters).
pub(crate) fn save<A: Program, B: Program>(
    s: &Stepper<A, B>,
    params: &ParamSet,
) -> Result<Vec<u8>> {
    let (pa, pb) = prefixes(s);
    let mut c = Contents::new(&s.checkpoint_name());
    c.add((&s.engine, params), &s.first, s.counters(), &pa)?;
    if let Some(second) = &s.second {
        c.add((&s.engine, params), second, s.counters(), &pb)?;
    }
    c.serialize()
}

/// Restores what [`save`] wrote, after validating the whole file.
pub(crate) fn load<A: Program, B: Program>(
    s: &mut Stepper<A, B>,
    params: &ParamSet,
    bytes: &[u8],
) -> Result<()> {
    let (pa, pb) = prefixes(s);
    let mut file = File::open(bytes, &s.checkpoint_name())?;
    let ra = file.validate(params, &s.first, &pa)?;
    let rb = match &s.second {
        Some(second) => Some(file.validate(params, second, &pb)?),
        None => None,
    };
    file.check_nothing_left()?;
    if let Some(rb) = &rb {
        if rb.counters != ra.counters {
            return Err(bad(format!(
                "the parts' step counters disagree ({pa}: {:?}, {pb}: {:?})",
                ra.counters, rb.counters
            )));
        }
    }
    let counters = ra.counters.clone();
    let engine = s.engine.clone();
    let mut replaced = Vec::new();
    differences(
        "schedule",
        &s.counters.schedule,
        &counters.schedule,
        &mut replaced,
    );
    apply((&engine, params), &mut s.first, ra, &mut replaced)?;
    if let (Some(second), Some(rb)) = (&mut s.second, rb) {
        apply((&engine, params), second, rb, &mut replaced)?;
    }
    s.restore_counters(counters);
    s.replaced = replaced;
    Ok(())
}
