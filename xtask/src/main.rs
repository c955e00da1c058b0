//! `cargo xtask`: the project's own commands.
//!
//! - `setup`      make sure a wgpu adapter exists (installs Mesa's lavapipe when none does) and
//!   that OpenMPI and libclang are there for wgopt-dist (installs them when absent)
//! - `test`       setup, then `cargo test --workspace`
//! - `demo`       setup, then the main example: a character-level GPT trained with Muon +
//!   AdamW — the burn GPT (all on the GPU) on a hardware adapter, the toy GPT (CPU model, GPU
//!   updates) on a software one")
//! - `bench-gpu`  measure every hot path on the adapter at hand (release build; `--quick`)
//! - `check-shaders` parse and validate every composed shader with naga

mod bench;
mod bench_linalg;
mod bench_optim;
mod bench_ot;
mod bench_sketch;
mod bench_structured;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use std::process::Command;

#[derive(Parser)]
#[command(name = "xtask")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Make sure a GPU adapter and MPI exist; install lavapipe and OpenMPI (Debian/Ubuntu, as
    /// root) when absent.
    Setup,
    /// Setup, then run every test of the workspace.
    Test {
        /// Extra arguments for `cargo test`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Setup, then run the main example (the toy GPT; extra arguments go to it, e.g.
    /// `cargo xtask demo -- --compare adamw,muon+adamw,sophia-g`).
    Demo {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Benchmark every hot path; writes target/bench-gpu/report.{md,json}.
    BenchGpu {
        /// Small sizes only (a smoke test).
        #[arg(long)]
        quick: bool,
        /// Time only these optimizers (comma-separated registry names).
        #[arg(long, value_delimiter = ',')]
        optimizers: Vec<String>,
        /// Run only these parts (comma-separated; all when not given).
        #[arg(long, value_enum, value_delimiter = ',')]
        sections: Vec<bench::Section>,
    },
    /// Internal: the benchmark itself, run in a release build by `bench-gpu`.
    #[command(hide = true)]
    BenchGpuRun {
        #[arg(long)]
        quick: bool,
        #[arg(long, value_delimiter = ',')]
        optimizers: Vec<String>,
        #[arg(long, value_enum, value_delimiter = ',')]
        sections: Vec<bench::Section>,
    },
    /// Validate every composed shader with naga.
    CheckShaders,
}

pub(crate) fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    // Mesa warns on every start without it; harmless, but it buries real output.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        c.env("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
    c
}

pub(crate) fn run(mut c: Command) -> Result<()> {
    let status = c.status().with_context(|| format!("running {c:?}"))?;
    if !status.success() {
        bail!("{c:?} failed with {status}");
    }
    Ok(())
}

fn have_adapter() -> bool {
    !wgopt::scheduler::list_adapters(wgopt::scheduler::DEFAULT_BACKENDS).is_empty()
}

/// Which GPT the demo trains: `WGOPT_DEMO=burn|toy`, else the burn GPT (forward, backward and
/// update on the GPU) when a hardware adapter exists and the toy GPT (CPU model) on a software
/// one, where burn's per-op dispatches make a step 4–8× slower than the toy's (docs/burn.md).
fn demo_is_burn() -> Result<bool> {
    match std::env::var("WGOPT_DEMO").as_deref() {
        Ok("burn") => Ok(true),
        Ok("toy") => Ok(false),
        Ok(other) => bail!("WGOPT_DEMO={other:?}: use burn or toy"),
        Err(_) => Ok(
            wgopt::scheduler::list_adapters(wgopt::scheduler::DEFAULT_BACKENDS)
                .iter()
                .any(|(a, _, _)| !a.is_software),
        ),
    }
}

fn setup() -> Result<()> {
    setup_adapter()?;
    setup_mpi()
}

fn can_apt() -> bool {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false);
    is_root && Command::new("apt-get").arg("--version").output().is_ok()
}

