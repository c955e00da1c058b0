//! Output files that are never half-written: [`write_atomic`] writes a temporary file beside
//! the target, syncs it and renames it over the target, so a crash or an error midway leaves
//! the old file (or none), never a truncated one. Only a regular file (or nothing) is
//! replaced: a directory, a device node or a socket at the path is refused, and a symlink is
//! followed to the regular file it names, which is replaced while the link stays. A replaced
//! file keeps its permissions; a new one gets the process umask's default, as `File::create`.
//!
//! Checkpoints are *sealed*: [`seal`] adds a CRC-32 of every tensor's bytes
//! (`crc32.<tensor>`) and of the other metadata (`crc32.__metadata__`) to a safetensors
//! header, and [`verify_sealed`] refuses a file whose bytes no longer match, naming the
//! tensor, before anything is restored from it.

use crate::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Prefix of the checksum entries in a safetensors `__metadata__`.
pub const CHECKSUM_PREFIX: &str = "crc32.";
const META_KEY: &str = "crc32.__metadata__";

/// CRC-32 of `bytes` as 8 hex digits.
pub fn checksum(bytes: &[u8]) -> String {
    format!("{:08x}", crc32fast::hash(bytes))
}

/// CRC-32 of the metadata entries that are not checksums, in key order.
fn metadata_checksum(meta: &std::collections::HashMap<String, String>) -> String {
    let mut keys: Vec<&String> = meta
        .keys()
        .filter(|k| !k.starts_with(CHECKSUM_PREFIX))
        .collect();
    keys.sort();
    let mut h = crc32fast::Hasher::new();
    for k in keys {
        h.update(k.as_bytes());
        h.update(b"=");
        h.update(meta[k].as_bytes());
        h.update(b"\n");
    }
    format!("{:08x}", h.finalize())
}

/// Replaces any checksums in `meta` by those of `tensors` (name, little-endian bytes) and of
/// the rest of `meta`.
pub fn seal<'a>(
    meta: &mut std::collections::HashMap<String, String>,
    tensors: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) {
    meta.retain(|k, _| !k.starts_with(CHECKSUM_PREFIX));
    let sums: Vec<(String, String)> = tensors
        .into_iter()
        .map(|(n, b)| (format!("{CHECKSUM_PREFIX}{n}"), checksum(b)))
        .collect();
    let whole = metadata_checksum(meta);
    meta.extend(sums);
    meta.insert(META_KEY.into(), whole);
}

/// Checks a sealed safetensors file: every tensor and the metadata against their checksums.
/// `Ok(false)` for a file with no checksums at all (written before sealing existed), which
/// the caller may accept; an error naming the tensor for any mismatch or a missing sum.
pub fn verify_sealed(bytes: &[u8]) -> Result<bool> {
    let bad = |m: String| Error::Checkpoint(m);
    let file = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| bad(format!("not a readable safetensors file: {e}")))?;
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| bad(format!("not a readable safetensors file: {e}")))?;
    let meta = header.metadata().clone().unwrap_or_default();
    let Some(want) = meta.get(META_KEY) else {
        return match meta.keys().find(|k| k.starts_with(CHECKSUM_PREFIX)) {
            Some(k) => Err(bad(format!(
                "checksum {k:?} is present but {META_KEY:?} is not"
            ))),
            None => Ok(false),
        };
    };
    if *want != metadata_checksum(&meta) {
        return Err(bad(
            "the metadata does not match its checksum: the file is corrupted".into(),
        ));
    }
    for (name, view) in file.tensors() {
        let got = checksum(view.data());
        match meta.get(&format!("{CHECKSUM_PREFIX}{name}")) {
            Some(w) if *w == got => {}
            Some(w) => {
                return Err(bad(format!(
                    "tensor {name:?} does not match its checksum (stored {w}, computed {got}): \
                     the file is corrupted"
                )))
            }
            None => return Err(bad(format!("tensor {name:?} has no checksum"))),
        }
    }
    Ok(true)
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The regular file `path` names (following symlinks), or `path` itself when nothing is
/// there; an error for a directory, a device, a FIFO, a socket or a dangling link.
pub fn output_target(path: &Path) -> Result<PathBuf> {
    let meta = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(path.to_path_buf()),
        Err(e) => return Err(io(path, e)),
        Ok(m) => m,
    };
    let target = if meta.file_type().is_symlink() {
        std::fs::canonicalize(path).map_err(|e| io(path, e))?
    } else {
        path.to_path_buf()
    };
    let kind = std::fs::metadata(&target)
        .map_err(|e| io(path, e))?
        .file_type();
    if !kind.is_file() {
        return Err(Error::InvalidInput(format!(
            "output {} is not a regular file ({}); refusing to replace it",
            path.display(),
            if kind.is_dir() {
                "a directory"
            } else {
                "a device, FIFO or socket"
            }
        )));
    }
    Ok(target)
}

