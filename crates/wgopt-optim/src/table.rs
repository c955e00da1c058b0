//! The table of optimizers: every optimizer wgopt has, one row each — its name, what it is,
//! how a model's parameters are grouped for it, the toy GPT's recommended hyperparameters and
//! where they come from, and its recipe (program(s) and default config). The registry, `wgopt
//! replay`, the toy GPT, the convergence tests and bench-gpu all read this table; adding an
//! optimizer adds a row here.

use crate::registry::{Entry, Pair, Single};
use crate::routing::{Matcher, Router};
use crate::*;
use wgopt_reference::linalg::NsSchedule;

fn kv(k: &str, v: impl ToString) -> (String, String) {
    (k.to_string(), v.to_string())
}

fn lr(x: f64) -> (String, String) {
    kv("lr", format!("{x:e}"))
}

/// The AdamW part of a hybrid at the baseline's learning rate and β2.
fn partner(adamw_lr: f64) -> [(String, String); 2] {
    [
        kv("adamw.lr", format!("{adamw_lr:e}")),
        kv("adamw.beta2", "0.99"),
    ]
}

fn baseline_lr(adamw_lr: f64, _: usize) -> Vec<(String, String)> {
    vec![lr(adamw_lr)]
}

fn adam_like(wd: f64) -> impl Fn(f64, usize) -> Vec<(String, String)> {
    move |l, _| vec![lr(l), kv("beta2", "0.99"), kv("weight_decay", wd)]
}

fn sgd_recipe(_: f64, _: usize) -> Vec<(String, String)> {
    vec![lr(0.1), kv("momentum", "0.9"), kv("nesterov", "true")]
}

fn mkor_recipe(l: f64, _: usize) -> Vec<(String, String)> {
    vec![lr(l), kv("base", "adam"), kv("beta2", "0.99")]
}

fn muon_recipe(_: f64, _: usize) -> Vec<(String, String)> {
    vec![lr(0.02), kv("momentum", "0.95"), kv("weight_decay", "0.01")]
}

fn muon_hybrid(l: f64, t: usize) -> Vec<(String, String)> {
    let mut v = muon_recipe(l, t);
    v.extend(partner(l));
    v
}

fn root_hybrid(l: f64, _: usize) -> Vec<(String, String)> {
    let mut v = vec![lr(l)];
    v.extend(partner(l));
    v
}

fn sinkgd_hybrid(l: f64, _: usize) -> Vec<(String, String)> {
    partner(l).to_vec()
}

fn polar_express() -> MuonConfig {
    MuonConfig {
        schedule: NsSchedule::PolarExpress {
            lower: 1e-3,
            safety: 1.01,
        },
        ..MuonConfig::default()
    }
}

fn decay_split() -> Router {
    Router::decay_split().rule(Matcher::NameContains("ln_".into()), "no_decay")
}

fn muon_split() -> Router {
    MuonAdamW::router()
}

fn root_split() -> Router {
    MuonAdamW::root_router()
}

fn sinkgd_split() -> Router {
    Router::matrices("sinkgd")
}

const SGD_SOURCE: &str =
    "SGD with Nesterov momentum 0.9 at lr 0.1 (a common baseline, not tuned here)";
const MUON_SOURCE: &str = "Muon README recipe (lr 0.02, momentum 0.95, Nesterov, wd 0.01); \
    AdamW part as the AdamW baseline";
const ROOT_SOURCE: &str = "ROOT example_train.py defaults (momentum 0.95 sum form, wd 0.1, \
    0.9-quantile clamp, 0.2·√max(m,n) scale, which lets AdamW's lr carry over, so lr = the \
    AdamW baseline's)";
const PE_SOURCE: &str = "Muon's recipe with Polar Express coefficients: ℓ = 1e-3, safety 1.01 \
    (paper's Algorithm 1)";
const MKOR_SOURCE: &str = "MKOR reference defaults for the factors (inv_freq 10, ζ 0.1, clip 100, \
    warm-up 10); the reference's Adam base (optimizer='adam', β2 0.99 as the AdamW baseline) at \
    the AdamW baseline lr: on the toy GPT it beat the default SGD base at every lr tried \
    (docs/gpt-toy.md)";
const BASELINE: &str = "registry defaults with lr = the AdamW baseline's";

