//! `wgopt schedule refine` end to end: constant norms give exact linear decay, the command
//! agrees with the reference twin (`wgopt_reference::refine`) on a varying sequence to the
//! JSON round trip (f64 printed exactly), and the table drives `replay` through
//! `--schedule refined:FILE`; a table shorter than the run and bad CSVs are refused.

mod common;

use wgopt_reference::refine::{refine, NormKind};
use wgopt_reference::schedule::RefinedFile;

fn wgopt(args: &[&str]) -> (i32, String) {
    common::run_with_status(args)
}

#[test]
fn refine_command_matches_the_twin_and_drives_replay() {
    let dir = std::env::temp_dir().join(format!("wgopt-refine-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = |n: &str| dir.join(n).to_string_lossy().into_owned();
    // Constant norms, a bare column: exactly linear decay to 0.
    std::fs::write(p("flat.csv"), "2.5\n".repeat(11)).unwrap();
    let (code, text) = wgopt(&["schedule", "refine", &p("flat.csv"), "-o", &p("flat.json")]);
    assert_eq!(code, 0, "{text}");
    let flat: RefinedFile =
        serde_json::from_slice(&std::fs::read(p("flat.json")).unwrap()).unwrap();
    let linear: Vec<f64> = (0..11).map(|i| (10 - i) as f64 / 10.0).collect();
    for (a, b) in flat.multipliers.iter().zip(&linear) {
        assert!((a - b).abs() <= 1e-14, "{a} vs {b}");
    }
    // A varying ℓ1 sequence with a header, as gpt_toy --record-norms writes it.
    let norms: Vec<f64> = (0..40)
        .map(|i| 1.0 + 0.5 * ((i as f64) * 0.7).sin() + i as f64 / 20.0)
        .collect();
    let mut csv = String::from("step,loss,grad_norm\n");
    for (i, g) in norms.iter().enumerate() {
        csv += &format!("{i},3.0,{g}\n");
    }
    std::fs::write(p("run.csv"), csv).unwrap();
    let (code, text) = wgopt(&[
        "schedule",
        "refine",
        &p("run.csv"),
        "--norm",
        "l1",
        "--tau",
        "0.2",
        "-o",
        &p("run.json"),
    ]);
    assert_eq!(code, 0, "{text}");
    let got: RefinedFile = serde_json::from_slice(&std::fs::read(p("run.json")).unwrap()).unwrap();
    // Equal to 1 ulp: serde_json's default float parser is not always correctly rounded.
    let twin = refine(&norms, NormKind::L1, 0.2).unwrap();
    assert_eq!(got.multipliers.len(), twin.len());
    for (a, b) in got.multipliers.iter().zip(&twin) {
        assert!((a - b).abs() <= 2.0 * f64::EPSILON * b.abs(), "{a} vs {b}");
    }
    // The table drives replay (3 steps of a 40-step table), and a 2-step table is too short.
    common::write(
        &dir.join("rec.safetensors"),
        &[
            ("param.w", vec![2, 2], vec![1.0; 4]),
            ("grad.0.w", vec![2, 2], vec![0.1; 4]),
            ("grad.1.w", vec![2, 2], vec![0.2; 4]),
            ("grad.2.w", vec![2, 2], vec![0.3; 4]),
        ],
    );
    let sched = format!("refined:{}", p("run.json"));
    let (code, text) = wgopt(&[
        "replay",
        &p("rec.safetensors"),
        "--optimizer",
        "sgd",
        "--schedule",
        &sched,
        "-o",
        &p("out.safetensors"),
    ]);
    assert_eq!(code, 0, "{text}");
    // SGD: w ← w − lr·m_k·g_k with the table's first three multipliers.
    let lr = 1e-3; // SGD's default lr in the table
    let want: f64 =
        1.0 - lr * (got.multipliers[0] * 0.1 + got.multipliers[1] * 0.2 + got.multipliers[2] * 0.3);
    let w = common::read(&dir.join("out.safetensors"), "param.w");
    assert!((w[0] as f64 - want).abs() < 1e-6, "{} vs {want}", w[0]);
    std::fs::write(
        p("short.json"),
        r#"{"norm":"l2","tau":0.1,"multipliers":[1.0,0.0]}"#,
    )
    .unwrap();
    let short = format!("refined:{}", p("short.json"));
    let (code, text) = wgopt(&[
        "replay",
        &p("rec.safetensors"),
        "--schedule",
        &short,
        "-o",
        &p("out.safetensors"),
    ]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("covers 2 steps but the recording has 3"),
        "{text}"
    );
    let stretched = format!("refined:{}:3", p("short.json"));
    let (code, text) = wgopt(&[
        "replay",
        &p("rec.safetensors"),
        "--schedule",
        &stretched,
        "-o",
        &p("out.safetensors"),
    ]);
    assert_eq!(code, 0, "{text}");
    // Bad inputs: a non-number, a missing column, a zero norm, a bad --norm.
    std::fs::write(p("bad.csv"), "grad_norm\n1.0\nx\n").unwrap();
    for (args, needle) in [
        (
            vec!["schedule", "refine", &p("bad.csv"), "-o", &p("o.json")],
            "row 2 has \"x\"",
        ),
        (
            vec![
                "schedule",
                "refine",
                &p("run.csv"),
                "--column",
                "gnorm",
                "-o",
                &p("o.json"),
            ],
            "no column \"gnorm\"",
        ),
        (
            vec![
                "schedule",
                "refine",
                &p("flat.csv"),
                "--norm",
                "l3",
                "-o",
                &p("o.json"),
            ],
            "--norm must be l2 or l1",
        ),
        (
            vec![
                "schedule",
                "refine",
                &p("flat.csv"),
                "--tau",
                "2",
                "-o",
                &p("o.json"),
            ],
            "--tau must be in [0, 1]",
        ),
    ] {
        let (code, text) = wgopt(&args);
        assert_eq!(code, 1, "{text}");
        assert!(text.contains(needle), "{text}");
    }
    std::fs::write(p("zero.csv"), "1.0\n0.0\n").unwrap();
    let (code, text) = wgopt(&["schedule", "refine", &p("zero.csv"), "-o", &p("o.json")]);
    assert!(
        code == 1 && text.contains("must be finite and > 0"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
