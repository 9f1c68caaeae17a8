//! VALIDATE the model: every check reads the parsed options and function,
//! and reports into the `Ctxt` with the span of the offending token.

use crate::ast::{CachedFn, Output, borrows, contains_impl_trait};
use crate::attr::Options;
use crate::ctxt::Ctxt;
use crate::symbol;

pub fn check(cx: &Ctxt, opts: &Options, f: &CachedFn) {
    let sig = &f.item.sig;
    if let Some(c) = &sig.constness {
        cx.error_spanned_by(
            c,
            "#[persist_cache] cannot cache a `const fn`: its result is already computed at compile time",
        );
    }
    if let Some(abi) = &sig.abi {
        cx.error_spanned_by(abi, "#[persist_cache] does not support `extern` functions");
    }
    if let Some(v) = &sig.variadic {
        cx.error_spanned_by(v, "#[persist_cache] does not support variadic functions");
    }
    let ret = f.return_type();
    if contains_impl_trait(&ret) {
        cx.error_spanned_by(&ret, "#[persist_cache] cannot store an `impl Trait` return type: name a concrete type that implements Serialize and Deserialize");
    } else {
        let stored = match &f.output {
            Output::Result { ok } => ok,
            Output::Plain(t) => t,
        };
        if borrows(stored) {
            cx.error_spanned_by(stored, "#[persist_cache] cannot store a borrowed return type: results are read back from disk, return an owned type (e.g. String instead of &str)");
        }
    }
    if let Some((name, ignored)) = &opts.ignore.value {
        if ignored.is_empty() {
            cx.error_spanned_by(name, "`ignore(...)` needs at least one argument name");
        }
        for ident in ignored {
            let known = if ident == "self" {
                f.receiver.is_some()
            } else {
                f.args.iter().any(|a| a.simple && a.binding == *ident)
            };
            if !known {
                let names: Vec<String> = f
                    .receiver
                    .iter()
                    .map(|_| "self".to_string())
                    .chain(f.args.iter().filter(|a| a.simple).map(|a| a.binding.to_string()))
                    .collect();
                let hint = if names.is_empty() {
                    "the function has no named arguments".to_string()
                } else {
                    format!("its arguments are: {}", names.join(", "))
                };
                cx.error_spanned_by(
                    ident,
                    format!("`ignore({ident})`: the function has no argument named `{ident}`; {hint}"),
                );
            }
        }
    }
    if let Some(days) = opts.expire_days.get() {
        match days.base10_parse::<u32>() {
            Ok(0) => cx.error_spanned_by(days, "`expire_days` must be at least 1 (leave it out to never expire)"),
            Ok(_) => {}
            Err(_) => cx.error_spanned_by(days, "`expire_days` must be a whole number of days that fits in u32"),
        }
    }
    if let Some(cap) = opts.lru_capacity.get()
        && cap.base10_parse::<usize>().is_err()
    {
        cx.error_spanned_by(cap, "`lru_capacity` must be a whole number of entries");
    }
    if let Some(db) = opts.db.get()
        && db.value().trim().is_empty()
    {
        cx.error_spanned_by(
            db,
            "`db` must not be empty: give a directory path, or leave `db` out to use the per-crate default",
        );
    }
    if let Some(d) = opts.durability.get()
        && !["sync", "no_meta_sync", "no_sync"].contains(&d.value().as_str())
    {
        cx.error_spanned_by(
            d,
            format!("unknown durability {:?}; use \"sync\", \"no_meta_sync\" or \"no_sync\"", d.value()),
        );
    }
    for (opt, lit) in [(symbol::VERSION, opts.version.get()), (symbol::NAME, opts.name.get())] {
        if let Some(lit) = lit
            && lit.value().is_empty()
        {
            cx.error_spanned_by(lit, format!("`{opt}` must not be empty"));
        }
    }
    if let Some(k) = opts.krate.get()
        && k.parse::<syn::Path>().is_err()
    {
        cx.error_spanned_by(k, "`crate` must be a path, e.g. crate = \"::persistdict\"");
    }
}