/// Every optimizer, one row each.
pub static OPTIMIZERS: &[Entry] = &[
    Entry {
        name: "sgd",
        about: "SGD: momentum, dampening, Nesterov, weight decay, maximize (torch.optim.SGD)",
        router: decay_split,
        recommended: sgd_recipe,
        source: SGD_SOURCE,
        recipe: &Single::<Fused<SgdRule>>::new(SgdConfig::default),
    },
    Entry {
        name: "adam",
        about: "Adam with L2 decay, amsgrad (torch.optim.Adam)",
        router: decay_split,
        recommended: |l, t| adam_like(0.0)(l, t),
        source: "nanoGPT config/train_shakespeare_char.py (β2 0.99); lr from the sweep in docs/gpt-toy.md",
        recipe: &Single::<Fused<AdamRule>>::new(AdamConfig::adam),
    },
    Entry {
        name: "adamw",
        about: "AdamW: decoupled decay, amsgrad, maximize (torch.optim.AdamW)",
        router: decay_split,
        recommended: |l, t| adam_like(0.1)(l, t),
        source: "nanoGPT config/train_shakespeare_char.py (β2 0.99, wd 0.1); lr from the sweep in docs/gpt-toy.md",
        recipe: &Single::<Fused<AdamRule>>::new(AdamConfig::adamw),
    },
    Entry {
        name: "radam",
        about: "RAdam: Adam with the variance rectification, L2 or decoupled decay (torch.optim.RAdam)",
        router: decay_split,
        recommended: |l, t| {
            let mut v = adam_like(0.1)(l, t);
            v.push(kv("decoupled_weight_decay", "true"));
            v
        },
        source: "AdamW's recipe (β2 0.99, decoupled wd 0.1, lr = the AdamW baseline's)",
        recipe: &Single::<Fused<RAdamRule>>::new(RAdamConfig::default),
    },
    Entry {
        name: "lion",
        about: "Lion: sign of interpolated momentum (google/automl lion_pytorch.py)",
        router: decay_split,
        recommended: |l, _| vec![lr(l / 3.0), kv("weight_decay", "0.3")],
        source: "Lion paper: lr 3–10× below AdamW's, wd 3–10× above (3× here)",
        recipe: &Single::<Fused<LionRule>>::new(LionConfig::default),
    },
    Entry {
        name: "adabelief",
        about: "AdaBelief: eps inside the state, rectification, decoupled or L2 decay, amsgrad",
        router: decay_split,
        recommended: |l, _| vec![lr(l), kv("eps", "1e-16"), kv("weight_decay", "0.1")],
        source: "AdaBelief README (ε 1e-16 for transformers, decoupled wd); lr = AdamW's",
        recipe: &Single::<Fused<AdaBeliefRule>>::new(AdaBeliefConfig::default),
    },
    Entry {
        name: "adan",
        about: "Adan: three moments, proximal or decoupled decay",
        router: decay_split,
        recommended: |l, _| vec![lr(l), kv("weight_decay", "0.02")],
        source: "Adan README GPT-2 recipe (β 0.98/0.92/0.99, wd 0.02); lr = AdamW's",
        recipe: &Single::<Fused<AdanRule>>::new(AdanConfig::default),
    },
    Entry {
        name: "diffgrad",
        about: "diffGrad: Adam with the v2 friction on the gradient change",
        router: decay_split,
        recommended: baseline_lr,
        source: BASELINE,
        recipe: &Single::<Fused<DiffGradRule>>::new(DiffGradConfig::default),
    },
    Entry {
        name: "adagrad",
        about: "AdaGrad: lr_decay, initial accumulator (torch.optim.Adagrad)",
        router: decay_split,
        recommended: baseline_lr,
        source: BASELINE,
        recipe: &Single::<Fused<AdaGradRule>>::new(AdaGradConfig::default),
    },
    Entry {
        name: "sophia-g",
        about: "SophiaG: clipped sign momentum over a Gauss–Newton–Bartlett Hessian EMA",
        router: decay_split,
        recommended: |l, tokens| {
            vec![lr(l / 2.0), kv("rho", "0.03"), kv("weight_decay", "0.2"), kv("bs", tokens)]
        },
        source: "Sophia GPT-2-small config (ρ 0.03, wd 0.2, k 10, β 0.965/0.99, lr ≈ ½ AdamW's), bs = tokens per batch",
        recipe: &Single::<SophiaProgram>::new(SophiaConfig::g),
    },
    Entry {
        name: "sophia-h",
        about: "SophiaH: Sophia over a Hutchinson Hessian EMA (Gaussian probes)",
        router: decay_split,
        recommended: |l, _| vec![lr(l / 2.0)],
        source: "Sophia older reference defaults (γ 10, β 0.9/0.99, wd 1e-2, k 10), lr as SophiaG's",
        recipe: &Single::<SophiaProgram>::new(SophiaConfig::h),
    },
    Entry {
        name: "adahessian",
        about: "AdaHessian: Hutchinson diagonal from Rademacher probes, block averaging",
        router: decay_split,
        recommended: |_, _| vec![lr(0.15), kv("weight_decay", "1e-4")],
        source: "AdaHessian reference defaults (lr 0.15, β 0.9/0.999, ε 1e-4, k 1) with its image-classification wd",
        recipe: &Single::<AdaHessianProgram>::new(AdaHessianConfig::default),
    },
    Entry {
        name: "adamp",
        about: "AdamP: per-row cosine test and radial projection",
        router: decay_split,
        recommended: baseline_lr,
        source: BASELINE,
        recipe: &Single::<adamp::Projected<AdamPConfig>>::new(AdamPConfig::default),
    },
    Entry {
        name: "sgdp",
        about: "SGDP: SGD with AdamP's projection",
        router: decay_split,
        recommended: sgd_recipe,
        source: SGD_SOURCE,
        recipe: &Single::<adamp::Projected<SgdpConfig>>::new(SgdpConfig::default),
    },
    Entry {
        name: "mfac",
        about: "M-FAC (dense): a window of m gradients, Sherman–Morrison recursion",
        router: decay_split,
        recommended: |l, _| vec![lr(l), kv("ngrads", "32")],
        source: "M-FAC reference defaults except the window: m = 32 (the default 1024 gradients of 0.1 M floats exceed one GPU binding)",
        recipe: &crate::mfac::MfacRecipe,
    },
    Entry {
        name: "mkor",
        about: "MKOR: SGD-momentum (or Adam) on G⁻¹·∇W·A⁻¹, inverse Kronecker factors by rank-1 Sherman–Morrison updates",
        router: crate::mkor::router,
        recommended: mkor_recipe,
        source: MKOR_SOURCE,
        recipe: &crate::mkor::MkorRecipe,
    },
    Entry {
        name: "frugal",
        about: "FRUGAL: AdamW on a state-full subspace per matrix (columns, rows, randk, blocks or svd), signSGD elsewhere",
        router: decay_split,
        recommended: baseline_lr,
        source: BASELINE,
        recipe: &Single::<FrugalProgram>::new(FrugalConfig::default),
    },
    Entry {
        name: "muon",
        about: "Muon alone (≥2-D parameters): momentum, Newton–Schulz, shape-scaled step",
        router: muon_split,
        recommended: muon_recipe,
        source: MUON_SOURCE,
        recipe: &Single::<MuonProgram>::new(MuonConfig::default),
    },
    Entry {
        name: "root",
        about: "ROOT alone (≥2-D parameters): sum momentum, exact quantile clamp, per-shape NS",
        router: root_split,
        recommended: baseline_lr,
        source: ROOT_SOURCE,
        recipe: &Single::<MuonProgram>::new(MuonConfig::root),
    },
    Entry {
        name: "polar-express",
        about: "Muon with Polar Express coefficients (≥2-D parameters)",
        router: muon_split,
        recommended: muon_recipe,
        source: PE_SOURCE,
        recipe: &Single::<MuonProgram>::new(polar_express),
    },
    Entry {
        name: "sinkgd",
        about: "SinkGD alone (≥2-D parameters): stateless row/column normalisation",
        router: sinkgd_split,
        recommended: |_, _| Vec::new(),
        source: "SinkGD defaults (lr 0.02, α 0.05, L = 5)",
        recipe: &Single::<SinkGdProgram>::new(SinkGdConfig::default),
    },
    Entry {
        name: "muon+adamw",
        about: "Muon on hidden matrices, AdamW on embeddings, head and 1-D parameters",
        router: muon_split,
        recommended: muon_hybrid,
        source: MUON_SOURCE,
        recipe: &Pair::<MuonProgram, Fused<AdamRule>>::new(
            MuonConfig::default,
            AdamConfig::adamw,
            ("muon", "adamw"),
            false,
        ),
    },
    Entry {
        name: "root+adamw",
        about: "ROOT on 2-D hidden weights, its AdamW fallback on the rest (one lr for both)",
        router: root_split,
        recommended: root_hybrid,
        source: ROOT_SOURCE,
        recipe: &Pair::<MuonProgram, Fused<AdamRule>>::new(
            MuonConfig::root,
            AdamConfig::root_fallback,
            ("muon", "adamw"),
            true,
        ),
    },
    Entry {
        name: "polar-express+adamw",
        about: "Polar Express Muon on hidden matrices, AdamW on the rest",
        router: muon_split,
        recommended: muon_hybrid,
        source: PE_SOURCE,
        recipe: &Pair::<MuonProgram, Fused<AdamRule>>::new(
            polar_express,
            AdamConfig::adamw,
            ("muon", "adamw"),
            false,
        ),
    },
    Entry {
        name: "sinkgd+adamw",
        about: "SinkGD on hidden matrices, AdamW on the rest (the paper's recipe)",
        router: sinkgd_split,
        recommended: sinkgd_hybrid,
        source: "SinkGD defaults (lr 0.02, α 0.05, L = 5); AdamW part as the AdamW baseline",
        recipe: &Pair::<SinkGdProgram, Fused<AdamRule>>::new(
            SinkGdConfig::default,
            AdamConfig::adamw,
            ("sinkgd", "adamw"),
            false,
        ),
    },
];
