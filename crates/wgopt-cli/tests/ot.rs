//! `wgopt ot` end to end: the POT 2×2 example from a dense cost (⟨P,C⟩ = 1/(1+e), rtol 1e-5 for
//! f32), point clouds with uniform weights against the f64 reference, and bad files.

mod common;

use common::write;
use safetensors::SafeTensors;

fn run(args: &[&str]) -> std::process::Output {
    common::run("ot", args)
}

fn meta(path: &std::path::Path, key: &str) -> f64 {
    let bytes = std::fs::read(path).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    header.metadata().as_ref().unwrap()[key].parse().unwrap()
}

#[test]
fn dense_and_point_problems_from_files() {
    let dir = std::env::temp_dir().join(format!("wgopt-ot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (input, output) = (dir.join("in.safetensors"), dir.join("out.safetensors"));
    write(
        &input,
        &[
            ("cost", vec![2, 2], vec![0.0, 1.0, 1.0, 0.0]),
            ("a", vec![2], vec![0.5, 0.5]),
        ],
    );
    let o = run(&[
        input.to_str().unwrap(),
        "--eps",
        "1",
        "-o",
        output.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lin = meta(&output, "cost_linear");
    assert!(
        (lin - 1.0 / (1.0 + std::f64::consts::E)).abs() < 1e-5,
        "{lin}"
    );

    let x: Vec<f32> = (0..20).map(|i| (i as f32 * 0.37).sin()).collect();
    let y: Vec<f32> = (0..30).map(|i| (i as f32 * 0.73).cos()).collect();
    write(
        &input,
        &[("x", vec![10, 2], x.clone()), ("y", vec![15, 2], y.clone())],
    );
    let o = run(&[
        input.to_str().unwrap(),
        "--eps",
        "0.1",
        "--tol",
        "1e-6",
        "-o",
        output.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let f64s = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
    let cost = wgopt_reference::ot::Cost::SqEuclidean {
        d: 2,
        x: f64s(&x),
        y: f64s(&y),
    };
    let want = wgopt_reference::ot::sinkhorn_log(
        &[0.1; 10],
        &[1.0 / 15.0; 15],
        &cost,
        0.1,
        &Default::default(),
        None,
    )
    .unwrap();
    let kl = meta(&output, "cost_kl");
    assert!(
        (kl - want.cost_kl).abs() < 1e-4 * want.cost_kl.abs(),
        "{kl} vs {}",
        want.cost_kl
    );

    // Bad files: clouds of different dimension, a missing cost, ε ≤ 0.
    write(
        &input,
        &[("x", vec![10, 2], x.clone()), ("y", vec![10, 3], y.clone())],
    );
    let o = run(&[
        input.to_str().unwrap(),
        "--eps",
        "0.1",
        "-o",
        output.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("dimensions differ"));
    write(&input, &[("a", vec![2], vec![0.5, 0.5])]);
    let o = run(&[
        input.to_str().unwrap(),
        "--eps",
        "0.1",
        "-o",
        output.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    write(&input, &[("cost", vec![2, 2], vec![0.0, 1.0, 1.0, 0.0])]);
    let o = run(&[
        input.to_str().unwrap(),
        "--eps",
        "0",
        "-o",
        output.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("eps"));
    std::fs::remove_dir_all(&dir).ok();
}
