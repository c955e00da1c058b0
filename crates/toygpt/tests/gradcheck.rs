//! The hand-written backward pass against central finite differences, in f64.

use toygpt::{Activations, Gpt, GptConfig};

fn tiny() -> GptConfig {
    GptConfig {
        vocab: 7,
        context: 5,
        n_layer: 2,
        n_head: 2,
        n_embd: 6,
    }
}

/// Every parameter of every tensor, f64: the central difference with h = 1e-5 has truncation
/// error O(h²·|f'''|) ≈ 1e-10 and rounding error O(ε/h) ≈ 1e-11 on a loss of order 1, so
/// analytic and numeric gradients agree to 1e-7 absolute + 1e-5 relative unless the backward
/// is wrong (a wrong term shows up at 1e-3 or more).
#[test]
fn backward_matches_finite_differences_for_every_parameter() {
    let cfg = tiny();
    let mut model: Gpt<f64> = Gpt::<f32>::new(cfg, 3).unwrap().cast();
    // Larger weights than GPT-2's 0.02 so every path carries signal.
    for p in model.params.iter_mut() {
        for (i, x) in p.iter_mut().enumerate() {
            *x += 0.3 * ((i as f64 * 0.7).sin());
        }
    }
    let (b, t) = (2, 4);
    let tokens: Vec<u32> = vec![1, 5, 2, 6, 0, 3, 3, 4];
    let targets: Vec<u32> = vec![5, 2, 6, 0, 3, 3, 4, 1];
    let mut acts = Activations::new(&cfg, b, t);
    model.forward(&mut acts, &tokens, &targets).unwrap();
    let mut grads = model.zeros_like();
    model
        .backward(&mut acts, &tokens, &targets, &mut grads)
        .unwrap();
    let names = toygpt::param_specs(&cfg);
    let h = 1e-5;
    let mut checked = 0;
    for (pi, (name, _)) in names.iter().enumerate() {
        for (i, &analytic) in grads[pi].iter().enumerate() {
            let x0 = model.params[pi][i];
            model.params[pi][i] = x0 + h;
            let lp = model.forward(&mut acts, &tokens, &targets).unwrap();
            model.params[pi][i] = x0 - h;
            let lm = model.forward(&mut acts, &tokens, &targets).unwrap();
            model.params[pi][i] = x0;
            let numeric = (lp - lm) / (2.0 * h);
            assert!(
                (numeric - analytic).abs() <= 1e-7 + 1e-5 * numeric.abs(),
                "{name}[{i}]: analytic {analytic:e} vs numeric {numeric:e}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, model.num_params());
    // wpe rows past t are unused: their gradient must be exactly zero, and other tensors not.
    let wpe = &grads[1];
    assert!(wpe[t * cfg.n_embd..].iter().all(|&g| g == 0.0));
    assert!(grads.iter().all(|g| g.iter().any(|&x| x != 0.0)));
}

/// At GPT-2's initialisation the logits are near zero, so the loss is ≈ ln(vocab).
#[test]
fn initial_loss_is_near_ln_vocab() {
    let cfg = GptConfig::toy(65);
    let model: Gpt<f32> = Gpt::new(cfg, 1).unwrap();
    let mut acts = Activations::new(&cfg, 2, cfg.context);
    let tokens: Vec<u32> = (0..2 * cfg.context as u32).map(|i| (i * 7) % 65).collect();
    let targets: Vec<u32> = (0..2 * cfg.context as u32)
        .map(|i| (i * 11 + 3) % 65)
        .collect();
    let loss = model.forward(&mut acts, &tokens, &targets).unwrap();
    let ln_v = (65f32).ln();
    assert!((loss - ln_v).abs() < 0.05, "loss {loss} vs ln 65 = {ln_v}");
}

#[test]
fn out_of_range_tokens_are_errors() {
    let cfg = tiny();
    let model: Gpt<f32> = Gpt::new(cfg, 1).unwrap();
    let mut acts = Activations::new(&cfg, 1, 2);
    let err = model.forward(&mut acts, &[1, 9], &[1, 2]).unwrap_err();
    assert!(matches!(
        err,
        toygpt::Error::TokenOutOfRange { token: 9, vocab: 7 }
    ));
    assert!(Gpt::<f32>::new(GptConfig { n_head: 4, ..cfg }, 1).is_err());
}
