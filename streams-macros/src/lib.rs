//! Procedural macros for `streams-core`.
//!
//! - [`Versioned`](derive@Versioned): a state or record type whose serialized form carries its
//!   version; a later version decodes what earlier ones wrote, upgrading through `From`.
//! - [`DefaultSerde`](derive@DefaultSerde): picks a type's serde format (JSON, bincode or
//!   versioned), so the DSL needs no serde arguments for it.
//! - [`main`](macro@main): turns a topology function into a worker binary's `main`.
//!
//! Use them through `streams-core` (`streams_core::serde::{Versioned, DefaultSerde}`,
//! `streams_core::main`), which re-exports them. Everything they generate is ordinary library
//! code that can be written by hand.

mod default_serde;
mod main_attr;
mod versioned;

use proc_macro::TokenStream;
use syn::{DeriveInput, ItemFn, parse_macro_input};

/// Derives `streams_core::serde::Versioned` for a type that also derives serde's `Serialize`
/// and `Deserialize`.
///
/// ```text
/// #[derive(Serialize, Deserialize, Versioned)]
/// #[versioned(version = 2, previous = CardStateV1, format = "json")]
/// struct CardState { … }          // and: impl From<CardStateV1> for CardState
/// ```
///
/// - `version` (required): this version's number, from 1 up to 65535.
/// - `previous` (optional): the type of the version before, itself `Versioned` with a lower
///   version; `Self: From<previous>`. Values written by it (or by any version before it) are
///   decoded as that version and upgraded, one `From` step at a time.
/// - `format` (optional): `"json"` (the default) or `"bincode"`, how this version's fields are
///   written after the version number.
#[proc_macro_derive(Versioned, attributes(versioned))]
pub fn derive_versioned(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match versioned::expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

/// Derives `streams_core::serde::DefaultSerde` for a type that also derives serde's
/// `Serialize` and `Deserialize`, and registers it so that DSL operators find it where no serde
/// is given (as Kafka Streams falls back to `default.key.serde` and `default.value.serde`).
///
/// ```text
/// #[derive(Serialize, Deserialize, DefaultSerde)]
/// #[default_serde(format = "json")]            // or "bincode", or "versioned"
/// struct Transaction { … }
/// ```
///
/// `format` is `"json"` (the default), `"bincode"`, or `"versioned"` (the type also derives
/// `Versioned`, which says how its fields are written).
#[proc_macro_derive(DefaultSerde, attributes(default_serde))]
pub fn derive_default_serde(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match default_serde::expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

/// Turns a topology function into the `main` of a worker binary (`run`, `describe`, `reset`,
/// configuration from flags, environment and a properties file, an HTTP server for metrics,
/// probes and queries): `streams_core::worker::Worker` with the stores listed registered for
/// HTTP queries.
///
/// ```text
/// #[streams_core::main(
///     application_id = "fraud-detection",          // default: the package name
///     key_value("card-risk", String, CardRisk),    // store name, key type, value type
///     window("merchant-alerts", String, u64),
///     session("visits", String, u64),
///     versioned("rates", String, f64),            // latest, or ?as_of=<ms>
///     global("merchants", String, Merchant),
/// )]
/// fn topology(config: &StreamsConfig) -> streams_core::Result<Topology> { … }
/// ```
///
/// The function stays as written; a `fn main() -> std::process::ExitCode` is added beside it.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    let function = parse_macro_input!(item as ItemFn);
    match main_attr::expand(args.into(), &function) {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            let error = error.to_compile_error();
            quote::quote!(#function #error).into()
        }
    }
}
