//! A `.npy` image built by hand (shared by the CLI's unit and end-to-end tests, so a header
//! can declare any shape over any bytes).

/// `.npy` version 1.0 bytes: a header with `descr` and `shape` (Python tuple text), padded to
/// 64 bytes as NumPy writes it, then `data` as given.
pub fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (h.len() + 11) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend((h.len() as u16).to_le_bytes());
    v.extend(h.as_bytes());
    v.extend(data);
    v
}
