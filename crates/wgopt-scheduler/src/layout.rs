//! Where every parameter lives: the arena layout, shared by parameters, gradients and every
//! optimizer state tensor.
//!
//! Parameters are ordered by group (so a group is one contiguous range), each starts on a
//! 16-byte boundary (so kernels load `vec4<f32>`), and the arena is cut into chunks no larger
//! than one storage binding. A parameter that fits a chunk never straddles two; one larger than
//! a whole chunk is split into *pieces* over consecutive chunks (elementwise kernels do not care;
//! operations that need a whole matrix, such as Newton–Schulz, refuse split parameters).
//! Padding elements are zero in every arena and stay zero under every optimizer (a zero
//! gradient on a zero parameter moves nothing), so kernels may run over them.

use crate::{Error, Result};

/// Elements per vec4: parameters start on multiples of this.
pub const ALIGN_ELEMS: usize = 4;

/// The most f32 elements one layout may hold (2^38, 1 TiB): far past any adapter's memory, so
/// a shape that multiplies past it is a mistake (or a hostile file), refused before anything
/// is allocated. The device's own limit is checked when the arenas are created.
pub const MAX_LAYOUT_ELEMENTS: u64 = 1 << 38;

/// Description of one parameter as the user gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSpec {
    pub name: String,
    pub shape: Vec<usize>,
    /// Group label; groups get their own hyperparameters.
    pub group: String,
}

impl ParamSpec {
    pub fn new(name: impl Into<String>, shape: &[usize], group: impl Into<String>) -> Self {
        ParamSpec {
            name: name.into(),
            shape: shape.to_vec(),
            group: group.into(),
        }
    }

    /// Element count; saturates at `usize::MAX` for a shape whose product overflows (which
    /// [`Layout::new`] refuses), so it never panics or wraps.
    pub fn numel(&self) -> usize {
        self.checked_numel().unwrap_or(usize::MAX)
    }

    /// Element count, or `None` when the product of the dimensions overflows.
    pub fn checked_numel(&self) -> Option<usize> {
        self.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
    }
}

/// A contiguous part of a parameter inside one chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// Which chunk buffer holds it.
    pub chunk: usize,
    /// Offset in elements within the chunk (a multiple of [`ALIGN_ELEMS`]).
    pub offset: usize,
    /// First element of the parameter it holds.
    pub start: usize,
    /// Number of elements.
    pub len: usize,
}

impl Piece {
    /// vec4 range within the chunk (padding included).
    pub fn vec4_range(&self) -> std::ops::Range<u32> {
        let s = (self.offset / ALIGN_ELEMS) as u32;
        s..s + self.len.div_ceil(ALIGN_ELEMS) as u32
    }
}

/// One parameter's place in the arena.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub name: String,
    pub shape: Vec<usize>,
    /// Index into [`Layout::groups`].
    pub group: usize,
    /// Chunk of the first piece.
    pub chunk: usize,
    /// Offset in elements of the first piece within its chunk.
    pub offset: usize,
    /// Number of elements.
    pub len: usize,
    /// Where the elements live: one piece unless the parameter exceeds a chunk.
    pub pieces: Vec<Piece>,
}

impl Slot {
    /// Elements occupied including padding up to the next vec4.
    pub fn padded_len(&self) -> usize {
        self.len.div_ceil(ALIGN_ELEMS) * ALIGN_ELEMS
    }

    /// True when the parameter spans several chunks.
    pub fn is_split(&self) -> bool {
        self.pieces.len() > 1
    }
}

/// The layout of a parameter set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Group labels in order of first appearance.
    pub groups: Vec<String>,
    /// Slots ordered by group, then by the order the user gave.
    pub slots: Vec<Slot>,
    /// Length of each chunk in elements (a multiple of [`ALIGN_ELEMS`]).
    pub chunk_lens: Vec<usize>,
    /// Name → index into `slots`.
    index: std::collections::HashMap<String, usize>,
    /// Index into `slots` of each parameter in the order the user declared the specs.
    declared: Vec<usize>,
}

