//! bench-gpu rows for optimizers that are more than one elementwise pass (AdamP/SGDP: row
//! reductions, a per-parameter decision, then the update): GPU time per step on a model's
//! parameter set against AdamW on the same set, each on a fresh device.

use crate::bench::{fill, fresh_engine, gpt2_shapes, median};
use anyhow::Result;
use serde::Serialize;
use wgopt::optim::registry;
use wgopt::{GuardConfig, ParamSet, Router};

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
