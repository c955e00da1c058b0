//! The GEMM autotune (which tile core — 64×64, 128×128 or 64×128 — and the 64×64 core's k-slice depth): it times every candidate, picks
//! the fastest, writes the adapter's cache file, and a new engine on the same adapter starts
//! from it; a corrupt cache file falls back to the defaults. Its own test binary because it
//! points WGOPT_CACHE_DIR at a scratch directory.

use wgopt_scheduler::tuning::{
    cache_file, candidates, candidates_for, Tuning, TILE_128_WORKGROUP_BYTES,
};
use wgopt_scheduler::Engine;

/// WebGPU's default workgroup memory (16 KiB), too little for the generated cores.
fn small_limits() -> wgpu::Limits {
    wgpu::Limits {
        max_compute_workgroup_storage_size: 16384,
        ..wgpu::Limits::default()
    }
}

#[test]
fn autotune_picks_a_candidate_caches_it_and_the_next_engine_loads_it() {
    let dir = std::env::temp_dir().join(format!("wgopt-tuning-test-{}", std::process::id()));
    std::env::set_var("WGOPT_CACHE_DIR", &dir);
    let engine = Engine::new().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(engine.tuning(), Tuning::default(), "no cache yet");
    let report = wgopt_solvers::linalg::autotune(&engine, 96, 1).unwrap();
    assert_eq!(
        report.timings.iter().map(|t| t.0).collect::<Vec<_>>(),
        candidates_for(&engine)
    );
    // Every candidate this device can hold is timed; the 128×128 core only where its workgroup
    // memory fits (32 KiB; not on 16 KiB devices).
    let big = Tuning {
        gemm_tile: 128,
        ..Tuning::default()
    };
    let fits = engine.limits().max_compute_workgroup_storage_size >= TILE_128_WORKGROUP_BYTES;
    let wide = Tuning {
        gemm_tile_rows: Some(64),
        ..big
    };
    assert_eq!(candidates_for(&engine).contains(&big), fits);
    assert_eq!(candidates_for(&engine).contains(&wide), fits);
    assert!(candidates().contains(&big) && candidates().contains(&wide));
    assert!(!wide.fits(&small_limits()));
    let small = small_limits();
    assert!(!big.fits(&small) && Tuning::default().fits(&small));
    assert!(report.timings.iter().all(|t| t.1 > 0.0 && t.1.is_finite()));
    let fastest = report
        .timings
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap()
        .0;
    assert_eq!(report.chosen, fastest);
    assert_eq!(engine.tuning(), report.chosen);
    let file = report.cache_file.expect("cache written");
    assert_eq!(Some(file.clone()), cache_file(engine.adapter()));
    let again = Engine::new().unwrap();
    assert_eq!(
        again.tuning(),
        report.chosen,
        "a new engine loads the cache"
    );
    // A corrupt or out-of-range cache is ignored, and set_tuning rejects bad values.
    std::fs::write(&file, "{\"gemm_tile_k\": 7}").unwrap();
    assert_eq!(Engine::new().unwrap().tuning(), Tuning::default());
    std::fs::write(&file, "not json").unwrap();
    assert_eq!(Engine::new().unwrap().tuning(), Tuning::default());
    // A cache written before the 128×128 core existed keeps the 64×64 core it measured.
    std::fs::write(&file, "{\"gemm_tile_k\": 32, \"gemm_shared_tiles\": true}").unwrap();
    let old = Engine::new().unwrap().tuning();
    assert_eq!(
        (old.gemm_tile_k, old.gemm_tile, old.gemm_tile_rows),
        (32, 64, None)
    );
    // Configurations no core implements are refused.
    for bad in [
        Tuning {
            gemm_tile_k: 12,
            ..Tuning::default()
        },
        Tuning {
            gemm_tile: 96,
            ..Tuning::default()
        },
        Tuning {
            gemm_tile: 128,
            gemm_tile_k: 8,
            ..Tuning::default()
        },
        Tuning {
            gemm_tile: 128,
            gemm_shared_tiles: false,
            ..Tuning::default()
        },
        Tuning {
            gemm_tile_rows: Some(64),
            ..Tuning::default()
        },
        Tuning {
            gemm_tile: 128,
            gemm_tile_rows: Some(32),
            ..Tuning::default()
        },
    ] {
        assert!(again.set_tuning(bad).is_err(), "{bad:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
