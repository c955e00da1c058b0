//! `wgopt replay`: runs any optimizer of the table over a recorded sequence of gradients (e.g.
//! dumped from a PyTorch run) on the GPU, or on the CPU reference with `--reference`, and
//! writes the parameters after every step or after the last.
//!
//! Single optimizers put every parameter in one group, "all"; a hybrid routes them by its
//! documented router (hidden ≥2-D weights to the matrix optimizer, embeddings, head and 1-D
//! parameters to AdamW), and `--hp adamw.key=value` sets its AdamW part. SophiaG takes its
//! curvature estimates from the file (`hess.<k>.<name>` after every k-th step); SophiaH and
//! AdaHessian need Hessian-vector products with probes they draw themselves, which a recording
//! cannot hold, so replay refuses them.

use crate::arrays::read_file;
use crate::checks::write_output as write_file;
use crate::to_f32;
use anyhow::{bail, Context, Result};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::HashMap;
use std::path::PathBuf;
use wgopt::optim::registry::{self, config_from, split_partner, Driver, Entry, Request};
use wgopt::optim::{Sophia, SophiaConfig};
use wgopt::reference::optim::ReferenceOptimizer;
use wgopt::scheduler::Layout;
use wgopt::{Engine, GuardConfig, ParamSet, ParamSpec, Schedule};

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// Input: tensors `param.<name>` (initial values) and `grad.<step>.<name>` (step from 0);
    /// SophiaG also `hess.<step>.<name>` after every update_interval-th step.
    input: PathBuf,
    /// Optimizer name: any of `wgopt::optim::registry::names()` (README table).
    #[arg(long, default_value = "adamw")]
    optimizer: String,
    /// Hyperparameter as key=value (the config's field names; beta1/beta2 for betas; a
    /// hybrid's AdamW part as adamw.key=value). Repeatable.
    #[arg(long = "hp", value_name = "KEY=VALUE")]
    hparams: Vec<String>,
    /// Learning-rate schedule, e.g. `warmup:10+cosine:90:0.1` (default constant).
    #[arg(long, default_value = "constant")]
    schedule: String,
    /// Clip the global gradient norm to this value.
    #[arg(long)]
    max_grad_norm: Option<f32>,
    /// Write `step.<k>.<name>` after every step instead of only `param.<name>` at the end.
    #[arg(long)]
    every_step: bool,
    /// Run the CPU reference instead of the GPU (to compare the two).
    #[arg(long)]
    reference: bool,
    /// Output safetensors file.
    #[arg(long, short)]
    output: PathBuf,
}

/// Parameters (name, shape, values), per-step gradients and SophiaG's estimates (by step), all
/// in the order of `params`.
pub(crate) struct Recording {
    params: Vec<(String, Vec<usize>, Vec<f32>)>,
    grads: Vec<Vec<Vec<f32>>>,
    estimates: HashMap<usize, Vec<Vec<f32>>>,
    /// Tensors that were F64 and are replayed rounded to f32.
    rounded: usize,
}

/// `prefix.<step>.<name>` tensors (shape, values), by step then name.
type Stepped = HashMap<usize, HashMap<String, (Vec<usize>, Vec<f32>)>>;

fn read_stepped(file: &SafeTensors<'_>, prefix: &str, rounded: &mut usize) -> Result<Stepped> {
    let mut steps: Stepped = HashMap::new();
    for full in file.names().into_iter().filter(|n| n.starts_with(prefix)) {
        let (k, n) = full[prefix.len()..]
            .split_once('.')
            .with_context(|| format!("{full}: expected {prefix}<step>.<name>"))?;
        let k: usize = k
            .parse()
            .with_context(|| format!("{full}: step is not a number"))?;
        let v = file.tensor(full)?;
        *rounded += (v.dtype() == Dtype::F64) as usize;
        let values = to_f32(&v, full)?;
        let step = steps.entry(k).or_default();
        if step
            .insert(n.to_string(), (v.shape().to_vec(), values))
            .is_some()
        {
            bail!(
                "{full}: another tensor also gives {prefix}{k}.{n} (step numbers written \
                 differently, e.g. 01 and 1); each step of a parameter must appear once"
            );
        }
    }
    Ok(steps)
}

