//! Tokens of the filter language, with byte offsets for error messages.

use super::FilterError;

/// A token kind.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok<'a> {
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// A run of characters other than whitespace, brackets and `"`: an attribute path,
    /// a keyword (`and`, `eq`, `pr`, ...) or a non-string literal (`true`, `42`).
    Word(&'a str),
    /// A JSON string literal, unescaped.
    Str(String),
    Eof,
}

/// A token and where it starts and ends (byte offsets into the input).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token<'a> {
    pub tok: Tok<'a>,
    pub start: usize,
    pub end: usize,
}

impl Token<'_> {
    /// How the token is quoted in "found ..." messages.
    pub fn describe(&self, input: &str) -> String {
        match &self.tok {
            Tok::Eof => "end of input".to_owned(),
            _ => {
                let text = input.get(self.start..self.end).unwrap_or_default();
                let short: String = text.chars().take(40).collect();
                let ellipsis = if short.len() < text.len() { "..." } else { "" };
                format!("'{short}{ellipsis}'")
            }
        }
    }
}

fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"')
}

/// Splits `input` into tokens; the last one is always [`Tok::Eof`].
pub(crate) fn tokenize(input: &str) -> Result<Vec<Token<'_>>, FilterError> {
    let mut tokens = Vec::new();
    let mut iter = input.char_indices().peekable();
    while let Some(&(start, c)) = iter.peek() {
        let single = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            _ => None,
        };
        if let Some(tok) = single {
            iter.next();
            tokens.push(Token {
                tok,
                start,
                end: start + 1,
            });
        } else if c.is_whitespace() {
            iter.next();
        } else if c == '"' {
            iter.next();
            let mut escaped = false;
            let mut end = None;
            for (i, ch) in iter.by_ref() {
                if escaped {
                    escaped = false;
                } else if ch == '\\' {
                    escaped = true;
                } else if ch == '"' {
                    end = Some(i + 1);
                    break;
                }
            }
            let end = end.ok_or_else(|| {
                FilterError::new(start, "unterminated string: a closing '\"' is missing")
            })?;
            let raw = &input[start..end];
            let s: String = serde_json::from_str(raw).map_err(|e| {
                FilterError::new(start, format!("invalid string literal ({e}); strings use JSON escapes such as \\\" and \\\\"))
            })?;
            tokens.push(Token {
                tok: Tok::Str(s),
                start,
                end,
            });
        } else {
            let mut end = input.len();
            while let Some(&(i, ch)) = iter.peek() {
                if is_delimiter(ch) {
                    end = i;
                    break;
                }
                iter.next();
            }
            tokens.push(Token {
                tok: Tok::Word(&input[start..end]),
                start,
                end,
            });
        }
    }
    tokens.push(Token {
        tok: Tok::Eof,
        start: input.len(),
        end: input.len(),
    });
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<Tok<'_>> {
        tokenize(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn splits_words_brackets_and_strings() {
        assert_eq!(
            kinds(r#"emails[type eq "w\"ork"]or(x pr)"#),
            vec![
                Tok::Word("emails"),
                Tok::LBracket,
                Tok::Word("type"),
                Tok::Word("eq"),
                Tok::Str("w\"ork".into()),
                Tok::RBracket,
                Tok::Word("or"),
                Tok::LParen,
                Tok::Word("x"),
                Tok::Word("pr"),
                Tok::RParen,
                Tok::Eof,
            ]
        );
    }

    #[test]
    fn offsets_are_bytes() {
        let t = tokenize("né eq \"x\"").unwrap();
        assert_eq!((t[1].start, t[2].start, t[2].end), (4, 7, 10));
    }

    #[test]
    fn unterminated_string() {
        let e = tokenize(r#"a eq "abc"#).unwrap_err();
        assert_eq!(e.offset, 5);
    }
}
