//! Helpers the CLI end-to-end tests share: write F32 safetensors inputs, run a subcommand,
//! read a tensor back.

#![allow(dead_code)]

pub mod npy;

use safetensors::tensor::{Dtype, TensorView};
use std::process::{Command, Output};

/// Writes `(name, shape, values)` tensors as F32, without metadata.
pub fn write(path: &std::path::Path, tensors: &[(&str, Vec<usize>, Vec<f32>)]) {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, s, v)| (n.to_string(), s.clone(), bytemuck::cast_slice(v).to_vec()))
        .collect();
    let views: Vec<(String, TensorView)> = bytes
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

/// `wgopt <subcommand> <args…>`.
pub fn run(subcommand: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wgopt"))
        .arg(subcommand)
        .args(args)
        .output()
        .unwrap()
}

/// An F32 tensor of a safetensors file.
pub fn read(path: &std::path::Path, name: &str) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    let f = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    bytemuck::pod_collect_to_vec(f.tensor(name).unwrap().data())
}

/// `wgopt <args…>` under a 120 s time limit (a hang fails the test instead of the CI job),
/// without backtraces: the exit code (-1 when killed by a signal) and stdout + stderr.
pub fn run_with_status<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (i32, String) {
    let out = Command::new("timeout")
        .arg("120")
        .arg(env!("CARGO_BIN_EXE_wgopt"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}
