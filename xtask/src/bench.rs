//! `cargo xtask bench-gpu`: every hot path on the adapter at hand, timed with GPU timestamps
//! (median of repeats), calibrated in the same run by a copy kernel (bandwidth) and an FMA
//! kernel (f32 throughput), with the CPU reference beside each. Writes
//! target/bench-gpu/report.md and report.json.

use anyhow::{bail, Result};
use serde::Serialize;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use wgopt::optim::registry::{self, Request};
use wgopt::scheduler::bench::{CopyBench, FmaBench};
use wgopt::scheduler::tuning::TuneReport;
use wgopt::scheduler::StepRecorder;
use wgopt::{Engine, GuardConfig, ParamSet, Router};

/// Counts heap allocations of the whole process (wgopt's and wgpu's alike).
struct CountingAlloc;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[derive(Serialize)]
struct Calibration {
    copy_floats: usize,
    copy_gbps: f64,
    fma_gflops: f64,
}

#[derive(Serialize)]
struct ModelRow {
    shape: String,
    tensors: usize,
    params: usize,
    optimizer: String,
    dispatches_per_step: usize,
    host_us_per_step: f64,
    gpu_us_per_step: f64,
    gpu_objects_created_per_step: f64,
    heap_allocations_per_step: f64,
    cpu_reference_us_per_step: f64,
}

/// The parts of bench-gpu, runnable alone with `--sections` (a lent GPU's minutes are few).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Section {
    /// Fused elementwise optimizers against the copy kernel.
    Optimizers,
    /// The whole GPT-2-small AdamW step.
    Model,
    /// GEMM, Gram and Newton–Schulz against the FMA kernel.
    Linalg,
    /// AdamP, SGDP, FRUGAL, M-FAC against AdamW.
    Structured,
    /// Sinkhorn iterations and the OT race (Sinkhorn against SNS).
    Ot,
    /// Sketched least squares, Kaczmarz, Nyström PCG, constrained Newton.
    Sketch,
    /// A burn model's optimizer step: burn's AdamW against wgopt's AdamW and Muon (the
    /// wgopt-burn example `bench_burn`, built in release; default in full runs, asked for by
    /// name with --quick because that build takes CI's two cores ~20 minutes).
    Burn,
}

impl Section {
    pub const ALL: [Section; 7] = [
        Section::Optimizers,
        Section::Model,
        Section::Linalg,
        Section::Structured,
        Section::Ot,
        Section::Sketch,
        Section::Burn,
    ];

    /// The sections a run does: those named, else all (without `burn` under --quick).
    pub fn chosen(named: &[Section], quick: bool) -> Vec<Section> {
        match (named.is_empty(), quick) {
            (false, _) => named.to_vec(),
            (true, false) => Section::ALL.to_vec(),
            (true, true) => Section::ALL
                .into_iter()
                .filter(|s| *s != Section::Burn)
                .collect(),
        }
    }
}

/// Runs the burn section (its own release build) and appends its table to the report written
/// just before (`alone`: no other section ran, so the report is the burn table alone).
pub fn run_burn(quick: bool, alone: bool) -> Result<()> {
    let dir = std::path::Path::new(
        &std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()),
    )
    .join("bench-gpu");
    std::fs::create_dir_all(&dir)?;
    let table = dir.join("burn.md");
    let mut c = crate::cargo();
    c.args([
        "run",
        "--release",
        "--quiet",
        "-p",
        "wgopt-burn",
        "--example",
        "bench_burn",
        "--",
    ]);
    if quick {
        c.arg("--quick");
    }
    c.arg("--out").arg(&table);
    crate::run(c)?;
    let report = dir.join("report.md");
    let mut md = match alone {
        true => "# bench-gpu\n".to_string(),
        false => std::fs::read_to_string(&report)?,
    };
    md += &std::fs::read_to_string(&table)?;
    std::fs::write(&report, md)?;
    println!("appended the burn section to {}", report.display());
    Ok(())
}

