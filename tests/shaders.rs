//! Every composed shader parses and validates with naga; every Rust twin of a WGSL struct has
//! the same member names, offsets and size; every kernel's declared bind-group layout matches
//! its WGSL globals. Shared declarations checked here: common/step_stats.wgsl (StepStats),
//! common/partial.wgsl (Partial), common/non_finite.wgsl, common/grid_stride.wgsl and
//! common/torch_lerp.wgsl, common/philox.wgsl and common/element_block.wgsl (ElementBlock; composed into the kernels validated below), linalg/tile_core.wgsl (GemmParams, GemmOffsets; composed
//! into gemm and gram), optim/sinkgd_common.wgsl (SinkGdParams), reduce/quantile_common.wgsl (QuantileMatrix,
//! QuantileState; composed into quantile_histogram and quantile_select), optim/adamp_common.wgsl
//! (AdamPParam; composed into adamp_rows, adamp_decide and adamp), optim/mfac_common.wgsl
//! (MfacParams, MfacSegment; composed into mfac_insert, mfac_dots, mfac_setup and mfac_apply),
//! optim/frugal_common.wgsl (FrugalParam; composed into frugal_columns and frugal),
//! ot/sinkhorn_common.wgsl (OtProblem) and ot/sinkhorn_cost.wgsl (composed into the Sinkhorn
//! kernels), ot/sns_common.wgsl (SnsParams) and ot/sns_bin.wgsl (composed into the SNS kernels), sketch/sketch_common.wgsl (SketchParams), sketch/block_common.wgsl
//! (BlockParams) and sketch/lstsq_common.wgsl (LstsqParams) and sketch/nystrom_common.wgsl (NystromParams; composed into the sketch, block
//! solver and least-squares kernels).

use naga::{AddressSpace, StorageAccess, TypeInner};
use wgopt::optim::adabelief::AdaBeliefSegment;
use wgopt::optim::adagrad::AdaGradSegment;
use wgopt::optim::adahessian::AdaHessianSegment;
use wgopt::optim::adahessian::BlockSegment;
use wgopt::optim::adam::AdamSegment;
use wgopt::optim::adamp::AdamPParam;
use wgopt::optim::adan::AdanSegment;
use wgopt::optim::blocks::ElementBlock;
use wgopt::optim::diffgrad::DiffGradSegment;
use wgopt::optim::frugal::FrugalParam;
use wgopt::optim::lion::LionSegment;
use wgopt::optim::mfac::{MfacParams, MfacSegment};
use wgopt::optim::muon::{MuonApplySegment, MuonMomentumSegment};
use wgopt::optim::sgd::SgdSegment;
use wgopt::optim::sinkgd::SinkGdParams;
use wgopt::optim::sophia::SophiaHessianSegment;
use wgopt::optim::sophia::SophiaSegment;
use wgopt::scheduler::bench::FmaParams;
use wgopt::scheduler::guard::{GuardParams, Partial, StepStats, Tile};
use wgopt::scheduler::linalg::{GemmOffsets, GemmParams, NormalizeOffsets, NormalizeParams};
use wgopt::scheduler::quantile::{QuantileMatrix, QuantileState, QuantileTile};
use wgopt::scheduler::random::{BitsParams, ProbeSegment};
use wgopt::scheduler::shaders::{Access, ShaderId};
use wgopt::solvers::lstsq::LstsqParams;
use wgopt::solvers::nystrom::NystromParams;
use wgopt::solvers::ot::OtProblemGpu;
use wgopt::solvers::sketch::{BlockParams, SketchParams};
use wgopt::solvers::sns::SnsParams;

fn module(id: ShaderId) -> naga::Module {
    naga::front::wgsl::parse_str(&id.source())
        .unwrap_or_else(|e| panic!("{}: {}", id.path(), e.emit_to_string(&id.source())))
}

#[test]
fn every_shader_validates() {
    for id in ShaderId::ALL {
        let m = module(id);
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&m)
        .unwrap_or_else(|e| panic!("{}: {}", id.path(), e.emit_to_string(&id.source())));
    }
}

