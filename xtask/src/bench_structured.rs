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
    /// Optimizer state as allocated (`Optimizer::state_bytes`), and AdamW's on the same set.
    state_bytes: u64,
    adamw_state_bytes: u64,
}

/// One timed optimizer: GPU µs per step (median), parameters, dispatches, state bytes.
struct Timed {
    us: f64,
    params: usize,
    dispatches: usize,
    state_bytes: u64,
}

impl StructuredRow {
    fn new(optimizer: &str, set: String, t: &Timed, adamw: &Timed) -> StructuredRow {
        println!(
            "{optimizer:6} on {set}: {:.1} us/step, {} dispatches ({:.2}x AdamW's {:.1} us), state {:.1} MB (AdamW {:.1} MB)",
            t.us,
            t.dispatches,
            t.us / adamw.us,
            adamw.us,
            t.state_bytes as f64 / 1e6,
            adamw.state_bytes as f64 / 1e6
        );
        StructuredRow {
            optimizer: optimizer.into(),
            set,
            params: t.params,
            dispatches: t.dispatches,
            us_per_step: t.us,
            adamw_us_per_step: adamw.us,
            ratio_to_adamw: t.us / adamw.us,
            state_bytes: t.state_bytes,
            adamw_state_bytes: adamw.state_bytes,
        }
    }
}

/// `name` over `list` on a fresh device (decay/no-decay groups), parameters filled.
fn built(
    name: &str,
    kv: &[(&str, &str)],
    list: &[(String, Vec<usize>)],
    guard: GuardConfig,
) -> Result<(ParamSet, Box<dyn Optimizer>)> {
    let engine = fresh_engine()?;
    let specs = Router::decay_split().specs(list.iter().map(|(n, s)| (n.as_str(), s.as_slice())));
    let mut params = ParamSet::new(&engine, &specs)?;
    fill(&mut params)?;
    let opt = registry::create(name, &params, kv, &["no_decay"], guard)?;
    Ok((params, opt))
}

/// GPU µs per step (median of `repeats`, timestamps) of `name` over `list`.
fn time_step(
    name: &str,
    kv: &[(&str, &str)],
    list: &[(String, Vec<usize>)],
    repeats: usize,
) -> Result<Timed> {
    let guard = GuardConfig {
        max_grad_norm: Some(1.0),
        skip_non_finite: true,
    };
    let (mut params, mut opt) = built(name, kv, list, guard)?;
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
    Ok(Timed {
        us: median(gpu) / 1e3,
        params: params.layout().numel(),
        dispatches: opt.dispatches_per_step(),
        state_bytes: opt.state_bytes(),
    })
}

/// Wall µs of a FRUGAL svd step that refreshes every basis (`update_gap` 1: sketch, QR and
/// Rayleigh–Ritz on the host, five products per weight, two read-backs per weight), synced.
fn time_svd_refresh(list: &[(String, Vec<usize>)], repeats: usize) -> Result<Timed> {
    let kv = [
        ("lr", "0.001"),
        ("density", "0.25"),
        ("projection", "svd"),
        ("update_gap", "1"),
    ];
    let (mut params, mut opt) = built("frugal", &kv, list, GuardConfig::default())?;
    opt.step(&mut params)?;
    opt.stats()?;
    let mut wall = Vec::new();
    for _ in 0..repeats.min(5) {
        params.mark_grads_written();
        let start = std::time::Instant::now();
        opt.step(&mut params)?;
        opt.stats()?;
        wall.push(start.elapsed().as_secs_f64() * 1e9);
    }
    Ok(Timed {
        us: median(wall) / 1e3,
        params: params.layout().numel(),
        dispatches: opt.dispatches_per_step(),
        state_bytes: opt.state_bytes(),
    })
}

