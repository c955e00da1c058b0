//! Checkpoints of sharded optimizer state.
//!
//! A *shard file* is the rank's own optimizer checkpoint (wgopt's format, tensors named by
//! the shard's pieces, `c[0..658].exp_avg`) with `dist.world`, `dist.rank` and `dist.pieces`
//! (piece name, parameter, first element, length) in its metadata. A *gathered file* is the
//! single-process format: rank 0 stitches every shard's tensors back into whole parameters
//! (`c.exp_avg`), merges the groups' hyperparameters, and checks that the shards agree on
//! everything else (step counters, schedule). Loading takes either form, from any world size:
//! the files are stitched into the whole state, then cut by this run's plan. So a gathered
//! file loads into a single process and a single process's file loads into N ranks.

use crate::data_parallel::DataParallel;
use crate::error::Result;
use crate::plan::Piece;
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use wgopt_scheduler::ParamSpec;

type Local<T> = std::result::Result<T, String>;

/// A checkpoint's tensors (f32, shaped) and metadata.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct State {
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    pub meta: HashMap<String, String>,
}

impl State {
    /// Parses safetensors bytes (f32 tensors only), checking a sealed file's checksums; the
    /// checksums are dropped (stitching and cutting change the tensors) and
    /// [`State::serialize`] seals afresh.
    pub fn parse(bytes: &[u8]) -> Local<State> {
        wgopt_scheduler::files::verify_sealed(bytes).map_err(|e| e.to_string())?;
        let file = SafeTensors::deserialize(bytes).map_err(|e| format!("checkpoint: {e}"))?;
        let (_, header) =
            SafeTensors::read_metadata(bytes).map_err(|e| format!("checkpoint: {e}"))?;
        let mut state = State {
            meta: header.metadata().clone().unwrap_or_default(),
            ..State::default()
        };
        let prefix = wgopt_scheduler::files::CHECKSUM_PREFIX;
        state.meta.retain(|k, _| !k.starts_with(prefix));
        for (name, view) in file.tensors() {
            if view.dtype() != Dtype::F32 {
                return Err(format!(
                    "checkpoint tensor {name:?} is {:?}, not F32",
                    view.dtype()
                ));
            }
            let data = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            state.tensors.insert(name, (view.shape().to_vec(), data));
        }
        Ok(state)
    }

    /// safetensors bytes.
    pub fn serialize(&self) -> Local<Vec<u8>> {
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = self
            .tensors
            .iter()
            .map(|(n, (s, d))| {
                (
                    n.clone(),
                    s.clone(),
                    d.iter().flat_map(|x| x.to_le_bytes()).collect(),
                )
            })
            .collect();
        let views = bytes
            .iter()
            .map(|(n, s, b)| {
                TensorView::new(Dtype::F32, s.clone(), b)
                    .map(|v| (n.clone(), v))
                    .map_err(|e| format!("{n}: {e}"))
            })
            .collect::<Local<Vec<_>>>()?;
        let mut meta = self.meta.clone();
        wgopt_scheduler::files::seal(
            &mut meta,
            bytes.iter().map(|(n, _, b)| (n.as_str(), &b[..])),
        );
        safetensors::serialize(views, Some(meta)).map_err(|e| e.to_string())
    }

    fn is_shard(&self) -> bool {
        self.meta.contains_key("dist.world")
    }
}

