//! Per-adapter kernel tuning: which GEMM/Gram tile core runs — the 64×64 core
//! (linalg/tile_core.wgsl) staging its operands through workgroup tiles with k-slices of 8, 16
//! or 32 (`TILE_K`) or straight from storage (`SHARED_TILES = false`, no barriers: CPU adapters,
//! where barriers are costly and the caches do the reuse), or the generated 128×128 core
//! (linalg/gemm_128.wgsl: 8×8 accumulators per invocation, double-buffered, for GPUs) or its
//! 64×128 sibling (linalg/gemm_64x128.wgsl: twice the workgroups on mid-size matrices) — is
//! picked by timing each candidate on this adapter and cached on disk,
//! so the autotune (`wgopt_solvers::linalg::autotune`, which times the GEMM) runs once per
//! machine, not per process.
//!
//! The cache is a small JSON file per adapter (name, backend, driver) under
//! `$WGOPT_CACHE_DIR`, else `$XDG_CACHE_HOME/wgopt`, else `~/.cache/wgopt`. An engine loads it
//! when it opens the device; kernels built afterwards use it. A missing or unreadable file means
//! the defaults — tuning is an optimisation, never a requirement.

use crate::{AdapterSummary, Engine, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The k-slice depths the 64×64 core supports (its workgroup tiles are sized for the largest).
pub const TILE_K_CHOICES: [u32; 3] = [8, 16, 32];
/// Output tile edges: the 64×64 core and the generated 128-column cores (k-slice 16, shared
/// tiles).
pub const TILE_CHOICES: [u32; 2] = [64, 128];
/// Output tile rows of the generated cores: 128 (square), or 64 (`gemm_tile_rows: Some(64)`).
pub const TILE_ROW_CHOICES: [u32; 1] = [64];
/// Workgroup memory of the generated cores: two operands, double-buffered, 16 k-rows of 32
/// vec4s (32 KiB, Metal's and lavapipe's limit; the 64-row core keeps the same A tile because
/// its Gram stages 64×64 mirrors there); adapters with less (WebGPU's default 16 KiB) never
/// get them.
pub const TILE_128_WORKGROUP_BYTES: u32 = 2 * 2 * 16 * 32 * 16;

/// Tuned kernel parameters of one adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tuning {
    /// K-slice depth of the tiled matrix products.
    pub gemm_tile_k: u32,
    /// Stage operands through workgroup tiles (true) or read them directly (false).
    #[serde(default = "shared_default")]
    pub gemm_shared_tiles: bool,
    /// Output tile edge: 64, or 128 for the generated core. Caches written before the
    /// 128×128 core existed say nothing and keep the 64×64 core they measured.
    #[serde(default = "tile_default")]
    pub gemm_tile: u32,
    /// Output tile rows when they differ from `gemm_tile`: `Some(64)` with `gemm_tile = 128`
    /// is the generated 64×128 core; `None` a square tile (caches from before it say nothing).
    #[serde(default)]
    pub gemm_tile_rows: Option<u32>,
}

fn shared_default() -> bool {
    true
}

fn tile_default() -> u32 {
    64
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            gemm_tile_k: 16,
            gemm_shared_tiles: true,
            gemm_tile: 64,
            gemm_tile_rows: None,
        }
    }
}

/// Every configuration the autotune times.
pub fn candidates() -> Vec<Tuning> {
    let mut c: Vec<Tuning> = TILE_K_CHOICES
        .iter()
        .map(|&k| Tuning {
            gemm_tile_k: k,
            ..Tuning::default()
        })
        .collect();
    c.push(Tuning {
        gemm_shared_tiles: false,
        ..Tuning::default()
    });
    c.push(Tuning {
        gemm_tile: 128,
        ..Tuning::default()
    });
    c.extend(TILE_ROW_CHOICES.iter().map(|&rows| Tuning {
        gemm_tile: 128,
        gemm_tile_rows: Some(rows),
        ..Tuning::default()
    }));
    c
}

/// The candidates `engine`'s device can run ([`Tuning::fits`]).
pub fn candidates_for(engine: &Engine) -> Vec<Tuning> {
    let limits = engine.limits();
    candidates()
        .into_iter()
        .filter(|t| t.fits(&limits))
        .collect()
}

impl Tuning {
    /// Whether a device with `limits` can run this configuration's core.
    pub fn fits(&self, limits: &wgpu::Limits) -> bool {
        self.gemm_tile != 128
            || limits.max_compute_workgroup_storage_size >= TILE_128_WORKGROUP_BYTES
    }

    /// A configuration some core implements: the generated cores have one each (k-slice 16,
    /// shared tiles).
    pub fn is_valid(&self) -> bool {
        match (self.gemm_tile, self.gemm_tile_rows) {
            (64, None) => TILE_K_CHOICES.contains(&self.gemm_tile_k),
            (128, rows) if rows.is_none_or(|r| TILE_ROW_CHOICES.contains(&r)) => {
                self.gemm_tile_k == 16 && self.gemm_shared_tiles
            }
            _ => false,
        }
    }
}

/// What an autotune measured: seconds per product per candidate, and the choice.
#[derive(Debug, Clone, PartialEq)]
pub struct TuneReport {
    pub size: u32,
    pub timings: Vec<(Tuning, f64)>,
    pub chosen: Tuning,
    pub cache_file: Option<PathBuf>,
}

/// Where this adapter's tuning lives, if a cache directory can be named.
pub fn cache_file(adapter: &AdapterSummary) -> Option<PathBuf> {
    let dir = std::env::var_os("WGOPT_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("wgopt")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/wgopt")))?;
    let key: String = format!("{}-{}-{}", adapter.name, adapter.backend, adapter.driver)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    Some(dir.join(format!("tuning-{key}.json")))
}

/// The cached tuning of this adapter, or `None` when there is none (or it is unreadable).
pub(crate) fn load(adapter: &AdapterSummary) -> Option<Tuning> {
    let path = cache_file(adapter)?;
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str::<Tuning>(&text)
        .ok()
        .filter(Tuning::is_valid)
}

impl Engine {
    /// The tuning kernels built from now on use.
    pub fn tuning(&self) -> Tuning {
        *self.inner.tuning.lock().expect("tuning lock")
    }

    /// Overrides the tuning for kernels built from now on (not saved).
    pub fn set_tuning(&self, tuning: Tuning) -> Result<()> {
        if !tuning.is_valid() {
            return Err(crate::Error::InvalidHyperparameter(format!(
                "no tile core implements {tuning:?}: gemm_tile is one of {TILE_CHOICES:?}; the 64 \
                 core takes gemm_tile_k in {TILE_K_CHOICES:?} and square tiles, the 128 cores \
                 only 16 with shared tiles and gemm_tile_rows None or one of \
                 {TILE_ROW_CHOICES:?}"
            )));
        }
        if !tuning.fits(&self.limits()) {
            return Err(crate::Error::OverLimit {
                what: "the generated tile cores' workgroup memory".into(),
                size: TILE_128_WORKGROUP_BYTES as u64,
                limit: self.limits().max_compute_workgroup_storage_size as u64,
                unit: "bytes",
            });
        }
        *self.inner.tuning.lock().expect("tuning lock") = tuning;
        Ok(())
    }
}