/// One step's tensors in parameter order; every parameter present, shapes checked, nothing
/// extra.
fn in_order(
    mut step: HashMap<String, (Vec<usize>, Vec<f32>)>,
    params: &[(String, Vec<usize>, Vec<f32>)],
    what: &str,
    k: usize,
) -> Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(params.len());
    for (n, shape, _) in params {
        let (s, v) = step
            .remove(n)
            .with_context(|| format!("{what}.{k}.{n} is missing"))?;
        if &s != shape {
            bail!("{what}.{k}.{n} has shape {s:?}, param.{n} has shape {shape:?}");
        }
        out.push(v);
    }
    if let Some(extra) = step.keys().next() {
        bail!("{what}.{k}.{extra} has no matching param.{extra}");
    }
    Ok(out)
}

pub(crate) fn read_recording(bytes: &[u8]) -> Result<Recording> {
    let file = SafeTensors::deserialize(bytes).context("input is not a safetensors file")?;
    let mut names: Vec<&str> = file.names();
    names.sort();
    let mut rounded = 0;
    let mut params = Vec::new();
    for n in names.iter().filter_map(|n| n.strip_prefix("param.")) {
        let v = file.tensor(&format!("param.{n}"))?;
        rounded += (v.dtype() == Dtype::F64) as usize;
        params.push((n.to_string(), v.shape().to_vec(), to_f32(&v, n)?));
    }
    if params.is_empty() {
        bail!("no `param.<name>` tensors in the input");
    }
    let mut steps = read_stepped(&file, "grad.", &mut rounded)?;
    let mut grads = Vec::new();
    for k in 0..steps.len() {
        let step = steps
            .remove(&k)
            .with_context(|| format!("gradients for step {k} are missing"))?;
        grads.push(in_order(step, &params, "grad", k)?);
    }
    let estimates = read_stepped(&file, "hess.", &mut rounded)?
        .into_iter()
        .map(|(k, step)| Ok((k, in_order(step, &params, "hess", k)?)))
        .collect::<Result<_>>()?;
    Ok(Recording {
        params,
        grads,
        estimates,
        rounded,
    })
}

/// The parameters' specs: one group "all", or the hybrid's router.
fn specs(entry: &Entry, rec: &Recording) -> Vec<ParamSpec> {
    let shapes = rec.params.iter().map(|(n, s, _)| (n.as_str(), &s[..]));
    if entry.is_hybrid() {
        (entry.router)().specs(shapes)
    } else {
        shapes.map(|(n, s)| ParamSpec::new(n, s, "all")).collect()
    }
}

/// SophiaG's Hessian cadence: after step k (0-based) when (k + 1) % update_interval == 0.
fn estimate_steps(entry: &Entry, main: &[(&str, &str)], steps: usize) -> Result<Vec<usize>> {
    if entry.name != "sophia-g" {
        return Ok(Vec::new());
    }
    let k = config_from(entry.name, SophiaConfig::g(), main)?.update_interval as usize;
    Ok((0..steps).filter(|s| (s + 1) % k.max(1) == 0).collect())
}

/// Named outputs (`step.<k>.<name>` or `param.<name>`, shape, values).
type Outputs = Vec<(String, Vec<usize>, Vec<f32>)>;

fn record_values(out: &mut Outputs, k: Option<usize>, rec: &Recording, values: &[Vec<f32>]) {
    for ((n, shape, _), v) in rec.params.iter().zip(values) {
        let key = match k {
            Some(k) => format!("step.{k}.{n}"),
            None => format!("param.{n}"),
        };
        out.push((key, shape.clone(), v.clone()));
    }
}

/// Position in the recording of each layout slot.
fn slot_order(layout: &Layout, rec: &Recording) -> Vec<usize> {
    layout
        .slots
        .iter()
        .map(|s| {
            rec.params
                .iter()
                .position(|p| p.0 == s.name)
                .expect("the layout holds the recording's parameters")
        })
        .collect()
}

