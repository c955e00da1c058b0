//! The curvature estimates the training loop feeds Sophia and AdaHessian.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use toygpt::curvature::{hvp, sample_labels};
use toygpt::{Activations, Batch, Gpt, GptConfig};

fn cfg() -> GptConfig {
    GptConfig {
        vocab: 11,
        context: 8,
        n_layer: 1,
        n_head: 2,
        n_embd: 8,
    }
}

fn batch() -> Batch {
    Batch {
        tokens: (0..16u32).map(|i| (i * 7 + 1) % 11).collect(),
        targets: (0..16u32).map(|i| (i * 5 + 3) % 11).collect(),
    }
}

fn direction<F: toygpt::Real>(model: &Gpt<F>, salt: f64) -> Vec<Vec<F>> {
    model
        .params
        .iter()
        .enumerate()
        .map(|(j, p)| {
            (0..p.len())
                .map(|i| F::c(((i as f64 + 1.3 * j as f64 + salt) * 0.91).sin()))
                .collect()
        })
        .collect()
}

fn dot<F: toygpt::Real>(a: &[Vec<F>], b: &[Vec<F>]) -> f64 {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| x.to_f64().unwrap() * y.to_f64().unwrap())
        .sum()
}

/// f64 central differences (step ≈ 3e-8·(1+‖θ‖)/‖v‖) are accurate to ~1e-7 relative, so
/// they serve as the exact H·v: the Hessian is symmetric (uᵀHv = vᵀHu to 1e-5 relative), and
/// the f32 product the trainer uses agrees with the f64 one to 1e-2 relative in norm (it
/// measures ≈ 3e-3 here; a wrong sign or step shows as O(1), the cube-root step as 0.14).
#[test]
fn finite_difference_hvp_is_symmetric_and_f32_matches_f64() {
    let c = cfg();
    let m32: Gpt<f32> = Gpt::new(c, 5).unwrap();
    let m64: Gpt<f64> = m32.cast();
    let b = batch();
    let mut acts64 = Activations::new(&c, 2, 8);
    let (u, v) = (direction(&m64, 0.0), direction(&m64, 2.0));
    let mut scratch = m64.clone();
    let mut hu = m64.zeros_like();
    let mut hv = m64.zeros_like();
    hvp(&m64, &mut scratch, &mut acts64, &b, &u, &mut hu).unwrap();
    hvp(&m64, &mut scratch, &mut acts64, &b, &v, &mut hv).unwrap();
    let (uhv, vhu) = (dot(&u, &hv), dot(&v, &hu));
    assert!(
        (uhv - vhu).abs() <= 1e-5 * uhv.abs().max(vhu.abs()),
        "uᵀHv {uhv} vs vᵀHu {vhu}"
    );
    assert!(dot(&hu, &hu) > 0.0);

    let mut acts32 = Activations::new(&c, 2, 8);
    let u32: Vec<Vec<f32>> = direction(&m32, 0.0);
    let mut scratch32 = m32.clone();
    let mut hu32 = m32.zeros_like();
    hvp(&m32, &mut scratch32, &mut acts32, &b, &u32, &mut hu32).unwrap();
    let diff: f64 = hu32
        .iter()
        .flatten()
        .zip(hu.iter().flatten())
        .map(|(&a, &b)| (a as f64 - b).powi(2))
        .sum::<f64>()
        .sqrt();
    let rel = diff / dot(&hu, &hu).sqrt();
    println!("f32 vs f64 H·u: {rel:e} relative");
    assert!(rel < 1e-2, "f32 H·u off by {rel:e} relative");
}

/// Sampled labels follow the model's softmax: over 16 rows × 4000 draws each symbol's
/// frequency is within 5 standard errors of its mean probability.
#[test]
fn sampled_labels_follow_the_softmax() {
    let c = cfg();
    let mut model: Gpt<f64> = Gpt::<f32>::new(c, 9).unwrap().cast();
    for x in model.params[0].iter_mut() {
        *x *= 40.0; // sharpen the softmax so the frequencies differ
    }
    let b = batch();
    let mut acts = Activations::new(&c, 2, 8);
    model.forward(&mut acts, &b.tokens, &b.targets).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let draws = 4000;
    let mut counts = [0usize; 11];
    let mut expected = [0.0f64; 11];
    for _ in 0..draws {
        for y in sample_labels(&acts, 11, &mut rng) {
            counts[y as usize] += 1;
        }
    }
    for row in acts.probs.chunks_exact(11) {
        for (e, p) in expected.iter_mut().zip(row) {
            *e += p * draws as f64;
        }
    }
    let n = (draws * 16) as f64;
    for (k, (&got, &want)) in counts.iter().zip(&expected).enumerate() {
        let p = want / n;
        let se = (n * p * (1.0 - p)).sqrt().max(1.0);
        assert!(
            (got as f64 - want).abs() < 5.0 * se,
            "symbol {k}: {got} draws, expected {want:.0}"
        );
    }
}