#[derive(Serialize)]
struct Report {
    adapter: String,
    quick: bool,
    repeats: usize,
    calibration: Calibration,
    /// Which sections ran (`--sections`); the others are empty.
    sections: Vec<Section>,
    optimizers: Vec<crate::bench_optim::OptimRow>,
    model: Option<ModelRow>,
    /// (candidate, seconds per GEMM) per autotune candidate, and the pick.
    autotune: Vec<(String, f64)>,
    tuning: String,
    linalg: Vec<crate::bench_linalg::LinalgRow>,
    structured: Vec<crate::bench_structured::StructuredRow>,
    /// FRUGAL's optimizer state per projection on GPT-2's shapes, and AdamW's (bytes).
    structured_memory: Vec<(String, u64)>,
    ot: Vec<crate::bench_ot::OtRow>,
    /// (method, iterations, seconds, reached) to an L1 error of 1e-6.
    ot_race: Vec<(String, usize, f64, bool)>,
    sketch: Vec<crate::bench_sketch::SketchRow>,
}

/// GPU ns of each dispatch of what `record` records, per run (`repeats` after one warm-up).
fn dispatch_runs(
    engine: &Engine,
    rec: &mut StepRecorder,
    repeats: usize,
    record: impl Fn(&mut StepRecorder),
) -> Result<Vec<Vec<f64>>> {
    let mut runs = Vec::new();
    for i in 0..repeats + 1 {
        record(rec);
        rec.submit(engine)?;
        let t: Vec<f64> = rec.read_timings(engine)?.iter().map(|x| x.1).collect();
        if i > 0 {
            runs.push(t);
        }
    }
    Ok(runs)
}

/// Median GPU ns of each dispatch (by position) of what `record` records.
pub(crate) fn time_dispatches(
    engine: &Engine,
    rec: &mut StepRecorder,
    repeats: usize,
    record: impl Fn(&mut StepRecorder),
) -> Result<Vec<f64>> {
    let runs = dispatch_runs(engine, rec, repeats, record)?;
    let n = runs.first().map_or(0, Vec::len);
    Ok((0..n)
        .map(|d| median(runs.iter().map(|r| r[d]).collect()))
        .collect())
}

/// Median GPU ns of the whole of what `record` records.
pub(crate) fn time_recorder(
    engine: &Engine,
    rec: &mut StepRecorder,
    repeats: usize,
    record: impl Fn(&mut StepRecorder),
) -> Result<f64> {
    let runs = dispatch_runs(engine, rec, repeats, record)?;
    Ok(median(runs.iter().map(|r| r.iter().sum()).collect()))
}

pub(crate) fn fill(params: &mut ParamSet) -> Result<()> {
    for s in params.layout().slots.clone() {
        let v: Vec<f32> = (0..s.len)
            .map(|i| ((i % 1013) as f32 - 506.0) * 1e-3)
            .collect();
        params.write_param(&s.name, &v)?;
        params.write_grad(&s.name, &v)?;
    }
    Ok(())
}

/// GPT-2-small's parameter list (148 tensors, 124M parameters), or a narrow one with the same
/// tensor count for --quick.
/// GPT-2-small's parameter list (148 tensors, 124M parameters; on adapters whose storage
/// bindings hold 128 MiB the 154 MB token embedding is split over two arena chunks), or a
/// narrow one with the same tensor count for --quick.
pub(crate) fn gpt2_shapes(quick: bool) -> (String, Vec<(String, Vec<usize>)>) {
    let (d, vocab, ctx, layers) = if quick {
        (64, 1024, 128, 12)
    } else {
        (768, 50257, 1024, 12)
    };
    let mut v = vec![
        ("wte".to_string(), vec![vocab, d]),
        ("wpe".to_string(), vec![ctx, d]),
    ];
    for l in 0..layers {
        let p = |s: &str| format!("h.{l}.{s}");
        v.extend([
            (p("ln_1.weight"), vec![d]),
            (p("ln_1.bias"), vec![d]),
            (p("attn.c_attn.weight"), vec![d, 3 * d]),
            (p("attn.c_attn.bias"), vec![3 * d]),
            (p("attn.c_proj.weight"), vec![d, d]),
            (p("attn.c_proj.bias"), vec![d]),
            (p("ln_2.weight"), vec![d]),
            (p("ln_2.bias"), vec![d]),
            (p("mlp.c_fc.weight"), vec![d, 4 * d]),
            (p("mlp.c_fc.bias"), vec![4 * d]),
            (p("mlp.c_proj.weight"), vec![4 * d, d]),
            (p("mlp.c_proj.bias"), vec![d]),
        ]);
    }
    v.push(("ln_f.weight".into(), vec![d]));
    v.push(("ln_f.bias".into(), vec![d]));
    let name = format!("GPT-2 (d={d}, vocab={vocab}, ctx={ctx}, {layers} layers)");
    (name, v)
}

