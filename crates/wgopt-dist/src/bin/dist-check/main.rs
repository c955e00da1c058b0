//! The distributed self-check, and the worker the MPI tests launch:
//! `mpirun -np N dist-check <scenario> [args]`. Each rank compares the distributed run
//! against a single-process run on the whole batch that it computes itself, prints one line
//! per rank (`rank r: OK …` or `rank r: FAIL …`) and exits non-zero on failure.
//!
//! Scenarios: `trajectory <optimizer> <steps>`, `every <steps>` (every supported optimizer), `trajectory-gpu <optimizer> <steps>` (gradients
//! in a GPU parameter set), `nan`, `bad-length`, `bad-name`,
//! `unsupported`, `save <dir> <optimizer> <steps>`, `resume <dir> <optimizer> <steps> <more>
//! gathered|shards`, `traffic <optimizer> <steps>` (bytes and time per step, GPT-2-small's
//! shapes scaled by `WGOPT_DIST_SCALE`), `dgc <ratio> <masking> <nesterov> <clipping> <steps>`
//! and `dgc-full <steps>` (Deep Gradient Compression against its twin and, at ratio 1, against
//! momentum SGD), `dgc-nan`, `dgc-traffic <ratio> <steps>`.

mod dgc;
mod model;

use model::{Oracle, Run};
use std::process::ExitCode;
use wgopt_dist::{Communicator, DataParallel, Error};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let comm = match Communicator::world() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let rank = comm.rank();
    let outcome = run(comm, &args);
    match outcome {
        Ok(line) => {
            println!("rank {rank}: OK {line}");
            ExitCode::SUCCESS
        }
        Err(line) => {
            println!("rank {rank}: FAIL {line}");
            ExitCode::FAILURE
        }
    }
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize) -> Result<T, String> {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("argument {i} missing or malformed in {args:?}"))
}

fn run(comm: Communicator, args: &[String]) -> Result<String, String> {
    let scenario = args.first().map(String::as_str).unwrap_or("");
    match scenario {
        "trajectory" => trajectory(comm, &arg::<String>(args, 1)?, arg(args, 2)?),
        "every" => every_supported(comm, arg(args, 1)?),
        "trajectory-gpu" => model::trajectory_gpu(comm, &arg::<String>(args, 1)?, arg(args, 2)?),
        "nan" => nan_on_one_rank(comm),
        "bad-length" => bad_length(comm),
        "bad-name" | "unsupported" => bad_setup(comm, scenario),
        "save" => model::save(
            comm,
            &arg::<String>(args, 1)?,
            &arg::<String>(args, 2)?,
            arg(args, 3)?,
        ),
        "resume" => model::resume(comm, args),
        "dgc" => dgc::against_twin(comm, args),
        "dgc-full" => dgc::full_ratio_is_momentum_sgd(comm, arg(args, 1)?),
        "dgc-nan" => dgc::nan_on_one_rank(comm),
        "dgc-traffic" => dgc::traffic(comm, arg(args, 1)?, arg(args, 2)?),
        "traffic" => model::traffic(comm, &arg::<String>(args, 1)?, arg(args, 2)?),
        other => Err(format!("unknown scenario {other:?}")),
    }
}

/// N ranks against one process on the concatenated batch.
fn trajectory(comm: Communicator, name: &str, steps: u64) -> Result<String, String> {
    let mut run = Run::new(comm, name)?;
    let mut oracle = Oracle::new(name, &run)?;
    for step in 0..steps {
        run.step(step, None)?;
        oracle.step(step, &run, None)?;
    }
    oracle.compare(&run)
}

/// Every optimizer of the table that runs distributed, one after another on one
/// communicator, each against one process.
fn every_supported(mut comm: Communicator, steps: u64) -> Result<String, String> {
    let mut done = Vec::new();
    for name in wgopt_optim::registry::names() {
        if matches!(
            wgopt_dist::support(name),
            Some(wgopt_dist::Support::Refused(_)) | None
        ) {
            continue;
        }
        let mut run = Run::new(comm, name)?;
        let mut oracle = Oracle::new(name, &run)?;
        for step in 0..steps {
            run.step(step, None)?;
            oracle.step(step, &run, None)?;
        }
        oracle.compare(&run)?;
        done.push(name);
        comm = run.dp.into_communicator();
    }
    Ok(format!(
        "{} optimizers match one process: {}",
        done.len(),
        done.join(", ")
    ))
}

/// A NaN in one rank's gradient: every rank skips, parameters and state bit-identical, and
/// the run goes on equal to a single process that saw the same NaN.
fn nan_on_one_rank(comm: Communicator) -> Result<String, String> {
    let mut run = Run::new(comm, "adamw")?;
    let mut oracle = Oracle::new("adamw", &run)?;
    let poison = run.world() - 1;
    for step in 0..5 {
        let before = (run.params_flat(), run.state()?);
        let nan = (step == 2).then_some(poison);
        let stats = run.step(step, nan)?;
        oracle.step(step, &run, nan)?;
        if stats.found_inf != (step == 2) {
            return Err(format!("step {step}: found_inf = {}", stats.found_inf));
        }
        if step == 2 {
            if run.params_flat() != before.0 || run.state()? != before.1 {
                return Err("the skipped step changed parameters or state".into());
            }
            if stats.skipped != 1 {
                return Err(format!("skipped = {}", stats.skipped));
            }
        } else {
            oracle.check_norm(&stats)?;
        }
    }
    oracle
        .compare(&run)
        .map(|s| format!("skipped together; {s}"))
}

/// One rank's wrong gradient length: every rank gets the same error naming it, and the next
/// good step still works.
fn bad_length(comm: Communicator) -> Result<String, String> {
    let mut run = Run::new(comm, "adamw")?;
    let bad = run.world() - 1;
    let err = match run.step_truncated(0, bad) {
        Err(Error::Rank { rank, message, .. }) if rank == bad => message,
        other => return Err(format!("expected rank {bad}'s error, got {other:?}")),
    };
    run.step(0, None)
        .map_err(|e| format!("the next step failed: {e}"))?;
    Ok(format!("agreed: {err}"))
}

/// An unknown optimizer on one rank, or one that refuses to run distributed.
fn bad_setup(comm: Communicator, scenario: &str) -> Result<String, String> {
    let last = comm.size() - 1;
    let name = match scenario {
        "bad-name" if comm.rank() == last => "adamw-typo",
        "bad-name" => "adamw",
        _ => "mfac",
    };
    let engine = model::engine()?;
    let specs = model::specs(name);
    let want = if scenario == "bad-name" { last } else { 0 };
    match DataParallel::new(comm, &engine, &specs, name, &Default::default()) {
        Err(Error::Rank { rank, message, .. }) if rank == want => Ok(format!("agreed: {message}")),
        Err(e) => Err(format!("unexpected error {e}")),
        Ok(_) => Err("built".into()),
    }
}
