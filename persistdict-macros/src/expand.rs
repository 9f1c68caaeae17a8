//! EXPAND: the wrapper function, its key-building code and its companion.
//!
//! The wrapper keeps the signature token by token (patterns that destructure
//! are renamed, their bindings restored inside). The user's body runs inside
//! a closure (`async move` block for `async fn`), so `return` and `?` keep
//! their meaning, and the key is encoded before the body starts, before any
//! `.await`. Every runtime item is named through `::persistdict::__private`;
//! every local starts with `__persistdict_` so user names cannot collide.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, Pat, PatIdent, ReturnType};

use crate::ast::CachedFn;
use crate::attr::{self, Options};
use crate::ctxt::Ctxt;
use crate::{fallback, namespace, valid};

pub fn persist_cache(args: TokenStream, item: TokenStream) -> TokenStream {
    let item_fn: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        // A function whose body does not parse: rustc reports the syntax
        // error itself; a second message from us would only add noise.
        Err(_) if looks_like_fn(&item) => return item,
        Err(_) => {
            let e = syn::Error::new(
                attr::call_site(),
                "#[persist_cache] applies to functions only (`fn` or `async fn`, free or in an impl block)",
            );
            return fallback::with_errors(item, e);
        }
    };
    let cx = Ctxt::new();
    let opts = attr::parse(&cx, args);
    let model = CachedFn::from_item(item_fn);
    valid::check(&cx, &opts, &model);
    match cx.check() {
        Ok(()) => expand(&opts, &model),
        Err(e) => fallback::with_errors(item, e),
    }
}

/// Whether the item is a function (an `fn` keyword before its first brace
/// group), whatever its body holds.
fn looks_like_fn(item: &TokenStream) -> bool {
    for tt in item.clone() {
        match tt {
            proc_macro2::TokenTree::Ident(i) if i == "fn" => return true,
            proc_macro2::TokenTree::Group(g) if g.delimiter() == proc_macro2::Delimiter::Brace => return false,
            _ => {}
        }
    }
    false
}