/// A new device for each measurement. On the H100 (NVIDIA 580 Vulkan driver) buffers allocated
/// on a device after large ones were freed read at ~0.58x the bandwidth of the first ones
/// (docs/bench-h100.md); a training process allocates its arenas once, so each row gets a
/// device whose memory is fresh, as a real run would.
pub(crate) fn fresh_engine() -> Result<Engine> {
    Ok(Engine::new()?)
}

fn bench_model(_engine: &Engine, quick: bool, repeats: usize) -> Result<ModelRow> {
    let engine = &fresh_engine()?;
    let (shape, list) = gpt2_shapes(quick);
    let specs = Router::decay_split().specs(list.iter().map(|(n, s)| (n.as_str(), s.as_slice())));
    let mut params = ParamSet::new(engine, &specs)?;
    fill(&mut params)?;
    let mut opt = registry::create(
        "adamw",
        &params,
        &[("lr", "0.0006"), ("weight_decay", "0.1")],
        &["no_decay"],
        GuardConfig {
            max_grad_norm: Some(1.0),
            skip_non_finite: true,
        },
    )?;
    opt.step(&mut params)?;
    engine.wait()?;
    let objects_before = engine.object_counts();
    let (mut host, mut allocs) = (Vec::new(), 0u64);
    let steps = repeats.max(5);
    for _ in 0..steps {
        let a0 = ALLOCATIONS.load(Ordering::Relaxed);
        let t = Instant::now();
        opt.step(&mut params)?;
        host.push(t.elapsed().as_nanos() as f64);
        allocs += ALLOCATIONS.load(Ordering::Relaxed) - a0;
        engine.wait()?;
    }
    let objects_after = engine.object_counts();
    let created = (objects_after.buffers + objects_after.pipelines + objects_after.bind_groups)
        - (objects_before.buffers + objects_before.pipelines + objects_before.bind_groups);
    let dispatches = opt.dispatches_per_step();
    opt.enable_timing()?;
    let mut gpu = Vec::new();
    for _ in 0..repeats {
        opt.step(&mut params)?;
        gpu.push(opt.timings()?.iter().map(|x| x.1).sum::<f64>());
    }
    // CPU reference over the same tensors.
    let lens: Vec<usize> = params.layout().slots.iter().map(|s| s.len).collect();
    let mut hostp: Vec<Vec<f32>> = lens.iter().map(|&l| vec![0.5; l]).collect();
    let grads: Vec<Vec<f32>> = lens.iter().map(|&l| vec![0.25; l]).collect();
    let req = Request {
        hparams: &[("lr", "0.0006")],
        ..Request::default()
    };
    let mut cpu = registry::find("adamw")?
        .recipe
        .reference(params.layout(), &req)?;
    cpu.set_guard(Some(1.0), true);
    let t = Instant::now();
    cpu.step_with(1.0, &mut hostp, &grads, None)?;
    let cpu_us = t.elapsed().as_nanos() as f64 / 1e3;
    Ok(ModelRow {
        shape,
        tensors: specs.len(),
        params: params.layout().numel(),
        optimizer: "adamw (decay / no_decay groups, clip 1.0, skip non-finite)".into(),
        dispatches_per_step: dispatches,
        host_us_per_step: median(host) / 1e3,
        gpu_us_per_step: median(gpu) / 1e3,
        gpu_objects_created_per_step: created as f64 / steps as f64,
        heap_allocations_per_step: allocs as f64 / steps as f64,
        cpu_reference_us_per_step: cpu_us,
    })
}

/// `only`: optimizer names to time (empty: all); `sections`: the parts to run.
/// Timestamp queries are what every row is measured with.
fn engine_with_timestamps() -> Result<Engine> {
    let engine = Engine::new()?;
    if engine
        .require_features(wgpu::Features::TIMESTAMP_QUERY)
        .is_err()
    {
        bail!(
            "bench-gpu needs TIMESTAMP_QUERY, which {} lacks",
            engine.adapter()
        );
    }
    Ok(engine)
}

