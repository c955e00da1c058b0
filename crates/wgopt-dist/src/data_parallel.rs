//! Data parallelism with sharded optimizer state (ZeRO stage 1).
//!
//! Every rank holds every parameter (here, on the host: the exchange buffer after the
//! all-gather) and owns the optimizer state of its shard only ([`ShardPlan`]). A step:
//!
//! 1. pack the local gradients into the exchange buffer (the owners' parts in rank order);
//! 2. reduce-scatter (sum) it, so each owner receives its part summed over ranks, and divide
//!    by N (the mean over the global batch);
//! 3. the global guard: each rank's Σg² (f64) and non-finite flag over its part are
//!    all-gathered and summed in rank order, so every rank sees the same norm and verdict;
//!    the part is scaled by torch's clip coefficient min(1, max/(‖g‖+1e-6));
//! 4. the owner's GPU step on its shard (one submit). A global non-finite verdict reaches each
//!    shard as a NaN in its first gradient element, so the shard's own guard skips the step
//!    exactly as a single process would (counters, schedule, state untouched);
//! 5. the updated shard is read back and all-gathered (skipped when the step was skipped:
//!    nothing changed).
//!
//! ZeRO-1 moves the same bytes as an all-reduce: a ring all-reduce is a reduce-scatter plus
//! an all-gather of the same buffer.

use crate::comm::{Communicator, Traffic};
use crate::error::{Error, Result};
use crate::plan::ShardPlan;
use crate::support::{support, Orthogonalised, Support};
use wgopt_optim::registry::{self, Driver, Request};
use wgopt_scheduler::{Engine, GuardConfig, ParamSet, ParamSpec};

/// One rank's part of the optimizer: its shard's parameters on the GPU and the optimizer
/// over them.
pub(crate) struct Shard {
    pub(crate) params: ParamSet,
    pub(crate) driver: Driver,
}

/// What the last step did, the same on every rank.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DistStats {
    /// Global 2-norm of the mean gradient.
    pub grad_norm: f32,
    /// The factor every gradient was multiplied by.
    pub clip_coef: f32,
    /// The step was skipped for a non-finite gradient on some rank.
    pub found_inf: bool,
    /// Steps applied and skipped so far.
    pub applied: u64,
    pub skipped: u64,
    /// Bytes and MPI time of the last step on this rank.
    pub traffic: Traffic,
}

/// A table optimizer run data-parallel over MPI, its state sharded over the ranks.
pub struct DataParallel {
    pub(crate) comm: Communicator,
    pub(crate) name: String,
    pub(crate) specs: Vec<ParamSpec>,
    pub(crate) plan: ShardPlan,
    pub(crate) shard: Option<Shard>,
    guard: GuardConfig,
    /// First element of each parameter in the exchange buffer (each is contiguous there).
    param_offsets: Vec<usize>,
    /// Gradients packed for the reduce-scatter (owners' parts in rank order).
    packed: Vec<f32>,
    /// Every parameter, in the same order: the all-gather's result.
    gathered: Vec<f32>,
    /// This rank's part: summed gradients, then updated parameters.
    owned: Vec<f32>,
    stats: DistStats,
}

impl DataParallel {
    /// Optimizer `name` of the table over `specs` (identical on every rank, checked), with
    /// `req`'s hyperparameters and guard. Collective: every rank calls it; a failure on any
    /// rank is every rank's [`Error::Rank`].
    pub fn new(
        mut comm: Communicator,
        engine: &Engine,
        specs: &[ParamSpec],
        name: &str,
        req: &Request<'_>,
    ) -> Result<DataParallel> {
        let local = check_setup(name, specs);
        let (entry, how) = comm.agree(local)?;
        comm.agree_on(
            "optimizer and parameter specs",
            &format!("{name} {specs:?}"),
        )?;
        let orth = |i: usize| match how {
            Support::WholeTensors(Orthogonalised::AllMatrices) => specs[i].shape.len() >= 2,
            Support::WholeTensors(Orthogonalised::Group(g)) => specs[i].group == g,
            _ => false,
        };
        let cut = how.cut().unwrap_or(crate::plan::Cut::WholeTensors);
        let plan = ShardPlan::new(specs, comm.size(), cut, &orth);
        let rank = comm.rank();
        let shard_req = Request {
            guard: GuardConfig {
                max_grad_norm: None,
                ..req.guard
            },
            ..*req
        };
        let built = build_shard(engine, &plan.shard_specs(specs, rank), entry, &shard_req);
        let shard = comm.agree(built)?;
        let param_offsets = param_offsets(&plan, specs.len());
        let owned = vec![0.0; plan.counts[rank] as usize];
        Ok(DataParallel {
            comm,
            name: name.to_string(),
            specs: specs.to_vec(),
            packed: vec![0.0; plan.total()],
            gathered: vec![0.0; plan.total()],
            plan,
            shard,
            guard: req.guard,
            param_offsets,
            owned,
            stats: DistStats::default(),
        })
    }

