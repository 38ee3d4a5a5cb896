//! A small SPDX licence expression evaluator for the built-in licence check.
//!
//! Grammar (SPDX 2.3 annex D, plus the legacy `/` that older crates use for `OR`):
//! `or := and (("OR" | "/") and)*`, `and := with ("AND" with)*`, `with := atom ("WITH" id)?`,
//! `atom := id | "(" or ")"`. Operators are matched case-insensitively, as are identifiers.
//! A trailing `+` ("or later") is satisfied by the licence itself. An exception must be allowed
//! together with its licence (`Apache-2.0 WITH LLVM-exception`): allowing `Apache-2.0` alone
//! does not allow it with an exception, which can change the terms.

/// A parsed licence expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Expr {
    /// One licence, perhaps with an exception.
    License(Licensee),
    /// Both must be allowed.
    And(Box<Expr>, Box<Expr>),
    /// Either may be chosen.
    Or(Box<Expr>, Box<Expr>),
}

/// A licence identifier with an optional exception, normalised for comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Licensee {
    id: String,
    exception: Option<String>,
}

impl Licensee {
    /// Parses an allow-list entry: `ID` or `ID WITH EXCEPTION`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        match parse(text)? {
            Expr::License(licensee) => Ok(licensee),
            _ => Err(format!("`{text}` is an expression, not one licence")),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Word(String),
}

fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        let separator = match c {
            '(' => Some(Token::Open),
            ')' => Some(Token::Close),
            '/' => Some(Token::Word("OR".to_owned())),
            c if c.is_whitespace() => None,
            c => {
                word.push(c);
                continue;
            }
        };
        if !word.is_empty() {
            out.push(Token::Word(std::mem::take(&mut word)));
        }
        out.extend(separator);
    }
    if !word.is_empty() {
        out.push(Token::Word(word));
    }
    out
}

fn is_operator(word: &str, operator: &str) -> bool {
    word.eq_ignore_ascii_case(operator)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek_operator(&self, operator: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if is_operator(w, operator))
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.peek_operator("OR") {
            self.at += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.with()?;
        while self.peek_operator("AND") {
            self.at += 1;
            left = Expr::And(Box::new(left), Box::new(self.with()?));
        }
        Ok(left)
    }

    fn with(&mut self) -> Result<Expr, String> {
        let atom = self.atom()?;
        if !self.peek_operator("WITH") {
            return Ok(atom);
        }
        self.at += 1;
        let Expr::License(licensee) = atom else {
            return Err("WITH must follow a single licence".to_owned());
        };
        let exception = self.identifier("an exception after WITH")?;
        Ok(Expr::License(Licensee {
            exception: Some(exception),
            ..licensee
        }))
    }

    fn atom(&mut self) -> Result<Expr, String> {
        if matches!(self.tokens.get(self.at), Some(Token::Open)) {
            self.at += 1;
            let inner = self.or()?;
            return match self.next() {
                Some(Token::Close) => Ok(inner),
                _ => Err("unbalanced parenthesis".to_owned()),
            };
        }
        let id = self.identifier("a licence")?;
        Ok(Expr::License(Licensee {
            id: id.trim_end_matches('+').to_owned(),
            exception: None,
        }))
    }

    fn identifier(&mut self, what: &str) -> Result<String, String> {
        match self.next() {
            Some(Token::Word(word))
                if !["AND", "OR", "WITH"]
                    .iter()
                    .any(|operator| is_operator(&word, operator)) =>
            {
                Ok(word.to_ascii_lowercase())
            }
            Some(other) => Err(format!("expected {what}, found {other:?}")),
            None => Err(format!("expected {what}, found the end")),
        }
    }
}

/// Parses a licence expression.
pub(crate) fn parse(text: &str) -> Result<Expr, String> {
    let mut parser = Parser {
        tokens: tokens(text),
        at: 0,
    };
    let expr = parser.or()?;
    match parser.tokens.get(parser.at) {
        None => Ok(expr),
        Some(token) => Err(format!("unexpected {token:?} in `{text}`")),
    }
}