/// The copy kernel over `copy_n` floats (bandwidth) and the FMA kernel (throughput).
fn calibrate(engine: &Engine, copy_n: usize, quick: bool, repeats: usize) -> Result<Calibration> {
    let copy = CopyBench::new(engine, copy_n)?;
    let mut rec = StepRecorder::new();
    rec.enable_timing(engine, 1)?;
    let copy_ns = time_recorder(engine, &mut rec, repeats, |r| copy.record(r))?;
    let copy_gbps = copy.bytes as f64 / copy_ns;
    let fma = FmaBench::new(engine, if quick { 256 } else { 2048 }, 512);
    let fma_ns = time_recorder(engine, &mut rec, repeats, |r| fma.record(r))?;
    let calibration = Calibration {
        copy_floats: copy_n,
        copy_gbps,
        fma_gflops: fma.flops / fma_ns,
    };
    println!(
        "copy kernel: {copy_gbps:.1} GB/s over {copy_n} floats; fma kernel: {:.1} GFLOP/s",
        calibration.fma_gflops
    );
    Ok(calibration)
}

/// The autotune of the GEMM tile core, then the linear-algebra rows.
fn linalg(
    engine: &Engine,
    quick: bool,
    repeats: usize,
    fma_gflops: f64,
) -> Result<(TuneReport, Vec<crate::bench_linalg::LinalgRow>)> {
    // WGOPT_TUNE_SIZE overrides the autotune's GEMM edge. 256 on a CPU adapter: at 128 the
    // 128×128 core is a single workgroup and loses, while from 256 up it is the fastest there
    // (docs/bench-lavapipe.md).
    let tune_size = std::env::var("WGOPT_TUNE_SIZE")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(if quick || engine.adapter().is_software {
            256
        } else {
            1024
        });
    let tune = wgopt::solvers::linalg::autotune(engine, tune_size, 3)?;
    println!(
        "autotune ({tune_size}³ GEMM): {} → {:?} (cache: {})",
        tune.timings
            .iter()
            .map(|(k, t)| format!("{k:?}: {:.1} us", t * 1e6))
            .collect::<Vec<_>>()
            .join(", "),
        tune.chosen,
        tune.cache_file
            .as_ref()
            .map_or("not written".into(), |p| p.display().to_string())
    );
    Ok((
        tune,
        crate::bench_linalg::run(engine, quick, repeats, fma_gflops)?,
    ))
}

/// `only`: optimizer names to time (empty: all); `sections`: the parts to run.
pub fn run(quick: bool, only: &[String], sections: &[Section]) -> Result<()> {
    let on = |s: Section| sections.contains(&s);
    let engine = engine_with_timestamps()?;
    let repeats = if quick { 3 } else { 10 };
    let sizes: &[usize] = if quick {
        &[1 << 20]
    } else {
        &[1 << 20, 16 << 20, 64 << 20]
    };
    let adapter = format!(
        "{}; shaders {}",
        engine.adapter(),
        if engine.checked_shaders() {
            "with wgpu's runtime checks (WGOPT_CHECKED_SHADERS=1)"
        } else {
            "unchecked (the default)"
        }
    );
    println!("bench-gpu on {adapter} ({repeats} repeats, median)");
    // As large as the biggest optimizer run, within one storage binding.
    let copy_n = (*sizes.last().unwrap_or(&(1 << 20))).min(engine.chunk_bytes() as usize / 4);
    let calibration = calibrate(&engine, copy_n, quick, repeats)?;
    let (copy_gbps, software) = (calibration.copy_gbps, engine.adapter().is_software);
    let optimizers = if on(Section::Optimizers) {
        crate::bench_optim::rows(sizes, only, repeats, copy_gbps)?
    } else {
        Vec::new()
    };
    let model = on(Section::Model)
        .then(|| bench_model(&engine, quick, repeats))
        .transpose()?;
    let (tune, linalg) = match on(Section::Linalg) {
        true => {
            let (t, l) = linalg(&engine, quick, repeats, calibration.fma_gflops)?;
            (Some(t), l)
        }
        false => (None, Vec::new()),
    };
    let structured = on(Section::Structured)
        .then(|| crate::bench_structured::run(quick, repeats))
        .transpose()?
        .unwrap_or_default();
    let structured_memory = on(Section::Structured)
        .then(|| crate::bench_structured::memory(quick))
        .transpose()?
        .unwrap_or_default();
    let (ot, ot_race) = match on(Section::Ot) {
        true => (
            crate::bench_ot::run(quick, software, repeats, copy_gbps)?,
            crate::bench_ot::race(quick, software)?,
        ),
        false => (Vec::new(), Vec::new()),
    };
    let sketch = on(Section::Sketch)
        .then(|| crate::bench_sketch::run(quick, software))
        .transpose()?
        .unwrap_or_default();
    write_report(&Report {
        adapter,
        quick,
        repeats,
        calibration,
        sections: sections.to_vec(),
        optimizers,
        model,
        autotune: tune.as_ref().map_or_else(Vec::new, |t| {
            t.timings
                .iter()
                .map(|(k, t)| (format!("{k:?}"), *t))
                .collect()
        }),
        tuning: tune.map_or_else(String::new, |t| format!("{:?}", t.chosen)),
        linalg,
        structured,
        structured_memory,
        ot,
        ot_race,
        sketch,
    })
}

