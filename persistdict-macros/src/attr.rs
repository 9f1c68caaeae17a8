//! PARSE the attribute's options. No cross-option logic here (see `valid.rs`).

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Ident, LitBool, LitInt, LitStr, Token};

use crate::ctxt::Ctxt;
use crate::symbol;

/// One option value and where it was written.
pub struct Attr<T> {
    pub value: Option<(Ident, T)>,
}

impl<T> Default for Attr<T> {
    fn default() -> Self {
        Attr { value: None }
    }
}

impl<T> Attr<T> {
    fn set(&mut self, cx: &Ctxt, name: Ident, value: T) {
        if self.value.is_some() {
            cx.error_spanned_by(&name, format!("duplicate persist_cache option `{name}`"));
        } else {
            self.value = Some((name, value));
        }
    }

    pub fn get(&self) -> Option<&T> {
        self.value.as_ref().map(|(_, v)| v)
    }
}

/// Every option, each remembering its span.
#[derive(Default)]
pub struct Options {
    pub db: Attr<LitStr>,
    pub expire_days: Attr<LitInt>,
    pub version: Attr<LitStr>,
    pub ignore: Attr<Vec<Ident>>,
    pub name: Attr<LitStr>,
    pub durability: Attr<LitStr>,
    pub lru_capacity: Attr<LitInt>,
    pub max_entries: Attr<LitInt>,
    pub max_size: Attr<LitStr>,
    pub prune: Attr<LitStr>,
    pub expire: Attr<LitStr>,
    pub fresh_for: Attr<LitStr>,
    pub on_error: Attr<LitStr>,
    pub single_flight: Attr<LitStr>,
    pub lease_timeout: Attr<LitStr>,
    pub extra_key: Attr<syn::Expr>,
    pub capture_args: Attr<LitBool>,
    pub refresh: Attr<LitStr>,
    pub companions: Attr<LitBool>,
    pub krate: Attr<LitStr>,
}

pub fn parse(cx: &Ctxt, args: TokenStream) -> Options {
    let mut opts = Options::default();
    let parser = |input: ParseStream<'_>| -> syn::Result<()> {
        while !input.is_empty() {
            let name = Ident::parse_any(input)?;
            let key = name.to_string();
            if key == symbol::IGNORE {
                let content;
                syn::parenthesized!(content in input);
                let list = Punctuated::<Ident, Token![,]>::parse_terminated_with(&content, Ident::parse_any)?;
                opts.ignore.set(cx, name, list.into_iter().collect());
            } else if key == symbol::EXTRA_KEY {
                let _: Token![=] =
                    input.parse().map_err(|e| syn::Error::new(e.span(), "expected `extra_key = <expression>`"))?;
                let expr: syn::Expr = input.parse()?;
                opts.extra_key.set(cx, name, expr);
            } else {
                let _: Token![=] =
                    input.parse().map_err(|e| syn::Error::new(e.span(), format!("expected `{key} = ...`")))?;
                let lit: syn::Lit = input.parse()?;
                set_literal(cx, &mut opts, name, lit);
            }
            if input.is_empty() {
                break;
            }
            let _: Token![,] = input.parse()?;
        }
        Ok(())
    };
    if let Err(e) = parser.parse2(args) {
        cx.syn_error(e);
    }
    opts
}

fn set_literal(cx: &Ctxt, opts: &mut Options, name: Ident, lit: syn::Lit) {
    let key = name.to_string();
    macro_rules! want {
        ($variant:ident, $what:literal, $field:ident) => {
            match lit {
                syn::Lit::$variant(v) => opts.$field.set(cx, name, v),
                other => cx.error_spanned_by(other, format!(concat!("`{}` expects ", $what), key)),
            }
        };
    }
    match key.as_str() {
        symbol::DB => want!(Str, "a string literal path, e.g. db = \"cache/embeddings\"", db),
        symbol::EXPIRE_DAYS => want!(Int, "a whole number of days, e.g. expire_days = 30", expire_days),
        symbol::VERSION => want!(Str, "a string literal, e.g. version = \"2\"", version),
        symbol::NAME => want!(Str, "a string literal namespace, e.g. name = \"embed\"", name),
        symbol::DURABILITY => want!(Str, "\"sync\", \"no_meta_sync\" or \"no_sync\"", durability),
        symbol::LRU_CAPACITY => want!(Int, "a number of entries, e.g. lru_capacity = 128", lru_capacity),
        symbol::MAX_ENTRIES => want!(Int, "a number of entries, e.g. max_entries = 100000", max_entries),
        symbol::MAX_SIZE => want!(Str, "a size with a unit, e.g. max_size = \"2 GiB\"", max_size),
        symbol::PRUNE => want!(Str, "\"auto\" or \"manual\"", prune),
        symbol::EXPIRE => want!(Str, "a duration, e.g. expire = \"12h\" or \"30days\"", expire),
        symbol::FRESH_FOR => want!(Str, "a duration, e.g. fresh_for = \"1h\"", fresh_for),
        symbol::ON_ERROR => want!(Str, "\"serve_stale\"", on_error),
        symbol::SINGLE_FLIGHT => want!(Str, "\"machine\" or \"process\"", single_flight),
        symbol::LEASE_TIMEOUT => want!(Str, "a duration, e.g. lease_timeout = \"30s\"", lease_timeout),
        symbol::COMPANIONS => want!(Bool, "`true` or `false`", companions),
        symbol::CAPTURE_ARGS => want!(Bool, "`true` or `false`", capture_args),
        symbol::REFRESH => want!(Str, "\"background\"", refresh),
        symbol::CRATE => want!(Str, "the path of the persistdict crate, e.g. crate = \"::my_persistdict\"", krate),
        _ => cx.error_spanned_by(
            &name,
            format!("unknown persist_cache option `{key}`; valid options are: {}", symbol::ALL.join(", ")),
        ),
    }
}

/// A span for errors about the attribute as a whole.
pub fn call_site() -> Span {
    Span::call_site()
}
