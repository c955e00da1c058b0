//! `wgopt solve` end to end: a least-squares problem and an SPD system from files, checked
//! against the known solution, and bad files.

mod common;

use common::write;

fn solve(args: &[&str]) -> std::process::Output {
    common::run("solve", args)
}

fn read_x(path: &std::path::Path) -> Vec<f32> {
    common::read(path, "x")
}

/// x* = (1, −2, 0.5) recovered to 1e-4 (f32 products on a well-conditioned 300×3 system) by
/// sketched least squares and by block Kaczmarz; an SPD 4×4 system by block Newton.
#[test]
fn systems_from_files_are_solved() {
    let dir = std::env::temp_dir().join(format!("wgopt-solve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (m, n) = (300, 3);
    let xs = [1.0f32, -2.0, 0.5];
    let a: Vec<f32> = (0..m * n)
        .map(|e| ((e * 7919 % 1000) as f32 / 500.0) - 1.0)
        .collect();
    let b: Vec<f32> = a
        .chunks(n)
        .map(|r| r.iter().zip(&xs).map(|(p, q)| p * q).sum())
        .collect();
    let input = dir.join("ls.safetensors");
    write(
        &input,
        &[("A", vec![m, n], a.clone()), ("b", vec![m], b.clone())],
    );
    for method in ["lstsq", "kaczmarz", "sketch-project"] {
        let out = dir.join(format!("{method}.safetensors"));
        let o = solve(&[
            input.to_str().unwrap(),
            "--method",
            method,
            "--tol",
            "1e-6",
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(
            o.status.success(),
            "{method}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let x = read_x(&out);
        for (g, w) in x.iter().zip(&xs) {
            assert!((g - w).abs() < 1e-4, "{method}: {x:?}");
        }
    }
    let spd = vec![
        4.0f32, 1.0, 0.0, 0.0, 1.0, 3.0, 0.5, 0.0, 0.0, 0.5, 2.0, 0.1, 0.0, 0.0, 0.1, 1.0,
    ];
    let xs4 = [1.0f32, 2.0, 3.0, 4.0];
    let b4: Vec<f32> = spd
        .chunks(4)
        .map(|r| r.iter().zip(&xs4).map(|(p, q)| p * q).sum())
        .collect();
    let input = dir.join("spd.safetensors");
    write(&input, &[("A", vec![4, 4], spd), ("b", vec![4], b4)]);
    let out = dir.join("newton.safetensors");
    let o = solve(&[
        input.to_str().unwrap(),
        "--method",
        "newton",
        "--block",
        "2",
        "--tol",
        "1e-6",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (g, w) in read_x(&out).iter().zip(&xs4) {
        assert!((g - w).abs() < 1e-4);
    }
    // Nyström PCG on the same SPD system (μ = 0, rank 2 of 4).
    let out = dir.join("nystrom.safetensors");
    let o = solve(&[
        input.to_str().unwrap(),
        "--method",
        "nystrom",
        "--rank",
        "2",
        "--tol",
        "1e-6",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (g, w) in read_x(&out).iter().zip(&xs4) {
        assert!((g - w).abs() < 1e-4, "nystrom: {g} vs {w}");
    }
    // Bad input: b of the wrong length, an unknown method, a missing tensor.
    let bad = dir.join("bad.safetensors");
    write(
        &bad,
        &[
            ("A", vec![m, n], a),
            ("b", vec![m - 1], b[..m - 1].to_vec()),
        ],
    );
    let o = solve(&[
        bad.to_str().unwrap(),
        "-o",
        dir.join("o.safetensors").to_str().unwrap(),
    ]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("expected [300]"));
    let o = solve(&[
        input.to_str().unwrap(),
        "--method",
        "qr",
        "-o",
        dir.join("o.safetensors").to_str().unwrap(),
    ]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("unknown --method"));
    write(&bad, &[("b", vec![3], vec![1.0; 3])]);
    let o = solve(&[
        bad.to_str().unwrap(),
        "-o",
        dir.join("o.safetensors").to_str().unwrap(),
    ]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("`A` is missing"));
    std::fs::remove_dir_all(&dir).ok();
}
