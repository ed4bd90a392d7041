//! `#[derive(DefaultSerde)]`: a type's default serde, found by the DSL where none is given.

use quote::quote;
use syn::{DeriveInput, LitStr};

enum Format {
    Json,
    Bincode,
    Versioned,
}

fn parse_format(input: &DeriveInput) -> syn::Result<Format> {
    let mut format = Format::Json;
    for attr in input
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("default_serde"))
    {
        attr.parse_nested_meta(|meta| {
            if !meta.path.is_ident("format") {
                return Err(
                    meta.error("expected `format = \"json\" | \"bincode\" | \"versioned\"`")
                );
            }
            let lit: LitStr = meta.value()?.parse()?;
            format = match lit.value().as_str() {
                "json" => Format::Json,
                "bincode" => Format::Bincode,
                "versioned" => Format::Versioned,
                other => {
                    return Err(syn::Error::new(
                        lit.span(),
                        format!(
                            "unknown format `{other}`: use \"json\", \"bincode\" or \"versioned\""
                        ),
                    ));
                }
            };
            Ok(())
        })?;
    }
    Ok(format)
}

pub(crate) fn expand(input: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "#[derive(DefaultSerde)] supports types without generic parameters",
        ));
    }
    let name = &input.ident;
    let serde = match parse_format(input)? {
        Format::Json => quote!(::streams_core::serde::Serdes::json::<Self>()),
        Format::Bincode => quote!(::streams_core::serde::Serdes::bincode::<Self>()),
        Format::Versioned => quote!(::streams_core::serde::Serdes::versioned::<Self>()),
    };
    Ok(quote! {
        impl ::streams_core::serde::DefaultSerde for #name {
            fn default_serde() -> ::streams_core::serde::SharedSerde<Self> {
                #serde
            }
        }

        ::streams_core::serde::__register_default_serde!(#name);
    })
}
