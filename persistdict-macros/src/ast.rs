//! PARSE the item into the model the other passes read.

use proc_macro2::Span;
use syn::{FnArg, Ident, ItemFn, Pat, PathArguments, ReturnType, Type};

/// One typed argument.
pub struct Arg {
    /// The pattern as written (`x`, `mut x`, `(a, b)`).
    pub pat: Box<Pat>,
    pub ty: Box<Type>,
    /// The name the wrapper binds the argument to: the user's identifier, or
    /// `__persistdict_arg<i>` for a destructuring pattern.
    pub binding: Ident,
    /// Whether the pattern is a plain identifier (kept in the signature).
    pub simple: bool,
    /// Whether `impl Trait` appears in the type (its concrete type is hashed).
    pub has_impl_trait: bool,
}

/// What the function returns.
pub enum Output {
    /// `Result<T, E>` (any path ending in `Result` with type arguments): only `Ok` is stored.
    Result { ok: Type },
    /// Anything else, `()` included.
    Plain(Type),
}

/// The function being cached.
pub struct CachedFn {
    pub item: ItemFn,
    /// `Some(by_value)` when the function has a `self` receiver.
    pub receiver: Option<syn::Receiver>,
    pub args: Vec<Arg>,
    pub output: Output,
}

impl CachedFn {
    pub fn from_item(item: ItemFn) -> Self {
        let mut receiver = None;
        let mut args = Vec::new();
        for (i, input) in item.sig.inputs.iter().enumerate() {
            match input {
                FnArg::Receiver(r) => receiver = Some(r.clone()),
                FnArg::Typed(t) => {
                    let (binding, simple) = match &*t.pat {
                        Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => (p.ident.clone(), true),
                        _ => (Ident::new(&format!("__persistdict_arg{i}"), Span::call_site()), false),
                    };
                    args.push(Arg {
                        pat: t.pat.clone(),
                        ty: t.ty.clone(),
                        binding,
                        simple,
                        has_impl_trait: contains_impl_trait(&t.ty),
                    });
                }
            }
        }
        let output = match &item.sig.output {
            ReturnType::Default => Output::Plain(syn::parse_quote!(())),
            ReturnType::Type(_, ty) => match result_ok_type(ty) {
                Some(ok) => Output::Result { ok },
                None => Output::Plain((**ty).clone()),
            },
        };
        CachedFn { item, receiver, args, output }
    }

    pub fn return_type(&self) -> Type {
        match &self.item.sig.output {
            ReturnType::Default => syn::parse_quote!(()),
            ReturnType::Type(_, ty) => (**ty).clone(),
        }
    }
}

fn result_ok_type(ty: &Type) -> Option<Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else { return None };
    match args.args.first()? {
        syn::GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    }
}

pub fn contains_impl_trait(ty: &Type) -> bool {
    use syn::visit::Visit;
    struct Finder(bool);
    impl<'a> Visit<'a> for Finder {
        fn visit_type_impl_trait(&mut self, _: &'a syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let mut f = Finder(false);
    f.visit_type(ty);
    f.0
}

/// Whether a type borrows (`&T`, or a path with a lifetime argument).
pub fn borrows(ty: &Type) -> bool {
    use syn::visit::Visit;
    struct Finder(bool);
    impl<'a> Visit<'a> for Finder {
        fn visit_type_reference(&mut self, _: &'a syn::TypeReference) {
            self.0 = true;
        }
        fn visit_lifetime(&mut self, l: &'a syn::Lifetime) {
            if l.ident != "static" {
                self.0 = true;
            }
        }
    }
    let mut f = Finder(false);
    f.visit_type(ty);
    f.0
}
