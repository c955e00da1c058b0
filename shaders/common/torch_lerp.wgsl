// torch.lerp(start, end, w) for a uniform weight: `start + w·(end − start)` for w < 0.5,
// `end − (end − start)·(1 − w)` otherwise (torch's two branches). Reference twin:
// wgopt_reference::optim::muon::lerp.
fn torch_lerp(start: vec4<f32>, end: vec4<f32>, w: f32) -> vec4<f32> {
    if (w < 0.5) {
        return start + w * (end - start);
    }
    return end - (end - start) * (1.0 - w);
}