#[test]
fn bindings_match_declared_layouts() {
    for id in ShaderId::ALL {
        let m = module(id);
        let mut found: Vec<(u32, Access)> = m
            .global_variables
            .iter()
            .filter_map(|(_, g)| {
                let b = g.binding.as_ref()?;
                assert_eq!(b.group, 0, "{}: all bindings live in group 0", id.path());
                let access = match g.space {
                    AddressSpace::Uniform => Access::Uniform,
                    AddressSpace::Storage { access } if access.contains(StorageAccess::STORE) => {
                        Access::ReadWrite
                    }
                    AddressSpace::Storage { .. } => Access::ReadOnly,
                    other => panic!("{}: unexpected address space {other:?}", id.path()),
                };
                Some((b.binding, access))
            })
            .collect();
        found.sort_by_key(|b| b.0);
        let declared: Vec<(u32, Access)> = id
            .bindings()
            .iter()
            .enumerate()
            .map(|(i, a)| (i as u32, *a))
            .collect();
        assert_eq!(found, declared, "{}", id.path());
    }
}

/// (name, offset) of each member, and the size, of a WGSL struct.
fn wgsl_layout(id: ShaderId, name: &str) -> (Vec<(String, u32)>, u32) {
    let m = module(id);
    let ty = m
        .types
        .iter()
        .find(|(_, t)| t.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("{}: no struct {name}", id.path()))
        .1;
    match &ty.inner {
        TypeInner::Struct { members, span } => (
            members
                .iter()
                .map(|mb| (mb.name.clone().unwrap_or_default(), mb.offset))
                .collect(),
            *span,
        ),
        _ => panic!("{name} is not a struct"),
    }
}

macro_rules! rust_layout {
    ($t:ty { $($f:ident),* $(,)? }) => {
        (
            vec![$((stringify!($f).to_string(), std::mem::offset_of!($t, $f) as u32)),*],
            std::mem::size_of::<$t>() as u32,
        )
    };
}