/// The whole state from a gathered file or a complete set of shard files, checked against
/// `specs` (every element of every field covered exactly once).
pub fn stitch(specs: &[ParamSpec], files: &[State]) -> Local<State> {
    match files {
        [one] if !one.is_shard() => return Ok(one.clone()),
        [] => return Err("no checkpoint files".into()),
        _ => {}
    }
    let by_name: HashMap<&str, &ParamSpec> = specs.iter().map(|s| (s.name.as_str(), s)).collect();
    let mut whole = State::default();
    let mut covered: HashMap<String, usize> = HashMap::new();
    for (k, file) in files.iter().enumerate() {
        let world: usize = meta_parse(file, "dist.world")?;
        if world != files.len() {
            return Err(format!(
                "shard file {k} is one of {world}, but {} were given",
                files.len()
            ));
        }
        let pieces: Vec<(String, String, usize, usize)> = meta_parse(file, "dist.pieces")?;
        for (tensor, (_, data)) in &file.tensors {
            let (piece, field) = longest_prefix(tensor, pieces.iter().map(|p| p.0.as_str()))
                .ok_or_else(|| format!("shard {k}: tensor {tensor:?} belongs to no piece"))?;
            let (_, param, start, len) = &pieces[piece];
            let spec = by_name
                .get(param.as_str())
                .ok_or_else(|| format!("checkpoint has parameter {param:?}, this model has not"))?;
            if data.len() != *len || start + len > spec.numel() {
                return Err(format!(
                    "shard {k}: {tensor:?} has {} elements, its piece {len}",
                    data.len()
                ));
            }
            let key = format!("{param}.{field}");
            let entry = whole
                .tensors
                .entry(key.clone())
                .or_insert_with(|| (spec.shape.clone(), vec![0.0; spec.numel()]));
            entry.1[*start..start + len].copy_from_slice(data);
            *covered.entry(key).or_default() += len;
        }
        if !pieces.is_empty() {
            merge_meta(&mut whole.meta, &file.meta)?;
        }
    }
    for (key, (_, data)) in &whole.tensors {
        if covered[key] != data.len() {
            return Err(format!(
                "{key}: the shards cover {} of {} elements",
                covered[key],
                data.len()
            ));
        }
    }
    Ok(whole)
}

/// The part of `whole` that `pieces` own, named as in the shard, for a shard whose groups
/// are `groups`.
pub fn cut(
    whole: &State,
    specs: &[ParamSpec],
    pieces: &[Piece],
    groups: &[String],
) -> Local<State> {
    let mut part = State::default();
    let names = specs.iter().map(|s| s.name.as_str());
    let mut fields: HashMap<&str, Vec<(&str, &Vec<f32>)>> = HashMap::new();
    for (tensor, (_, data)) in &whole.tensors {
        let (i, field) = longest_prefix(tensor, names.clone()).ok_or_else(|| {
            format!("checkpoint tensor {tensor:?} belongs to no parameter of this model")
        })?;
        fields
            .entry(specs[i].name.as_str())
            .or_default()
            .push((field, data));
    }
    for p in pieces {
        let spec = &specs[p.param];
        let shape = if p.len == spec.numel() {
            spec.shape.clone()
        } else {
            vec![p.len]
        };
        for (field, data) in fields.get(spec.name.as_str()).into_iter().flatten() {
            if data.len() != spec.numel() {
                return Err(format!(
                    "{}.{field}: {} elements, the parameter has {}",
                    spec.name,
                    data.len(),
                    spec.numel()
                ));
            }
            let slice = data[p.start..p.start + p.len].to_vec();
            part.tensors
                .insert(format!("{}.{field}", p.name), (shape.clone(), slice));
        }
    }
    for (key, value) in &whole.meta {
        let value = if key.ends_with("groups") {
            filter_groups(value, groups)?
        } else {
            value.clone()
        };
        part.meta.insert(key.clone(), value);
    }
    Ok(part)
}

/// Index of the longest candidate that `tensor` starts with followed by '.', and the rest.
fn longest_prefix<'a, 'b>(
    tensor: &'a str,
    candidates: impl Iterator<Item = &'b str>,
) -> Option<(usize, &'a str)> {
    candidates
        .enumerate()
        .filter_map(|(i, c)| {
            let rest = tensor.strip_prefix(c)?.strip_prefix('.')?;
            Some((i, c.len(), rest))
        })
        .max_by_key(|&(_, len, _)| len)
        .map(|(i, _, rest)| (i, rest))
}

fn meta_parse<T: serde::de::DeserializeOwned>(file: &State, key: &str) -> Local<T> {
    let text = file
        .meta
        .get(key)
        .ok_or_else(|| format!("shard file lacks {key:?}"))?;
    serde_json::from_str(text).map_err(|e| format!("{key}: {e}"))
}

