//! `#[derive(WgslStruct)]` records a `#[repr(C)]` struct's name, size and field offsets as
//! `wgopt_scheduler::kernel::StructLayout`, so each kernel declaration can list the Rust twins
//! of its WGSL structs and one test checks them all against naga's reflection of the shader
//! (names, offsets, size) instead of a hand-written list.
//!
//! The WGSL name is the Rust name unless `#[wgsl(name = "Other")]` says otherwise.

use proc_macro::TokenStream;
use quote::quote;
use syn::{parse_macro_input, Data, DeriveInput, Fields, LitStr};

#[proc_macro_derive(WgslStruct, attributes(wgsl))]
pub fn derive_wgsl_struct(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn wgsl_name(input: &DeriveInput) -> syn::Result<String> {
    let mut name = input.ident.to_string();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("wgsl")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("name") {
                name = meta.value()?.parse::<LitStr>()?.value();
                Ok(())
            } else {
                Err(meta.error("expected `name = \"…\"`"))
            }
        })?;
    }
    Ok(name)
}

fn expand(input: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let ident = &input.ident;
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(ident, "WgslStruct needs a struct"));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new_spanned(
            ident,
            "WgslStruct needs named fields",
        ));
    };
    let name = wgsl_name(input)?;
    let entries = fields.named.iter().map(|f| {
        let f = f.ident.as_ref().expect("named field");
        let s = f.to_string();
        quote! { (#s, ::core::mem::offset_of!(#ident, #f)) }
    });
    Ok(quote! {
        impl ::wgopt_scheduler::kernel::WgslStruct for #ident {
            const LAYOUT: ::wgopt_scheduler::kernel::StructLayout =
                ::wgopt_scheduler::kernel::StructLayout {
                    name: #name,
                    size: ::core::mem::size_of::<#ident>(),
                    fields: &[#(#entries),*],
                };
        }
    })
}