#[test]
fn rust_structs_match_wgsl_twins() {
    let cases = [
        (
            ShaderId::SketchGaussian,
            "SketchParams",
            rust_layout!(SketchParams {
                rows,
                input,
                cols,
                stride,
                key,
                padded,
                draw,
                scale,
                ridge_rel,
                _pad2,
                _pad3
            }),
        ),
        (
            ShaderId::LstsqAv,
            "LstsqParams",
            rust_layout!(LstsqParams {
                m,
                n,
                chunk_rows,
                chunks,
                coef,
                _pad0,
                _pad1,
                _pad2
            }),
        ),
        (
            ShaderId::BlockProject,
            "BlockParams",
            rust_layout!(BlockParams {
                m,
                n,
                q,
                blocks,
                first_step,
                steps,
                key,
                ridge_rel,
                _pad0,
                _pad1,
                _pad2
            }),
        ),
        (
            ShaderId::NystromMatvec,
            "NystromParams",
            rust_layout!(NystromParams {
                n,
                rank,
                matvec_parts,
                parts,
                cg_max,
                _pad0,
                mu,
                tol2
            }),
        ),
        (
            ShaderId::SnsSpmv,
            "SnsParams",
            rust_layout!(SnsParams {
                n,
                m,
                cap,
                cap_total,
                parts,
                cg_max,
                nu,
                alpha,
                cg_tol2,
                _pad0,
                _pad1,
                _pad2
            }),
        ),
        (
            ShaderId::SinkhornUpdate,
            "OtProblem",
            rust_layout!(OtProblemGpu {
                n,
                m,
                d,
                live,
                cost_off,
                costt_off,
                la_off,
                lb_off,
                f_off,
                g_off,
                eps,
                p
            }),
        ),
        (
            ShaderId::Frugal,
            "FrugalParam",
            rust_layout!(FrugalParam {
                n_cols,
                col_base,
                update_gap,
                active_cols,
                slot,
                seed_lo,
                seed_hi,
                force_mask,
                decay,
                lr_scaled,
                inactive_step,
                beta1,
                beta2,
                eps,
                one_minus_beta1,
                one_minus_beta2,
                step_size,
                bias_correction2_sqrt,
                step,
                _pad0
            }),
        ),
        (
            ShaderId::Frugal,
            "ElementBlock",
            rust_layout!(ElementBlock {
                start,
                end,
                first_elem,
                param
            }),
        ),
        (
            ShaderId::MfacApply,
            "MfacParams",
            rust_layout!(MfacParams {
                m,
                width4,
                lo4,
                tiles,
                inv_damp,
                _pad0,
                _pad1,
                _pad2
            }),
        ),
        (
            ShaderId::MfacInsert,
            "MfacSegment",
            rust_layout!(MfacSegment {
                start,
                end,
                _pad,
                _pad1,
                neg_lr,
                weight_decay,
                momentum,
                one_minus_momentum
            }),
        ),
        (
            ShaderId::AdaBelief,
            "AdaBeliefSegment",
            rust_layout!(AdaBeliefSegment {
                start,
                end,
                step,
                mode,
                lr,
                decay,
                weight_decay,
                beta1,
                one_minus_beta1,
                beta2,
                one_minus_beta2,
                eps,
                coef,
                bias_correction2_sqrt,
                _pad0,
                _pad1
            }),
        ),
        (
            ShaderId::Adan,
            "AdanSegment",
            rust_layout!(AdanSegment {
                start,
                end,
                step,
                _pad,
                lr,
                beta1,
                beta2,
                beta3,
                one_minus_beta1,
                one_minus_beta2,
                one_minus_beta3,
                eps,
                step1,
                step2,
                bias_correction3_sqrt,
                decay
            }),
        ),
        (
            ShaderId::DiffGrad,
            "DiffGradSegment",
            rust_layout!(DiffGradSegment {
                start,
                end,
                step,
                _pad,
                lr,
                weight_decay,
                beta1,
                one_minus_beta1,
                beta2,
                one_minus_beta2,
                eps,
                step_size
            }),
        ),
        (
            ShaderId::AdaGrad,
            "AdaGradSegment",
            rust_layout!(AdaGradSegment {
                start,
                end,
                step,
                _pad,
                neg_clr,
                lr,
                lr_decay,
                weight_decay,
                eps,
                _pad0,
                _pad1,
                _pad2
            }),
        ),
        (
            ShaderId::Sophia,
            "SophiaSegment",
            rust_layout!(SophiaSegment {
                start,
                end,
                step,
                _pad,
                decay,
                beta1,
                one_minus_beta1,
                scale,
                eps,
                neg_step,
                lr,
                _pad0
            }),
        ),
        (
            ShaderId::SophiaHessian,
            "SophiaHessianSegment",
            rust_layout!(SophiaHessianSegment {
                start,
                end,
                _pad0,
                _pad1,
                beta2,
                one_minus_beta2,
                _pad2,
                _pad3
            }),
        ),
        (
            ShaderId::AdaHessian,
            "AdaHessianSegment",
            rust_layout!(AdaHessianSegment {
                start,
                end,
                step,
                _pad,
                lr,
                weight_decay,
                beta1,
                one_minus_beta1,
                beta2,
                one_minus_beta2,
                bias_correction1,
                bias_correction2_pow,
                hessian_power,
                eps,
                _pad0,
                _pad1
            }),
        ),
        (
            ShaderId::AdaHessianBlocks,
            "BlockSegment",
            rust_layout!(BlockSegment {
                start,
                end,
                block,
                _pad
            }),
        ),
        (
            ShaderId::AdamP,
            "ElementBlock",
            rust_layout!(ElementBlock {
                start,
                end,
                first_elem,
                param
            }),
        ),
        (
            ShaderId::AdamPRows,
            "AdamPParam",
            rust_layout!(AdamPParam {
                row_base,
                n_rows,
                row_len,
                projectable,
                beta1,
                one_minus_beta1,
                beta2,
                one_minus_beta2,
                bias_correction2_sqrt,
                eps,
                neg_step,
                decay,
                decay_projected,
                delta,
                lr,
                step
            }),
        ),
        (
            ShaderId::ProbeFill,
            "ProbeSegment",
            rust_layout!(ProbeSegment {
                start,
                end,
                first_block,
                slot,
                key,
                draw,
                stream,
                elem_end,
                _pad0,
                _pad1,
                _pad2
            }),
        ),
        (
            ShaderId::PhiloxBits,
            "BitsParams",
            rust_layout!(BitsParams {
                key,
                c1,
                c2,
                c3,
                blocks,
                _pad0,
                _pad1
            }),
        ),
        (
            ShaderId::Adam,
            "AdamSegment",
            rust_layout!(AdamSegment {
                start,
                end,
                step,
                _pad,
                lr,
                weight_decay,
                decay,
                beta1,
                one_minus_beta1,
                beta2,
                one_minus_beta2,
                eps,
                step_size,
                bias_correction2_sqrt,
                root_step_size,
                _pad2
            }),
        ),
        (
            ShaderId::Sgd,
            "SgdSegment",
            rust_layout!(SgdSegment {
                start,
                end,
                step,
                _pad,
                neg_lr,
                weight_decay,
                momentum,
                one_minus_dampening
            }),
        ),
        (
            ShaderId::Lion,
            "LionSegment",
            rust_layout!(LionSegment {
                start,
                end,
                step,
                _pad,
                neg_lr,
                decay,
                beta1,
                one_minus_beta1,
                beta2,
                one_minus_beta2,
                _pad1,
                _pad2
            }),
        ),
        (
            ShaderId::Adam,
            "StepStats",
            rust_layout!(StepStats {
                grad_norm,
                clip_coef,
                found_inf,
                applied_steps,
                skipped_steps,
                _pad0,
                _pad1,
                _pad2
            }),
        ),
        (
            ShaderId::GuardFinalize,
            "GuardParams",
            rust_layout!(GuardParams {
                max_norm,
                clip,
                skip_non_finite,
                n_segments
            }),
        ),
        (
            ShaderId::TileSumsq,
            "Tile",
            rust_layout!(Tile {
                start,
                end,
                out,
                finite_only
            }),
        ),
        (
            ShaderId::TileSumsq,
            "Partial",
            rust_layout!(Partial { sumsq, non_finite }),
        ),
        (
            ShaderId::Fma,
            "FmaParams",
            rust_layout!(FmaParams {
                iterations,
                mul,
                add,
                _pad
            }),
        ),
        (
            ShaderId::Gemm,
            "GemmParams",
            rust_layout!(GemmParams {
                m,
                n,
                k,
                use_c,
                alpha,
                beta,
                _pad0,
                _pad1
            }),
        ),
        (
            ShaderId::Gram,
            "GemmOffsets",
            rust_layout!(GemmOffsets { a, b, c, d }),
        ),
        (
            ShaderId::SinkGdApply,
            "SinkGdParams",
            rust_layout!(SinkGdParams {
                rows,
                cols,
                first,
                _pad,
                eps,
                sqrt_rows,
                sqrt_cols,
                decay,
                neg_lr,
                _pad1,
                _pad2,
                _pad3
            }),
        ),
        (
            ShaderId::MuonMomentum,
            "MuonMomentumSegment",
            rust_layout!(MuonMomentumSegment {
                start,
                end,
                step,
                _pad,
                beta,
                one_minus_beta,
                _pad1,
                _pad2
            }),
        ),
        (
            ShaderId::MuonApply,
            "MuonApplySegment",
            rust_layout!(MuonApplySegment {
                start,
                end,
                step,
                _pad,
                scale,
                decay,
                neg_lr,
                _pad1
            }),
        ),
        (
            ShaderId::FrobeniusNormalize,
            "NormalizeParams",
            rust_layout!(NormalizeParams {
                len,
                factor,
                clamp_base,
                _pad1
            }),
        ),
        (
            ShaderId::FrobeniusNormalize,
            "NormalizeOffsets",
            rust_layout!(NormalizeOffsets { src, dst }),
        ),
        (
            ShaderId::QuantileSelect,
            "QuantileMatrix",
            rust_layout!(QuantileMatrix {
                rank_lo,
                rank_hi,
                weight,
                add
            }),
        ),
        (
            ShaderId::QuantileHistogram,
            "QuantileState",
            rust_layout!(QuantileState {
                prefix_lo,
                prefix_hi,
                rank_lo,
                rank_hi
            }),
        ),
        (
            ShaderId::QuantileHistogram,
            "QuantileTile",
            rust_layout!(QuantileTile {
                matrix,
                start,
                end,
                _pad
            }),
        ),
    ];
    for (id, name, rust) in cases {
        assert_eq!(wgsl_layout(id, name), rust, "{name} in {}", id.path());
    }
}
