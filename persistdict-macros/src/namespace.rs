//! The per-function namespace: the function's path, a digest of its
//! signature, and a digest of its body (or the user's `version`).
//!
//! Digests come from a normalized walk of the tokens (identifier text,
//! punctuation with its spacing, literal text, group delimiters), not from
//! `TokenStream::to_string()`, whose spacing may change between compiler
//! releases and would silently invalidate every cache.

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};
use sha2::{Digest, Sha256};

fn walk(tokens: TokenStream, out: &mut Sha256) {
    for tt in tokens {
        match tt {
            TokenTree::Ident(i) => {
                out.update(b"i");
                out.update(i.to_string().as_bytes());
            }
            TokenTree::Punct(p) => {
                out.update(b"p");
                let mut buf = [0u8; 4];
                out.update(p.as_char().encode_utf8(&mut buf).as_bytes());
                out.update(if p.spacing() == Spacing::Joint { b"j" } else { b"a" });
            }
            TokenTree::Literal(l) => {
                out.update(b"l");
                out.update(l.to_string().as_bytes());
            }
            TokenTree::Group(g) => {
                out.update(match g.delimiter() {
                    Delimiter::Parenthesis => b"(",
                    Delimiter::Brace => b"{",
                    Delimiter::Bracket => b"[",
                    Delimiter::None => b"_",
                });
                walk(g.stream(), out);
                out.update(b"}");
            }
        }
        out.update([0]);
    }
}

/// A short hex digest of a token stream.
pub fn digest(tokens: TokenStream) -> String {
    let mut h = Sha256::new();
    walk(tokens, &mut h);
    h.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn whitespace_does_not_matter_but_tokens_do() {
        let a: TokenStream = "{ let x = 1 ; x + 2 }".parse().unwrap();
        let b: TokenStream = "{let x=1;x+2}".parse().unwrap();
        assert_eq!(digest(a), digest(b));
        assert_ne!(digest(quote!({ x + 2 })), digest(quote!({ x + 3 })));
    }
}