/// Adds one shard's metadata: groups are united by name, everything else must agree.
fn merge_meta(into: &mut HashMap<String, String>, from: &HashMap<String, String>) -> Local<()> {
    for (key, value) in from {
        if key.starts_with("dist.") {
            continue;
        }
        match into.get(key) {
            None => {
                into.insert(key.clone(), value.clone());
            }
            Some(old) if key.ends_with("groups") => {
                let merged = union_groups(old, value)?;
                into.insert(key.clone(), merged);
            }
            Some(old) if old != value => {
                return Err(format!("the shards disagree on {key:?}: {old} vs {value}"));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn groups_of(text: &str) -> Local<Vec<Value>> {
    serde_json::from_str(text).map_err(|e| format!("groups metadata: {e}"))
}

fn group_name(v: &Value) -> Option<&str> {
    v.get("group").and_then(Value::as_str)
}

fn union_groups(a: &str, b: &str) -> Local<String> {
    let mut all = groups_of(a)?;
    for g in groups_of(b)? {
        match all.iter().find(|x| group_name(x) == group_name(&g)) {
            Some(x) if *x != g => {
                return Err(format!(
                    "the shards disagree on group {:?}'s hyperparameters",
                    group_name(&g)
                ))
            }
            Some(_) => {}
            None => all.push(g),
        }
    }
    serde_json::to_string(&all).map_err(|e| e.to_string())
}

fn filter_groups(text: &str, keep: &[String]) -> Local<String> {
    let kept: Vec<Value> = groups_of(text)?
        .into_iter()
        .filter(|g| group_name(g).is_some_and(|n| keep.iter().any(|k| k == n)))
        .collect();
    serde_json::to_string(&kept).map_err(|e| e.to_string())
}

impl DataParallel {
    /// This rank's shard file. Collective (a failure anywhere fails every rank).
    pub fn save_shard(&mut self) -> Result<Vec<u8>> {
        let local = self.shard_file();
        self.comm.agree(local)
    }

    /// Rank 0 gathers every shard and returns the single-process file (`None` elsewhere).
    /// Collective.
    pub fn save_gathered(&mut self) -> Result<Option<Vec<u8>>> {
        let local = self.shard_file();
        let mine = self.comm.agree(local)?;
        let stitched = match self.comm.gather_bytes(&mine) {
            Some(files) => files
                .iter()
                .map(|b| State::parse(b))
                .collect::<Local<Vec<_>>>()
                .and_then(|f| stitch(&self.specs, &f))
                .and_then(|s| s.serialize())
                .map(Some),
            None => Ok(None),
        };
        self.comm.agree(stitched)
    }

    /// Restores from one gathered (or single-process) file or a complete set of shard files
    /// of any world size; every rank passes the same files. Validates everything, on every
    /// rank, before any state changes.
    pub fn load(&mut self, files: &[Vec<u8>]) -> Result<()> {
        let local = self.load_local(files);
        self.comm.agree(local)
    }

    fn load_local(&mut self, files: &[Vec<u8>]) -> Local<()> {
        let parsed = files
            .iter()
            .map(|b| State::parse(b))
            .collect::<Local<Vec<_>>>()?;
        let whole = stitch(&self.specs, &parsed)?;
        let rank = self.comm.rank();
        let Some(shard) = self.shard.as_mut() else {
            return Ok(());
        };
        let groups = shard.params.layout().groups.clone();
        let part = cut(&whole, &self.specs, &self.plan.ranks[rank], &groups)?;
        let bytes = part.serialize()?;
        shard
            .driver
            .optimizer()
            .load(&shard.params, &bytes)
            .map_err(|e| e.to_string())
    }

    fn shard_file(&mut self) -> Local<Vec<u8>> {
        let rank = self.comm.rank();
        let mut state = match self.shard.as_mut() {
            Some(s) => {
                let bytes = s
                    .driver
                    .optimizer()
                    .save(&s.params)
                    .map_err(|e| e.to_string())?;
                State::parse(&bytes)?
            }
            None => State::default(),
        };
        let pieces: Vec<(String, String, usize, usize)> = self.plan.ranks[rank]
            .iter()
            .map(|p| {
                (
                    p.name.clone(),
                    self.specs[p.param].name.clone(),
                    p.start,
                    p.len,
                )
            })
            .collect();
        state
            .meta
            .insert("dist.world".into(), self.comm.size().to_string());
        state.meta.insert("dist.rank".into(), rank.to_string());
        state.meta.insert(
            "dist.pieces".into(),
            serde_json::to_string(&pieces).map_err(|e| e.to_string())?,
        );
        state.serialize()
    }
}
