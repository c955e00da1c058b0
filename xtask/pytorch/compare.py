"""PyTorch beside `cargo xtask bench-gpu`, on the same GPU: the same kernels and sizes.

Run on a machine with CUDA and PyTorch:  python3 xtask/pytorch/compare.py [--quick] [--solvers]
(--solvers: only the rows beside bench-gpu's sketch section: dense least squares by QR,
a CG iteration's matrix-vector product, block Kaczmarz steps)
Prints a markdown table (median of repeats, CUDA events). Rows mirror bench-gpu's:
copy bandwidth, fused elementwise optimizers at 1M/16M/64M parameters (torch's fused=True
kernels where torch has them, foreach otherwise), GEMM and Newton-Schulz (5 iterations, Muon's
quintic) in fp32 with TF32 off (what wgopt computes) and in bf16 (what Muon's reference runs),
and a GPT-2-small AdamW step.
"""
import sys
import torch

QUICK = "--quick" in sys.argv
SOLVERS = "--solvers" in sys.argv
REPEATS = 3 if QUICK else 10
dev = "cuda"
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False


def timed(fn, repeats=REPEATS, warmup=2):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b) * 1e3)  # µs
    times.sort()
    return times[len(times) // 2]


def solvers():
    """Dense baselines for bench-gpu's sketched-solve rows, same shapes, uniform(-½, ½) data."""
    import time
    m, n = (4096, 128) if QUICK else (65536, 1024)
    g = torch.Generator(device=dev).manual_seed(1)
    print("| case | ms | detail |\n|---|---|---|")
    for dt, name in [(torch.float32, "fp32"), (torch.float64, "fp64")]:
        A = torch.rand(m, n, device=dev, dtype=dt, generator=g) - 0.5
        xs = torch.rand(n, device=dev, dtype=dt, generator=g) - 0.5
        b = A @ xs
        # torch.linalg.lstsq on CUDA: driver "gels" (Householder QR, cuSOLVER/MAGMA).
        us = timed(lambda: torch.linalg.lstsq(A, b.unsqueeze(1)), repeats=min(REPEATS, 5))
        x = torch.linalg.lstsq(A, b.unsqueeze(1)).solution.squeeze(1)
        res = ((A @ x - b).norm() / b.norm()).item()
        print(f"| torch.linalg.lstsq {m}×{n} {name} (QR, gels) | {us / 1e3:.2f} | ‖Ax−b‖/‖b‖ {res:.1e} |")

        def qr_solve():
            Q, R = torch.linalg.qr(A)
            return torch.linalg.solve_triangular(R, (Q.T @ b).unsqueeze(1), upper=True)

        us = timed(qr_solve, repeats=min(REPEATS, 5))
        print(f"| torch.linalg.qr + triangular solve {m}×{n} {name} | {us / 1e3:.2f} | |")
        del A, b
        torch.cuda.empty_cache()
    # One CG iteration's product on the Nyström row's matrix size.
    nn = 256 if QUICK else 8192
    K = torch.rand(nn, nn, device=dev, generator=g) - 0.5
    v = torch.rand(nn, device=dev, generator=g)
    us = timed(lambda: K @ v)
    print(f"| fp32 matrix-vector product {nn}×{nn} (one CG iteration's product) | {us / 1e3:.3f} | {8 * nn * nn / us / 1e3:.0f} GB/s |")
    del K
    # Block Kaczmarz as bench-gpu runs it: contiguous blocks of q rows, their Cholesky
    # factors made once (batched), then per step a random block: r = b_τ − A_τ x,
    # y = (A_τ A_τᵀ)⁻¹ r, x += A_τᵀ y. Each step is a few small kernels launched from Python.
    km, kn, q = (2048, 128, 32) if QUICK else (65536, 1024, 32)
    A = torch.rand(km, kn, device=dev, generator=g) - 0.5
    b = torch.rand(km, device=dev, generator=g) - 0.5
    blocks = km // q
    Ab = A.view(blocks, q, kn)
    L = torch.linalg.cholesky(Ab @ Ab.transpose(1, 2))
    x = torch.zeros(kn, device=dev)
    steps = 2000
    picks = torch.randint(0, blocks, (steps,), generator=torch.Generator().manual_seed(3)).tolist()

    def kaczmarz():
        nonlocal x
        for t in picks:
            S = Ab[t]
            r = b[t * q:(t + 1) * q] - S @ x
            y = torch.cholesky_solve(r.unsqueeze(1), L[t])
            x = x + S.T @ y.squeeze(1)

    kaczmarz()  # warm-up
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    kaczmarz()
    torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    print(f"| block Kaczmarz {km}×{kn}, q = {q}, torch ops | {secs * 1e3:.1f} | {steps * q / secs:.3e} rows/s, {secs / steps * 1e6:.1f} µs/step |")


rows = []
print(f"# PyTorch {torch.__version__} on {torch.cuda.get_device_name()}\n")
if SOLVERS:
    solvers()
    sys.exit(0)
n = 64 << 20
x = torch.randn(n, device=dev)
y = torch.empty_like(x)
copy_us = timed(lambda: y.copy_(x))
copy_gbps = 8 * n / copy_us / 1e3
print(f"| copy {n} floats | {copy_us:.1f} µs | {copy_gbps:.1f} GB/s |\n")
del x, y


def optim_row(name, make, bytes_per_param, n):
    p = torch.nn.Parameter(torch.randn(n, device=dev))
    p.grad = torch.randn(n, device=dev) * 0.01
    opt = make([p])
    us = timed(opt.step)
    gbps = bytes_per_param * n / us / 1e3
    rows.append((name, n, bytes_per_param, us, gbps, gbps / copy_gbps))


def adan_step(params, state, lr=1e-3, b=(0.98, 0.92, 0.99), eps=1e-8):
    # Hand-written foreach Adan (torch has none): the same math as sail-sg/Adan's foreach path.
    for p in params:
        st = state.setdefault(p, {})
        if not st:
            st["m"] = torch.zeros_like(p); st["v"] = torch.zeros_like(p)
            st["n"] = torch.zeros_like(p); st["prev"] = p.grad.clone(); st["t"] = 0
        st["t"] += 1
        g = p.grad
        d = g - st["prev"]
        st["m"].mul_(b[0]).add_(g, alpha=1 - b[0])
        st["v"].mul_(b[1]).add_(d, alpha=1 - b[1])
        z = g + b[1] * d
        st["n"].mul_(b[2]).addcmul_(z, z, value=1 - b[2])
        denom = st["n"].sqrt().add_(eps)
        p.data.addcdiv_(st["m"], denom, value=-lr).addcdiv_(st["v"], denom, value=-lr * b[1])
        st["prev"].copy_(g)


class Adan:
    def __init__(self, params):
        self.params, self.state = params, {}

    def step(self):
        adan_step(self.params, self.state)


sizes = [1 << 20] if QUICK else [1 << 20, 16 << 20, 64 << 20]
for n in sizes:
    optim_row("sgd (momentum, foreach)", lambda ps: torch.optim.SGD(ps, lr=1e-2, momentum=0.9, foreach=True), 20, n)
    optim_row("sgd (momentum, fused)", lambda ps: torch.optim.SGD(ps, lr=1e-2, momentum=0.9, fused=True), 20, n)
    optim_row("adamw (foreach)", lambda ps: torch.optim.AdamW(ps, lr=1e-3, foreach=True), 28, n)
    optim_row("adamw (fused)", lambda ps: torch.optim.AdamW(ps, lr=1e-3, fused=True), 28, n)
    optim_row("adagrad (foreach)", lambda ps: torch.optim.Adagrad(ps, lr=1e-2, foreach=True), 20, n)
    optim_row("adan (hand-written torch ops)", Adan, 44, n)
    torch.cuda.empty_cache()

print("| optimizer | params | bytes/param | µs | GB/s | ÷ copy |\n|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.2f} |")

# GPT-2-small AdamW: 148 tensors, fused kernel, decay / no_decay groups, clip 1.0.
shapes = [(50257, 768), (1024, 768)]
for _ in range(12):
    shapes += [(768,), (768,), (768, 2304), (2304,), (768, 768), (768,), (768,), (768,),
               (768, 3072), (3072,), (3072, 768), (768,)]
shapes += [(768,), (768,)]
ps = [torch.nn.Parameter(torch.randn(s, device=dev) * 0.02) for s in shapes]
for p in ps:
    p.grad = torch.randn_like(p) * 1e-3
decay = [p for p in ps if p.dim() >= 2]
no_decay = [p for p in ps if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                        lr=6e-4, fused=True)


def gpt2_step():
    torch.nn.utils.clip_grad_norm_(ps, 1.0, foreach=True)
    opt.step()


us = timed(gpt2_step)
print(f"\nGPT-2-small AdamW step ({len(ps)} tensors, {sum(p.numel() for p in ps)} params, fused, clip 1.0): {us:.1f} µs\n")
del ps, opt
torch.cuda.empty_cache()

a, b, c = (3.4445, -4.7750, 2.0315)


def ns5(G, dtype):
    X = G.to(dtype)
    X = X / (X.norm() + 1e-7)
    for _ in range(5):
        A = X @ X.T
        B = b * A + c * A @ A
        X = a * X + B @ X
    return X


print("| kernel | shape | µs | TFLOP/s |\n|---|---|---|---|")
for n in ([1024] if QUICK else [1024, 2048, 4096]):
    A = torch.randn(n, n, device=dev)
    us = timed(lambda: A @ A)
    print(f"| gemm fp32 (no TF32) | {n}³ | {us:.1f} | {2 * n**3 / us / 1e6:.2f} |")
    Ab = A.bfloat16()
    us = timed(lambda: Ab @ Ab)
    print(f"| gemm bf16 | {n}³ | {us:.1f} | {2 * n**3 / us / 1e6:.2f} |")
    flops = 5 * (2 * n**3 + 2 * n**3 + 2 * n**3)
    for dt, name in [(torch.float32, "fp32"), (torch.bfloat16, "bf16")]:
        us = timed(lambda: ns5(A, dt), repeats=min(REPEATS, 5))
        print(f"| ns5 {name} | {n}x{n} | {us:.1f} | {flops / us / 1e6:.2f} |")
# GPT-2-small hidden matrices, 12 of each shape, one NS5 each (the Muon reference's loop).
d = 768
mats = [torch.randn(r, c_, device=dev) for (r, c_) in [(d, 3 * d), (d, d), (d, 4 * d), (4 * d, d)] for _ in range(12)]


def muon_set(dt):
    for G in mats:
        X = G if G.shape[0] <= G.shape[1] else G.T
        ns5(X, dt)


for dt, name in [(torch.float32, "fp32"), (torch.bfloat16, "bf16")]:
    us = timed(lambda: muon_set(dt), repeats=min(REPEATS, 5))
    print(f"| ns5 {name} | GPT-2 d=768: 48 matrices | {us:.1f} | |")