fn expand(opts: &Options, f: &CachedFn) -> TokenStream {
    let krate: syn::Path =
        opts.krate.get().and_then(|k| k.parse().ok()).unwrap_or_else(|| syn::parse_quote!(::persistdict));
    let private = quote!(#krate::__private);
    let item = &f.item;
    let attrs = &item.attrs;
    let vis = &item.vis;
    let fn_name = &item.sig.ident;

    // The signature with destructuring patterns renamed.
    let mut sig = item.sig.clone();
    for (input, arg) in sig.inputs.iter_mut().filter(|i| matches!(i, FnArg::Typed(_))).zip(&f.args) {
        if let FnArg::Typed(t) = input
            && !arg.simple
        {
            *t.pat = Pat::Ident(PatIdent {
                attrs: Vec::new(),
                by_ref: None,
                mutability: None,
                ident: arg.binding.clone(),
                subpat: None,
            });
        }
    }
    let restore: Vec<TokenStream> = f
        .args
        .iter()
        .filter(|a| !a.simple)
        .map(|a| {
            let (pat, binding) = (&a.pat, &a.binding);
            quote!(let #pat = #binding;)
        })
        .collect();

    let config = config_tokens(opts, f, &private);
    let key_block = key_tokens(opts, f, &private, None);
    let ret = f.return_type();
    // The runtime call is spanned at the return type, so that a type that
    // cannot be stored is reported there (its bound is on the call).
    let ret_span = match &item.sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => item.sig.ident.span(),
    };
    let stmts = &item.block.stmts;
    let is_async = sig.asyncness.is_some();
    // Whether the return type is a `Result` (however spelled) is asked of
    // the compiler, which resolves aliases: see `KindProbe`.
    let kind = quote_spanned! {ret_span=> {
        // One of the two probes is used, the other not.
        #[allow(unused_imports)]
        use #private::{PlainProbe as _, ResultProbe as _};
        // The double borrow is the probe (autoref specialization).
        #[allow(clippy::needless_borrow)]
        let __persistdict_kind = (&&#private::KindProbe::<#ret>::new()).kind();
        __persistdict_kind
    }};
    // The whole call is spanned at the return type: rustc reports an
    // unsatisfied bound of the call at the call expression.
    let refresh_background = opts.refresh.get().is_some_and(|r| r.value() == "background");
    let run = if is_async {
        let body = quote! {
            async move {
                let __persistdict_out: #ret = { #(#restore)* #(#stmts)* };
                __persistdict_out
            }
        };
        quote_spanned!(ret_span=> __persistdict_kind.call_async(__persistdict_store, __persistdict_ready, __persistdict_capture, #body).await)
    } else {
        let body = quote!(move || -> #ret { #(#restore)* #(#stmts)* });
        if refresh_background {
            // A stale hit returns at once; its recomputation runs on a thread.
            quote_spanned! {ret_span=> {
                let __persistdict_body = #body;
                if let ::core::option::Option::Some(__persistdict_hit) = __persistdict_stale_hit {
                    __persistdict_kind.refresh(__persistdict_store, __persistdict_ready, __persistdict_capture, __persistdict_body);
                    return __persistdict_hit;
                }
                __persistdict_kind.call(__persistdict_store, __persistdict_ready, __persistdict_capture, __persistdict_body)
            }}
        } else {
            quote_spanned!(ret_span=> __persistdict_kind.call(__persistdict_store, __persistdict_ready, __persistdict_capture, #body))
        }
    };
    // The hit path runs first; only a miss captures the arguments (while
    // they are still here: the body takes them).
    let captures = capture_tokens(opts, f, &private);
    let prefetch = quote_spanned! {ret_span=>
        let __persistdict_kind = #kind;
        #[allow(unused_mut, unused_assignments)]
        let mut __persistdict_stale_hit = ::core::option::Option::None;
        let __persistdict_ready = match __persistdict_kind.prefetch(__persistdict_store, __persistdict_kb) {
            #private::Prefetch::Hit(__persistdict_hit) => return __persistdict_hit,
            #private::Prefetch::Miss(__persistdict_ready) => __persistdict_ready,
            #private::Prefetch::Stale(__persistdict_hit, __persistdict_ready) => {
                __persistdict_stale_hit = ::core::option::Option::Some(__persistdict_hit);
                __persistdict_ready
            }
        };
        let _ = &__persistdict_stale_hit;
        #[allow(unused_mut)]
        let mut __persistdict_capture = __persistdict_ready.capture();
        if let ::core::option::Option::Some(__persistdict_c) = &mut __persistdict_capture {
            #(#captures)*
        }
    };
    // `on_error = "serve_stale"` needs a `Result`: asked of the compiler
    // (aliases!), reported at the option.
    let serve_stale_check = opts.on_error.get().map(|lit| {
        let span = lit.span();
        quote_spanned! {span=> #private::serve_stale_needs_a_result(&#kind);}
    });
    let wrapper = quote! {
        #(#attrs)*
        #vis #sig {
            #serve_stale_check
            static __PERSISTDICT_STORE: #private::MemoStore = #private::MemoStore::new(#config);
            let __persistdict_store: &'static #private::MemoStore = &__PERSISTDICT_STORE;
            let __persistdict_kb = #key_block;
            #prefetch
            #run
        }
    };
    let companions = opts.companions.get().is_none_or(|b| b.value);
    if !companions {
        return wrapper;
    }
    // The companion: same generics and arguments, returns the call's key.
    // Its name is spanned at the attribute, so that rustc's "not a member of
    // trait" (a trait impl needs `companions = false`) points there.
    let mut csig = sig.clone();
    let companion_name = format!("{fn_name}_cache");
    csig.ident = format_ident!("{}", companion_name, span = attr::call_site());
    csig.asyncness = None;
    csig.output = ReturnType::Type(Default::default(), Box::new(syn::parse_quote!(#private::CallKey)));
    for input in csig.inputs.iter_mut() {
        if let FnArg::Receiver(r) = input
            && r.reference.is_none()
            && r.colon_token.is_none()
        {
            *r = syn::parse_quote!(&self);
        }
    }
    let rename = (companion_name.as_str(), fn_name.to_string());
    let ckey_block = key_tokens(opts, f, &private, Some((rename.0, &rename.1)));
    let call_key = quote_spanned!(ret_span=> #kind.call_key(__persistdict_store, __persistdict_kb));
    let doc = format!(
        " The persistent cache of `{fn_name}`: `{fn_name}_cache(args).is_cached()`, `.invalidate()`, `.key()`, \
         `.store().clear()`, `.store().stats()`, `.store().dict::<T>()`, `.store().uncached(|| {fn_name}(args))`. \
         Generated by `#[persist_cache]` (`companions = false` leaves it out, as a trait impl needs)."
    );
    quote! {
        #wrapper

        #[doc = #doc]
        #[allow(unused_variables, unused_mut, dead_code, clippy::all)]
        #vis #csig {
            static __PERSISTDICT_STORE: #private::MemoStore = #private::MemoStore::new(#config);
            let __persistdict_store: &'static #private::MemoStore = &__PERSISTDICT_STORE;
            let __persistdict_kb = #ckey_block;
            #call_key
        }
    }
}

/// The statements that capture the arguments (not the ignored ones) into
/// `__persistdict_c`; none with `capture_args = false`.
fn capture_tokens(opts: &Options, f: &CachedFn, private: &TokenStream) -> Vec<TokenStream> {
    if opts.capture_args.get().is_some_and(|b| !b.value) {
        return Vec::new();
    }
    let ignored = |name: &str| opts.ignore.get().is_some_and(|list| list.iter().any(|i| i == name));
    let mut out = Vec::new();
    if f.receiver.is_some() && !ignored("self") {
        out.push(quote!(__persistdict_c.arg("self", &self);));
    }
    for arg in &f.args {
        let binding = &arg.binding;
        if arg.simple && ignored(&binding.to_string()) {
            continue;
        }
        let pat = &arg.pat;
        let name = if arg.simple { binding.to_string() } else { quote!(#pat).to_string() };
        // Spanned and bounded like the key's own call (`key_tokens`), so an
        // argument that is not `Serialize` gets one error, not two.
        let (ty, span) = (&arg.ty, arg.ty.span());
        if arg.has_impl_trait {
            out.push(quote_spanned!(span=> #private::Capture::arg(__persistdict_c, #name, &#binding);));
        } else {
            out.push(quote_spanned!(span=> #private::Capture::arg::<#ty>(__persistdict_c, #name, &#binding);));
        }
    }
    out
}

fn config_tokens(opts: &Options, f: &CachedFn, private: &TokenStream) -> TokenStream {
    let sig = &f.item.sig;
    let fn_name = sig.ident.to_string();
    let db = match opts.db.get() {
        Some(lit) => quote!(::core::option::Option::Some(#lit)),
        None => quote!(::core::option::Option::None),
    };
    let some_u64 = |v: Option<u64>| match v {
        Some(n) => quote!(::core::option::Option::Some(#n)),
        None => quote!(::core::option::Option::None),
    };
    let duration = |lit: Option<&syn::LitStr>| lit.and_then(|l| valid::parse_duration_ms(&l.value()));
    let expire_ms = duration(opts.expire.get()).or_else(|| {
        opts.expire_days.get().and_then(|d| d.base10_parse::<u64>().ok()).map(|d| d.saturating_mul(86_400_000))
    });
    let expire = some_u64(expire_ms);
    let fresh_for = some_u64(duration(opts.fresh_for.get()));
    let serve_stale = opts.on_error.get().is_some_and(|e| e.value() == "serve_stale");
    let machine_flight = opts.single_flight.get().is_none_or(|s| s.value() == "machine");
    let lease_timeout_ms = duration(opts.lease_timeout.get()).unwrap_or(30_000);
    let capture_args = opts.capture_args.get().is_none_or(|b| b.value);
    let refresh_bg = opts.refresh.get().is_some_and(|r| r.value() == "background");
    let durability = match opts.durability.get().map(|d| d.value()).as_deref() {
        Some("sync") => quote!(Sync),
        Some("no_sync") => quote!(NoSync),
        _ => quote!(NoMetaSync),
    };
    let lru: usize = opts.lru_capacity.get().and_then(|l| l.base10_parse().ok()).unwrap_or(128);
    let max_entries = some_u64(opts.max_entries.get().and_then(|n| n.base10_parse::<u64>().ok()));
    let max_bytes = some_u64(opts.max_size.get().and_then(|s| valid::parse_size(&s.value())));
    let prune_auto = opts.prune.get().is_some_and(|p| p.value() == "auto");
    let named = opts.name.get().is_some();
    let remote = opts.remote.get().is_none_or(|b| b.value);
    let mut sig_only = sig.clone();
    sig_only.inputs.iter_mut().for_each(|i| {
        if let FnArg::Typed(t) = i {
            t.attrs.clear();
        }
    });
    let sig_digest = namespace::digest(quote!(#sig_only));
    let version = match opts.version.get() {
        Some(v) => format!("v:{}", v.value()),
        None => {
            let block = &f.item.block;
            format!("b:{}", namespace::digest(quote!(#block)))
        }
    };
    let namespace = match opts.name.get() {
        Some(n) => {
            let s = format!("{}#{sig_digest}#{version}", n.value());
            quote!(#s)
        }
        None => {
            let tail = format!("::{fn_name}#{sig_digest}#{version}");
            quote!(::core::concat!(::core::module_path!(), #tail))
        }
    };
    // Spanned at the function's name: the wrapper and its companion expand
    // to the same place.
    let location = quote_spanned! {sig.ident.span()=>
        ::core::concat!(::core::file!(), ":", ::core::line!(), ":", ::core::column!())
    };
    quote! {
        #private::MemoConfig {
            db: #db,
            crate_name: ::core::env!("CARGO_PKG_NAME"),
            namespace: #namespace,
            expire_ms: #expire,
            fresh_for_ms: #fresh_for,
            serve_stale: #serve_stale,
            machine_flight: #machine_flight,
            lease_timeout_ms: #lease_timeout_ms,
            capture_args: #capture_args,
            refresh_background: #refresh_bg,
            durability: #private::Durability::#durability,
            lru_capacity: #lru,
            max_bytes: #max_bytes,
            max_entries: #max_entries,
            prune_auto: #prune_auto,
            named: #named,
            remote: #remote,
            module: ::core::module_path!(),
            location: #location,
        }
    }
}

/// The key-building block. `companion` is `Some((companion name, function
/// name))` in the companion, whose identity must be the wrapper's.
fn key_tokens(opts: &Options, f: &CachedFn, private: &TokenStream, companion: Option<(&str, &str)>) -> TokenStream {
    let ignored = |name: &str| opts.ignore.get().is_some_and(|list| list.iter().any(|i| i == name));
    let mut parts = Vec::new();
    if let Some(r) = &f.receiver
        && !ignored("self")
    {
        let span = r.self_token.span;
        parts.push(quote_spanned!(span=> #private::KeyBuilder::arg(&mut __persistdict_kb, &self);));
    }
    for arg in &f.args {
        let binding = &arg.binding;
        if arg.simple && ignored(&binding.to_string()) {
            continue;
        }
        let ty = &arg.ty;
        let span = ty.span();
        if arg.has_impl_trait {
            parts.push(quote!(__persistdict_kb.ty(::core::any::type_name_of_val(&#binding));));
            parts.push(quote_spanned!(span=> #private::KeyBuilder::arg(&mut __persistdict_kb, &#binding);));
        } else {
            parts.push(quote_spanned!(span=> #private::KeyBuilder::arg::<#ty>(&mut __persistdict_kb, &#binding);));
        }
    }
    if let Some(expr) = opts.extra_key.get() {
        let span = expr.span();
        parts.push(quote_spanned!(span=> #private::KeyBuilder::extra(&mut __persistdict_kb, &(#expr));));
    }
    let companion = match companion {
        Some((from, to)) => quote!(::core::option::Option::Some((#from, #to))),
        None => quote!(::core::option::Option::None),
    };
    // The closure's type name names this function exactly: its enclosing
    // items, its impl's self type and trait, and the concrete values of
    // every generic parameter of the function and of its impl.
    quote! {{
        let __persistdict_site = || ();
        let mut __persistdict_kb = #private::KeyBuilder::new(
            __persistdict_store,
            ::core::any::type_name_of_val(&__persistdict_site),
            #private::site_id(&__persistdict_site),
            #companion,
        );
        #(#parts)*
        __persistdict_kb
    }}
}