/// Writes `bytes` to `path` atomically (temporary file beside it, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// As [`write_atomic`], with the content produced by `fill` into the temporary file.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<()> {
    let target = output_target(path)?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp.{}.{n}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        fill(&mut f)?;
        if let Ok(old) = std::fs::metadata(&target) {
            f.set_permissions(old.permissions())?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, &target)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(path, e));
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("wgopt-files-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn replaces_regular_files_keeping_permissions_and_follows_links() {
        let d = scratch("regular");
        let f = d.join("out.bin");
        write_atomic(&f, b"one").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&f, b"two").unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"two");
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let link = d.join("link.bin");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        write_atomic(&link, b"three").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&f).unwrap(), b"three");
        // Nothing temporary is left behind.
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 2);
    }

    #[test]
    fn sealed_files_refuse_any_flipped_byte_naming_the_tensor() {
        use safetensors::tensor::{Dtype, TensorView};
        let a: Vec<u8> = [1.0f32, 2.0, 3.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let b: Vec<u8> = [4.0f32].iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut meta = std::collections::HashMap::from([("lr".to_string(), "0.1".to_string())]);
        seal(&mut meta, [("a", &a[..]), ("b", &b[..])]);
        let views = vec![
            ("a", TensorView::new(Dtype::F32, vec![3], &a).unwrap()),
            ("b", TensorView::new(Dtype::F32, vec![1], &b).unwrap()),
        ];
        let bytes = safetensors::serialize(views, Some(meta)).unwrap();
        assert!(verify_sealed(&bytes).unwrap());
        let data_start = bytes.len() - a.len() - b.len();
        for i in 0..a.len() + b.len() {
            let mut c = bytes.clone();
            c[data_start + i] ^= 0x10;
            let e = verify_sealed(&c).unwrap_err().to_string();
            let name = if i < a.len() { "\"a\"" } else { "\"b\"" };
            assert!(e.contains(name) && e.contains("checksum"), "byte {i}: {e}");
        }
        // The metadata: "0.1" → "0.3" in the header.
        let mut edited = bytes.clone();
        let at = edited.windows(5).position(|w| w == b"\"0.1\"").unwrap();
        edited[at + 3] = b'3';
        let e = verify_sealed(&edited).unwrap_err().to_string();
        assert!(e.contains("metadata"), "{e}");
        // An unsealed file is reported as such, not refused.
        let plain = safetensors::serialize(
            vec![("a", TensorView::new(Dtype::F32, vec![3], &a).unwrap())],
            None,
        )
        .unwrap();
        assert!(!verify_sealed(&plain).unwrap());
    }

    #[test]
    fn failure_midway_keeps_the_old_file_and_refuses_non_files() {
        let d = scratch("fail");
        let f = d.join("keep.bin");
        write_atomic(&f, b"good").unwrap();
        let e = write_atomic_with(&f, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("disk full"))
        });
        assert!(matches!(e, Err(Error::Io { .. })));
        assert_eq!(std::fs::read(&f).unwrap(), b"good");
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
        let e = write_atomic(&d, b"x").unwrap_err();
        assert!(e.to_string().contains("directory"), "{e}");
        let e = write_atomic(Path::new("/dev/null"), b"x").unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device());
    }
}