/// `apt-get update` then `apt-get install -y` the packages.
fn apt_install(packages: &[&str]) -> Result<()> {
    let mut update = Command::new("apt-get");
    update
        .args(["update", "-qq"])
        .env("DEBIAN_FRONTEND", "noninteractive");
    run(update)?;
    let mut c = Command::new("apt-get");
    c.args(["install", "-y", "-qq"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive");
    run(c)
}

fn setup_adapter() -> Result<()> {
    if have_adapter() {
        for (a, _, _) in wgopt::scheduler::list_adapters(wgopt::scheduler::DEFAULT_BACKENDS) {
            println!("setup: adapter {a}");
        }
        return Ok(());
    }
    let install = "apt-get install -y mesa-vulkan-drivers libvulkan1";
    if !can_apt() {
        bail!("no GPU adapter found. Install a Vulkan driver; without a GPU, as root on Debian/Ubuntu: {install}");
    }
    println!("setup: no adapter found; installing Mesa's software Vulkan driver (lavapipe)");
    apt_install(&["mesa-vulkan-drivers", "libvulkan1"])?;
    if !have_adapter() {
        bail!("installed lavapipe but wgpu still finds no adapter");
    }
    println!("setup: lavapipe installed");
    Ok(())
}

/// What wgopt-dist needs: the MPI runtime (mpirun), its headers (mpicc finds them for
/// rsmpi's build) and libclang (bindgen).
fn have_mpi() -> bool {
    let found = |cmd: &str, arg: &str| Command::new(cmd).arg(arg).output().is_ok();
    let libclang = [
        "/usr/lib",
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
    ]
    .iter()
    .chain(&[
        "/usr/lib/llvm-14/lib",
        "/usr/lib/llvm-15/lib",
        "/usr/lib/llvm-16/lib",
    ])
    .filter_map(|d| std::fs::read_dir(d).ok())
    .flatten()
    .filter_map(|e| e.ok())
    .any(|e| e.file_name().to_string_lossy().starts_with("libclang.so"))
        || std::env::var_os("LIBCLANG_PATH").is_some();
    found("mpirun", "--version") && found("mpicc", "--showme:version") && libclang
}

fn setup_mpi() -> Result<()> {
    if have_mpi() {
        println!("setup: MPI (mpirun, mpicc) and libclang found");
        return Ok(());
    }
    let packages = ["openmpi-bin", "libopenmpi-dev", "libclang-dev"];
    if !can_apt() {
        bail!(
            "wgopt-dist needs OpenMPI and libclang. As root on Debian/Ubuntu: apt-get install -y {}",
            packages.join(" ")
        );
    }
    println!("setup: installing OpenMPI and libclang for wgopt-dist");
    apt_install(&packages)?;
    if !have_mpi() {
        bail!(
            "installed {} but mpirun, mpicc or libclang is still missing",
            packages.join(" ")
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Setup => setup(),
        Cmd::Test { args } => {
            setup()?;
            let mut c = cargo();
            c.args(["test", "--workspace"]).args(args);
            run(c)
        }
        Cmd::Demo { args } => {
            setup()?;
            let mut c = cargo();
            if demo_is_burn()? {
                println!(
                    "demo: the burn GPT, everything on the GPU (WGOPT_DEMO=toy for the toy GPT)"
                );
                c.args([
                    "run",
                    "--release",
                    "-p",
                    "wgopt-burn",
                    "--example",
                    "gpt_burn",
                    "--",
                ]);
            } else {
                println!("demo: the toy GPT (CPU model, GPU updates) on a software adapter (WGOPT_DEMO=burn for the burn GPT)");
                c.args(["run", "--release", "--example", "gpt_toy", "--"]);
            }
            c.args(args);
            run(c)
        }
        Cmd::BenchGpu {
            quick,
            optimizers,
            sections,
        } => {
            setup()?;
            let mut c = cargo();
            c.args([
                "run",
                "--release",
                "--quiet",
                "--package",
                "xtask",
                "--",
                "bench-gpu-run",
            ]);
            if quick {
                c.arg("--quick");
            }
            if !optimizers.is_empty() {
                c.arg(format!("--optimizers={}", optimizers.join(",")));
            }
            let chosen = bench::Section::chosen(&sections, quick);
            let names: Vec<String> = chosen
                .iter()
                .filter(|s| **s != bench::Section::Burn)
                .map(|s| format!("{s:?}").to_lowercase())
                .collect();
            if !names.is_empty() {
                c.arg(format!("--sections={}", names.join(",")));
                run(c)?;
            }
            if chosen.contains(&bench::Section::Burn) {
                bench::run_burn(quick, names.is_empty())?;
            }
            Ok(())
        }
        Cmd::BenchGpuRun {
            quick,
            optimizers,
            sections,
        } => bench::run(
            quick,
            &optimizers,
            if sections.is_empty() {
                &bench::Section::ALL
            } else {
                &sections
            },
        ),
        Cmd::CheckShaders => {
            for k in wgopt::kernels() {
                let src = k.source();
                let m = naga::front::wgsl::parse_str(&src)
                    .map_err(|e| anyhow::anyhow!("{}: {}", k.label(), e.emit_to_string(&src)))?;
                naga::valid::Validator::new(
                    naga::valid::ValidationFlags::all(),
                    naga::valid::Capabilities::all(),
                )
                .validate(&m)
                .map_err(|e| anyhow::anyhow!("{}: {}", k.label(), e.emit_to_string(&src)))?;
                println!("ok  shaders/{} {:?}", k.label(), k.storage);
            }
            Ok(())
        }
    }
}