    pub fn rank(&self) -> usize {
        self.comm.rank()
    }

    pub fn world(&self) -> usize {
        self.comm.size()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn plan(&self) -> &ShardPlan {
        &self.plan
    }

    pub fn specs(&self) -> &[ParamSpec] {
        &self.specs
    }

    pub fn communicator(&mut self) -> &mut Communicator {
        &mut self.comm
    }

    /// The communicator back, for another optimizer (MPI starts once per process).
    pub fn into_communicator(self) -> Communicator {
        self.comm
    }

    /// Parameter `i` (in the specs' order), as of the last step, on every rank.
    pub fn param(&self, i: usize) -> &[f32] {
        let o = self.param_offsets[i];
        &self.gathered[o..o + self.specs[i].numel()]
    }

    /// Every parameter, in the specs' order.
    pub fn params(&self) -> Vec<&[f32]> {
        (0..self.specs.len()).map(|i| self.param(i)).collect()
    }

    /// Sets every parameter to rank 0's `values` (specs' order), as DDP broadcasts its
    /// initial weights, and writes each owner's shard. Collective.
    pub fn set_params(&mut self, values: &[&[f32]]) -> Result<()> {
        let packed = self.pack(values);
        self.comm.agree(packed)?;
        let bytes: Vec<u8> = self.packed.iter().flat_map(|x| x.to_le_bytes()).collect();
        let bytes = self.comm.broadcast_bytes(bytes);
        for (x, b) in self.gathered.iter_mut().zip(bytes.chunks_exact(4)) {
            *x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        let written = self.write_shard_params();
        self.comm.agree(written)
    }

    /// One step from this rank's gradients of its slice of the batch (specs' order). Every
    /// rank calls it; afterwards every rank holds the same updated parameters.
    pub fn step(&mut self, grads: &[&[f32]]) -> Result<DistStats> {
        let packed = self.pack(grads);
        self.comm.agree(packed)?;
        self.reduce_mean();
        let (norm, found_inf) = self.global_verdict();
        let skip = found_inf && self.guard.skip_non_finite;
        let coef = self.clip(norm, found_inf);
        let local = self.local_step(skip, |d, p| d.optimizer().step(p));
        self.comm.agree(local)?;
        if !skip {
            let read = self.read_shard_params();
            self.comm.agree(read)?;
            self.comm
                .all_gather(&self.owned, &self.plan.counts, &mut self.gathered);
        }
        self.stats.grad_norm = norm;
        self.stats.clip_coef = coef;
        self.stats.found_inf = found_inf;
        if skip {
            self.stats.skipped += 1;
        } else {
            self.stats.applied += 1;
        }
        self.stats.traffic = self.comm.take_traffic();
        Ok(self.stats)
    }

    /// [`DataParallel::step`] for gradients already on this rank's GPU, in `full` (a
    /// parameter set with the same specs, e.g. the one the model's kernels write into):
    /// reads them back (wgpu has no GPU-direct transport), steps, and writes every updated
    /// parameter into `full`'s parameter arena.
    pub fn step_param_set(&mut self, full: &mut ParamSet) -> Result<DistStats> {
        let read = self.read_full_grads(full);
        let grads = self.comm.agree(read)?;
        let refs: Vec<&[f32]> = grads.iter().map(Vec::as_slice).collect();
        let stats = self.step(&refs)?;
        let written = self
            .specs
            .iter()
            .enumerate()
            .try_for_each(|(i, s)| full.write_param(&s.name, self.param(i)));
        self.comm.agree(written)?;
        Ok(stats)
    }

    /// `full`'s gradients in the specs' order; a set with other parameters is this rank's error.
    fn read_full_grads(&self, full: &ParamSet) -> std::result::Result<Vec<Vec<f32>>, String> {
        let layout = full.layout();
        if layout.slots.len() != self.specs.len() {
            return Err(format!(
                "the parameter set has {} parameters, the model {}",
                layout.slots.len(),
                self.specs.len()
            ));
        }
        let mut grads = full.read_grads_by_slot().map_err(|e| e.to_string())?;
        self.specs
            .iter()
            .map(|s| {
                let i = layout.index_of(&s.name).map_err(|e| e.to_string())?;
                if layout.slots[i].shape != s.shape {
                    return Err(format!(
                        "{:?} has shape {:?} in the parameter set",
                        s.name, layout.slots[i].shape
                    ));
                }
                Ok(std::mem::take(&mut grads[i]))
            })
            .collect()
    }

    /// Sophia-G: whether a Hessian estimate is due after this step.
    pub fn curvature_due(&self) -> bool {
        match &self.shard {
            Some(Shard {
                driver: Driver::Sophia(s),
                ..
            }) => s.hessian_due(),
            _ => false,
        }
    }

    /// Sophia-G: this rank's estimate (gradients on sampled labels, specs' order), reduced to
    /// the mean like gradients, clipped by its global norm as a single process's estimate
    /// guard would, and applied by each owner; a non-finite estimate anywhere leaves every
    /// rank's Hessian untouched.
    pub fn update_curvature(&mut self, estimates: &[&[f32]]) -> Result<()> {
        let packed = self.pack(estimates).and_then(|()| match &self.shard {
            Some(Shard {
                driver: Driver::Sophia(_),
                ..
            })
            | None => Ok(()),
            Some(_) => Err(format!("{} takes no curvature estimates", self.name)),
        });
        self.comm.agree(packed)?;
        self.reduce_mean();
        // The estimate has its own guard, configured like the step's (clip and skip).
        let (norm, found_inf) = self.global_verdict();
        self.clip(norm, found_inf);
        let local = self.local_step(found_inf && self.guard.skip_non_finite, |d, p| match d {
            Driver::Sophia(s) => s.update_hessian(p),
            _ => Ok(()),
        });
        self.comm.agree(local)?;
        self.comm.take_traffic();
        Ok(())
    }

    /// Replaces the learning-rate schedule of every rank's shard (the same on every rank).
    pub fn set_schedule(&mut self, schedule: wgopt_reference::schedule::Schedule) -> Result<()> {
        schedule.validate().map_err(wgopt_scheduler::Error::from)?;
        if let Some(shard) = self.shard.as_mut() {
            shard.driver.optimizer().set_schedule(schedule)?;
        }
        Ok(())
    }

    /// The last step's statistics (no communication).
    pub fn stats(&self) -> DistStats {
        self.stats
    }

    /// Packs `values` (specs' order) for the reduce-scatter; a wrong count or length is
    /// this rank's error.
    fn pack(&mut self, values: &[&[f32]]) -> std::result::Result<(), String> {
        if values.len() != self.specs.len() {
            return Err(format!(
                "{} tensors given, the model has {}",
                values.len(),
                self.specs.len()
            ));
        }
        for (i, v) in values.iter().enumerate() {
            let n = self.specs[i].numel();
            if v.len() != n {
                return Err(format!(
                    "gradient of {:?} has {} elements, expected {n}",
                    self.specs[i].name,
                    v.len()
                ));
            }
            let o = self.param_offsets[i];
            self.packed[o..o + n].copy_from_slice(v);
        }
        Ok(())
    }

    /// Reduce-scatter: the owner's part, summed over ranks and divided by N.
    fn reduce_mean(&mut self) {
        self.comm
            .reduce_scatter_sum(&self.packed, &self.plan.counts, &mut self.owned);
        let n = self.comm.size() as f32;
        for x in &mut self.owned {
            *x /= n;
        }
    }

    /// The global norm and non-finite verdict: partial sums all-gathered and added in rank
    /// order (so every rank computes the same value).
    fn global_verdict(&mut self) -> (f32, bool) {
        let (mut sq, mut bad) = (0.0f64, false);
        for &x in &self.owned {
            bad |= !x.is_finite();
            sq += f64::from(x) * f64::from(x);
        }
        let parts = self
            .comm
            .all_gather_pairs([if bad { 0.0 } else { sq }, f64::from(u8::from(bad))]);
        let total: f64 = parts.iter().map(|p| p[0]).sum();
        let found_inf = parts.iter().any(|p| p[1] != 0.0);
        (total.sqrt() as f32, found_inf)
    }

    /// Scales the owned gradients by torch's clip coefficient (as the GPU guard computes it,
    /// in f32) and returns it.
    fn clip(&mut self, norm: f32, found_inf: bool) -> f32 {
        let coef = match self.guard.max_grad_norm {
            Some(max) if !found_inf => (max / (norm + 1e-6)).min(1.0),
            _ => 1.0,
        };
        if coef < 1.0 {
            for x in &mut self.owned {
                *x *= coef;
            }
        }
        coef
    }

    /// Writes the owned gradients into the shard (a NaN first when the step must skip) and
    /// runs `op` on the shard's optimizer.
    fn local_step(
        &mut self,
        skip: bool,
        op: impl FnOnce(&mut Driver, &mut ParamSet) -> wgopt_scheduler::Result<()>,
    ) -> wgopt_scheduler::Result<()> {
        let rank = self.comm.rank();
        let Some(shard) = self.shard.as_mut() else {
            return Ok(());
        };
        if skip {
            if let Some(x) = self.owned.first_mut() {
                *x = f32::NAN;
            }
        }
        let base = self.plan.offsets[rank];
        for (piece, &o) in self.plan.ranks[rank]
            .iter()
            .zip(&self.plan.piece_offsets[rank])
        {
            let part = &self.owned[o - base..o - base + piece.len];
            shard.params.write_grad(&piece.name, part)?;
        }
        op(&mut shard.driver, &mut shard.params)
    }

    /// Reads the shard's updated parameters into the owned buffer (waits for the GPU).
    fn read_shard_params(&mut self) -> wgopt_scheduler::Result<()> {
        let rank = self.comm.rank();
        let Some(shard) = self.shard.as_ref() else {
            return Ok(());
        };
        let values = shard.params.read_params_by_slot()?;
        let base = self.plan.offsets[rank];
        for (piece, &o) in self.plan.ranks[rank]
            .iter()
            .zip(&self.plan.piece_offsets[rank])
        {
            let i = shard.params.layout().index_of(&piece.name)?;
            self.owned[o - base..o - base + piece.len].copy_from_slice(&values[i]);
        }
        Ok(())
    }

    /// Writes this rank's pieces of the gathered parameters into its shard.
    fn write_shard_params(&mut self) -> wgopt_scheduler::Result<()> {
        let rank = self.comm.rank();
        let Some(shard) = self.shard.as_mut() else {
            return Ok(());
        };
        for (piece, &o) in self.plan.ranks[rank]
            .iter()
            .zip(&self.plan.piece_offsets[rank])
        {
            shard
                .params
                .write_param(&piece.name, &self.gathered[o..o + piece.len])?;
        }
        Ok(())
    }
}

/// The table row and how it distributes, or why not.
fn check_setup(
    name: &str,
    specs: &[ParamSpec],
) -> std::result::Result<(&'static registry::Entry, Support), String> {
    let entry = registry::find(name).map_err(|e| e.to_string())?;
    let how = support(name).ok_or_else(|| format!("{name} is not classified"))?;
    if let Support::Refused(why) = how {
        return Err(Error::Unsupported {
            optimizer: name.into(),
            why,
        }
        .to_string());
    }
    if specs.is_empty() {
        return Err("no parameters".into());
    }
    Ok((entry, how))
}

/// This rank's shard optimizer (none when it owns nothing).
fn build_shard(
    engine: &Engine,
    specs: &[ParamSpec],
    entry: &registry::Entry,
    req: &Request<'_>,
) -> wgopt_scheduler::Result<Option<Shard>> {
    if specs.is_empty() {
        return Ok(None);
    }
    let params = ParamSet::new(engine, specs)?;
    let driver = entry.recipe.build(&params, req)?;
    Ok(Some(Shard { params, driver }))
}

/// Where each parameter starts in the exchange buffer: at its first piece (its pieces are
/// adjacent: ranks own contiguous runs of the specs' order, or whole tensors).
fn param_offsets(plan: &ShardPlan, n: usize) -> Vec<usize> {
    let mut at = vec![usize::MAX; n];
    for (pieces, offs) in plan.ranks.iter().zip(&plan.piece_offsets) {
        for (p, &o) in pieces.iter().zip(offs) {
            if p.start == 0 {
                at[p.param] = o;
            }
        }
    }
    at
}
