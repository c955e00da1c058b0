//! Every kernel wgopt declares (`wgopt::kernels()`: the runtime's, the solvers', the
//! optimizers'), checked against its WGSL with naga:
//!
//! - the composed source parses and validates;
//! - the declared bindings (group 0, numbered from 0) match the WGSL globals' address spaces
//!   and access;
//! - every struct a binding uses has a Rust twin declared, or is declared GPU-only, and each
//!   twin (`#[derive(WgslStruct)]`) has the WGSL struct's member names, offsets and size;
//! - every file under `shaders/` is some kernel's own file or one of its includes, so no
//!   kernel goes unchecked.

use naga::{AddressSpace, Handle, StorageAccess, Type, TypeInner};
use std::collections::BTreeSet;
use wgopt::scheduler::kernel::{Access, Kernel, StructLayout};

fn label(k: &Kernel) -> String {
    format!("{} {:?}", k.label(), k.storage)
}

fn module(k: &Kernel) -> naga::Module {
    naga::front::wgsl::parse_str(&k.source())
        .unwrap_or_else(|e| panic!("{}: {}", label(k), e.emit_to_string(&k.source())))
}

#[test]
fn every_kernel_validates() {
    let kernels = wgopt::kernels();
    assert!(
        kernels.len() >= 70,
        "only {} kernels declared",
        kernels.len()
    );
    for k in kernels {
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module(k))
        .unwrap_or_else(|e| panic!("{}: {}", label(k), e.emit_to_string(&k.source())));
    }
}

/// (binding, access, the binding's type) of every global in group 0.
fn globals(k: &Kernel, m: &naga::Module) -> Vec<(u32, Access, Handle<Type>)> {
    let mut found: Vec<(u32, Access, Handle<Type>)> = m
        .global_variables
        .iter()
        .filter_map(|(_, g)| {
            let b = g.binding.as_ref()?;
            assert_eq!(b.group, 0, "{}: all bindings live in group 0", label(k));
            let access = match g.space {
                AddressSpace::Uniform => Access::Uniform,
                AddressSpace::Storage { access } if access.contains(StorageAccess::STORE) => {
                    Access::ReadWrite
                }
                AddressSpace::Storage { .. } => Access::ReadOnly,
                other => panic!("{}: unexpected address space {other:?}", label(k)),
            };
            Some((b.binding, access, g.ty))
        })
        .collect();
    found.sort_by_key(|b| b.0);
    found
}

#[test]
fn bindings_match_declarations() {
    for k in wgopt::kernels() {
        let m = module(k);
        let found: Vec<(u32, Access)> = globals(k, &m).iter().map(|g| (g.0, g.1)).collect();
        let declared: Vec<(u32, Access)> = k
            .bindings
            .iter()
            .enumerate()
            .map(|(i, a)| (i as u32, *a))
            .collect();
        assert_eq!(found, declared, "{}", label(k));
    }
}

/// The struct a binding of type `ty` holds (through arrays), if any.
fn struct_of(m: &naga::Module, mut ty: Handle<Type>) -> Option<String> {
    loop {
        let t = &m.types[ty];
        match &t.inner {
            TypeInner::Array { base, .. } => ty = *base,
            TypeInner::Struct { .. } => return t.name.clone(),
            _ => return None,
        }
    }
}

/// (member name, offset) of each member, and the size, of WGSL struct `name`.
fn wgsl_layout(k: &Kernel, m: &naga::Module, name: &str) -> (Vec<(String, usize)>, usize) {
    let ty = m
        .types
        .iter()
        .find(|(_, t)| t.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("{}: no struct {name}", label(k)))
        .1;
    match &ty.inner {
        TypeInner::Struct { members, span } => (
            members
                .iter()
                .map(|mb| (mb.name.clone().unwrap_or_default(), mb.offset as usize))
                .collect(),
            *span as usize,
        ),
        _ => panic!("{name} is not a struct"),
    }
}

fn rust_layout(t: &StructLayout) -> (Vec<(String, usize)>, usize) {
    (
        t.fields.iter().map(|(n, o)| (n.to_string(), *o)).collect(),
        t.size,
    )
}

#[test]
fn rust_twins_match_wgsl_structs() {
    let mut checked = 0;
    for k in wgopt::kernels() {
        let m = module(k);
        for (binding, _, ty) in globals(k, &m) {
            let Some(name) = struct_of(&m, ty) else {
                continue;
            };
            let declared = k.twins.iter().any(|t| t.name == name) || k.gpu_only.contains(&&*name);
            assert!(
                declared,
                "{}: binding {binding} holds struct {name}, which has no declared Rust twin",
                label(k)
            );
        }
        for t in k.twins {
            assert_eq!(
                rust_layout(t),
                wgsl_layout(k, &m, t.name),
                "{}: Rust twin of {}",
                label(k),
                t.name
            );
            checked += 1;
        }
    }
    assert!(checked > 80, "only {checked} twins checked");
}

/// Every `.wgsl` file under `dir`, relative to `shaders/`.
fn files(dir: &std::path::Path, root: &std::path::Path, out: &mut BTreeSet<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, root, out);
        } else if p.extension().is_some_and(|x| x == "wgsl") {
            out.insert(
                p.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/"),
            );
        }
    }
}

#[test]
fn every_shader_file_belongs_to_a_kernel() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut on_disk = BTreeSet::new();
    files(&root, &root, &mut on_disk);
    let mut used = BTreeSet::new();
    for k in wgopt::kernels() {
        used.insert(k.file.path.to_string());
        used.extend(k.includes.iter().map(|w| w.path.to_string()));
    }
    let orphans: Vec<_> = on_disk.difference(&used).collect();
    assert!(
        orphans.is_empty(),
        "shader files no kernel declares: {orphans:?}"
    );
    let missing: Vec<_> = used.difference(&on_disk).collect();
    assert!(
        missing.is_empty(),
        "declared files not on disk: {missing:?}"
    );
}
