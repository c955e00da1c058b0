//! Every flag's bad values, table-driven: each row runs one command line and states the exit
//! code (1 an error, 3 a solver that did not reach its tolerance; 2 is clap's usage error) and a piece of the one-line
//! message, which must name the flag or the file at fault. Nothing here may panic, hang or
//! abort (a panic exits 101, an abort 134), and a failed run must leave an existing output
//! file exactly as it was.

mod common;

use common::write;
use std::path::{Path, PathBuf};

struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("wgopt-flags-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
    fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn wgopt(args: &[String]) -> (i32, String) {
    common::run_with_status(args)
}

/// Checks every row; `keep` is an output file each failing row must leave byte-identical.
fn check_rows(rows: &[(Vec<String>, i32, &str)], keep: &Path) {
    let before = std::fs::read(keep).unwrap();
    for (args, code, needle) in rows {
        let (got, text) = wgopt(args);
        assert_eq!(got, *code, "wgopt {}: exit {got}\n{text}", args.join(" "));
        assert!(
            text.contains(needle),
            "wgopt {}: message lacks {needle:?}\n{text}",
            args.join(" ")
        );
        assert!(!text.contains("panicked"), "{text}");
        if *code == 1 {
            assert_eq!(
                std::fs::read(keep).unwrap(),
                before,
                "wgopt {}",
                args.join(" ")
            );
        }
    }
}

fn line(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

/// A little-endian f32 `.npy` image whose header declares `shape` over `data`.
fn npy(shape: &str, data: &[u8]) -> Vec<u8> {
    common::npy::npy("<f4", shape, data)
}

#[test]
fn ot_flags_and_inputs() {
    let s = Scratch::new("ot");
    let cost: Vec<f32> = (0..33 * 17).map(|i| ((i * 7) % 13) as f32 / 13.0).collect();
    write(
        s.0.join("p.safetensors").as_path(),
        &[("cost", vec![33, 17], cost.clone())],
    );
    let mut nan_cost = cost.clone();
    nan_cost[40] = f32::NAN;
    write(
        s.0.join("nan.safetensors").as_path(),
        &[("cost", vec![33, 17], nan_cost)],
    );
    std::fs::write(s.0.join("huge.npy"), npy("(1048576, 1048576)", &[0; 16])).unwrap();
    let data: Vec<u8> = cost.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(s.0.join("cut.npy"), &npy("(33, 17)", &data)[..200]).unwrap();
    let keep = s.0.join("keep.safetensors");
    std::fs::write(&keep, b"an earlier result").unwrap();
    let (p, out) = (s.path("p.safetensors"), keep.to_string_lossy().into_owned());
    let ot = |extra: &[&str]| {
        let mut v = line(&["ot", &p, "-o", &out]);
        v.extend(line(extra));
        v
    };
    let rows = vec![
        (
            ot(&["--eps", "0.1", "--eps0", "inf"]),
            1,
            "--eps0 must be a finite number > 0",
        ),
        (
            ot(&["--eps", "0.1", "--eps0", "nan"]),
            1,
            "--eps0 must be a finite number > 0",
        ),
        (
            ot(&["--eps", "0.1", "--eps0", "0.05"]),
            1,
            "--eps0 must be larger than --eps",
        ),
        (
            ot(&["--eps", "nan"]),
            1,
            "--eps must be a finite number > 0",
        ),
        (ot(&["--eps=-1"]), 1, "--eps must be a finite number > 0"),
        (
            ot(&["--eps", "0.1", "--tol", "nan"]),
            1,
            "--tol must be a finite number > 0",
        ),
        (
            ot(&["--eps", "0.1", "--max-iter", "0"]),
            1,
            "--max-iter must be in",
        ),
        (
            ot(&["--eps", "0.1", "--method", "emd"]),
            1,
            "unknown --method",
        ),
        (
            ot(&["--eps", "0.1", "--metric", "pnorm:nan"]),
            1,
            "--metric pnorm:P needs a finite P",
        ),
        (
            line(&["ot", &s.path("huge.npy"), "--eps", "0.1", "-o", &out]),
            1,
            "declares shape [1048576, 1048576]",
        ),
        (
            line(&["ot", &s.path("cut.npy"), "--eps", "0.1", "-o", &out]),
            1,
            "truncated or corrupt",
        ),
        (
            line(&["ot", &s.path("nan.safetensors"), "--eps", "0.1", "-o", &out]),
            1,
            "holds NaN at element 40",
        ),
        (
            line(&["ot", &s.path("missing.npz"), "--eps", "0.1", "-o", &out]),
            1,
            "missing.npz",
        ),
        (
            line(&["ot", &p, "--eps", "0.1", "-o", "/dev/null"]),
            1,
            "not a regular file",
        ),
        (
            line(&["ot", &p, "--eps", "0.1", "-o", &s.path("")]),
            1,
            "not a regular file",
        ),
    ];
    check_rows(&rows, &keep);
    // Below f32's floor: stops as stalled (not after max-iter), writes, exits 3.
    let floor = s.path("floor.safetensors");
    let (code, text) = wgopt(&line(&[
        "ot",
        &p,
        "--eps",
        "0.005",
        "--tol",
        "1e-9",
        "--max-iter",
        "100000",
        "-o",
        &floor,
    ]));
    assert_eq!(code, 3, "{text}");
    assert!(
        text.contains("STALLED") && text.contains("converged=false"),
        "{text}"
    );
    assert!(Path::new(&floor).exists());
}

#[test]
fn solve_flags_and_honest_residuals() {
    let s = Scratch::new("solve");
    // An inconsistent 64×8 system: Kaczmarz stalls at the least-squares residual.
    let a: Vec<f32> = (0..64 * 8)
        .map(|i| (((i * 37) % 101) as f32 / 50.0) - 1.0)
        .collect();
    let b: Vec<f32> = (0..64).map(|i| ((i * 13) % 7) as f32 - 3.0).collect();
    write(
        s.0.join("incons.safetensors").as_path(),
        &[("A", vec![64, 8], a), ("b", vec![64], b)],
    );
    let keep = s.0.join("keep.safetensors");
    std::fs::write(&keep, b"an earlier result").unwrap();
    let (p, out) = (
        s.path("incons.safetensors"),
        keep.to_string_lossy().into_owned(),
    );
    let solve = |extra: &[&str]| {
        let mut v = line(&["solve", &p, "-o", &out]);
        v.extend(line(extra));
        v
    };
    let rows = vec![
        (
            solve(&["--tol", "nan"]),
            1,
            "--tol must be a finite number > 0",
        ),
        (
            solve(&["--tol", "0"]),
            1,
            "--tol must be a finite number > 0",
        ),
        (solve(&["--mu=-1"]), 1, "--mu must be a finite number >= 0"),
        (solve(&["--block", "0"]), 1, "--block must be in 1..=32"),
        (solve(&["--block", "33"]), 1, "--block must be in 1..=32"),
        (solve(&["--max-steps", "0"]), 1, "--max-steps must be in"),
        (solve(&["--method", "gauss"]), 1, "unknown --method"),
        (solve(&["--sketch", "fft"]), 1, "unknown --sketch"),
        (solve(&["--dtype", "f16"]), 1, "--dtype must be f32 or f64"),
        (solve(&["--method", "nystrom"]), 1, "needs a square A"),
        (
            line(&["solve", &s.path("none.safetensors"), "-o", &out]),
            1,
            "none.safetensors",
        ),
    ];
    check_rows(&rows, &keep);
    // Inconsistent system: a typed stall long before the 10⁶-step cap, exit 3 like `ot`.
    let (code, text) = wgopt(&line(&[
        "solve",
        &p,
        "--method",
        "kaczmarz",
        "--block",
        "8",
        "-o",
        &s.path("x.safetensors"),
    ]));
    assert_eq!(code, 3, "{text}");
    assert!(
        text.contains("stalled after") && !text.contains("1000000"),
        "{text}"
    );
}

/// A recording for replay: param.w [4, 3] and two steps of gradients, plus `extra` tensors.
fn recording(path: &Path, grad_shape: &[usize], extra: &[(&str, Vec<usize>, Vec<f32>)]) {
    let mut t: Vec<(&str, Vec<usize>, Vec<f32>)> = vec![
        ("param.w", vec![4, 3], vec![0.5; 12]),
        ("grad.0.w", grad_shape.to_vec(), vec![0.1; 12]),
        ("grad.1.w", grad_shape.to_vec(), vec![-0.2; 12]),
    ];
    t.extend(extra.iter().cloned());
    write(path, &t);
}

#[test]
fn replay_flags_and_inputs() {
    let s = Scratch::new("replay");
    let good = s.0.join("good.safetensors");
    recording(&good, &[4, 3], &[]);
    recording(&s.0.join("transposed.safetensors"), &[3, 4], &[]);
    recording(
        &s.0.join("twice.safetensors"),
        &[4, 3],
        &[("grad.01.w", vec![4, 3], vec![0.3; 12])],
    );
    let keep = s.0.join("keep.safetensors");
    std::fs::write(&keep, b"an earlier result").unwrap();
    let (g, out) = (
        good.to_string_lossy().into_owned(),
        keep.to_string_lossy().into_owned(),
    );
    let replay = |extra: &[&str]| {
        let mut v = line(&["replay", &g, "-o", &out]);
        v.extend(line(extra));
        v
    };
    let rows = vec![
        (replay(&["--schedule", "cosine:3:nan"]), 1, "--schedule"),
        (
            replay(&["--schedule", "cosine:3:-1"]),
            1,
            "must be finite and >= 0",
        ),
        (replay(&["--schedule", "cosine"]), 1, "--schedule"),
        (
            replay(&["--max-grad-norm=-1"]),
            1,
            "max_grad_norm must be finite and > 0",
        ),
        (
            replay(&["--max-grad-norm", "nan"]),
            1,
            "max_grad_norm must be finite and > 0",
        ),
        (
            replay(&["--max-grad-norm", "0"]),
            1,
            "max_grad_norm must be finite and > 0",
        ),
        (
            replay(&["--optimizer", "adamz"]),
            1,
            "unknown optimizer \"adamz\"",
        ),
        (
            replay(&["--optimizer", "sophia-h"]),
            1,
            "sophia-h needs Hessian-vector products",
        ),
        (
            replay(&["--optimizer", "sophia-g", "--hp", "update_interval=1"]),
            1,
            "hess.0.<name> is missing",
        ),
        (replay(&["--hp", "lr"]), 1, "expected KEY=VALUE"),
        (replay(&["--hp", "lr=nan"]), 1, "lr"),
        (replay(&["--hp", "warp=1"]), 1, "warp"),
        (
            line(&["replay", &s.path("transposed.safetensors"), "-o", &out]),
            1,
            "grad.0.w has shape [3, 4], param.w has shape [4, 3]",
        ),
        (
            line(&["replay", &s.path("twice.safetensors"), "-o", &out]),
            1,
            "another tensor also gives grad.1.w",
        ),
        (
            line(&["replay", &s.path("absent.safetensors"), "-o", &out]),
            1,
            "absent.safetensors",
        ),
        (
            line(&["replay", &g, "-o", "/dev/null"]),
            1,
            "not a regular file",
        ),
    ];
    check_rows(&rows, &keep);
    // A replay that works replaces the file atomically, keeping its permissions.
    let (code, text) = wgopt(&replay(&[]));
    assert_eq!(code, 0, "{text}");
    assert!(safetensors::SafeTensors::deserialize(&std::fs::read(&keep).unwrap()).is_ok());
}

#[test]
fn replay_names_the_skipped_step() {
    let s = Scratch::new("skip");
    let input = s.0.join("nan.safetensors");
    let mut bad = vec![0.1f32; 12];
    bad[5] = f32::NAN;
    write(
        &input,
        &[
            ("param.w", vec![4, 3], vec![0.5; 12]),
            ("grad.0.w", vec![4, 3], vec![0.1; 12]),
            ("grad.1.w", vec![4, 3], bad),
            ("grad.2.w", vec![4, 3], vec![0.1; 12]),
        ],
    );
    let (code, text) = wgopt(&line(&[
        "replay",
        &input.to_string_lossy(),
        "-o",
        &s.path("o.safetensors"),
    ]));
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("step 1 skipped") && text.contains("2 steps applied, 1 skipped"),
        "{text}"
    );
}
