//! bench-gpu rows for optimizers that are more than one elementwise pass (AdamP/SGDP: row
//! reductions, a per-parameter decision, then the update): GPU time per step on a model's
//! parameter set against AdamW on the same set, each on a fresh device.

use crate::bench::{fill, fresh_engine, gpt2_shapes, median};
use anyhow::Result;
use serde::Serialize;
use wgopt::optim::registry;
use wgopt::reference::optim::mkor::LayerStatistics;
use wgopt::{GuardConfig, Optimizer, ParamSet, Router};

#[derive(Serialize)]
pub struct StructuredRow {
    optimizer: String,
    set: String,
    params: usize,
    dispatches: usize,
    us_per_step: f64,
    adamw_us_per_step: f64,
    ratio_to_adamw: f64,
}

/// GPU µs per step (median of `repeats`, timestamps) of `name` over `list`.
fn time_step(
    name: &str,
    kv: &[(&str, &str)],
    list: &[(String, Vec<usize>)],
    repeats: usize,
) -> Result<(f64, usize, usize)> {
    let engine = fresh_engine()?;
    let specs = Router::decay_split().specs(list.iter().map(|(n, s)| (n.as_str(), s.as_slice())));
    let mut params = ParamSet::new(&engine, &specs)?;
    fill(&mut params)?;
    let guard = GuardConfig {
        max_grad_norm: Some(1.0),
        skip_non_finite: true,
    };
    let mut opt = registry::create(name, &params, kv, &["no_decay"], guard)?;
    opt.step(&mut params)?;
    opt.enable_timing()?;
    let mut gpu = Vec::new();
    for _ in 0..repeats {
        opt.step(&mut params)?;
        let t = opt.timings()?;
        if std::env::var("WGOPT_BENCH_DISPATCHES").is_ok() {
            println!("{name}: {t:?}");
        }
        gpu.push(t.iter().map(|x| x.1).sum::<f64>());
    }
    Ok((
        median(gpu) / 1e3,
        params.layout().numel(),
        opt.dispatches_per_step(),
    ))
}

/// GPU µs per MKOR step over `list` (routed by MKOR's router: the blocks' linear layers with
/// their biases preconditioned, embeddings plain), statistics written before every step.
/// `inv_freq` 1 times factor steps; a huge one times steps that only precondition.
fn time_mkor(
    list: &[(String, Vec<usize>)],
    repeats: usize,
    factor_steps: bool,
) -> Result<(f64, usize, usize)> {
    use wgopt::optim::registry::{find, Driver, Request};
    let engine = fresh_engine()?;
    let specs =
        wgopt::optim::mkor::router().specs(list.iter().map(|(n, s)| (n.as_str(), s.as_slice())));
    let mut params = ParamSet::new(&engine, &specs)?;
    fill(&mut params)?;
    let inv_freq = if factor_steps { "1" } else { "1000000" };
    let kv = [("lr", "0.1"), ("inv_freq", inv_freq), ("warmup_steps", "0")];
    let req = Request {
        hparams: &kv,
        guard: GuardConfig {
            max_grad_norm: Some(1.0),
            skip_non_finite: true,
        },
        ..Request::default()
    };
    let Driver::Mkor(mut opt) = find("mkor")?.recipe.build(&params, &req)? else {
        anyhow::bail!("mkor built another driver");
    };
    let layers: Vec<(String, LayerStatistics)> = opt
        .program()
        .layers()
        .map(|(n, l)| {
            let a = (0..l.a_dim())
                .map(|i| ((i % 7) as f32 - 3.0) * 0.05)
                .collect();
            let g = (0..l.d_out)
                .map(|i| ((i % 5) as f32 - 2.0) * 0.01)
                .collect();
            (n.to_string(), LayerStatistics { a, g })
        })
        .collect();
    let step = |opt: &mut wgopt::optim::Mkor, params: &mut ParamSet| -> Result<()> {
        if opt.statistics_due() {
            for (n, s) in &layers {
                opt.write_statistics(n, s)?;
            }
        }
        params.mark_grads_written();
        opt.step(params)?;
        Ok(())
    };
    step(&mut opt, &mut params)?;
    opt.enable_timing()?;
    let mut gpu = Vec::new();
    for _ in 0..repeats {
        step(&mut opt, &mut params)?;
        gpu.push(opt.timings()?.iter().map(|x| x.1).sum::<f64>());
    }
    Ok((
        median(gpu) / 1e3,
        params.layout().numel(),
        opt.dispatches_per_step(),
    ))
}

/// GPT-2's list with its Conv1D weights ([in, out]) as linear layers ([out, in]), so MKOR
/// pairs each with its bias.
fn as_linear(list: &[(String, Vec<usize>)]) -> Vec<(String, Vec<usize>)> {
    list.iter()
        .map(|(n, s)| match s[..] {
            [i, o] if n.contains("attn.") || n.contains("mlp.") => (n.clone(), vec![o, i]),
            _ => (n.clone(), s.clone()),
        })
        .collect()
}

