//! Parsed request documents, kept for the next request with the same text.
//!
//! Writers send the same document again and again with new variables: the consumer's
//! chunk of 250 aliased `publish` fields is one text for every full chunk, a dashboard's
//! `start` is one text per ticker. Parsing that text (pest, 20 KB for a full chunk) was a
//! fifth of the CPU of a consumer benchmark run (BENCHMARKS.md); validation and coercion
//! still run on every request, since they depend on the variables and the caller.
//!
//! Bounded for hostile input: only texts up to [`MAX_CACHED_TEXT`] are kept, at most
//! [`MAX_CACHED`] of them and [`MAX_CACHED_BYTES`] of text in all; when a new one does not
//! fit, the cache is emptied and starts again (a flood of distinct documents costs each one
//! a parse, which it cost anyway, and a map insert). Nothing is parsed under the lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql_parser::types::ExecutableDocument;

/// Documents kept at most.
pub const MAX_CACHED: usize = 64;
/// Longest text kept (a full consumer chunk is about 20 KB).
pub const MAX_CACHED_TEXT: usize = 64 * 1024;
/// Text bytes kept in all.
pub const MAX_CACHED_BYTES: usize = 512 * 1024;

#[derive(Default)]
pub struct Documents {
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    by_text: HashMap<Box<str>, Arc<ExecutableDocument>>,
    bytes: usize,
}

impl std::fmt::Debug for Documents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.kept.lock().map_or(0, |k| k.by_text.len());
        f.debug_struct("Documents").field("kept", &kept).finish()
    }
}

impl Documents {
    /// The document of `text`: the one parsed before for the same text, or a new parse.
    pub fn parse(&self, text: &str) -> async_graphql_parser::Result<Arc<ExecutableDocument>> {
        if let Some(doc) = self
            .kept
            .lock()
            .ok()
            .and_then(|k| k.by_text.get(text).cloned())
        {
            return Ok(doc);
        }
        let doc = Arc::new(async_graphql_parser::parse_query(text)?);
        if text.len() <= MAX_CACHED_TEXT
            && let Ok(mut kept) = self.kept.lock()
        {
            if kept.by_text.len() >= MAX_CACHED || kept.bytes + text.len() > MAX_CACHED_BYTES {
                kept.by_text.clear();
                kept.bytes = 0;
            }
            if kept.by_text.insert(text.into(), doc.clone()).is_none() {
                kept.bytes += text.len();
            }
        }
        Ok(doc)
    }

    /// Documents kept now.
    pub fn len(&self) -> usize {
        self.kept.lock().map_or(0, |k| k.by_text.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_text_is_parsed_once() {
        let docs = Documents::default();
        let a = docs.parse("query { a }").unwrap();
        let b = docs.parse("query { a }").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let c = docs.parse("query { b }").unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(docs.len(), 2);
    }

    #[test]
    fn a_syntax_error_is_returned_and_not_kept() {
        let docs = Documents::default();
        assert!(docs.parse("query {").is_err());
        assert!(docs.parse("query {").is_err());
        assert!(docs.is_empty());
    }

    #[test]
    fn the_cache_stays_within_its_bounds() {
        let docs = Documents::default();
        for i in 0..(3 * MAX_CACHED) {
            docs.parse(&format!("query {{ f{i} }}")).unwrap();
            assert!(docs.len() <= MAX_CACHED);
        }
        // Long texts: kept while they fit in the byte budget, never past it.
        let long = |i: usize| format!("query {{ f{i} }}{}", " ".repeat(MAX_CACHED_TEXT - 20));
        for i in 0..20 {
            docs.parse(&long(i)).unwrap();
            let bytes = docs.kept.lock().unwrap().bytes;
            assert!(bytes <= MAX_CACHED_BYTES, "{bytes} bytes kept");
        }
        let too_long = format!("query {{ g }}{}", " ".repeat(MAX_CACHED_TEXT));
        let before = docs.len();
        let a = docs.parse(&too_long).unwrap();
        let b = docs.parse(&too_long).unwrap();
        assert!(!Arc::ptr_eq(&a, &b), "a text over the limit is not kept");
        assert_eq!(docs.len(), before);
    }
}
