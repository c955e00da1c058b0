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

pub use wgopt_reference::linalg::Precision;
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
const TORCH_LERP: &str = wgsl!("common/torch_lerp.wgsl");
const PHILOX: &str = wgsl!("common/philox.wgsl");
const ADAMP_COMMON: &str = wgsl!("optim/adamp_common.wgsl");
const ELEMENT_BLOCK: &str = wgsl!("common/element_block.wgsl");
const MFAC_COMMON: &str = wgsl!("optim/mfac_common.wgsl");
const FRUGAL_COMMON: &str = wgsl!("optim/frugal_common.wgsl");
const SINKHORN_COMMON: &str = wgsl!("ot/sinkhorn_common.wgsl");
const SKETCH_COMMON: &str = wgsl!("sketch/sketch_common.wgsl");
const BLOCK_COMMON: &str = wgsl!("sketch/block_common.wgsl");
const LSTSQ_COMMON: &str = wgsl!("sketch/lstsq_common.wgsl");
const NYSTROM_COMMON: &str = wgsl!("sketch/nystrom_common.wgsl");
const SINKHORN_COST: &str = wgsl!("ot/sinkhorn_cost.wgsl");
const SNS_COMMON: &str = wgsl!("ot/sns_common.wgsl");
const SNS_BIN: &str = wgsl!("ot/sns_bin.wgsl");
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
    /// `optim/adabelief.wgsl`
    AdaBelief,
    /// `optim/adan.wgsl`
    Adan,
    /// `optim/diffgrad.wgsl`
    DiffGrad,
    /// `optim/adagrad.wgsl`
    AdaGrad,
    /// `optim/sophia.wgsl`
    Sophia,
    /// `optim/sophia_hessian.wgsl`
    SophiaHessian,
    /// `optim/adahessian.wgsl`
    AdaHessian,
    /// `optim/adahessian_blocks.wgsl`
    AdaHessianBlocks,
    /// `optim/adamp_rows.wgsl`
    AdamPRows,
    /// `optim/adamp_decide.wgsl`
    AdamPDecide,
    /// `optim/adamp.wgsl`
    AdamP,
    /// `optim/mfac_insert.wgsl`
    MfacInsert,
    /// `optim/mfac_dots.wgsl`
    MfacDots,
    /// `optim/mfac_setup.wgsl`
    MfacSetup,
    /// `optim/mfac_apply.wgsl`
    MfacApply,
    /// `optim/frugal_columns.wgsl`
    FrugalColumns,
    /// `optim/frugal.wgsl`
    Frugal,
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
    /// `linalg/gemm.wgsl` over f16 storage (f32 accumulation)
    GemmF16,
    /// `linalg/gemm.wgsl` reading f16, writing f32 (the last Newton–Schulz step)
    GemmF16ToF32,
    /// `linalg/gram.wgsl` over f16 storage
    GramF16,
    /// `linalg/frobenius_normalize.wgsl` reading f32, writing f16 (the first step's input)
    FrobeniusNormalizeToF16,
    /// `ot/sinkhorn_update.wgsl`
    SinkhornUpdate,
    /// `ot/sinkhorn_columns.wgsl`
    SinkhornColumns,
    /// `ot/sinkhorn_summary.wgsl`
    SinkhornSummary,
    /// `ot/sinkhorn_apply.wgsl`
    SinkhornApply,
    /// `ot/sinkhorn_plan.wgsl`
    SinkhornPlan,
    /// `ot/sns_marginals.wgsl`
    SnsMarginals,
    /// `ot/sns_summary.wgsl`
    SnsSummary,
    /// `ot/sns_threshold.wgsl`
    SnsThreshold,
    /// `ot/sns_pattern.wgsl`
    SnsPattern,
    /// `ot/sns_scan.wgsl`
    SnsScan,
    /// `ot/sns_setup.wgsl`
    SnsSetup,
    /// `ot/sns_spmv.wgsl`
    SnsSpmv,
    /// `ot/sns_cg_scalars.wgsl`
    SnsCgScalars,
    /// `ot/sns_cg_update.wgsl`
    SnsCgUpdate,
    /// `ot/sns_cg_direction.wgsl`
    SnsCgDirection,
    /// `ot/sns_trial.wgsl`
    SnsTrial,
    /// `ot/sns_accept.wgsl`
    SnsAccept,
    /// `sketch/sketch_gaussian.wgsl`
    SketchGaussian,
    /// `sketch/sketch_count.wgsl`
    SketchCount,
    /// `sketch/srht_sign.wgsl`
    SrhtSign,
    /// `sketch/srht_butterfly.wgsl`
    SrhtButterfly,
    /// `sketch/srht_gather.wgsl`
    SrhtGather,
    /// `sketch/block_factor.wgsl`
    BlockFactor,
    /// `sketch/block_project.wgsl`
    BlockProject,
    /// `sketch/lstsq_av.wgsl`
    LstsqAv,
    /// `sketch/lstsq_atu.wgsl`
    LstsqAtu,
    /// `sketch/lstsq_atu_reduce.wgsl`
    LstsqAtuReduce,
    /// `constrained/logistic_weights.wgsl`
    LogisticWeights,
    /// `sketch/gaussian_sketch_project.wgsl`
    GaussianSketchProject,
    /// `sketch/nystrom_matvec.wgsl`
    NystromMatvec,
    /// `sketch/nystrom_project.wgsl`
    NystromProject,
    /// `sketch/nystrom_precondition.wgsl`
    NystromPrecondition,
    /// `sketch/nystrom_cg_scalars.wgsl`
    NystromCgScalars,
    /// `sketch/nystrom_cg_update.wgsl`
    NystromCgUpdate,
    /// `sketch/nystrom_cg_direction.wgsl`
    NystromCgDirection,
    /// `random/philox_bits.wgsl`
    PhiloxBits,
    /// `random/probe_fill.wgsl`
    ProbeFill,
    /// `bench/copy.wgsl`
    Copy,
    /// `bench/fma.wgsl`
    Fma,
}

