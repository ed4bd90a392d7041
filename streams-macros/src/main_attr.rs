//! `#[streams_core::main(...)]`: a worker binary's `main` from a topology function.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Ident, ItemFn, LitStr, Token, Type, parenthesized};

/// A store listed for HTTP queries: `kind("name", Key, Value)`.
struct QueryableStore {
    kind: Ident,
    name: LitStr,
    key: Type,
    value: Type,
}

/// One argument of the attribute.
enum Arg {
    ApplicationId(LitStr),
    Store(Box<QueryableStore>),
}

impl Parse for Arg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let ident: Ident = input.parse()?;
        if ident == "application_id" {
            input.parse::<Token![=]>()?;
            return Ok(Arg::ApplicationId(input.parse()?));
        }
        if !["key_value", "window", "session", "global", "versioned"]
            .contains(&ident.to_string().as_str())
        {
            return Err(syn::Error::new(
                ident.span(),
                "expected `application_id = \"…\"` or a store: \
                 `key_value(\"name\", Key, Value)`, `window(…)`, `session(…)`, `versioned(…)` \
                 or `global(…)`",
            ));
        }
        let content;
        parenthesized!(content in input);
        let name: LitStr = content.parse()?;
        content.parse::<Token![,]>()?;
        let key: Type = content.parse()?;
        content.parse::<Token![,]>()?;
        let value: Type = content.parse()?;
        let _ = content.parse::<Option<Token![,]>>()?;
        if !content.is_empty() {
            return Err(content.error("expected (\"store name\", KeyType, ValueType)"));
        }
        Ok(Arg::Store(Box::new(QueryableStore {
            kind: ident,
            name,
            key,
            value,
        })))
    }
}

struct Args(Punctuated<Arg, Token![,]>);

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        Ok(Args(Punctuated::parse_terminated(input)?))
    }
}

pub(crate) fn expand(args: TokenStream, function: &ItemFn) -> syn::Result<TokenStream> {
    let Args(args) = syn::parse2(args)?;
    let signature = &function.sig;
    if signature.asyncness.is_some() {
        return Err(syn::Error::new_spanned(
            signature.asyncness,
            "the topology function is not async: it only builds the topology",
        ));
    }
    if !signature.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &signature.generics,
            "the topology function takes no generic parameters",
        ));
    }
    if signature.inputs.len() != 1 {
        return Err(syn::Error::new_spanned(
            &signature.inputs,
            "the topology function takes the configuration: `fn(&StreamsConfig) -> Result<Topology>`",
        ));
    }
    if signature.ident == "main" {
        return Err(syn::Error::new_spanned(
            &signature.ident,
            "name the topology function something other than `main`: the macro writes `main`",
        ));
    }
    let mut application_id = quote!(::core::env!("CARGO_PKG_NAME"));
    let mut registrations = Vec::new();
    for arg in args {
        match arg {
            Arg::ApplicationId(id) => application_id = quote!(#id),
            Arg::Store(store) => {
                let QueryableStore {
                    kind,
                    name,
                    key,
                    value,
                } = *store;
                let method = Ident::new(&format!("queryable_{kind}"), kind.span());
                registrations.push(quote!(.#method::<#key, #value>(#name)));
            }
        }
    }
    let topology = &signature.ident;
    Ok(quote! {
        #function

        fn main() -> ::std::process::ExitCode {
            ::streams_core::worker::Worker::new(#application_id, #topology)
                #(#registrations)*
                .main()
        }
    })
}