fn replay_reference(
    entry: &Entry,
    rec: &Recording,
    req: &Request<'_>,
    (schedule, every_step, due): (&Schedule, bool, &[usize]),
) -> Result<Outputs> {
    let layout = Layout::new(&specs(entry, rec), u64::MAX)?;
    let order = slot_order(&layout, rec);
    let mut opt: Box<dyn ReferenceOptimizer> = entry.recipe.reference(&layout, req)?;
    opt.set_guard(req.guard.max_grad_norm.map(f64::from), true);
    let pick = |all: &[Vec<f32>]| order.iter().map(|&i| all[i].clone()).collect::<Vec<_>>();
    let mut values = pick(&rec.params.iter().map(|p| p.2.clone()).collect::<Vec<_>>());
    let unpick = |v: &[Vec<f32>]| {
        let mut out = vec![Vec::new(); v.len()];
        for (slot, &i) in order.iter().enumerate() {
            out[i] = v[slot].clone();
        }
        out
    };
    let mut out = Vec::new();
    for (k, g) in rec.grads.iter().enumerate() {
        opt.step_with(schedule.multiplier(k as u64), &mut values, &pick(g), None)?;
        if due.contains(&k) {
            opt.update_hessian(&pick(&rec.estimates[&k]), None)?;
        }
        if every_step {
            record_values(&mut out, Some(k), rec, &unpick(&values));
        }
    }
    if !every_step {
        record_values(&mut out, None, rec, &unpick(&values));
    }
    Ok(out)
}

/// Writes one step's tensors (in recording order) into the gradient arena.
fn write_all(params: &mut ParamSet, rec: &Recording, values: &[Vec<f32>]) -> Result<()> {
    for ((n, _, _), v) in rec.params.iter().zip(values) {
        params.write_grad(n, v)?;
    }
    Ok(())
}

fn read_all(params: &ParamSet, rec: &Recording) -> Result<Vec<Vec<f32>>> {
    rec.params
        .iter()
        .map(|(n, _, _)| Ok(params.read_param(n)?))
        .collect()
}

fn replay_gpu(
    entry: &Entry,
    rec: &Recording,
    req: &Request<'_>,
    (schedule, every_step, due): (&Schedule, bool, &[usize]),
) -> Result<Outputs> {
    let engine = Engine::new()?;
    let mut params = ParamSet::new(&engine, &specs(entry, rec))?;
    for (n, _, v) in &rec.params {
        params.write_param(n, v)?;
    }
    let mut driver = entry.recipe.build(&params, req)?;
    driver.optimizer().set_schedule(schedule.clone())?;
    let mut out = Vec::new();
    let mut skipped = 0;
    for (k, g) in rec.grads.iter().enumerate() {
        write_all(&mut params, rec, g)?;
        driver.optimizer().step(&mut params)?;
        let now = driver.optimizer().stats()?.skipped_steps;
        if now > skipped {
            eprintln!("step {k} skipped: a gradient (or clip norm) was NaN or infinite");
            skipped = now;
        }
        if let Driver::Sophia(s) = &mut driver {
            sophia_estimate(s, &mut params, rec, k, due)?;
        }
        if every_step {
            record_values(&mut out, Some(k), rec, &read_all(&params, rec)?);
        }
    }
    if !every_step {
        record_values(&mut out, None, rec, &read_all(&params, rec)?);
    }
    let opt = driver.optimizer();
    let stats = opt.stats()?;
    eprintln!(
        "{} on {}: {} steps applied, {} skipped",
        opt.name(),
        engine.adapter(),
        stats.applied_steps,
        stats.skipped_steps
    );
    Ok(out)
}

fn sophia_estimate(
    s: &mut Sophia,
    params: &mut ParamSet,
    rec: &Recording,
    k: usize,
    due: &[usize],
) -> Result<()> {
    if s.hessian_due() != due.contains(&k) {
        bail!("internal: SophiaG's Hessian cadence disagrees at step {k}");
    }
    if s.hessian_due() {
        write_all(params, rec, &rec.estimates[&k])?;
        s.update_hessian(params)?;
    }
    Ok(())
}

