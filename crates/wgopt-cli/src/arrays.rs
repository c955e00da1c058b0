//! Reading input arrays from files a user (or an attacker) hands the CLI, without trusting
//! any size the file declares: a `.npy` header's shape is checked (with overflow-checked
//! products) against the bytes actually present before anything is allocated from it, and an
//! `.npz` archive's entries are expanded through a bound, so a small file that claims or
//! inflates to gigabytes is refused with a message, never an allocation abort.

use anyhow::{bail, Context, Result};
use ndarray::ArrayD;
use ndarray_npy::npy::header::Header;
use ndarray_npy::ReadNpyExt;
use std::io::Read;
use std::path::Path;

/// An array as (shape, f32 values).
pub type Array = (Vec<usize>, Vec<f32>);

/// Most bytes one input may expand to in memory: `WGOPT_MAX_INPUT_BYTES`, else 4 GiB.
pub fn max_input_bytes() -> u64 {
    std::env::var("WGOPT_MAX_INPUT_BYTES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(4 << 30)
}

/// Reads a whole file, refusing one larger than [`max_input_bytes`] before reading it.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if len > max_input_bytes() {
        bail!(
            "{} is {len} bytes, over the input limit of {} bytes (WGOPT_MAX_INPUT_BYTES)",
            path.display(),
            max_input_bytes()
        );
    }
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Bytes per element of the f32 or f64 little-endian dtypes, from a header's descriptor.
fn element_bytes(header: &Header, what: &str) -> Result<usize> {
    // The descriptor is a Python literal; its text form is e.g. '<f4'.
    let d = header.type_descriptor.to_string();
    match d.trim_matches(|c| c == '\'' || c == '"') {
        "<f4" | "=f4" => Ok(4),
        "<f8" | "=f8" => Ok(8),
        _ => bail!("{what}: dtype {d} is not supported (little-endian f32 or f64)"),
    }
}

/// Parses one `.npy` image held in memory, checking its declared size against `bytes` first.
pub fn parse_npy(bytes: &[u8], what: &str) -> Result<Array> {
    let mut cursor = bytes;
    let header = Header::from_reader(&mut cursor)
        .with_context(|| format!("{what} is not a .npy array (bad header)"))?;
    let size = element_bytes(&header, what)?;
    let declared = header
        .shape
        .iter()
        .try_fold(size, |n, &d| n.checked_mul(d))
        .with_context(|| format!("{what}: shape {:?} overflows", header.shape))?;
    if declared != cursor.len() {
        bail!(
            "{what}: the header declares shape {:?} ({declared} bytes of data) but the file holds \
             {} bytes after the header (truncated or corrupt)",
            header.shape,
            cursor.len()
        );
    }
    let (shape, values) = if size == 4 {
        let a = ArrayD::<f32>::read_npy(bytes).with_context(|| format!("reading {what}"))?;
        (a.shape().to_vec(), a.iter().copied().collect())
    } else {
        let a = ArrayD::<f64>::read_npy(bytes).with_context(|| format!("reading {what}"))?;
        (a.shape().to_vec(), a.iter().map(|&v| v as f32).collect())
    };
    Ok((shape, values))
}

/// Every array of an `.npz` archive (keys without the `.npy` suffix), each entry expanded
/// through a bound so the total never passes [`max_input_bytes`].
pub fn read_npz(path: &Path) -> Result<Vec<(String, Array)>> {
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    read_npz_from(file, path)
}

/// As [`read_npz`], from any seekable reader (`path` names it in messages).
pub fn read_npz_from(
    reader: impl std::io::Read + std::io::Seek,
    path: &Path,
) -> Result<Vec<(String, Array)>> {
    read_npz_bounded(reader, path, max_input_bytes())
}