impl ShaderId {
    pub const ALL: [ShaderId; 75] = [
        ShaderId::Sgd,
        ShaderId::Adam,
        ShaderId::Lion,
        ShaderId::FrugalColumns,
        ShaderId::Frugal,
        ShaderId::MfacInsert,
        ShaderId::MfacDots,
        ShaderId::MfacSetup,
        ShaderId::MfacApply,
        ShaderId::AdamPRows,
        ShaderId::AdamPDecide,
        ShaderId::AdamP,
        ShaderId::AdaBelief,
        ShaderId::Adan,
        ShaderId::DiffGrad,
        ShaderId::AdaGrad,
        ShaderId::Sophia,
        ShaderId::SophiaHessian,
        ShaderId::AdaHessian,
        ShaderId::AdaHessianBlocks,
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
        ShaderId::GemmF16,
        ShaderId::GemmF16ToF32,
        ShaderId::GramF16,
        ShaderId::FrobeniusNormalizeToF16,
        ShaderId::SinkhornUpdate,
        ShaderId::SinkhornColumns,
        ShaderId::SinkhornSummary,
        ShaderId::SinkhornApply,
        ShaderId::SinkhornPlan,
        ShaderId::SnsMarginals,
        ShaderId::SnsSummary,
        ShaderId::SnsThreshold,
        ShaderId::SnsPattern,
        ShaderId::SnsScan,
        ShaderId::SnsSetup,
        ShaderId::SnsSpmv,
        ShaderId::SnsCgScalars,
        ShaderId::SnsCgUpdate,
        ShaderId::SnsCgDirection,
        ShaderId::SnsTrial,
        ShaderId::SnsAccept,
        ShaderId::SketchGaussian,
        ShaderId::SketchCount,
        ShaderId::SrhtSign,
        ShaderId::SrhtButterfly,
        ShaderId::SrhtGather,
        ShaderId::BlockFactor,
        ShaderId::BlockProject,
        ShaderId::LstsqAv,
        ShaderId::LstsqAtu,
        ShaderId::LstsqAtuReduce,
        ShaderId::LogisticWeights,
        ShaderId::GaussianSketchProject,
        ShaderId::NystromMatvec,
        ShaderId::NystromProject,
        ShaderId::NystromPrecondition,
        ShaderId::NystromCgScalars,
        ShaderId::NystromCgUpdate,
        ShaderId::NystromCgDirection,
        ShaderId::PhiloxBits,
        ShaderId::ProbeFill,
        ShaderId::Copy,
        ShaderId::Fma,
    ];

