//! The `#[persist_cache]` attribute of [persistdict](https://docs.rs/persistdict).
//!
//! Use it through `persistdict::persist_cache`; the generated code names its
//! runtime only through `::persistdict::__private`, so a user's Cargo.toml
//! needs `persistdict` (and `serde` for their own derives) only.
//!
//! The crate is organised like serde_derive and thiserror-impl: `attr.rs` and
//! `ast.rs` parse, `valid.rs` checks the model, `expand.rs` writes code, and
//! on any error `fallback.rs` emits the user's function unchanged next to
//! every error, so the rest of the crate still type-checks.
#![warn(missing_docs)]

mod ast;
mod attr;
mod ctxt;
mod expand;
mod fallback;
mod namespace;
mod symbol;
mod valid;

use proc_macro::TokenStream;

/// Memoizes a function persistently. Use it as `persistdict::persist_cache`,
/// whose documentation lists every option, the key, the companion and the
/// environment variables.
#[proc_macro_attribute]
pub fn persist_cache(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::persist_cache(args.into(), item.into()).into()
}
