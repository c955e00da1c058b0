//! The α–β model of a distributed step, fitted to `dist-check traffic` measurements on this
//! machine and extrapolated to 8–1024 GPUs on 100 Gb/s and 400 Gb/s networks for GPT-2-small
//! and a 1.3B model. Reads the measurement lines (`rank 0: OK traffic …`) from the file given,
//! prints the fit and the tables (markdown), and draws `docs/distributed.png`.
//!
//! `cargo run -p wgopt-dist --example comm_model -- docs/distributed-measured.txt`

use plotters::prelude::*;

/// One `traffic` line.
struct Measured {
    world: f64,
    params: f64,
    step_s: f64,
    mpi_s: f64,
    bytes: f64,
}

fn field(line: &str, key: &str) -> Option<f64> {
    let mut words = line.split_whitespace();
    words.find(|w| *w == key)?;
    words.next()?.parse().ok()
}

fn parse(text: &str) -> Vec<Measured> {
    text.lines()
        .filter(|l| l.contains("OK traffic") && l.starts_with("rank 0:"))
        .filter_map(|l| {
            Some(Measured {
                world: field(l, "world")?,
                params: field(l, "params")?,
                step_s: field(l, "step_s")?,
                mpi_s: field(l, "mpi_s")?,
                bytes: field(l, "reduce_scatter_B")? + field(l, "all_gather_B")?,
            })
        })
        .collect()
}

/// Host cost per element per rank `h` and shard cost per element `g`: step − MPI = P·(h + g/N),
/// least squares over the measurements.
fn fit_compute(m: &[Measured]) -> (f64, f64) {
    let (mut sxx, mut sxy, mut syy, mut sx, mut sy, mut n) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for r in m {
        // y = (step − mpi)/P = h + g·x with x = 1/N
        let (x, y) = (1.0 / r.world, (r.step_s - r.mpi_s) / r.params);
        sxx += x * x;
        sxy += x * y;
        sx += x;
        sy += y;
        syy += y * y;
        n += 1.0;
    }
    let _ = syy;
    let g = (n * sxy - sx * sy) / (n * sxx - sx * sx);
    let h = (sy - g * sx) / n;
    (h.max(0.0), g.max(0.0))
}

/// Effective MPI bandwidth of each multi-rank measurement: ring bytes per second of MPI
/// time. MPI time includes waiting for the slowest rank, so on an oversubscribed machine this
/// is a lower bound on the transport's bandwidth, and no latency can be separated from it.
fn effective_bandwidth(r: &Measured) -> f64 {
    r.bytes / r.mpi_s
}

/// The extrapolation's assumptions, stated in docs/distributed.md.
struct Cluster {
    /// Seconds per message (MPI over the network).
    alpha: f64,
    /// Network bytes per second per rank.
    beta: f64,
    /// Host↔GPU bytes per second through wgpu's staging buffers.
    pcie: f64,
    /// Host seconds per element per rank: packing, the mean and clip of the owned part, the
    /// all-gather's writes, ~12 bytes per element at 10 GB/s (one core's copy bandwidth).
    host: f64,
    /// GPU seconds per element of the optimizer step (H100, AdamW, docs/bench-h100.md).
    gpu: f64,
}

impl Cluster {
    fn network(&self, n: f64, p: f64) -> f64 {
        2.0 * (n - 1.0) * self.alpha + 2.0 * (n - 1.0) / n * p * 4.0 / self.beta
    }

    /// ZeRO-1: grads down, shard grads up, shard params down, all params up.
    fn zero1(&self, n: f64, p: f64) -> f64 {
        let staged = p * 4.0 * (2.0 + 2.0 / n) / self.pcie;
        self.gpu * p / n + staged + self.host * p + self.network(n, p)
    }

    /// DGC at `ratio`: gradients up, the message down, the dense average up; the compressor's
    /// ~50 bytes per element on the GPU (correction, four radix passes, count, select) at
    /// 3 TB/s plus the replicated SGD step; the dense average built on the host (8 bytes per
    /// element); a ring all-gather of k values and k indices per rank: (N−1) messages of 8k.
    fn dgc(&self, n: f64, p: f64, ratio: f64) -> f64 {
        let k = (ratio * p).ceil();
        let staged = (p * 8.0 + k * 8.0) / self.pcie;
        let gpu = self.gpu * p + p * 50.0 / 3e12;
        let network = (n - 1.0) * (self.alpha + k * 8.0 / self.beta);
        gpu + staged + self.host * p + network
    }

    /// Plain data parallel: an all-reduce of the same bytes, every rank steps everything.
    fn all_reduce(&self, n: f64, p: f64) -> f64 {
        let staged = p * 4.0 * 2.0 / self.pcie;
        self.gpu * p + staged + self.host * p + self.network(n, p)
    }
}