    /// Path under `shaders/` of the kernel's own file.
    pub fn path(self) -> &'static str {
        match self {
            ShaderId::Sgd => "optim/sgd.wgsl",
            ShaderId::Adam => "optim/adam.wgsl",
            ShaderId::Lion => "optim/lion.wgsl",
            ShaderId::AdaBelief => "optim/adabelief.wgsl",
            ShaderId::Adan => "optim/adan.wgsl",
            ShaderId::DiffGrad => "optim/diffgrad.wgsl",
            ShaderId::AdaGrad => "optim/adagrad.wgsl",
            ShaderId::Sophia => "optim/sophia.wgsl",
            ShaderId::SophiaHessian => "optim/sophia_hessian.wgsl",
            ShaderId::AdaHessian => "optim/adahessian.wgsl",
            ShaderId::AdaHessianBlocks => "optim/adahessian_blocks.wgsl",
            ShaderId::AdamPRows => "optim/adamp_rows.wgsl",
            ShaderId::AdamPDecide => "optim/adamp_decide.wgsl",
            ShaderId::AdamP => "optim/adamp.wgsl",
            ShaderId::MfacInsert => "optim/mfac_insert.wgsl",
            ShaderId::MfacDots => "optim/mfac_dots.wgsl",
            ShaderId::MfacSetup => "optim/mfac_setup.wgsl",
            ShaderId::MfacApply => "optim/mfac_apply.wgsl",
            ShaderId::FrugalColumns => "optim/frugal_columns.wgsl",
            ShaderId::Frugal => "optim/frugal.wgsl",
            ShaderId::MuonMomentum => "optim/muon_momentum.wgsl",
            ShaderId::MuonApply => "optim/muon_apply.wgsl",
            ShaderId::SinkGdRows => "optim/sinkgd_rows.wgsl",
            ShaderId::SinkGdCols => "optim/sinkgd_cols.wgsl",
            ShaderId::SinkGdApply => "optim/sinkgd_apply.wgsl",
            ShaderId::TileSumsq => "reduce/tile_sumsq.wgsl",
            ShaderId::GuardFinalize => "reduce/guard_finalize.wgsl",
            ShaderId::QuantileHistogram => "reduce/quantile_histogram.wgsl",
            ShaderId::QuantileSelect => "reduce/quantile_select.wgsl",
            ShaderId::Gemm | ShaderId::GemmF16 | ShaderId::GemmF16ToF32 => "linalg/gemm.wgsl",
            ShaderId::Gram | ShaderId::GramF16 => "linalg/gram.wgsl",
            ShaderId::FrobeniusNormalize | ShaderId::FrobeniusNormalizeToF16 => {
                "linalg/frobenius_normalize.wgsl"
            }
            ShaderId::SinkhornUpdate => "ot/sinkhorn_update.wgsl",
            ShaderId::SinkhornColumns => "ot/sinkhorn_columns.wgsl",
            ShaderId::SinkhornSummary => "ot/sinkhorn_summary.wgsl",
            ShaderId::SinkhornApply => "ot/sinkhorn_apply.wgsl",
            ShaderId::SinkhornPlan => "ot/sinkhorn_plan.wgsl",
            ShaderId::SnsMarginals => "ot/sns_marginals.wgsl",
            ShaderId::SnsSummary => "ot/sns_summary.wgsl",
            ShaderId::SnsThreshold => "ot/sns_threshold.wgsl",
            ShaderId::SnsPattern => "ot/sns_pattern.wgsl",
            ShaderId::SnsScan => "ot/sns_scan.wgsl",
            ShaderId::SnsSetup => "ot/sns_setup.wgsl",
            ShaderId::SnsSpmv => "ot/sns_spmv.wgsl",
            ShaderId::SnsCgScalars => "ot/sns_cg_scalars.wgsl",
            ShaderId::SnsCgUpdate => "ot/sns_cg_update.wgsl",
            ShaderId::SnsCgDirection => "ot/sns_cg_direction.wgsl",
            ShaderId::SnsTrial => "ot/sns_trial.wgsl",
            ShaderId::SnsAccept => "ot/sns_accept.wgsl",
            ShaderId::SketchGaussian => "sketch/sketch_gaussian.wgsl",
            ShaderId::SketchCount => "sketch/sketch_count.wgsl",
            ShaderId::SrhtSign => "sketch/srht_sign.wgsl",
            ShaderId::SrhtButterfly => "sketch/srht_butterfly.wgsl",
            ShaderId::SrhtGather => "sketch/srht_gather.wgsl",
            ShaderId::BlockFactor => "sketch/block_factor.wgsl",
            ShaderId::BlockProject => "sketch/block_project.wgsl",
            ShaderId::LstsqAv => "sketch/lstsq_av.wgsl",
            ShaderId::LstsqAtu => "sketch/lstsq_atu.wgsl",
            ShaderId::LstsqAtuReduce => "sketch/lstsq_atu_reduce.wgsl",
            ShaderId::LogisticWeights => "constrained/logistic_weights.wgsl",
            ShaderId::GaussianSketchProject => "sketch/gaussian_sketch_project.wgsl",
            ShaderId::NystromMatvec => "sketch/nystrom_matvec.wgsl",
            ShaderId::NystromProject => "sketch/nystrom_project.wgsl",
            ShaderId::NystromPrecondition => "sketch/nystrom_precondition.wgsl",
            ShaderId::NystromCgScalars => "sketch/nystrom_cg_scalars.wgsl",
            ShaderId::NystromCgUpdate => "sketch/nystrom_cg_update.wgsl",
            ShaderId::NystromCgDirection => "sketch/nystrom_cg_direction.wgsl",
            ShaderId::PhiloxBits => "random/philox_bits.wgsl",
            ShaderId::ProbeFill => "random/probe_fill.wgsl",
            ShaderId::Copy => "bench/copy.wgsl",
            ShaderId::Fma => "bench/fma.wgsl",
        }
    }

    /// Storage types of the linear-algebra kernels: (StoreIn, StoreOut), `None` for the rest.
    pub fn storage(self) -> Option<(Precision, Precision)> {
        use Precision::{F16, F32};
        match self {
            ShaderId::Gemm | ShaderId::Gram | ShaderId::FrobeniusNormalize => Some((F32, F32)),
            ShaderId::GemmF16 | ShaderId::GramF16 => Some((F16, F16)),
            ShaderId::GemmF16ToF32 => Some((F16, F32)),
            ShaderId::FrobeniusNormalizeToF16 => Some((F32, F16)),
            _ => None,
        }
    }

    /// True when the kernel needs SHADER_F16.
    pub fn needs_f16(self) -> bool {
        self.storage()
            .is_some_and(|(i, o)| i == Precision::F16 || o == Precision::F16)
    }

    /// The composed source: the precision prelude (linear algebra only), shared declarations,
    /// then the kernel's own file.
    pub fn source(self) -> String {
        let prelude = match self.storage() {
            Some((input, output)) => {
                let name = |p| match p {
                    Precision::F32 => "f32",
                    Precision::F16 => "f16",
                };
                let enable = if self.needs_f16() {
                    "enable f16;\n"
                } else {
                    ""
                };
                format!(
                    "{enable}alias StoreIn = {};\nalias StoreOut = {};\n",
                    name(input),
                    name(output)
                )
            }
            None => String::new(),
        };
        let parts: &[&str] = match self {
            ShaderId::Sgd => &[STEP_STATS, GRID_STRIDE, wgsl!("optim/sgd.wgsl")],
            ShaderId::Adam => &[
                STEP_STATS,
                GRID_STRIDE,
                TORCH_LERP,
                wgsl!("optim/adam.wgsl"),
            ],
            ShaderId::Lion => &[STEP_STATS, GRID_STRIDE, wgsl!("optim/lion.wgsl")],
            ShaderId::AdaBelief => &[STEP_STATS, GRID_STRIDE, wgsl!("optim/adabelief.wgsl")],
            ShaderId::Adan => &[STEP_STATS, GRID_STRIDE, wgsl!("optim/adan.wgsl")],
            ShaderId::DiffGrad => &[STEP_STATS, GRID_STRIDE, wgsl!("optim/diffgrad.wgsl")],
            ShaderId::AdaGrad => &[STEP_STATS, GRID_STRIDE, wgsl!("optim/adagrad.wgsl")],
            ShaderId::Sophia => &[STEP_STATS, GRID_STRIDE, wgsl!("optim/sophia.wgsl")],
            ShaderId::SophiaHessian => {
                &[STEP_STATS, GRID_STRIDE, wgsl!("optim/sophia_hessian.wgsl")]
            }
            ShaderId::AdaHessian => &[STEP_STATS, GRID_STRIDE, wgsl!("optim/adahessian.wgsl")],
            ShaderId::AdaHessianBlocks => &[
                STEP_STATS,
                GRID_STRIDE,
                wgsl!("optim/adahessian_blocks.wgsl"),
            ],
            ShaderId::AdamPRows => &[STEP_STATS, ADAMP_COMMON, wgsl!("optim/adamp_rows.wgsl")],
            ShaderId::AdamPDecide => &[STEP_STATS, ADAMP_COMMON, wgsl!("optim/adamp_decide.wgsl")],
            ShaderId::AdamP => &[
                STEP_STATS,
                ELEMENT_BLOCK,
                ADAMP_COMMON,
                wgsl!("optim/adamp.wgsl"),
            ],
            ShaderId::MfacInsert => &[
                STEP_STATS,
                GRID_STRIDE,
                MFAC_COMMON,
                wgsl!("optim/mfac_insert.wgsl"),
            ],
            ShaderId::MfacDots => &[STEP_STATS, MFAC_COMMON, wgsl!("optim/mfac_dots.wgsl")],
            ShaderId::MfacSetup => &[STEP_STATS, MFAC_COMMON, wgsl!("optim/mfac_setup.wgsl")],
            ShaderId::MfacApply => &[
                STEP_STATS,
                GRID_STRIDE,
                MFAC_COMMON,
                wgsl!("optim/mfac_apply.wgsl"),
            ],
            ShaderId::FrugalColumns => &[
                STEP_STATS,
                PHILOX,
                FRUGAL_COMMON,
                wgsl!("optim/frugal_columns.wgsl"),
            ],
            ShaderId::Frugal => &[
                STEP_STATS,
                ELEMENT_BLOCK,
                FRUGAL_COMMON,
                wgsl!("optim/frugal.wgsl"),
            ],
            ShaderId::MuonMomentum => &[
                STEP_STATS,
                GRID_STRIDE,
                TORCH_LERP,
                wgsl!("optim/muon_momentum.wgsl"),
            ],
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
            ShaderId::Gemm | ShaderId::GemmF16 | ShaderId::GemmF16ToF32 => {
                &[TILE_CORE, wgsl!("linalg/gemm.wgsl")]
            }
            ShaderId::Gram | ShaderId::GramF16 => &[TILE_CORE, wgsl!("linalg/gram.wgsl")],
            ShaderId::FrobeniusNormalize | ShaderId::FrobeniusNormalizeToF16 => {
                &[wgsl!("linalg/frobenius_normalize.wgsl")]
            }
            ShaderId::SinkhornUpdate => &[
                SINKHORN_COMMON,
                SINKHORN_COST,
                wgsl!("ot/sinkhorn_update.wgsl"),
            ],
            ShaderId::SinkhornColumns => &[
                SINKHORN_COMMON,
                SINKHORN_COST,
                wgsl!("ot/sinkhorn_columns.wgsl"),
            ],
            ShaderId::SinkhornSummary => &[SINKHORN_COMMON, wgsl!("ot/sinkhorn_summary.wgsl")],
            ShaderId::SinkhornApply => &[
                SINKHORN_COMMON,
                SINKHORN_COST,
                wgsl!("ot/sinkhorn_apply.wgsl"),
            ],
            ShaderId::SinkhornPlan => &[
                SINKHORN_COMMON,
                SINKHORN_COST,
                wgsl!("ot/sinkhorn_plan.wgsl"),
            ],
            ShaderId::SnsMarginals => &[
                SINKHORN_COMMON,
                SINKHORN_COST,
                SNS_COMMON,
                wgsl!("ot/sns_marginals.wgsl"),
            ],
            ShaderId::SnsSummary => &[SINKHORN_COMMON, SNS_COMMON, wgsl!("ot/sns_summary.wgsl")],
            ShaderId::SnsThreshold => &[
                SINKHORN_COMMON,
                SINKHORN_COST,
                SNS_COMMON,
                SNS_BIN,
                wgsl!("ot/sns_threshold.wgsl"),
            ],
            ShaderId::SnsPattern => &[
                SINKHORN_COMMON,
                SINKHORN_COST,
                SNS_COMMON,
                SNS_BIN,
                wgsl!("ot/sns_pattern.wgsl"),
            ],
            ShaderId::SnsScan => &[SNS_COMMON, wgsl!("ot/sns_scan.wgsl")],
            ShaderId::SnsSetup => &[SINKHORN_COMMON, SNS_COMMON, wgsl!("ot/sns_setup.wgsl")],
            ShaderId::SnsSpmv => &[SNS_COMMON, wgsl!("ot/sns_spmv.wgsl")],
            ShaderId::SnsCgScalars => &[SNS_COMMON, wgsl!("ot/sns_cg_scalars.wgsl")],
            ShaderId::SnsCgUpdate => &[SNS_COMMON, wgsl!("ot/sns_cg_update.wgsl")],
            ShaderId::SnsCgDirection => &[SNS_COMMON, wgsl!("ot/sns_cg_direction.wgsl")],
            ShaderId::SnsTrial => &[SINKHORN_COMMON, SNS_COMMON, wgsl!("ot/sns_trial.wgsl")],
            ShaderId::SnsAccept => &[SINKHORN_COMMON, SNS_COMMON, wgsl!("ot/sns_accept.wgsl")],
            ShaderId::SketchGaussian => {
                &[PHILOX, SKETCH_COMMON, wgsl!("sketch/sketch_gaussian.wgsl")]
            }
            ShaderId::SketchCount => &[SKETCH_COMMON, wgsl!("sketch/sketch_count.wgsl")],
            ShaderId::SrhtSign => &[PHILOX, SKETCH_COMMON, wgsl!("sketch/srht_sign.wgsl")],
            ShaderId::SrhtButterfly => &[SKETCH_COMMON, wgsl!("sketch/srht_butterfly.wgsl")],
            ShaderId::SrhtGather => &[SKETCH_COMMON, wgsl!("sketch/srht_gather.wgsl")],
            ShaderId::BlockFactor => &[BLOCK_COMMON, wgsl!("sketch/block_factor.wgsl")],
            ShaderId::BlockProject => &[
                PHILOX,
                SKETCH_COMMON,
                BLOCK_COMMON,
                wgsl!("sketch/block_project.wgsl"),
            ],
            ShaderId::LstsqAv => &[LSTSQ_COMMON, wgsl!("sketch/lstsq_av.wgsl")],
            ShaderId::LstsqAtu => &[LSTSQ_COMMON, wgsl!("sketch/lstsq_atu.wgsl")],
            ShaderId::LstsqAtuReduce => &[LSTSQ_COMMON, wgsl!("sketch/lstsq_atu_reduce.wgsl")],
            ShaderId::LogisticWeights => &[wgsl!("constrained/logistic_weights.wgsl")],
            ShaderId::GaussianSketchProject => {
                &[SKETCH_COMMON, wgsl!("sketch/gaussian_sketch_project.wgsl")]
            }
            ShaderId::NystromMatvec => &[NYSTROM_COMMON, wgsl!("sketch/nystrom_matvec.wgsl")],
            ShaderId::NystromProject => &[NYSTROM_COMMON, wgsl!("sketch/nystrom_project.wgsl")],
            ShaderId::NystromPrecondition => {
                &[NYSTROM_COMMON, wgsl!("sketch/nystrom_precondition.wgsl")]
            }
            ShaderId::NystromCgScalars => {
                &[NYSTROM_COMMON, wgsl!("sketch/nystrom_cg_scalars.wgsl")]
            }
            ShaderId::NystromCgUpdate => &[NYSTROM_COMMON, wgsl!("sketch/nystrom_cg_update.wgsl")],
            ShaderId::NystromCgDirection => {
                &[NYSTROM_COMMON, wgsl!("sketch/nystrom_cg_direction.wgsl")]
            }
            ShaderId::PhiloxBits => &[PHILOX, wgsl!("random/philox_bits.wgsl")],
            ShaderId::ProbeFill => &[GRID_STRIDE, PHILOX, wgsl!("random/probe_fill.wgsl")],
            ShaderId::Copy => &[wgsl!("bench/copy.wgsl")],
            ShaderId::Fma => &[wgsl!("bench/fma.wgsl")],
        };
        prelude + &parts.join("\n")
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
            // segments, stats, param, grad, exp_avg, exp_avg_var, max_exp_avg_var
            ShaderId::AdaBelief => &[R, R, W, R, W, W, W],
            // segments, stats, param, grad, exp_avg, exp_avg_diff, exp_avg_sq, neg_pre_grad
            ShaderId::Adan => &[R, R, W, R, W, W, W, W],
            // segments, stats, param, grad, exp_avg, exp_avg_sq, previous_grad
            ShaderId::DiffGrad => &[R, R, W, R, W, W, W],
            // segments, stats, param, grad, sum
            ShaderId::AdaGrad => &[R, R, W, R, W],
            // segments, stats, param, grad, exp_avg, hessian
            ShaderId::Sophia => &[R, R, W, R, W, R],
            // segments, stats, estimate, hessian, probes
            ShaderId::SophiaHessian => &[R, R, R, W, R],
            // segments, stats, param, grad, exp_avg, exp_hessian_diag_sq, hvp
            ShaderId::AdaHessian => &[R, R, W, R, W, W, R],
            // segments, stats, hvp
            ShaderId::AdaHessianBlocks => &[R, R, W],
            // params, stats, rows, param, grad, exp_avg, exp_avg_sq, sums
            ShaderId::AdamPRows => &[R, R, R, R, R, R, R, W],
            // params, stats, sums (decisions, then rows)
            ShaderId::AdamPDecide => &[R, R, W],
            // blocks, params, stats, param, grad, exp_avg, exp_avg_sq, sums
            ShaderId::AdamP => &[R, R, R, W, R, W, W, R],
            // segments, stats, params, param, grad, window
            ShaderId::MfacInsert => &[R, R, U, R, R, W],
            // params, stats, window, partials
            ShaderId::MfacDots => &[U, R, R, W],
            // params, stats, partials, small
            ShaderId::MfacSetup => &[U, R, R, W],
            // segments, stats, params, param, window, small, momentum
            ShaderId::MfacApply => &[R, R, U, W, R, R, W],
            // params, stats, columns
            ShaderId::FrugalColumns => &[R, R, W],
            // blocks, params, stats, param, grad, exp_avg, exp_avg_sq, columns
            ShaderId::Frugal => &[R, R, R, W, R, W, W, R],
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
            ShaderId::Gemm
            | ShaderId::Gram
            | ShaderId::GemmF16
            | ShaderId::GemmF16ToF32
            | ShaderId::GramF16 => &[U, R, R, R, R, W],
            // params, offsets, src, dst, clamp_thresholds
            ShaderId::FrobeniusNormalize | ShaderId::FrobeniusNormalizeToF16 => &[U, R, R, W, R],
            // problems, cost, logw, pot
            ShaderId::SinkhornUpdate => &[R, R, R, W],
            // problems, cost, logw, pot, columns
            ShaderId::SinkhornColumns => &[R, R, R, R, W],
            // problems, logw, pot, columns, summary
            ShaderId::SinkhornSummary => &[R, R, R, R, W],
            // problems, cost, pot, input, output
            ShaderId::SinkhornApply => &[R, R, R, R, W],
            // problems, cost, pot, plan_offsets, plan
            ShaderId::SinkhornPlan => &[R, R, R, R, W],
            // problems, cost, pot, marg
            ShaderId::SnsMarginals => &[R, R, R, W],
            // problems, logw, pot, marg, scalars
            ShaderId::SnsSummary => &[R, R, R, R, W],
            // params, problems, cost, pot, marg, scalars, pattern
            ShaderId::SnsThreshold => &[U, R, R, R, R, R, W],
            // params, problems, cost, pot, marg, pattern, idx, val
            ShaderId::SnsPattern => &[U, R, R, R, R, W, W, W],
            // params, pattern, scalars
            ShaderId::SnsScan => &[U, W, W],
            // params, problems, logw, marg, scalars, vecs, partial
            ShaderId::SnsSetup => &[U, R, R, R, R, W, W],
            // params, pattern, idx, val, scalars, vecs, partial
            ShaderId::SnsSpmv => &[U, R, R, R, R, W, W],
            // params, partial, scalars
            ShaderId::SnsCgScalars => &[U, R, W],
            // params, scalars, vecs, partial
            ShaderId::SnsCgUpdate => &[U, R, W, W],
            // params, scalars, vecs
            ShaderId::SnsCgDirection => &[U, R, W],
            // params, problems, vecs, pot, partial
            ShaderId::SnsTrial => &[U, R, R, W, W],
            // problems, pot, marg, scalars
            ShaderId::SnsAccept => &[R, W, W, W],
            // params, a, out
            ShaderId::SketchGaussian => &[U, R, W],
            // params, a, bucket_start, bucket_rows, out
            ShaderId::SketchCount => &[U, R, R, R, W],
            // params, a, x
            ShaderId::SrhtSign => &[U, R, W],
            // params, x
            ShaderId::SrhtButterfly => &[U, W],
            // params, x, keep, out
            ShaderId::SrhtGather => &[U, R, R, W],
            // params, a, factors, status
            ShaderId::BlockFactor => &[U, R, W, W],
            // params, a, b, factors, x
            ShaderId::BlockProject => &[U, R, R, R, W],
            // params, a, v, u, partial
            ShaderId::LstsqAv => &[U, R, R, W, W],
            // params, a, u, partial
            ShaderId::LstsqAtu => &[U, R, R, W],
            // params, partial, out
            ShaderId::LstsqAtuReduce => &[U, R, W],
            // params, y, u, curvature weights, loss
            ShaderId::LogisticWeights => &[U, R, W, W, W],
            // params, sab, x, status
            ShaderId::GaussianSketchProject => &[U, R, W, W],
            // params, a, scalars, vecs, partial
            ShaderId::NystromMatvec => &[U, R, R, W, W],
            // params, ut, scalars, vecs, w
            ShaderId::NystromProject => &[U, R, R, R, W],
            // params, u, scale, w, scalars, vecs, partial
            ShaderId::NystromPrecondition => &[U, R, R, R, R, W, W],
            // params, partial, scalars
            ShaderId::NystromCgScalars => &[U, R, W],
            // params, scalars, vecs, partial
            ShaderId::NystromCgUpdate => &[U, R, W, W],
            // params, scalars, vecs
            ShaderId::NystromCgDirection => &[U, R, W],
            // params, out
            ShaderId::PhiloxBits => &[U, W],
            // segments, probes
            ShaderId::ProbeFill => &[R, W],
            // src, dst
            ShaderId::Copy => &[R, W],
            // out, params
            ShaderId::Fma => &[W, U],
        }
    }
}
