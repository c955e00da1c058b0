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
