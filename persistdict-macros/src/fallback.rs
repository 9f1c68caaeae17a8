//! On any error: the user's item unchanged plus every error, so the rest of
//! the crate still type-checks and the IDE keeps working.

use proc_macro2::TokenStream;
use quote::quote;

pub fn with_errors(item: TokenStream, errors: syn::Error) -> TokenStream {
    let errors = errors.to_compile_error();
    quote! {
        #errors
        #item
    }
}
