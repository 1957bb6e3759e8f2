//! GraphQL's lexical tokens, read from request text without allocating, for the checks that
//! must run before a request is parsed (`limits.rs`): one token iterator, so the text is
//! lexed once and every pre-parse check agrees on what a token is.

/// One lexical token. Strings, block strings, numbers and anything the parser will refuse are
/// a [`Token::Value`] each; white space, commas and comments are not tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Token<'a> {
    Name(&'a str),
    /// `...`: a fragment spread or an inline fragment.
    Spread,
    /// `{`, `[` or `(`.
    Open(u8),
    /// `}`, `]` or `)`.
    Close(u8),
    /// Any other one-byte punctuator: `:`, `@`, `$`, `=`, `!`, `|`, `&`.
    Punct(u8),
    Value,
}

/// The tokens of a text, in order.
pub(super) struct Tokens<'a> {
    text: &'a str,
    i: usize,
}

impl<'a> Tokens<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Self { text, i: 0 }
    }

    /// Moves past white space, commas and comments.
    fn skip_ignored(&mut self) {
        let b = self.text.as_bytes();
        while self.i < b.len() {
            match b[self.i] {
                b' ' | b'\t' | b'\n' | b'\r' | b',' => self.i += 1,
                b'#' => {
                    while self.i < b.len() && b[self.i] != b'\n' && b[self.i] != b'\r' {
                        self.i += 1;
                    }
                }
                _ => return,
            }
        }
    }

    /// The next token's first byte, without taking it.
    pub(super) fn peek_byte(&mut self) -> Option<u8> {
        self.skip_ignored();
        self.text.as_bytes().get(self.i).copied()
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        self.skip_ignored();
        let b = self.text.as_bytes();
        let start = self.i;
        let c = *b.get(start)?;
        let (end, token) = match c {
            b'"' if b[start..].starts_with(b"\"\"\"") => {
                (block_string_end(b, start + 3), Token::Value)
            }
            b'"' => (string_end(b, start + 1), Token::Value),
            b'.' if b[start..].starts_with(b"...") => (start + 3, Token::Spread),
            b'{' | b'[' | b'(' => (start + 1, Token::Open(c)),
            b'}' | b']' | b')' => (start + 1, Token::Close(c)),
            c if c == b'_' || c.is_ascii_alphabetic() => {
                let mut end = start + 1;
                while end < b.len() && (b[end] == b'_' || b[end].is_ascii_alphanumeric()) {
                    end += 1;
                }
                (end, Token::Name(&self.text[start..end]))
            }
            c if c == b'-' || c.is_ascii_digit() => (number_end(b, start + 1), Token::Value),
            b':' | b'@' | b'$' | b'=' | b'!' | b'|' | b'&' => (start + 1, Token::Punct(c)),
            // Anything else the parser will refuse: one token per byte.
            _ => (start + 1, Token::Value),
        };
        self.i = end;
        Some(token)
    }
}

/// The index after a `"` string starting before `i` (escapes skipped; a line end or the end of
/// the text ends an unterminated one, which the parser then refuses).
fn string_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            b'\n' | b'\r' => return i,
            _ => i += 1,
        }
    }
    b.len()
}

/// The index after a `"""` block string whose text starts at `i` (`\"""` does not end it).
fn block_string_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() {
        if b[i..].starts_with(b"\\\"\"\"") {
            i += 4;
        } else if b[i..].starts_with(b"\"\"\"") {
            return i + 3;
        } else {
            i += 1;
        }
    }
    b.len()
}

/// The index after a number whose first character is before `i`: digits, then an optional
/// fraction and exponent.
fn number_end(b: &[u8], mut i: usize) -> usize {
    let digits = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    i = digits(i);
    if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
        i = digits(i + 1);
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            i = digits(j);
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_what_graphql_lexes() {
        let text = "query Q($a: [Int!] = -1.5e+10) @x { ...F b: c(s: \"a \\\" { b\", t: \"\"\"x \\\"\"\" y\"\"\") } # { ( [\n,";
        let tokens: Vec<Token> = Tokens::new(text).collect();
        use Token::*;
        assert_eq!(
            tokens,
            [
                Name("query"),
                Name("Q"),
                Open(b'('),
                Punct(b'$'),
                Name("a"),
                Punct(b':'),
                Open(b'['),
                Name("Int"),
                Punct(b'!'),
                Close(b']'),
                Punct(b'='),
                Value,
                Close(b')'),
                Punct(b'@'),
                Name("x"),
                Open(b'{'),
                Spread,
                Name("F"),
                Name("b"),
                Punct(b':'),
                Name("c"),
                Open(b'('),
                Name("s"),
                Punct(b':'),
                Value,
                Name("t"),
                Punct(b':'),
                Value,
                Close(b')'),
                Close(b'}'),
            ]
        );
    }

    #[test]
    fn peeking_skips_comments_and_commas() {
        let mut tokens = Tokens::new("a # note\n , : b");
        assert_eq!(tokens.next(), Some(Token::Name("a")));
        assert_eq!(tokens.peek_byte(), Some(b':'));
        assert_eq!(tokens.next(), Some(Token::Punct(b':')));
        assert_eq!(tokens.next(), Some(Token::Name("b")));
        assert_eq!(tokens.peek_byte(), None);
        assert_eq!(tokens.next(), None);
    }
}
