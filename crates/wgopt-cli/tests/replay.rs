//! `wgopt replay` end to end: a recording with f32 and bf16 tensors, replayed on the GPU and on
//! the CPU reference, agrees (rtol 2e-5, as the optimizer parity tests), and bad files fail.

mod common;

use common::read;
use safetensors::tensor::{Dtype, TensorView};
use std::collections::HashMap;
use std::process::Command;

fn wgopt() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wgopt"))
}

fn write_recording(path: &std::path::Path, steps: usize) {
    let w: Vec<f32> = (0..15).map(|i| (i as f32 * 0.37).sin()).collect();
    let b: Vec<half::bf16> = (0..3)
        .map(|i| half::bf16::from_f32(i as f32 - 1.0))
        .collect();
    let mut blobs: Vec<(String, Vec<usize>, Dtype, Vec<u8>)> = vec![
        (
            "param.w".into(),
            vec![3, 5],
            Dtype::F32,
            bytemuck::cast_slice(&w).to_vec(),
        ),
        (
            "param.b".into(),
            vec![3],
            Dtype::BF16,
            b.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ),
    ];
    for k in 0..steps {
        let gw: Vec<f32> = (0..15)
            .map(|i| ((i * 7 + k * 3) as f32 * 0.91).cos())
            .collect();
        let gb: Vec<f32> = (0..3).map(|i| ((i + k) as f32 * 1.3).sin()).collect();
        blobs.push((
            format!("grad.{k}.w"),
            vec![3, 5],
            Dtype::F32,
            bytemuck::cast_slice(&gw).to_vec(),
        ));
        blobs.push((
            format!("grad.{k}.b"),
            vec![3],
            Dtype::F32,
            bytemuck::cast_slice(&gb).to_vec(),
        ));
    }
    let views: Vec<(String, TensorView<'_>)> = blobs
        .iter()
        .map(|(n, s, d, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    std::fs::write(
        path,
        safetensors::serialize(views, None::<HashMap<String, String>>).unwrap(),
    )
    .unwrap();
}

#[test]
fn gpu_replay_matches_reference_replay() {
    let dir = std::env::temp_dir().join(format!("wgopt-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("rec.safetensors");
    write_recording(&input, 12);
    for (opt, hps) in [
        ("adamw", vec!["lr=0.01", "weight_decay=0.1"]),
        ("sgd", vec!["lr=0.05", "momentum=0.9"]),
        ("lion", vec!["lr=0.001"]),
    ] {
        let mut outs = Vec::new();
        for reference in [false, true] {
            let out = dir.join(format!("{opt}-{reference}.safetensors"));
            let mut c = wgopt();
            c.arg("replay")
                .arg(&input)
                .args([
                    "--optimizer",
                    opt,
                    "--schedule",
                    "warmup:3+cosine:9",
                    "--max-grad-norm",
                    "1.5",
                    "--every-step",
                    "-o",
                ])
                .arg(&out);
            for h in &hps {
                c.args(["--hp", h]);
            }
            if reference {
                c.arg("--reference");
            }
            let status = c.status().unwrap();
            assert!(status.success(), "{opt} reference={reference}");
            outs.push(out);
        }
        for k in [0, 11] {
            for n in ["w", "b"] {
                let g = read(&outs[0], &format!("step.{k}.{n}"));
                let r = read(&outs[1], &format!("step.{k}.{n}"));
                for (a, b) in g.iter().zip(&r) {
                    assert!(
                        (a - b).abs() <= 2e-5 * b.abs() + 2e-6,
                        "{opt} step {k} {n}: {a} vs {b}"
                    );
                }
            }
        }
    }
}

#[test]
fn replay_rejects_bad_input() {
    let dir = std::env::temp_dir().join(format!("wgopt-replay-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.safetensors");
    std::fs::write(&junk, b"not a file").unwrap();
    let out = wgopt()
        .arg("replay")
        .arg(&junk)
        .arg("-o")
        .arg(dir.join("o"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("safetensors"));
    let input = dir.join("rec.safetensors");
    write_recording(&input, 2);
    let out = wgopt()
        .arg("replay")
        .arg(&input)
        .args(["--optimizer", "adamz", "-o"])
        .arg(dir.join("o"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("adamz"));
}

/// Writes a recording of `params` (name, shape) with `steps` steps of gradients, each tensor in
/// `dtype` (F32 or F64), plus `extra` tensors.
fn write_tensors(
    path: &std::path::Path,
    params: &[(&str, Vec<usize>)],
    steps: usize,
    dtype: Dtype,
    extra: &[(String, Vec<usize>, Vec<f32>)],
) {
    let encode = |v: &[f32]| -> Vec<u8> {
        match dtype {
            Dtype::F64 => v.iter().flat_map(|x| (*x as f64).to_le_bytes()).collect(),
            _ => bytemuck::cast_slice(v).to_vec(),
        }
    };
    let mut blobs: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (j, (name, shape)) in params.iter().enumerate() {
        let n: usize = shape.iter().product();
        let p: Vec<f32> = (0..n)
            .map(|i| ((i * 13 + j * 7) as f32 * 0.37).sin() * 0.5)
            .collect();
        blobs.push((format!("param.{name}"), shape.clone(), encode(&p)));
        for k in 0..steps {
            let g: Vec<f32> = (0..n)
                .map(|i| ((i * 7 + k * 3 + j * 11) as f32 * 0.91).cos())
                .collect();
            blobs.push((format!("grad.{k}.{name}"), shape.clone(), encode(&g)));
        }
    }
    for (n, s, v) in extra {
        blobs.push((n.clone(), s.clone(), encode(v)));
    }
    let views: Vec<(String, TensorView<'_>)> = blobs
        .iter()
        .map(|(n, s, b)| (n.clone(), TensorView::new(dtype, s.clone(), b).unwrap()))
        .collect();
    std::fs::write(
        path,
        safetensors::serialize(views, None::<HashMap<String, String>>).unwrap(),
    )
    .unwrap();
}

/// `wgopt replay` of `input` with `opt` and `hps`, on the GPU or the reference; the output path.
fn replay(input: &std::path::Path, opt: &str, hps: &[&str], reference: bool) -> std::path::PathBuf {
    let out = input.with_file_name(format!("{}-{reference}.safetensors", opt.replace('+', "_")));
    let mut c = wgopt();
    c.arg("replay")
        .arg(input)
        .args(["--optimizer", opt, "--max-grad-norm", "2.0", "-o"])
        .arg(&out);
    for h in hps {
        c.args(["--hp", h]);
    }
    if reference {
        c.arg("--reference");
    }
    let o = c.output().unwrap();
    assert!(
        o.status.success(),
        "{opt} reference={reference}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// |gpu − reference| ≤ atol + rtol·|reference| for every parameter's final value.
fn assert_same(a: &std::path::Path, b: &std::path::Path, names: &[&str], (rtol, atol): (f32, f32)) {
    for n in names {
        let (g, r) = (
            read(a, &format!("param.{n}")),
            read(b, &format!("param.{n}")),
        );
        assert_eq!(g.len(), r.len());
        for (x, y) in g.iter().zip(&r) {
            assert!(
                x.is_finite() && (x - y).abs() <= atol + rtol * y.abs(),
                "{} {n}: {x} vs {y}",
                a.display()
            );
        }
    }
}

/// The matrix optimizers (Muon, ROOT, Polar Express, SinkGD) on 2-D and 3-D parameters, and
/// their hybrids on a file that adds an embedding and 1-D parameters (routed by each hybrid's
/// router, `adamw.` keys for the AdamW part), replay on the GPU like the CPU reference.
/// Tolerance: atol 3e-4 (Newton–Schulz runs in f32 on the GPU, f64 in the reference; as in
/// tests/muon.rs and tests/root.rs of wgopt-optim), 2e-6 for SinkGD (as tests/sinkgd.rs).
#[test]
fn matrix_optimizers_and_hybrids_replay_like_the_reference() {
    let dir = std::env::temp_dir().join(format!("wgopt-replay-mat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let matrices: Vec<(&str, Vec<usize>)> = vec![("h.0.w", vec![6, 5]), ("h.1.w", vec![2, 4, 3])];
    let mut model = matrices.clone();
    model.extend([
        ("wte", vec![11, 4]),
        ("h.0.b", vec![5]),
        ("ln.weight", vec![4]),
    ]);
    let (mats, full) = (
        dir.join("matrices.safetensors"),
        dir.join("model.safetensors"),
    );
    write_tensors(&mats, &matrices, 8, Dtype::F32, &[]);
    write_tensors(&full, &model, 8, Dtype::F32, &[]);
    let ns = (2e-5, 3e-4);
    for (opt, input, tol) in [
        ("muon", &mats, ns),
        ("root", &mats, ns),
        ("polar-express", &mats, ns),
        ("sinkgd", &mats, (0.0, 2e-6)),
        ("muon+adamw", &full, ns),
        ("root+adamw", &full, ns),
        ("polar-express+adamw", &full, ns),
        ("sinkgd+adamw", &full, ns),
    ] {
        let hps = ["adamw.lr=3e-3"];
        let hps: &[&str] = if opt.contains('+') && !opt.starts_with("root") {
            &hps
        } else {
            &[]
        };
        let gpu = replay(input, opt, hps, false);
        let reference = replay(input, opt, hps, true);
        let names: Vec<&str> = if input == &full {
            model.iter()
        } else {
            matrices.iter()
        }
        .map(|(n, _)| *n)
        .collect();
        assert_same(&gpu, &reference, &names, tol);
    }
    // A 1-D parameter given to a matrix-only optimizer: a typed error naming the hybrid.
    let o = wgopt()
        .arg("replay")
        .arg(&full)
        .args(["--optimizer", "muon", "-o"])
        .arg(dir.join("o.safetensors"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("muon+adamw"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// F64 recordings are replayed rounded to f32, say so, and land where the F32 file does;
/// SophiaG takes its estimates from `hess.<k>.<name>` (GPU and reference alike) and refuses a
/// file without them; SophiaH and AdaHessian, which need their own probes, are refused.
#[test]
fn f64_inputs_and_curvature_estimates() {
    let dir = std::env::temp_dir().join(format!("wgopt-replay-f64-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let params: Vec<(&str, Vec<usize>)> = vec![("w", vec![4, 3]), ("b", vec![3])];
    let (f32_in, f64_in) = (dir.join("f32.safetensors"), dir.join("f64.safetensors"));
    write_tensors(&f32_in, &params, 6, Dtype::F32, &[]);
    write_tensors(&f64_in, &params, 6, Dtype::F64, &[]);
    let a = replay(&f32_in, "adamw", &["lr=0.01"], false);
    let o = wgopt()
        .arg("replay")
        .arg(&f64_in)
        .args([
            "--optimizer",
            "adamw",
            "--max-grad-norm",
            "2.0",
            "--hp",
            "lr=0.01",
            "-o",
        ])
        .arg(dir.join("f64-out.safetensors"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("F64"));
    assert_same(
        &a,
        &dir.join("f64-out.safetensors"),
        &["w", "b"],
        (0.0, 0.0),
    );
    // SophiaG with update_interval 2: estimates after steps 1, 3 and 5.
    let hess: Vec<(String, Vec<usize>, Vec<f32>)> = [1, 3, 5]
        .iter()
        .flat_map(|k| {
            params.iter().map(move |(n, s)| {
                let len: usize = s.iter().product();
                let v = (0..len).map(|i| 0.1 + (i + k) as f32 * 0.05).collect();
                (format!("hess.{k}.{n}"), s.clone(), v)
            })
        })
        .collect();
    let sophia_in = dir.join("sophia.safetensors");
    write_tensors(&sophia_in, &params, 6, Dtype::F32, &hess);
    let hps = ["update_interval=2", "lr=0.01"];
    let gpu = replay(&sophia_in, "sophia-g", &hps, false);
    let reference = replay(&sophia_in, "sophia-g", &hps, true);
    assert_same(&gpu, &reference, &["w", "b"], (2e-5, 2e-6));
    for (opt, says) in [
        ("sophia-g", "hess.1"),
        ("sophia-h", "probes"),
        ("adahessian", "probes"),
        ("mkor", "statistics"),
    ] {
        let o = wgopt()
            .arg("replay")
            .arg(&f32_in)
            .args(["--optimizer", opt, "--hp", "update_interval=2", "-o"])
            .arg(dir.join("o.safetensors"))
            .output()
            .unwrap();
        assert!(
            !o.status.success(),
            "{opt} ran without its curvature or statistics inputs"
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{opt}: {err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