/// Refuses what replay cannot run, and checks the estimates match SophiaG's cadence.
fn check_inputs(entry: &Entry, rec: &Recording, due: &[usize]) -> Result<()> {
    if matches!(entry.name, "sophia-h" | "adahessian") {
        bail!(
            "{} needs Hessian-vector products with the probes it draws itself each step, which \
             a recording cannot hold; drive it from a training loop (README: curvature)",
            entry.name
        );
    }
    if entry.name == "mkor" {
        bail!(
            "mkor needs each linear layer's batch statistics (inputs and output gradients) on its \
             factor steps, which a recording does not hold; drive it from a training loop \
             (README: MKOR)"
        );
    }
    for k in due {
        if !rec.estimates.contains_key(k) {
            bail!("SophiaG updates its Hessian after step {k}: hess.{k}.<name> is missing");
        }
    }
    if let Some(k) = rec.estimates.keys().find(|k| !due.contains(k)) {
        bail!(
            "hess.{k}.* is given, but {} takes no estimate after step {k}",
            entry.name
        );
    }
    Ok(())
}

fn write_output(a: &ReplayArgs, out: &Outputs, steps: usize) -> Result<()> {
    let views: Vec<(String, TensorView<'_>)> = out
        .iter()
        .map(|(n, s, v)| {
            Ok((
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), bytemuck::cast_slice(v))?,
            ))
        })
        .collect::<Result<_>>()?;
    let meta = HashMap::from([
        ("optimizer".to_string(), a.optimizer.clone()),
        ("hparams".to_string(), a.hparams.join(",")),
        ("schedule".to_string(), a.schedule.clone()),
        ("steps".to_string(), steps.to_string()),
        (
            "backend".to_string(),
            if a.reference { "reference" } else { "gpu" }.to_string(),
        ),
    ]);
    let bytes = safetensors::serialize(views, Some(meta))?;
    write_file(&a.output, &bytes)?;
    eprintln!("wrote {} ({steps} steps)", a.output.display());
    Ok(())
}

pub fn run(a: ReplayArgs) -> Result<()> {
    let entry = registry::find(&a.optimizer)?;
    let schedule = Schedule::parse(&a.schedule).context("--schedule")?;
    let guard = GuardConfig {
        max_grad_norm: a.max_grad_norm,
        skip_non_finite: true,
    };
    guard.validate().context("--max-grad-norm")?;
    wgopt::scheduler::files::output_target(&a.output)?;
    let bytes = read_file(&a.input)?;
    let rec = read_recording(&bytes).with_context(|| a.input.display().to_string())?;
    if let Some(h) = schedule.horizon() {
        if rec.grads.len() as u64 > h {
            bail!(
                "--schedule covers {h} steps but the recording has {}; refine over the whole \
                 run or stretch the table (refined:FILE:STEPS)",
                rec.grads.len()
            );
        }
    }
    if rec.rounded > 0 {
        eprintln!(
            "note: {} F64 tensors were rounded to f32 (the optimizers run in f32)",
            rec.rounded
        );
    }
    let kv: Vec<(String, String)> = a
        .hparams
        .iter()
        .map(|s| {
            s.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .with_context(|| format!("--hp {s:?}: expected KEY=VALUE"))
        })
        .collect::<Result<_>>()?;
    let (main, partner) = split_partner(&kv);
    let due = estimate_steps(entry, &main, rec.grads.len())?;
    check_inputs(entry, &rec, &due)?;
    let req = Request {
        hparams: &main,
        partner: &partner,
        guard,
        ..Request::default()
    };
    let how = (&schedule, a.every_step, &due[..]);
    let out = if a.reference {
        replay_reference(entry, &rec, &req, how)?
    } else {
        replay_gpu(entry, &rec, &req, how)?
    };
    write_output(&a, &out, rec.grads.len())
}
