//! The distributed tests: each launches `dist-check` (src/bin/dist-check) under
//! `mpirun --oversubscribe -np N` for N = 2 and 3, bounded by `timeout`, and checks that every
//! rank reports OK. Each rank compares itself against a single-process run on the whole
//! batch (tolerance and its derivation: `dist-check/model.rs`, `TOLERANCE`).

use std::process::Command;

const WORKER: &str = env!("CARGO_BIN_EXE_dist-check");
/// Seconds before a run counts as hung (a run takes a few seconds on lavapipe).
const TIMEOUT_S: &str = "300";

/// Runs the worker on `np` ranks; returns every rank's line, sorted by rank. Fails unless
/// all `np` ranks printed OK and mpirun exited 0.
fn mpirun(np: usize, args: &[&str]) -> Vec<String> {
    let out = Command::new("timeout")
        .args([
            TIMEOUT_S,
            "mpirun",
            "--allow-run-as-root",
            "--oversubscribe",
            "-np",
        ])
        .arg(np.to_string())
        .arg(WORKER)
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .expect("mpirun not found: `cargo xtask setup` installs OpenMPI");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines: Vec<String> = stdout
        .lines()
        .filter(|l| l.starts_with("rank "))
        .map(str::to_string)
        .collect();
    lines.sort();
    let ok = lines.iter().filter(|l| l.contains(": OK ")).count();
    assert!(
        out.status.success() && ok == np,
        "np {np} {args:?}: status {:?}, {ok}/{np} ranks OK\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    lines
}

/// What every rank printed after "OK ", which must be the same on every rank.
fn agreed(lines: &[String]) -> String {
    let texts: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.split(": OK ").nth(1))
        .collect();
    assert!(
        texts.windows(2).all(|w| w[0] == w[1]),
        "ranks disagree: {lines:#?}"
    );
    texts[0].to_string()
}

fn trajectory(optimizer: &str) {
    for np in [2, 3] {
        let lines = mpirun(np, &["trajectory", optimizer, "10"]);
        println!("{}", agreed(&lines));
    }
}

#[test]
fn adamw_matches_one_process_on_the_whole_batch() {
    trajectory("adamw");
}

/// Every optimizer the table distributes (the README's list) runs and matches one process.
#[test]
fn every_supported_optimizer_matches_one_process() {
    for np in [2, 3] {
        let text = agreed(&mpirun(np, &["every", "4"]));
        assert!(text.starts_with("20 optimizers"), "{text}");
    }
}

/// Gradients in a GPU parameter set, updated parameters returned there.
#[test]
fn gpu_resident_gradients_match_one_process() {
    for np in [2, 3] {
        println!(
            "{}",
            agreed(&mpirun(np, &["trajectory-gpu", "muon+adamw", "6"]))
        );
    }
}

#[test]
fn lion_matches_one_process_on_the_whole_batch() {
    trajectory("lion");
}

#[test]
fn muon_adamw_whole_matrices_match_one_process() {
    trajectory("muon+adamw");
}

#[test]
fn sophia_g_with_curvature_estimates_matches_one_process() {
    trajectory("sophia-g");
}

#[test]
fn adamp_whole_tensors_match_one_process() {
    trajectory("adamp");
}

#[test]
fn a_nan_on_one_rank_skips_every_rank() {
    for np in [2, 3] {
        let lines = mpirun(np, &["nan"]);
        assert!(agreed(&lines).starts_with("skipped together"));
    }
}

#[test]
fn a_wrong_gradient_length_on_one_rank_fails_every_rank_alike() {
    for np in [2, 3] {
        let text = agreed(&mpirun(np, &["bad-length"]));
        assert!(
            text.contains("\"lm_head\" has 887 elements, expected 888"),
            "{text}"
        );
    }
}

#[test]
fn an_unknown_name_on_one_rank_fails_every_rank_alike() {
    for np in [2, 3] {
        let text = agreed(&mpirun(np, &["bad-name"]));
        assert!(text.contains("unknown optimizer \"adamw-typo\""), "{text}");
    }
}

#[test]
fn mfac_refuses_with_a_reason() {
    let text = agreed(&mpirun(2, &["unsupported"]));
    assert!(text.contains("mfac does not run distributed"), "{text}");
}

/// Save at N = 3, resume at N = 2 and N = 1 from the gathered file and from the shard files:
/// each continues equal to one uninterrupted process.
#[test]
fn state_saved_at_three_ranks_resumes_at_two_and_one() {
    for optimizer in ["adamw", "muon+adamw"] {
        let dir = std::env::temp_dir().join(format!("wgopt-dist-reshard-{optimizer}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.to_str().unwrap();
        mpirun(3, &["save", d, optimizer, "4"]);
        for np in [2, 1] {
            for mode in ["gathered", "shards"] {
                let text = agreed(&mpirun(np, &["resume", d, optimizer, "4", "5", mode]));
                println!("{text}");
            }
        }
    }
}

/// Deep Gradient Compression at 2 and 3 ranks against N simulated workers of the reference
/// twin and a CPU SGD: sparse (masking, local clipping) and Nesterov without masking, through
/// a two-epoch sparsity warm-up.
#[test]
fn dgc_matches_its_twin_simulating_every_worker() {
    for np in [2, 3] {
        for args in [
            ["dgc", "0.01", "1", "0", "1", "8"],
            ["dgc", "0.05", "0", "1", "0", "8"],
        ] {
            println!("{}", agreed(&mpirun(np, &args)));
        }
    }
}

#[test]
fn dgc_at_full_ratio_is_data_parallel_momentum_sgd() {
    for np in [2, 3] {
        println!("{}", agreed(&mpirun(np, &["dgc-full", "6"])));
    }
}

#[test]
fn dgc_skips_every_rank_on_one_ranks_nan() {
    for np in [2, 3] {
        agreed(&mpirun(np, &["dgc-nan"]));
    }
}