/// MKOR's rows: steps that only precondition, and factor steps, against AdamW on the same
/// set. The full GPT-2 set's factors (≈0.9 GB of G⁻¹) exceed a 128 MiB binding: the narrow
/// set is used where they do not fit.
fn mkor_rows(quick: bool, repeats: usize) -> Result<Vec<StructuredRow>> {
    let lr = [("lr", "0.001")];
    let mut rows = Vec::new();
    for factor_steps in [false, true] {
        let (mut shape, mut list) = gpt2_shapes(quick);
        list.retain(|(n, _)| n != "wte");
        let mut list = as_linear(&list);
        let timed = match time_mkor(&list, repeats, factor_steps) {
            Err(e) if !quick && e.to_string().contains("limit") => {
                println!("mkor: the full GPT-2 set does not fit this adapter ({e}); narrow set");
                (shape, list) = gpt2_shapes(true);
                list.retain(|(n, _)| n != "wte");
                list = as_linear(&list);
                time_mkor(&list, repeats, factor_steps)?
            }
            other => other?,
        };
        let (us, params, dispatches) = timed;
        let (adamw_us, _, _) = time_step("adamw", &lr, &list, repeats)?;
        let what = if factor_steps {
            "factor step"
        } else {
            "precondition only"
        };
        let set = format!("{shape} without wte, {what}");
        println!("mkor on {set}: {us:.1} us/step, {dispatches} dispatches ({:.2}x AdamW's {adamw_us:.1} us)", us / adamw_us);
        rows.push(StructuredRow {
            optimizer: "mkor".into(),
            set,
            params,
            dispatches,
            us_per_step: us,
            adamw_us_per_step: adamw_us,
            ratio_to_adamw: us / adamw_us,
        });
    }
    Ok(rows)
}

/// (optimizer, its key=value hyperparameters, parameter list, set description).
type Case<'a> = (
    &'a str,
    &'a [(&'a str, &'a str)],
    &'a [(String, Vec<usize>)],
    String,
);

pub fn run(quick: bool, repeats: usize) -> Result<Vec<StructuredRow>> {
    let (shape, mut list) = gpt2_shapes(quick);
    // The token embedding exceeds lavapipe's 128 MiB binding and AdamP reduces a matrix's rows
    // inside one binding: leave it out on every adapter, so rows compare.
    list.retain(|(n, _)| n != "wte");
    let set = format!("{shape} without wte");
    let lr = [("lr", "0.001")];
    // M-FAC keeps m = 16 gradients of every parameter: a 1M-parameter set (64 MiB window).
    let small = vec![("flat".to_string(), vec![1usize << 20])];
    let mfac_kv = [("lr", "0.001"), ("ngrads", "16"), ("damp", "0.0001")];
    let mut rows = Vec::new();
    let frugal_kv = [("lr", "0.001"), ("density", "0.25")];
    let frugal_of = |p: &'static str| [("lr", "0.001"), ("density", "0.25"), ("projection", p)];
    let (rows_kv, randk_kv, blocks_kv) =
        (frugal_of("rows"), frugal_of("randk"), frugal_of("blocks"));
    let cases: [Case; 7] = [
        ("adamp", &lr, &list, set.clone()),
        ("sgdp", &lr, &list, set.clone()),
        (
            "frugal",
            &frugal_kv,
            &list,
            format!("{set}, columns, density 0.25"),
        ),
        (
            "frugal",
            &rows_kv,
            &list,
            format!("{set}, rows, density 0.25"),
        ),
        (
            "frugal",
            &randk_kv,
            &list,
            format!("{set}, randk, density 0.25"),
        ),
        (
            "frugal",
            &blocks_kv,
            &list,
            format!("{set}, blocks, density 0.25"),
        ),
        (
            "mfac",
            &mfac_kv,
            &small,
            "1M parameters, m = 16".to_string(),
        ),
    ];
    for (name, kv, list, set) in cases {
        let (adamw_us, _, _) = time_step("adamw", &lr, list, repeats)?;
        let (us, params, dispatches) = time_step(name, kv, list, repeats)?;
        println!(
            "{name:6} on {set}: {us:.1} us/step, {dispatches} dispatches ({:.2}x AdamW's {adamw_us:.1} us)",
            us / adamw_us
        );
        rows.push(StructuredRow {
            optimizer: name.into(),
            set: set.clone(),
            params,
            dispatches,
            us_per_step: us,
            adamw_us_per_step: adamw_us,
            ratio_to_adamw: us / adamw_us,
        });
    }
    rows.extend(mkor_rows(quick, repeats)?);
    Ok(rows)
}

pub fn markdown(rows: &[StructuredRow]) -> String {
    let mut md = String::from(
        "\n## Structured optimizers against AdamW (same parameter set, GPU time per step, guard and clip included)\n\n\
         | optimizer | set | params | dispatches | µs/step | AdamW µs/step | ÷ AdamW |\n|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        md += &format!(
            "| {} | {} | {} | {} | {:.1} | {:.1} | {:.2} |\n",
            r.optimizer,
            r.set,
            r.params,
            r.dispatches,
            r.us_per_step,
            r.adamw_us_per_step,
            r.ratio_to_adamw
        );
    }
    md
}