fn write_report(r: &Report) -> Result<()> {
    let dir = std::path::Path::new(
        &std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()),
    )
    .join("bench-gpu");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("report.json"), serde_json::to_string_pretty(r)?)?;
    let on = |s: Section| r.sections.contains(&s);
    let mut md = format!(
        "# bench-gpu\n\nAdapter: {}\n\nMedian of {} repeats, GPU timestamps. `cargo xtask bench-gpu{}`\n\n\
         ## Calibration\n\n| kernel | figure |\n|---|---|\n| copy ({} floats) | {:.1} GB/s |\n| fma | {:.1} GFLOP/s |\n",
        r.adapter,
        r.repeats,
        if r.quick { " --quick" } else { "" },
        r.calibration.copy_floats,
        r.calibration.copy_gbps,
        r.calibration.fma_gflops
    );
    if on(Section::Optimizers) {
        md += "\n## Fused optimizers (guard on: skip non-finite)\n\n\
         | optimizer | params | bytes/param | update µs | GB/s | ÷ copy | guard µs | dispatches | CPU ref µs | CPU ref GB/s |\n\
         |---|---|---|---|---|---|---|---|---|---|\n";
    }
    for o in &r.optimizers {
        md += &format!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.2} | {:.1} | {} | {:.1} | {:.2} |\n",
            o.optimizer,
            o.params,
            o.bytes_per_param,
            o.update_us,
            o.update_gbps,
            o.ratio_to_copy,
            o.guard_us,
            o.dispatches,
            o.cpu_reference_us,
            o.cpu_reference_gbps
        );
    }
    if let Some(m) = &r.model {
        md += &format!(
            "\n## Whole-model step\n\n{} — {} tensors, {} parameters, {}\n\n\
             | dispatches/step | host µs/step | GPU µs/step | GPU objects created/step | heap allocations/step (process) | CPU reference µs/step |\n\
             |---|---|---|---|---|---|\n| {} | {:.1} | {:.1} | {} | {:.1} | {:.0} |\n",
            m.shape, m.tensors, m.params, m.optimizer, m.dispatches_per_step, m.host_us_per_step, m.gpu_us_per_step,
            m.gpu_objects_created_per_step, m.heap_allocations_per_step, m.cpu_reference_us_per_step
        );
    }
    if on(Section::Linalg) {
        md += &format!(
            "\n## Linear algebra (ratio to the same run's FMA kernel)\n\n\
             Autotuned GEMM tile core: {} (host wall time per GEMM: {}). `-f16`: Newton–Schulz \
             iterates stored in f16, f32 accumulation. `root5`: ROOT's exact 0.9-quantile + clamp, then NS5.\n\n\
             | kernel | shape | µs | GFLOP/s | ÷ fma |\n|---|---|---|---|---|\n",
            r.tuning,
            r.autotune
                .iter()
                .map(|(k, t)| format!("{k}: {:.1} µs", t * 1e6))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for l in &r.linalg {
        md += &format!(
            "| {} | {} | {:.1} | {:.1} | {:.2} |\n",
            l.kernel, l.shape, l.us, l.gflops, l.ratio_to_fma
        );
    }
    if on(Section::Structured) {
        md += &crate::bench_structured::markdown(&r.structured);
        md += &crate::bench_structured::memory_markdown(r.quick, &r.structured_memory);
    }
    if on(Section::Ot) {
        md += &crate::bench_ot::markdown(&r.ot);
        md += "\n### Time to an L1 marginal error of 1e-6 (random assignment, η = 1000)\n\n| method | iterations | seconds | reached |\n|---|---|---|---|\n";
        for (label, its, secs, ok) in &r.ot_race {
            md += &format!("| {label} | {its} | {secs:.3} | {ok} |\n");
        }
    }
    if on(Section::Sketch) {
        md += &crate::bench_sketch::markdown(&r.sketch);
    }
    std::fs::write(dir.join("report.md"), &md)?;
    println!("wrote {}", dir.join("report.md").display());
    Ok(())
}
