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
            let in_pattern = f.args.iter().find(|a| !a.simple && pattern_binds(&a.pat, ident));
            if let Some(arg) = in_pattern {
                let pat = &arg.pat;
                cx.error_spanned_by(
                    ident,
                    format!(
                        "`ignore({ident})`: `{ident}` is bound inside the pattern `{}`; ignore takes a whole argument: give the argument a name (e.g. `arg: {}`) and destructure it in the body",
                        quote::quote!(#pat),
                        {
                            let ty = &arg.ty;
                            quote::quote!(#ty)
                        }
                    ),
                );
            } else if !known {
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
    check_mutable_arguments(cx, opts, f);
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
    if let Some(n) = opts.max_entries.get() {
        match n.base10_parse::<u64>() {
            Ok(0) => cx.error_spanned_by(n, "`max_entries` must be at least 1 (leave it out for no limit)"),
            Ok(_) => {}
            Err(_) => cx.error_spanned_by(n, "`max_entries` must be a whole number of entries"),
        }
    }
    if let Some(size) = opts.max_size.get() {
        match parse_size(&size.value()) {
            Some(bytes) if bytes < 64 << 10 => {
                cx.error_spanned_by(size, "`max_size` must be at least 64 KiB (the tables' own pages take some)")
            }
            Some(_) => {}
            None => cx.error_spanned_by(
                size,
                "`max_size` must be a number and a unit: B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024), e.g. \"2 GiB\"",
            ),
        }
    }
    if let Some(db) = opts.db.get()
        && db.value().trim().is_empty()
    {
        cx.error_spanned_by(
            db,
            "`db` must not be empty: give a directory path, or leave `db` out to use the per-crate default",
        );
    }
    check_durations(cx, opts);
    check_refresh(cx, opts, f);
    if let Some(p) = opts.prune.get()
        && !["auto", "manual"].contains(&p.value().as_str())
    {
        cx.error_spanned_by(
            p,
            format!(
                "unknown prune policy {:?}; use \"auto\" (remove this function's superseded versions once unused) or \"manual\" (the default)",
                p.value()
            ),
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

/// Whether the pattern `pat` binds `name` somewhere inside.
fn pattern_binds(pat: &syn::Pat, name: &syn::Ident) -> bool {
    use syn::visit::Visit;
    struct Finder<'a>(&'a syn::Ident, bool);
    impl<'ast> Visit<'ast> for Finder<'_> {
        fn visit_pat_ident(&mut self, p: &'ast syn::PatIdent) {
            if p.ident == *self.0 {
                self.1 = true;
            }
            syn::visit::visit_pat_ident(self, p);
        }
    }
    let mut f = Finder(name, false);
    f.visit_pat(pat);
    f.1
}

/// Whether a type contains a `&mut` reference.
fn has_mut_ref(ty: &syn::Type) -> bool {
    use syn::visit::Visit;
    struct Finder(bool);
    impl<'ast> Visit<'ast> for Finder {
        fn visit_type_reference(&mut self, r: &'ast syn::TypeReference) {
            if r.mutability.is_some() {
                self.0 = true;
            }
            syn::visit::visit_type_reference(self, r);
        }
    }
    let mut f = Finder(false);
    f.visit_type(ty);
    f.0
}

/// Arguments the body could mutate (`&mut T`, `&mut self`) are an error
/// unless ignored: on a hit the body does not run, so its changes to them
/// would silently not happen.
fn check_mutable_arguments(cx: &Ctxt, opts: &Options, f: &CachedFn) {
    let ignored = |name: &str| opts.ignore.get().is_some_and(|list| list.iter().any(|i| i == name));
    if let Some(r) = &f.receiver
        && r.reference.is_some()
        && r.mutability.is_some()
        && !ignored("self")
    {
        cx.error_spanned_by(
            r,
            "#[persist_cache] on a `&mut self` method: on a cache hit the body does not run, so its changes to `self` would silently not happen; return what it computes instead, or add ignore(self) if the changes may be skipped (self then is not part of the key)",
        );
    }
    for arg in &f.args {
        if !has_mut_ref(&arg.ty) || (arg.simple && ignored(&arg.binding.to_string())) {
            continue;
        }
        let hint = if arg.simple {
            format!("add ignore({}) if the changes may be skipped (it then is not part of the key)", arg.binding)
        } else {
            "name the argument and add ignore(name) if the changes may be skipped".to_string()
        };
        cx.error_spanned_by(
            &arg.ty,
            format!(
                "#[persist_cache] with a `&mut` argument: on a cache hit the body does not run, so its changes through this argument would silently not happen; return what it computes instead, or {hint}"
            ),
        );
    }
}

/// Parses a size like `2 GiB`, `512MB`, `100 B` into bytes.
/// `refresh = "background"` runs the body on a thread of its own after the
/// call returned: a sync function with owned arguments and a `fresh_for`.
fn check_refresh(cx: &Ctxt, opts: &Options, f: &CachedFn) {
    let Some(r) = opts.refresh.get() else { return };
    if r.value() != "background" {
        cx.error_spanned_by(r, format!("unknown refresh policy {:?}; the one policy is \"background\"", r.value()));
        return;
    }
    if opts.fresh_for.get().is_none() {
        cx.error_spanned_by(r, "`refresh = \"background\"` needs `fresh_for = \"...\"`: nothing is stale without it");
    }
    if f.item.sig.asyncness.is_some() {
        cx.error_spanned_by(
            r,
            "`refresh = \"background\"` is for sync functions: an async fn would need a runtime to spawn its refresh on, which persistdict does not depend on",
        );
    }
    let ignored = |name: &str| opts.ignore.get().is_some_and(|list| list.iter().any(|i| i == name));
    if let Some(recv) = &f.receiver
        && recv.reference.is_some()
        && !ignored("self")
    {
        cx.error_spanned_by(r, "`refresh = \"background\"` needs owned arguments (the refresh outlives the call): `self` is borrowed; take `self` by value (Clone it at the call site) or ignore(self)");
    }
    for arg in &f.args {
        if (arg.simple && ignored(&arg.binding.to_string())) || !borrows(&arg.ty) {
            continue;
        }
        let ty = &arg.ty;
        cx.error_spanned_by(
            r,
            format!(
                "`refresh = \"background\"` needs owned arguments (the refresh outlives the call): `{}: {}` is borrowed; take an owned type (String, Vec<T>, Arc<T>)",
                arg.binding,
                quote::quote!(#ty)
            ),
        );
    }
}

/// A humantime duration in milliseconds (at least 1 ms).
pub fn parse_duration_ms(text: &str) -> Option<u64> {
    let d = humantime::parse_duration(text.trim()).ok()?;
    u64::try_from(d.as_millis()).ok().filter(|ms| *ms >= 1)
}

fn check_durations(cx: &Ctxt, opts: &Options) {
    for (name, lit) in [
        (symbol::EXPIRE, opts.expire.get()),
        (symbol::FRESH_FOR, opts.fresh_for.get()),
        (symbol::LEASE_TIMEOUT, opts.lease_timeout.get()),
    ] {
        if let Some(lit) = lit
            && parse_duration_ms(&lit.value()).is_none()
        {
            cx.error_spanned_by(
                lit,
                format!("`{name}` must be a duration of at least 1ms, e.g. \"90s\", \"12h\", \"30days\" (units: ms, s, m, h, d/days, w)"),
            );
        }
    }
    if let (Some(_), Some(days)) = (opts.expire.get(), opts.expire_days.get()) {
        cx.error_spanned_by(days, "give `expire` or `expire_days`, not both (`expire = \"30days\"` says the same)");
    }
    if let Some(e) = opts.on_error.get()
        && e.value() != "serve_stale"
    {
        cx.error_spanned_by(e, format!("unknown on_error policy {:?}; the one policy is \"serve_stale\"", e.value()));
    }
    if let Some(s) = opts.single_flight.get()
        && !["machine", "process"].contains(&s.value().as_str())
    {
        cx.error_spanned_by(
            s,
            format!(
                "unknown single_flight {:?}; use \"machine\" (every process on this machine computes a call once, the default) or \"process\"",
                s.value()
            ),
        );
    }
    if let (Some(t), Some(s)) = (opts.lease_timeout.get(), opts.single_flight.get())
        && s.value() == "process"
    {
        cx.error_spanned_by(t, "`lease_timeout` applies to single_flight = \"machine\" only");
    }
}

pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.trim().parse().ok()?;
    let factor: u64 = match unit.trim() {
        "B" | "" => 1,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return None,
    };
    let bytes = number * factor as f64;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_with_decimal_and_binary_units() {
        assert_eq!(parse_size("2 GiB"), Some(2 << 30));
        assert_eq!(parse_size("512MB"), Some(512_000_000));
        assert_eq!(parse_size("1.5 KiB"), Some(1536));
        assert_eq!(parse_size("100 B"), Some(100));
        assert_eq!(parse_size("2 GB"), Some(2_000_000_000));
        assert_eq!(parse_size("two GiB"), None);
        assert_eq!(parse_size("2 TiB"), None);
    }
}
