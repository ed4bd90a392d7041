//! `#[derive(Versioned)]`: the version number first, then the version's fields; older versions
//! decode as themselves and upgrade through `From`.

use proc_macro2::Span;
use quote::quote;
use syn::{DeriveInput, LitInt, LitStr, Path};

/// What `#[versioned(...)]` says.
struct Args {
    version: u16,
    previous: Option<Path>,
    format: Format,
}

enum Format {
    Json,
    Bincode,
}

fn parse_args(input: &DeriveInput) -> syn::Result<Args> {
    let mut version = None;
    let mut previous = None;
    let mut format = Format::Json;
    let mut found = false;
    for attr in input
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("versioned"))
    {
        found = true;
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("version") {
                let lit: LitInt = meta.value()?.parse()?;
                let number: u16 = lit.base10_parse()?;
                if number == 0 {
                    return Err(syn::Error::new(lit.span(), "versions start at 1"));
                }
                version = Some(number);
            } else if meta.path.is_ident("previous") {
                previous = Some(meta.value()?.parse::<Path>()?);
            } else if meta.path.is_ident("format") {
                let lit: LitStr = meta.value()?.parse()?;
                format = match lit.value().as_str() {
                    "json" => Format::Json,
                    "bincode" => Format::Bincode,
                    other => {
                        return Err(syn::Error::new(
                            lit.span(),
                            format!("unknown format `{other}`: use \"json\" or \"bincode\""),
                        ));
                    }
                };
            } else {
                return Err(meta.error("expected `version`, `previous` or `format`"));
            }
            Ok(())
        })?;
    }
    if !found {
        return Err(syn::Error::new(
            Span::call_site(),
            "#[derive(Versioned)] needs #[versioned(version = N)]",
        ));
    }
    let version = version.ok_or_else(|| {
        syn::Error::new(Span::call_site(), "#[versioned(...)] needs `version = N`")
    })?;
    Ok(Args {
        version,
        previous,
        format,
    })
}

pub(crate) fn expand(input: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "#[derive(Versioned)] supports types without generic parameters",
        ));
    }
    let Args {
        version,
        previous,
        format,
    } = parse_args(input)?;
    let name = &input.ident;
    let serde = match format {
        Format::Json => quote!(::streams_core::serde::Json::<Self>::new()),
        Format::Bincode => quote!(::streams_core::serde::Bincode::<Self>::new()),
    };
    let older = match &previous {
        Some(previous) => quote! {
            const _: () = ::core::assert!(
                <#previous as ::streams_core::serde::Versioned>::VERSION < #version,
                "the previous version must have a lower version number",
            );
            if version < #version {
                return <#previous as ::streams_core::serde::Versioned>::decode_version(
                    version, payload,
                )
                .map(<Self as ::core::convert::From<#previous>>::from);
            }
        },
        None => quote! {},
    };
    Ok(quote! {
        impl ::streams_core::serde::Versioned for #name {
            const VERSION: u16 = #version;

            fn encode_payload(
                &self,
                out: &mut ::std::vec::Vec<u8>,
            ) -> ::core::result::Result<(), ::streams_core::serde::SerdeError> {
                ::streams_core::serde::Serde::serialize(&#serde, self, out)
            }

            fn decode_version(
                version: u16,
                payload: &[u8],
            ) -> ::core::result::Result<Self, ::streams_core::serde::SerdeError> {
                if version == #version {
                    return ::streams_core::serde::Serde::deserialize(&#serde, payload);
                }
                #older
                ::core::result::Result::Err(::streams_core::serde::SerdeError::deserialize::<Self>(
                    ::std::format!(
                        "version {} is not one this program reads (it knows versions up to {})",
                        version, #version,
                    ),
                ))
            }
        }
    })
}
