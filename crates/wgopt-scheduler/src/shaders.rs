//! Every WGSL kernel wgopt runs, embedded at compile time and composed by concatenation:
//! shared declarations from `shaders/common/` first, then the kernel's own file. Each entry also
//! declares its bind-group layout, which a test checks against the WGSL with naga.

/// How a kernel accesses one binding (all in group 0, numbered from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Uniform,
    ReadOnly,
    ReadWrite,
}

use Access::{ReadOnly as R, ReadWrite as W, Uniform as U};

macro_rules! wgsl {
    ($path:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shaders/",
            $path
        ))
    };
}

const STEP_STATS: &str = wgsl!("common/step_stats.wgsl");
const NON_FINITE: &str = wgsl!("common/non_finite.wgsl");
const GRID_STRIDE: &str = wgsl!("common/grid_stride.wgsl");
const PARTIAL: &str = wgsl!("common/partial.wgsl");
const TILE_CORE: &str = wgsl!("linalg/tile_core.wgsl");
const SINKGD_COMMON: &str = wgsl!("optim/sinkgd_common.wgsl");
const QUANTILE_COMMON: &str = wgsl!("reduce/quantile_common.wgsl");

/// A kernel: its file name (the family-relative path under shaders/), the files it is composed
/// of, and its bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShaderId {
    /// `optim/sgd.wgsl`
    Sgd,
    /// `optim/adam.wgsl` (Adam and AdamW)
    Adam,
    /// `optim/lion.wgsl`
    Lion,
    /// `optim/muon_momentum.wgsl`
    MuonMomentum,
    /// `optim/muon_apply.wgsl`
    MuonApply,
    /// `optim/sinkgd_rows.wgsl`
    SinkGdRows,
    /// `optim/sinkgd_cols.wgsl`
    SinkGdCols,
    /// `optim/sinkgd_apply.wgsl`
    SinkGdApply,
    /// `reduce/tile_sumsq.wgsl`
    TileSumsq,
    /// `reduce/guard_finalize.wgsl`
    GuardFinalize,
    /// `reduce/quantile_histogram.wgsl`
    QuantileHistogram,
    /// `reduce/quantile_select.wgsl`
    QuantileSelect,
    /// `linalg/gemm.wgsl`
    Gemm,
    /// `linalg/gram.wgsl`
    Gram,
    /// `linalg/frobenius_normalize.wgsl`
    FrobeniusNormalize,
    /// `bench/copy.wgsl`
    Copy,
    /// `bench/fma.wgsl`
    Fma,
}

impl ShaderId {
    pub const ALL: [ShaderId; 17] = [
        ShaderId::Sgd,
        ShaderId::Adam,
        ShaderId::Lion,
        ShaderId::MuonMomentum,
        ShaderId::MuonApply,
        ShaderId::SinkGdRows,
        ShaderId::SinkGdCols,
        ShaderId::SinkGdApply,
        ShaderId::TileSumsq,
        ShaderId::GuardFinalize,
        ShaderId::QuantileHistogram,
        ShaderId::QuantileSelect,
        ShaderId::Gemm,
        ShaderId::Gram,
        ShaderId::FrobeniusNormalize,
        ShaderId::Copy,
        ShaderId::Fma,
    ];

