//! The `wgopt` binary: `info` lists adapters, features and limits; `replay` runs an optimizer
//! over a recorded sequence of gradients (e.g. dumped from a PyTorch run) and writes the
//! parameters after every step or the last; `ot` solves an entropic optimal transport problem
//! from a file (see `ot.rs`). The file formats are documented in the README.

mod arrays;
mod checks;
#[cfg(test)]
mod fuzz;
mod ot;
mod replay;
mod schedule;
mod solve;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use safetensors::tensor::{Dtype, TensorView};
use wgopt::Engine;

#[derive(Parser)]
#[command(
    name = "wgopt",
    version,
    about = "Fused, verified optimizer updates on any GPU"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Adapters wgpu can see, and what wgopt would pick, with features and limits.
    Info,
    /// Replays gradients from a safetensors file through an optimizer.
    Replay(replay::ReplayArgs),
    /// Entropic optimal transport (log-domain Sinkhorn) from a safetensors file.
    Ot(ot::OtArgs),
    /// A least-squares problem or linear system from a safetensors file (`A`, `b`).
    Solve(solve::SolveArgs),
    /// Learning-rate schedules: `refine` one from a recorded run's gradient norms.
    #[command(subcommand)]
    Schedule(schedule::ScheduleCommand),
}

/// Exit codes: 0 success, 1 an error (bad input, I/O, device), 2 a usage error (clap), 3 a
/// solver that ran but did not reach its tolerance (`checks::NotConverged`; `ot` and `solve`
/// still write what they have, marked as such).
fn main() -> std::process::ExitCode {
    env_logger::init();
    let result = match Cli::parse().command {
        Command::Info => info(),
        Command::Replay(a) => replay::run(a),
        Command::Ot(a) => ot::run(a),
        Command::Solve(a) => solve::run(a),
        Command::Schedule(c) => schedule::run(c),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<checks::NotConverged>().is_some() => {
            eprintln!("not converged: {e}");
            std::process::ExitCode::from(checks::EXIT_NOT_CONVERGED)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn info() -> Result<()> {
    let adapters = wgopt::scheduler::list_adapters(wgopt::scheduler::wgpu::Backends::all());
    if adapters.is_empty() {
        println!(
            "no adapters found. {}",
            wgopt::scheduler::engine::SETUP_HINT
        );
    }
    for (summary, features, limits) in &adapters {
        println!("adapter: {summary}");
        println!("  software: {}", summary.is_software);
        let wanted = *features & wgopt::scheduler::engine::WANTED_FEATURES;
        println!("  features wgopt uses: {wanted:?}");
        println!(
            "  max_storage_buffer_binding_size: {}",
            limits.max_storage_buffer_binding_size
        );
        println!("  max_buffer_size: {}", limits.max_buffer_size);
        println!(
            "  max_compute_workgroups_per_dimension: {}",
            limits.max_compute_workgroups_per_dimension
        );
        println!(
            "  max_compute_workgroup_storage_size: {}",
            limits.max_compute_workgroup_storage_size
        );
        println!(
            "  max_compute_invocations_per_workgroup: {}",
            limits.max_compute_invocations_per_workgroup
        );
    }
    match Engine::new() {
        Ok(e) => println!(
            "wgopt picks: {} (arena chunk {} bytes)",
            e.adapter(),
            e.chunk_bytes()
        ),
        Err(e) => println!("wgopt cannot open a device: {e}"),
    }
    Ok(())
}

/// A tensor's values as f32 (F32, F16, BF16 as they are; F64 rounded, which the caller
/// reports).
pub(crate) fn to_f32(view: &TensorView<'_>, name: &str) -> Result<Vec<f32>> {
    let d = view.data();
    Ok(match view.dtype() {
        Dtype::F32 => bytemuck::pod_collect_to_vec(d),
        Dtype::F64 => d
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect(),
        Dtype::F16 => d
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => d
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        other => bail!("{name}: dtype {other:?} is not supported (F32, F64, F16, BF16)"),
    })
}