const GPT2_SMALL: f64 = 124.4e6;
const MODEL_1_3B: f64 = 1.3e9;
/// H100: the GPT-2-small AdamW step (guard, clip, update) took 1842 µs (docs/bench-h100.md).
const H100_S_PER_PARAM: f64 = 1842e-6 / GPT2_SMALL;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: comm_model <measurements>")?;
    let m = parse(&std::fs::read_to_string(&path)?);
    if m.len() < 3 {
        return Err("need measurements at three world sizes".into());
    }
    let (h, g) = fit_compute(&m);
    println!("## Fit to this machine\n");
    println!("step − MPI = P·(h + g/N): h = {:.2} ns per element per rank (host work, and here lavapipe's", h * 1e9);
    println!("uploads and readbacks, which are host copies too), g = {:.2} ns per element of the shard (lavapipe's step).\n", g * 1e9);
    println!("| N | measured step s | model step − MPI s | measured MPI s | ring bytes | effective GB/s |\n|---|---|---|---|---|---|");
    for r in &m {
        let bw = if r.world > 1.0 {
            format!("{:.2}", effective_bandwidth(r) / 1e9)
        } else {
            "–".into()
        };
        println!(
            "| {} | {:.3} | {:.3} (measured {:.3}) | {:.3} | {:.0} | {bw} |",
            r.world,
            r.step_s,
            r.params * (h + g / r.world),
            r.step_s - r.mpi_s,
            r.mpi_s,
            r.bytes
        );
    }
    let nets = [("100 Gb/s", 12.5e9), ("400 Gb/s", 50e9)];
    let clusters: Vec<(&str, Cluster)> = nets
        .iter()
        .map(|&(name, beta)| {
            (
                name,
                Cluster {
                    alpha: 5e-6,
                    beta,
                    pcie: 25e9,
                    host: 12.0 / 10e9,
                    gpu: H100_S_PER_PARAM,
                },
            )
        })
        .collect();
    let worlds = [8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0];
    for (model, p) in [("GPT-2-small (124.4M)", GPT2_SMALL), ("1.3B", MODEL_1_3B)] {
        println!("\n### {model}: optimizer step + exchange per step, ms\n");
        println!("| N | ZeRO-1 100 Gb/s | network share | ZeRO-1 400 Gb/s | network share | all-reduce DP 100 Gb/s | DGC 0.1% 100 Gb/s |\n|---|---|---|---|---|---|---|");
        for &n in &worlds {
            let (c1, c4) = (&clusters[0].1, &clusters[1].1);
            let (z1, z4) = (c1.zero1(n, p), c4.zero1(n, p));
            println!(
                "| {n} | {:.1} | {:.0}% | {:.1} | {:.0}% | {:.1} | {:.1} |",
                z1 * 1e3,
                100.0 * c1.network(n, p) / z1,
                z4 * 1e3,
                100.0 * c4.network(n, p) / z4,
                c1.all_reduce(n, p) * 1e3,
                c1.dgc(n, p, 0.001) * 1e3
            );
        }
    }
    plot(&clusters, &worlds)?;
    Ok(())
}

fn plot(clusters: &[(&str, Cluster)], worlds: &[f64]) -> Result<(), Box<dyn std::error::Error>> {
    let font = std::env::var("WGOPT_FONT")
        .unwrap_or_else(|_| "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf".into());
    let bytes: &'static [u8] = Box::leak(std::fs::read(&font)?.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| format!("{font} is not a usable font"))?;
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/distributed.png");
    let root = BitMapBackend::new(&out, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "wgopt ZeRO-1 step + exchange (α–β model, H100 step, host-staged MPI)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((8f64..1024f64).log_scale(), (100f64..5000f64).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("GPUs (N)")
        .y_desc("ms per step")
        .draw()?;
    let colors = [RED, BLUE, GREEN, MAGENTA];
    let mut k = 0;
    for (model, p) in [("GPT-2-small", GPT2_SMALL), ("1.3B", MODEL_1_3B)] {
        for (net, c) in clusters {
            let color = colors[k % colors.len()];
            k += 1;
            chart
                .draw_series(LineSeries::new(
                    worlds.iter().map(|&n| (n, c.zero1(n, p) * 1e3)),
                    color.stroke_width(2),
                ))?
                .label(format!("{model}, {net}"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
    }
    let c1 = &clusters[0].1;
    chart
        .draw_series(LineSeries::new(
            worlds
                .iter()
                .map(|&n| (n, c1.dgc(n, GPT2_SMALL, 0.001) * 1e3)),
            BLACK.stroke_width(2),
        ))?
        .label("GPT-2-small, DGC 0.1%, 100 Gb/s")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    println!("\nwrote {}", out.display());
    Ok(())
}