/// As [`read_npz_from`] with an explicit bound on the total expanded bytes.
pub fn read_npz_bounded(
    reader: impl std::io::Read + std::io::Seek,
    path: &Path,
    limit: u64,
) -> Result<Vec<(String, Array)>> {
    let mut zip = zip::ZipArchive::new(reader)
        .with_context(|| format!("{} is not an .npz archive", path.display()))?;
    let mut budget = limit;
    let mut out = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .with_context(|| format!("{}: entry {i} is unreadable", path.display()))?;
        let name = entry.name().to_string();
        let key = name.strip_suffix(".npy").unwrap_or(&name).to_string();
        let what = format!("{}:{name}", path.display());
        let mut bytes = Vec::new();
        // Never trust the declared size: read at most the budget plus one byte.
        (&mut entry)
            .take(budget.saturating_add(1))
            .read_to_end(&mut bytes)
            .with_context(|| format!("{what}: cannot expand"))?;
        if bytes.len() as u64 > budget {
            bail!(
                "{}: expands past the input limit of {limit} bytes (WGOPT_MAX_INPUT_BYTES)",
                path.display()
            );
        }
        budget -= bytes.len() as u64;
        out.push((key, parse_npy(&bytes, &what)?));
    }
    Ok(out)
}

/// The hand-built `.npy` images the end-to-end tests use too.
#[cfg(test)]
#[path = "../tests/common/npy.rs"]
mod npy_image;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) use super::npy_image::npy;

    #[test]
    fn declared_sizes_are_checked_against_the_bytes_present() {
        let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let (s, v) = parse_npy(&npy("<f4", "(2, 3)", &data), "ok").unwrap();
        assert_eq!((s, v), (vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
        let d64: Vec<u8> = [0.5f64, 1.5].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(
            parse_npy(&npy("<f8", "(2,)", &d64), "f64").unwrap().1,
            vec![0.5, 1.5]
        );
        // A 144-byte file claiming 4 TiB, a shape whose product overflows, a truncated one.
        let e = parse_npy(&npy("<f4", "(1048576, 1048576)", &[0; 16]), "huge").unwrap_err();
        assert!(
            format!("{e:#}").contains("declares shape [1048576, 1048576]"),
            "{e:#}"
        );
        let e = parse_npy(&npy("<f4", "(4294967296, 4294967296, 16)", &[]), "wrap").unwrap_err();
        assert!(format!("{e:#}").contains("overflows"), "{e:#}");
        let e = parse_npy(&npy("<f4", "(2, 3)", &data[..20]), "cut").unwrap_err();
        assert!(format!("{e:#}").contains("truncated"), "{e:#}");
        let e = parse_npy(&npy("<i4", "(2,)", &[0; 8]), "int").unwrap_err();
        assert!(format!("{e:#}").contains("dtype"), "{e:#}");
        let e = parse_npy(b"\x93NUMPY\x01", "junk").unwrap_err();
        assert!(format!("{e:#}").contains("bad header"), "{e:#}");
    }

    /// An .npz image with the given (name, .npy bytes) entries, deflated.
    pub(crate) fn npz(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn archives_are_expanded_through_a_bound() {
        // 4 MiB of zeros deflates to a few KiB: refused at a 1 MiB bound after reading at most
        // 1 MiB + 1 byte of it, accepted under a 16 MiB one.
        let zeros = npy("<f4", "(1048576,)", &vec![0u8; 4 << 20]);
        let archive = npz(&[("cost.npy", zeros)]);
        assert!(archive.len() < 64 << 10, "{} bytes", archive.len());
        let path = Path::new("bomb.npz");
        let e = read_npz_bounded(std::io::Cursor::new(&archive), path, 1 << 20).unwrap_err();
        assert!(format!("{e:#}").contains("expands past"), "{e:#}");
        let ok = read_npz_bounded(std::io::Cursor::new(&archive), path, 16 << 20).unwrap();
        assert_eq!(
            (ok[0].0.as_str(), ok[0].1 .0.clone()),
            ("cost", vec![1048576])
        );
    }
}
