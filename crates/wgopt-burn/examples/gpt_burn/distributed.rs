//! `--distributed`: the burn GPT data-parallel over MPI (`mpirun -np N … gpt_burn
//! --distributed`). Every rank draws the same global batch and runs forward and backward on its
//! slice of rows on its GPU; the gradients are read back (wgpu has no GPU-direct transport),
//! exchanged by wgopt-dist's ZeRO-1 step (state sharded, global guard), and the updated
//! parameters are written back into the module under their `ParamId`s. Rank 0 prints progress,
//! evaluates and writes `distributed-<N>.csv`.

use super::model::Gpt;
use super::train::Settings;
use super::Args;
use anyhow::{anyhow, bail, Result};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use std::io::Write;
use toygpt::report::{plot_single, Curve};
use toygpt::{Corpus, Split};
use wgopt_burn::SharedDevice;
use wgopt_dist::{Communicator, DataParallel};
use wgopt_optim::registry::{self, split_partner, Request};
use wgopt_scheduler::{GuardConfig, ParamSpec};

/// A parameter's path, shape, and its value or gradient on the host.
type HostTensor = (String, Vec<usize>, Vec<f32>);

/// Every float parameter's path and shape and, when gradients are given, its gradient on the
/// host (else its value), in module order.
struct ToHost<'a> {
    path: Vec<String>,
    grads: Option<&'a GradientsParams>,
    found: Vec<HostTensor>,
    error: Option<String>,
}

impl ModuleVisitor for ToHost<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let path = self.path.join(".");
        let values = match self.grads {
            None => param.val().into_data().try_to_vec::<f32>(),
            Some(g) => match g.get::<D>(param.id) {
                Some(t) => t.into_data().try_to_vec::<f32>(),
                None => {
                    self.error.get_or_insert(format!("{path} has no gradient"));
                    return;
                }
            },
        };
        match values {
            Ok(v) => self.found.push((path, param.lazy_shape().to_vec(), v)),
            Err(e) => {
                self.error.get_or_insert(format!("{path}: {e:?}"));
            }
        }
    }
}

fn to_host(model: &Gpt, grads: Option<&GradientsParams>) -> Result<Vec<HostTensor>> {
    let mut v = ToHost {
        path: Vec::new(),
        grads,
        found: Vec::new(),
        error: None,
    };
    model.visit(&mut v);
    match v.error {
        Some(e) => Err(anyhow!(e)),
        None => Ok(v.found),
    }
}

/// Replaces every float parameter, in module order, by the next of `values`, keeping its id
/// and whether it requires gradients.
struct FromHost<'a> {
    values: std::vec::IntoIter<&'a [f32]>,
    device: &'a Device,
}

impl ModuleMapper for FromHost<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(v) = self.values.next() else {
            return param;
        };
        let (id, tensor, mapper) = param.consume();
        let shape: [usize; D] = tensor.dims();
        let mut t = Tensor::<D>::from_data(TensorData::new(v.to_vec(), shape), self.device);
        if tensor.is_require_grad() {
            t = t.require_grad();
        }
        Param::from_mapped_value(id, t, mapper)
    }
}

fn data_parallel(
    comm: Communicator,
    shared: &SharedDevice,
    model: &Gpt,
    args: &Args,
    settings: &Settings,
) -> Result<DataParallel> {
    let named = to_host(model, None)?;
    let entry = registry::find(&args.optimizer)?;
    let specs: Vec<ParamSpec> =
        (entry.router)().specs(named.iter().map(|(n, s, _)| (n.as_str(), s.as_slice())));
    let kv = (entry.recommended)(settings.adamw_lr, settings.batch * settings.shape.context);
    let (main, partner) = split_partner(&kv);
    let req = Request {
        hparams: &main,
        partner: &partner,
        no_decay: &["no_decay"],
        // As the single-process example: `WgoptConfig`'s default guard.
        guard: GuardConfig::default(),
        seed: settings.seed,
    };
    let mut dp = DataParallel::new(comm, shared.engine(), &specs, &args.optimizer, &req)?;
    dp.set_schedule(settings.schedule())?;
    let initial: Vec<&[f32]> = named.iter().map(|(_, _, v)| v.as_slice()).collect();
    dp.set_params(&initial)?;
    Ok(dp)
}