    /// Path under `shaders/` of the kernel's own file.
    pub fn path(self) -> &'static str {
        match self {
            ShaderId::Sgd => "optim/sgd.wgsl",
            ShaderId::Adam => "optim/adam.wgsl",
            ShaderId::Lion => "optim/lion.wgsl",
            ShaderId::MuonMomentum => "optim/muon_momentum.wgsl",
            ShaderId::MuonApply => "optim/muon_apply.wgsl",
            ShaderId::SinkGdRows => "optim/sinkgd_rows.wgsl",
            ShaderId::SinkGdCols => "optim/sinkgd_cols.wgsl",
            ShaderId::SinkGdApply => "optim/sinkgd_apply.wgsl",
            ShaderId::TileSumsq => "reduce/tile_sumsq.wgsl",
            ShaderId::GuardFinalize => "reduce/guard_finalize.wgsl",
            ShaderId::QuantileHistogram => "reduce/quantile_histogram.wgsl",
            ShaderId::QuantileSelect => "reduce/quantile_select.wgsl",
            ShaderId::Gemm => "linalg/gemm.wgsl",
            ShaderId::Gram => "linalg/gram.wgsl",
            ShaderId::FrobeniusNormalize => "linalg/frobenius_normalize.wgsl",
            ShaderId::Copy => "bench/copy.wgsl",
            ShaderId::Fma => "bench/fma.wgsl",
        }
    }

    /// The composed source, shared declarations first.
    pub fn source(self) -> String {
        let parts: &[&str] = match self {
            ShaderId::Sgd => &[STEP_STATS, GRID_STRIDE, wgsl!("optim/sgd.wgsl")],
            ShaderId::Adam => &[STEP_STATS, GRID_STRIDE, wgsl!("optim/adam.wgsl")],
            ShaderId::Lion => &[STEP_STATS, GRID_STRIDE, wgsl!("optim/lion.wgsl")],
            ShaderId::MuonMomentum => &[STEP_STATS, GRID_STRIDE, wgsl!("optim/muon_momentum.wgsl")],
            ShaderId::MuonApply => &[STEP_STATS, GRID_STRIDE, wgsl!("optim/muon_apply.wgsl")],
            ShaderId::SinkGdRows => &[STEP_STATS, SINKGD_COMMON, wgsl!("optim/sinkgd_rows.wgsl")],
            ShaderId::SinkGdCols => &[STEP_STATS, SINKGD_COMMON, wgsl!("optim/sinkgd_cols.wgsl")],
            ShaderId::SinkGdApply => &[STEP_STATS, SINKGD_COMMON, wgsl!("optim/sinkgd_apply.wgsl")],
            ShaderId::TileSumsq => &[NON_FINITE, PARTIAL, wgsl!("reduce/tile_sumsq.wgsl")],
            ShaderId::GuardFinalize => &[STEP_STATS, PARTIAL, wgsl!("reduce/guard_finalize.wgsl")],
            ShaderId::QuantileHistogram => {
                &[QUANTILE_COMMON, wgsl!("reduce/quantile_histogram.wgsl")]
            }
            ShaderId::QuantileSelect => &[QUANTILE_COMMON, wgsl!("reduce/quantile_select.wgsl")],
            ShaderId::Gemm => &[TILE_CORE, wgsl!("linalg/gemm.wgsl")],
            ShaderId::Gram => &[TILE_CORE, wgsl!("linalg/gram.wgsl")],
            ShaderId::FrobeniusNormalize => &[wgsl!("linalg/frobenius_normalize.wgsl")],
            ShaderId::Copy => &[wgsl!("bench/copy.wgsl")],
            ShaderId::Fma => &[wgsl!("bench/fma.wgsl")],
        };
        parts.join("\n")
    }

    /// Bind-group layout: binding i has access `bindings()[i]`.
    pub fn bindings(self) -> &'static [Access] {
        match self {
            // segments, stats, param, grad, momentum_buffer
            ShaderId::Sgd => &[R, R, W, R, W],
            // segments, stats, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq
            ShaderId::Adam => &[R, R, W, R, W, W, W],
            // segments, stats, param, grad, exp_avg
            ShaderId::Lion => &[R, R, W, R, W],
            // segments, stats, grad, momentum_buffer, update
            ShaderId::MuonMomentum => &[R, R, R, W, W],
            // segments, stats, param, update
            ShaderId::MuonApply => &[R, R, W, R],
            // params, offsets, stats, grad, row_scale, col_scale
            ShaderId::SinkGdRows => &[U, R, R, R, W, R],
            ShaderId::SinkGdCols => &[U, R, R, R, R, W],
            // … and param
            ShaderId::SinkGdApply => &[U, R, R, R, R, R, W],
            // grad, tiles, partials
            ShaderId::TileSumsq => &[R, R, W],
            // params, partials, segment_ranges, stats, segment_sumsq
            ShaderId::GuardFinalize => &[U, R, R, W, W],
            // tiles, state, values, histogram
            ShaderId::QuantileHistogram => &[R, R, R, W],
            // matrices, state, histogram, thresholds
            ShaderId::QuantileSelect => &[R, W, W, W],
            // params, offsets, a, b, c, d
            ShaderId::Gemm | ShaderId::Gram => &[U, R, R, R, R, W],
            // params, offsets, src, dst, clamp_thresholds
            ShaderId::FrobeniusNormalize => &[U, R, R, W, R],
            // src, dst
            ShaderId::Copy => &[R, W],
            // out, params
            ShaderId::Fma => &[W, U],
        }
    }
}