impl Layout {
    /// Lays parameters out in chunks of at most `chunk_bytes` bytes.
    pub fn new(specs: &[ParamSpec], chunk_bytes: u64) -> Result<Layout> {
        let cap = (chunk_bytes / 4) as usize / ALIGN_ELEMS * ALIGN_ELEMS;
        // Kernels index in u32 vec4s; keep every chunk inside that range too.
        let cap = cap.min((u32::MAX as usize / 2) * ALIGN_ELEMS);
        let mut groups: Vec<String> = Vec::new();
        for s in specs {
            if !groups.contains(&s.group) {
                groups.push(s.group.clone());
            }
        }
        check_sizes(specs)?;
        let mut seen = std::collections::HashSet::new();
        let mut slots = Vec::with_capacity(specs.len());
        let mut chunk_lens = vec![0usize];
        for (gi, g) in groups.iter().enumerate() {
            for s in specs.iter().filter(|s| &s.group == g) {
                if !seen.insert(s.name.as_str()) {
                    return Err(Error::DuplicateParameter(s.name.clone()));
                }
                let len = s.numel();
                if len == 0 {
                    return Err(Error::EmptyParameter(s.name.clone()));
                }
                let padded = len.div_ceil(ALIGN_ELEMS) * ALIGN_ELEMS;
                if cap == 0 {
                    return Err(Error::OverLimit {
                        what: format!("parameter {:?}", s.name),
                        size: padded as u64 * 4,
                        limit: cap as u64 * 4,
                        unit: "bytes",
                    });
                }
                let mut pieces = Vec::new();
                if padded > cap {
                    // Larger than a chunk: start afresh and fill whole chunks.
                    let mut start = 0;
                    while start < len {
                        if chunk_lens[chunk_lens.len() - 1] > 0 {
                            chunk_lens.push(0);
                        }
                        let chunk = chunk_lens.len() - 1;
                        let take = cap.min(len - start);
                        pieces.push(Piece {
                            chunk,
                            offset: 0,
                            start,
                            len: take,
                        });
                        chunk_lens[chunk] = take.div_ceil(ALIGN_ELEMS) * ALIGN_ELEMS;
                        start += take;
                    }
                } else {
                    let mut chunk = chunk_lens.len() - 1;
                    if chunk_lens[chunk] + padded > cap {
                        chunk_lens.push(0);
                        chunk += 1;
                    }
                    pieces.push(Piece {
                        chunk,
                        offset: chunk_lens[chunk],
                        start: 0,
                        len,
                    });
                    chunk_lens[chunk] += padded;
                }
                slots.push(Slot {
                    name: s.name.clone(),
                    shape: s.shape.clone(),
                    group: gi,
                    chunk: pieces[0].chunk,
                    offset: pieces[0].offset,
                    len,
                    pieces,
                });
            }
        }
        let index: std::collections::HashMap<String, usize> = slots
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        let declared = specs.iter().map(|s| index[&s.name]).collect();
        Ok(Layout {
            groups,
            slots,
            chunk_lens,
            index,
            declared,
        })
    }

    /// Slot indices in the order the specs were declared (`ParamSet::write_grads` and
    /// `read_params` use this order; `slots` is grouped).
    pub fn declared_order(&self) -> &[usize] {
        &self.declared
    }

    /// The slot of a named parameter.
    pub fn slot(&self, name: &str) -> Result<&Slot> {
        self.index_of(name).map(|i| &self.slots[i])
    }

    /// Index of a named parameter in [`Layout::slots`].
    pub fn index_of(&self, name: &str) -> Result<usize> {
        self.index
            .get(name)
            .copied()
            .ok_or_else(|| Error::UnknownParameter(name.to_string()))
    }

    /// Index of a group label.
    pub fn group_index(&self, label: &str) -> Result<usize> {
        self.groups
            .iter()
            .position(|g| g == label)
            .ok_or_else(|| Error::UnknownName {
                kind: "group",
                name: label.to_string(),
                known: self.groups.join(", "),
            })
    }

    /// Total number of (unpadded) parameter elements.
    pub fn numel(&self) -> usize {
        self.slots.iter().map(|s| s.len).sum()
    }
}