/// Rows `rows` of batch `step`, on the device.
fn slice(
    corpus: &Corpus,
    settings: &Settings,
    split: Split,
    step: u64,
    rows: std::ops::Range<usize>,
    device: &Device,
) -> Result<(Tensor<2, Int>, Tensor<2, Int>)> {
    let t = settings.shape.context;
    let batch = corpus.batch(split, settings.batch, t, settings.seed, step, 0.0)?;
    let tensor = |v: &[u32]| {
        let data: Vec<i64> = v[rows.start * t..rows.end * t]
            .iter()
            .map(|&x| x as i64)
            .collect();
        Tensor::<2, Int>::from_data(TensorData::new(data, [rows.len(), t]), device)
    };
    Ok((tensor(&batch.tokens), tensor(&batch.targets)))
}

fn evaluate(
    model: &Gpt,
    corpus: &Corpus,
    settings: &Settings,
    shared: &SharedDevice,
    batches: usize,
) -> Result<f32> {
    let valid = model.valid();
    let mut sum = 0.0;
    for i in 0..batches.max(1) {
        let (x, y) = slice(
            corpus,
            settings,
            Split::Val,
            i as u64,
            0..settings.batch,
            shared.device(),
        )?;
        sum += valid.loss(x, y).into_scalar::<f32>();
    }
    Ok(sum / batches.max(1) as f32)
}

pub fn run(args: &Args, corpus: &Corpus, settings: &Settings) -> Result<()> {
    let comm = Communicator::world()?;
    let (rank, world) = (comm.rank(), comm.size());
    if !settings.batch.is_multiple_of(world)
        || args.optimizer.starts_with("sophia")
        || args.optimizer == "adahessian"
    {
        bail!("--distributed needs a batch divisible by {world} and an optimizer without curvature passes");
    }
    let shared = SharedDevice::init()?;
    let device = shared.autodiff_device();
    device.seed(settings.seed);
    let mut model = Gpt::new(&settings.shape, &device);
    let mut dp = data_parallel(comm, &shared, &model, args, settings)?;
    let local = settings.batch / world;
    let csv = args.out.join(format!("distributed-{world}.csv"));
    let mut out = (rank == 0)
        .then(|| std::fs::File::create(&csv))
        .transpose()?;
    if let Some(f) = out.as_mut() {
        println!(
            "{} on {world} ranks, {local} of {} sequences each, {}",
            args.optimizer,
            settings.batch,
            shared.engine().adapter()
        );
        writeln!(f, "step,train_loss,val_loss,bytes_sent")?;
    }
    let started = std::time::Instant::now();
    let mut curve: Curve = Vec::new();
    for step in 0..settings.steps {
        let (x, y) = slice(
            corpus,
            settings,
            Split::Train,
            step,
            rank * local..(rank + 1) * local,
            &device,
        )?;
        let loss = model.loss(x, y);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let host = to_host(&model, Some(&grads))?;
        let refs: Vec<&[f32]> = host.iter().map(|(_, _, g)| g.as_slice()).collect();
        let stats = dp.step(&refs)?;
        let values = dp.params();
        model = model.map(&mut FromHost {
            values: values.into_iter(),
            device: &device,
        });
        let mine = f64::from(loss.into_scalar::<f32>());
        let losses = dp.communicator().all_gather_pairs([mine, 0.0]);
        let train = losses.iter().map(|l| l[0]).sum::<f64>() / world as f64;
        if let Some(f) = out.as_mut() {
            let last = step + 1 == settings.steps;
            let val = if step % args.eval_every == 0 || last {
                let v = evaluate(&model, corpus, settings, &shared, args.eval_batches)?;
                println!(
                    "step {step:>4}  train {train:.4}  val {v:.4}  sent {} B/step",
                    stats.traffic.total_bytes()
                );
                curve.push((step + 1, started.elapsed().as_secs_f64(), v));
                v.to_string()
            } else {
                String::new()
            };
            writeln!(f, "{step},{train},{val},{}", stats.traffic.total_bytes())?;
        }
    }
    if rank == 0 {
        println!("wrote {}", csv.display());
        finish(&args.out, world, &curve)?;
    }
    Ok(())
}

/// Rank 0's plot of the validation curve, and the check that the loss fell.
fn finish(out: &std::path::Path, world: usize, curve: &Curve) -> Result<()> {
    let png = out.join(format!("distributed-{world}.png"));
    let title = format!("data parallel over {world} ranks");
    let note = plot_single(&png, &format!("{world} ranks"), curve, &title)
        .map_err(|e| anyhow::anyhow!(e))?;
    println!("{note}");
    Ok(())
}