/// Whether some choice the expression offers uses only allowed licences.
pub(crate) fn satisfied(expr: &Expr, allowed: &[Licensee]) -> bool {
    match expr {
        Expr::License(licensee) => allowed.contains(licensee),
        Expr::And(left, right) => satisfied(left, allowed) && satisfied(right, allowed),
        Expr::Or(left, right) => satisfied(left, allowed) || satisfied(right, allowed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow_list() -> Vec<Licensee> {
        [
            "MIT",
            "Apache-2.0",
            "Apache-2.0 WITH LLVM-exception",
            "BSD-3-Clause",
            "Unicode-3.0",
        ]
        .iter()
        .map(|entry| Licensee::parse(entry).unwrap())
        .collect()
    }

    fn allowed(text: &str) -> bool {
        satisfied(&parse(text).unwrap(), &allow_list())
    }

    #[test]
    fn single_licences() {
        assert!(allowed("MIT"));
        assert!(allowed("mit"), "identifiers compare case-insensitively");
        assert!(!allowed("GPL-3.0"));
        assert!(!allowed("MIT-0"), "no prefix matching");
    }

    #[test]
    fn or_needs_one_allowed_choice() {
        assert!(allowed("MIT OR Apache-2.0"));
        assert!(allowed("GPL-3.0-only OR MIT"));
        assert!(allowed("MIT or GPL-3.0"));
        assert!(!allowed("GPL-3.0 OR LGPL-2.1"));
    }

    #[test]
    fn and_needs_every_part_allowed() {
        assert!(allowed("MIT AND BSD-3-Clause"));
        assert!(!allowed("MIT AND GPL-3.0"));
        assert!(allowed("(MIT OR Apache-2.0) AND Unicode-3.0"));
        assert!(!allowed("(MIT OR Apache-2.0) AND GPL-3.0"));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        // GPL-3.0 OR (MIT AND Apache-2.0)
        assert!(allowed("GPL-3.0 OR MIT AND Apache-2.0"));
        // (MIT AND GPL-3.0) OR Apache-2.0
        assert!(allowed("MIT AND GPL-3.0 OR Apache-2.0"));
        // GPL-3.0 OR (MIT AND LGPL-2.1): neither choice is allowed
        assert!(!allowed("GPL-3.0 OR MIT AND LGPL-2.1"));
        assert_eq!(
            parse("A OR B AND C").unwrap(),
            parse("A OR (B AND C)").unwrap()
        );
    }

    #[test]
    fn exceptions_must_be_allowed_with_their_licence() {
        assert!(allowed("Apache-2.0 WITH LLVM-exception"));
        assert!(allowed(
            "Apache-2.0 WITH LLVM-exception OR Apache-2.0 OR MIT"
        ));
        assert!(!allowed("Apache-2.0 WITH Classpath-exception-2.0"));
        assert!(!allowed("GPL-2.0 WITH LLVM-exception"));
        assert!(!allowed("MIT WITH LLVM-exception"));
    }

    #[test]
    fn legacy_slash_means_or() {
        assert!(allowed("MIT/Apache-2.0"));
        assert!(allowed("GPL-3.0/MIT"));
        assert!(allowed("MIT / Apache-2.0"));
        assert!(!allowed("GPL-3.0/LGPL-3.0"));
    }

    #[test]
    fn or_later_is_satisfied_by_the_licence() {
        assert!(allowed("Apache-2.0+"));
        assert!(!allowed("GPL-2.0+"));
    }

    #[test]
    fn malformed_expressions_are_errors() {
        for text in [
            "",
            "MIT OR",
            "OR MIT",
            "(MIT",
            "MIT)",
            "MIT Apache-2.0",
            "MIT WITH",
            "(MIT OR Apache-2.0) WITH LLVM-exception",
        ] {
            assert!(parse(text).is_err(), "{text:?} should not parse");
        }
        assert!(Licensee::parse("MIT OR Apache-2.0").is_err());
    }
}