/// GPU µs per MKOR step over `list` (routed by MKOR's router: the blocks' linear layers with
/// their biases preconditioned, embeddings plain), statistics written before every step.
/// `inv_freq` 1 times factor steps; a huge one times steps that only precondition.
fn time_mkor(list: &[(String, Vec<usize>)], repeats: usize, factor_steps: bool) -> Result<Timed> {
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
    Ok(Timed {
        us: median(gpu) / 1e3,
        params: params.layout().numel(),
        dispatches: opt.dispatches_per_step(),
        state_bytes: opt.state_bytes(),
    })
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
        let adamw = time_step("adamw", &lr, &list, repeats)?;
        let what = if factor_steps {
            "factor step"
        } else {
            "precondition only"
        };
        let set = format!("{shape} without wte, {what}");
        rows.push(StructuredRow::new("mkor", set, &timed, &adamw));
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
    let frugal_of = |p: &'static str| [("lr", "0.001"), ("density", "0.25"), ("projection", p)];
    let projections = ["columns", "rows", "randk", "blocks", "svd"].map(frugal_of);
    // The SVD projector's products run at a CPU adapter's GEMM speed (lavapipe: ~2% of its FMA
    // rate, 80 s per GPT-2 step): time it on the narrow set there; its memory is measured on
    // the full set below either way.
    let software = fresh_engine()?.adapter().is_software;
    let (narrow_shape, mut narrow) = gpt2_shapes(true);
    narrow.retain(|(n, _)| n != "wte");
    let (svd_list, svd_set) = if software && !quick {
        (&narrow, format!("{narrow_shape} without wte"))
    } else {
        (&list, set.clone())
    };
    let mut cases: Vec<Case> = vec![
        ("adamp", &lr, &list, set.clone()),
        ("sgdp", &lr, &list, set.clone()),
    ];
    for kv in &projections {
        let projection = kv[2].1;
        let (list, set) = if projection == "svd" {
            (svd_list, &svd_set)
        } else {
            (&list, &set)
        };
        cases.push((
            "frugal",
            kv,
            list,
            format!("{set}, {projection}, density 0.25"),
        ));
    }
    cases.push((
        "mfac",
        &mfac_kv,
        &small,
        "1M parameters, m = 16".to_string(),
    ));
    for (name, kv, list, set) in cases {
        let adamw = time_step("adamw", &lr, list, repeats)?;
        let timed = time_step(name, kv, list, repeats)?;
        rows.push(StructuredRow::new(name, set, &timed, &adamw));
    }
    let adamw = time_step("adamw", &lr, svd_list, repeats)?;
    let refresh = time_svd_refresh(svd_list, repeats)?;
    let what = format!("{svd_set}, svd, density 0.25: a refresh step, wall time (host QR and Rayleigh–Ritz included)");
    rows.push(StructuredRow::new("frugal", what, &refresh, &adamw));
    rows.extend(mkor_rows(quick, repeats)?);
    Ok(rows)
}

/// Optimizer state of FRUGAL's projections and AdamW on `list`, as allocated (built, not run).
pub fn memory(quick: bool) -> Result<Vec<(String, u64)>> {
    let (_, mut list) = gpt2_shapes(quick);
    list.retain(|(n, _)| n != "wte");
    let mut out = Vec::new();
    let cases = ["adamw", "columns", "rows", "randk", "blocks", "svd"];
    for case in cases {
        let (name, kv) = if case == "adamw" {
            ("adamw", vec![("lr", "0.001")])
        } else {
            let kv = vec![("lr", "0.001"), ("density", "0.25"), ("projection", case)];
            ("frugal", kv)
        };
        let (_params, opt) = built(name, &kv, &list, GuardConfig::default())?;
        let label = if case == "adamw" {
            "adamw".into()
        } else {
            format!("frugal {case}")
        };
        println!("state of {label}: {:.1} MB", opt.state_bytes() as f64 / 1e6);
        out.push((label, opt.state_bytes()));
    }
    Ok(out)
}

/// The memory table: state bytes of each against AdamW's.
pub fn memory_markdown(quick: bool, rows: &[(String, u64)]) -> String {
    let (shape, _) = gpt2_shapes(quick);
    let adamw = rows
        .iter()
        .find(|r| r.0 == "adamw")
        .map_or(1, |r| r.1)
        .max(1);
    let mut md = format!(
        "\n## Optimizer state on {shape} without wte (ρ = 0.25, as allocated)\n\n| optimizer | state MB | ÷ AdamW |\n|---|---|---|\n"
    );
    for (name, bytes) in rows {
        md += &format!(
            "| {name} | {:.1} | {:.3} |\n",
            *bytes as f64 / 1e6,
            *bytes as f64 / adamw as f64
        );
    }
    md
}

pub fn markdown(rows: &[StructuredRow]) -> String {
    let mut md = String::from(
        "\n## Structured optimizers against AdamW (same parameter set, GPU time per step, guard and clip included)\n\n\
         | optimizer | set | params | dispatches | µs/step | AdamW µs/step | ÷ AdamW | state MB | AdamW state MB |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        md += &format!(
            "| {} | {} | {} | {} | {:.1} | {:.1} | {:.2} | {:.1} | {:.1} |\n",
            r.optimizer,
            r.set,
            r.params,
            r.dispatches,
            r.us_per_step,
            r.adamw_us_per_step,
            r.ratio_to_adamw,
            r.state_bytes as f64 / 1e6,
            r.adamw_state_bytes as f64 / 1e6
        );
    }
    md
}