/// Refuses shapes whose product overflows or whose total passes [`MAX_LAYOUT_ELEMENTS`],
/// before any loop or allocation sized by them.
fn check_sizes(specs: &[ParamSpec]) -> Result<()> {
    let mut total: u64 = 0;
    for s in specs {
        let over = |size: u64| Error::OverLimit {
            what: format!("parameter {:?} of shape {:?}", s.name, s.shape),
            size,
            limit: MAX_LAYOUT_ELEMENTS,
            unit: "elements",
        };
        let n = s.checked_numel().ok_or_else(|| over(u64::MAX))? as u64;
        total = total.saturating_add(n);
        if n > MAX_LAYOUT_ELEMENTS {
            return Err(over(n));
        }
        if total > MAX_LAYOUT_ELEMENTS {
            return Err(Error::OverLimit {
                what: format!("the parameter set (through {:?})", s.name),
                size: total,
                limit: MAX_LAYOUT_ELEMENTS,
                unit: "elements",
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> Vec<ParamSpec> {
        vec![
            ParamSpec::new("w1", &[3, 5], "decay"),
            ParamSpec::new("b1", &[5], "no_decay"),
            ParamSpec::new("w2", &[5, 2], "decay"),
            ParamSpec::new("s", &[1], "no_decay"),
        ]
    }

    #[test]
    fn groups_are_contiguous_and_aligned() {
        let l = Layout::new(&specs(), 1 << 20).unwrap();
        let names: Vec<_> = l.slots.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["w1", "w2", "b1", "s"]);
        let offs: Vec<_> = l.slots.iter().map(|s| s.offset).collect();
        assert_eq!(offs, [0, 16, 28, 36]);
        assert_eq!(l.chunk_lens, vec![40]);
    }

    #[test]
    fn small_chunks_split_without_straddling() {
        // 64-byte chunks hold 16 floats: w1 (15→16) fills one, w2 (10→12) the next, …
        let l = Layout::new(&specs(), 64).unwrap();
        let chunks: Vec<_> = l.slots.iter().map(|s| (s.chunk, s.offset)).collect();
        assert_eq!(chunks, [(0, 0), (1, 0), (2, 0), (2, 8)]);
    }

    #[test]
    fn bad_specs_are_typed_errors() {
        let mut s = specs();
        s.push(ParamSpec::new("w1", &[1], "decay"));
        assert!(matches!(Layout::new(&s, 1 << 20), Err(Error::DuplicateParameter(n)) if n == "w1"));
        let z = vec![ParamSpec::new("z", &[3, 0], "g")];
        assert!(matches!(Layout::new(&z, 1 << 20), Err(Error::EmptyParameter(n)) if n == "z"));
        // A chunk too small for even one vec4.
        let one = vec![ParamSpec::new("one", &[1], "g")];
        assert!(matches!(Layout::new(&one, 8), Err(Error::OverLimit { .. })));
        // A product of dimensions that overflows, and one past the layout limit, are refused
        // before anything is sized by them.
        let wraps = vec![ParamSpec::new("x", &[3, 1 << 63], "g")];
        assert_eq!(wraps[0].numel(), usize::MAX);
        assert!(
            matches!(Layout::new(&wraps, 1 << 20), Err(Error::OverLimit { what, .. }) if what.contains("\"x\""))
        );
        let huge = vec![ParamSpec::new("h", &[1 << 20, 1 << 19], "g")];
        assert!(matches!(
            Layout::new(&huge, 1 << 20),
            Err(Error::OverLimit { .. })
        ));
        let many: Vec<_> = (0..3)
            .map(|i| ParamSpec::new(format!("p{i}"), &[1 << 19, 1 << 18], "g"))
            .collect();
        assert!(
            matches!(Layout::new(&many, 1 << 20), Err(Error::OverLimit { what, .. }) if what.contains("parameter set"))
        );
    }

    #[test]
    fn declared_order_maps_specs_to_grouped_slots() {
        let l = Layout::new(&specs(), 1 << 20).unwrap();
        let names: Vec<_> = l
            .declared_order()
            .iter()
            .map(|&i| l.slots[i].name.as_str())
            .collect();
        assert_eq!(names, ["w1", "b1", "w2", "s"]);
    }

    #[test]
    fn parameters_larger_than_a_chunk_are_split() {
        // 64-byte chunks hold 16 floats: 37 floats become pieces of 16, 16 and 5 (padded to 8),
        // and the next parameter shares the last chunk.
        let specs = vec![
            ParamSpec::new("big", &[37], "g"),
            ParamSpec::new("small", &[3], "g"),
        ];
        let l = Layout::new(&specs, 64).unwrap();
        let pieces: Vec<_> = l.slots[0]
            .pieces
            .iter()
            .map(|p| (p.chunk, p.offset, p.start, p.len))
            .collect();
        assert_eq!(pieces, [(0, 0, 0, 16), (1, 0, 16, 16), (2, 0, 32, 5)]);
        assert!(l.slots[0].is_split());
        assert_eq!((l.slots[1].chunk, l.slots[1].offset), (2, 8));
        assert_eq!(l.chunk_lens, vec![16, 16, 12]);
    }
}
