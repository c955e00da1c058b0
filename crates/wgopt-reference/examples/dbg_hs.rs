use wgopt_reference::constrained::problems::test_set;
use wgopt_reference::constrained::{solve, KktMethod, Options, Problem};
fn main() {
    let name = std::env::args().nth(1).unwrap();
    let thr: f64 = std::env::args().nth(2).map(|s| s.parse().unwrap()).unwrap_or(1e-2);
    for tp in test_set() {
        if tp.problem.name() != name { continue; }
        let opts = Options { method: KktMethod::Direct, kkt_tol: 1e-9, max_iter: 40, licq_threshold: thr, ..Options::default() };
        match solve(tp.problem.as_ref(), &opts) {
            Ok(r) => println!("ok {} f {}", r.iterations, r.objective),
            Err(e) => println!("err {e}"),
        }
    }
}
