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

/// The POT 2×2 example at ε = 1 solved: ⟨P,C⟩ = 1/(1+e) (rtol 1e-5 for f32).
fn assert_pot_two_by_two(o: &std::process::Output, output: &std::path::Path) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lin = meta(output, "cost_linear");
    assert!(
        (lin - 1.0 / (1.0 + std::f64::consts::E)).abs() < 1e-5,
        "{lin}"
    );
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
    assert_pot_two_by_two(&o, &output);

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
    // An ε-scaling start that never decays to ε is refused at once (it used to hang).
    let o = run(&[
        input.to_str().unwrap(),
        "--eps",
        "0.1",
        "--eps0",
        "inf",
        "-o",
        output.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("eps0"), "{o:?}");
    std::fs::remove_dir_all(&dir).ok();
}

/// NumPy input: an `.npz` of f64 point clouds and weights (as `np.savez` writes), solved by
/// Sinkhorn and by SNS, both matching the f64 reference's ⟨P,C⟩; a bare `.npy` is the cost.
#[test]
fn numpy_inputs_and_sns() {
    use ndarray::{Array1, Array2};
    use ndarray_npy::{NpzWriter, WriteNpyExt};
    let dir = std::env::temp_dir().join(format!("wgopt-ot-npz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (input, output) = (dir.join("in.npz"), dir.join("out.safetensors"));
    let (n, m) = (13, 9);
    let x = Array2::from_shape_fn((n, 2), |(i, k)| ((i * 2 + k) as f64 * 0.37).sin());
    let y = Array2::from_shape_fn((m, 2), |(j, k)| ((j * 2 + k) as f64 * 0.73).cos());
    let raw = Array1::from_shape_fn(n, |i| 1.0 + (i % 3) as f64);
    let a = &raw / raw.sum();
    let mut npz = NpzWriter::new(std::fs::File::create(&input).unwrap());
    npz.add_array("x", &x).unwrap();
    npz.add_array("y", &y).unwrap();
    npz.add_array("a", &a).unwrap();
    npz.finish().unwrap();
    let cost = wgopt_reference::ot::Cost::SqEuclidean {
        d: 2,
        x: x.iter().copied().collect(),
        y: y.iter().copied().collect(),
    };
    let eps = 0.05;
    let want = wgopt_reference::ot::sinkhorn_log(
        a.as_slice().unwrap(),
        &vec![1.0 / m as f64; m],
        &cost,
        eps,
        &wgopt_reference::ot::SinkhornOptions {
            tol: 1e-12,
            max_iter: 100_000,
            check_every: 10,
            eps_scaling: None,
        },
        None,
    )
    .unwrap();
    for method in ["sinkhorn", "sns"] {
        let o = run(&[
            input.to_str().unwrap(),
            "--eps",
            "0.05",
            "--tol",
            "1e-5",
            "--method",
            method,
            "-o",
            output.to_str().unwrap(),
        ]);
        assert!(
            o.status.success(),
            "{method}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(common::read(&output, "f").len(), n);
        let lin = meta(&output, "cost_linear");
        assert!(
            (lin - want.cost_linear).abs() < 1e-4 * want.cost_linear,
            "{method}: ⟨P,C⟩ {lin} vs {}",
            want.cost_linear
        );
    }
    // A bare .npy is the cost matrix (f32 here).
    let npy = dir.join("cost.npy");
    let c = Array2::from_shape_fn((2, 2), |(i, j)| if i == j { 0.0f32 } else { 1.0 });
    c.write_npy(std::fs::File::create(&npy).unwrap()).unwrap();
    let o = run(&[
        npy.to_str().unwrap(),
        "--eps",
        "1",
        "-o",
        output.to_str().unwrap(),
    ]);
    assert_pot_two_by_two(&o, &output);
    // Unknown method, and a file that is not an archive.
    let o = run(&[
        npy.to_str().unwrap(),
        "--eps",
        "1",
        "--method",
        "emd",
        "-o",
        output.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown --method"));
    std::fs::write(&input, b"not a zip").unwrap();
    let o = run(&[
        input.to_str().unwrap(),
        "--eps",
        "1",
        "-o",
        output.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not an .npz archive"));
    std::fs::remove_dir_all(&dir).ok();
}
