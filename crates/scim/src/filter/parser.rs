//! Recursive-descent parser: `or` < `and` < `not` < (group | valuePath | attrExp).

use serde_json::Number;

use super::ast::{CompValue, CompareOp, Filter};
use super::lexer::{tokenize, Tok, Token};
use super::{FilterError, Limits};
use crate::path::AttrPath;

const OPERATORS: &str = "eq, ne, co, sw, ew, gt, ge, lt, le, pr";

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token<'a>>,
    pos: usize,
    depth: usize,
    nodes: usize,
    in_value_filter: bool,
    limits: Limits,
}

/// Parses a filter, reporting errors with a byte offset.
pub(crate) fn parse(input: &str, limits: Limits) -> Result<Filter, FilterError> {
    if input.len() > limits.max_len {
        return Err(FilterError::new(
            limits.max_len,
            format!(
                "filter is longer than the maximum of {} bytes",
                limits.max_len
            ),
        ));
    }
    let tokens = tokenize(input)?;
    let mut p = Parser {
        input,
        tokens,
        pos: 0,
        depth: 0,
        nodes: 0,
        in_value_filter: false,
        limits,
    };
    let filter = p.parse_or()?;
    let t = p.peek();
    if t.tok != Tok::Eof {
        let what = if t.tok == Tok::RParen {
            "')' without a matching '('"
        } else {
            "'and', 'or' or the end of the filter"
        };
        return Err(p.error_at(t.start, what, t));
    }
    Ok(filter)
}

fn word_is(t: &Token<'_>, kw: &str) -> bool {
    matches!(t.tok, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Token<'a> {
        // The token list always ends with Eof and `pos` never moves past it.
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token<'a> {
        let t = self.peek().clone();
        if t.tok != Tok::Eof {
            self.pos += 1;
        }
        t
    }

    fn error_at(&self, offset: usize, expected: &str, found: &Token<'_>) -> FilterError {
        FilterError::new(
            offset,
            format!("expected {expected}, found {}", found.describe(self.input)),
        )
    }

    fn node(&mut self, offset: usize, f: Filter) -> Result<Filter, FilterError> {
        self.nodes += 1;
        if self.nodes > self.limits.max_nodes {
            return Err(FilterError::new(
                offset,
                format!("filter has more than {} expressions", self.limits.max_nodes),
            ));
        }
        Ok(f)
    }

    fn enter(&mut self, offset: usize) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            return Err(FilterError::new(
                offset,
                format!(
                    "filter is nested deeper than the maximum of {} levels",
                    self.limits.max_depth
                ),
            ));
        }
        Ok(())
    }

    fn expect(&mut self, tok: Tok<'static>, what: &str) -> Result<(), FilterError> {
        let t = self.next();
        if t.tok == tok {
            Ok(())
        } else {
            Err(self.error_at(t.start, what, &t))
        }
    }

    fn parse_or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.parse_and()?;
        while word_is(self.peek(), "or") {
            let at = self.next().start;
            let right = self.parse_and()?;
            left = self.node(at, Filter::or(left, right))?;
        }
        Ok(left)
    }

    fn parse_and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.parse_not()?;
        while word_is(self.peek(), "and") {
            let at = self.next().start;
            let right = self.parse_not()?;
            left = self.node(at, Filter::and(left, right))?;
        }
        Ok(left)
    }

    fn parse_not(&mut self) -> Result<Filter, FilterError> {
        let t = self.peek().clone();
        if word_is(&t, "not") {
            self.next();
            self.enter(t.start)?;
            self.expect(Tok::LParen, "'(' after 'not'")?;
            let inner = self.parse_or()?;
            self.expect(Tok::RParen, "')' or 'and'/'or'")?;
            self.depth -= 1;
            return self.node(t.start, Filter::not(inner));
        }
        if t.tok == Tok::LParen {
            self.next();
            self.enter(t.start)?;
            let inner = self.parse_or()?;
            self.expect(Tok::RParen, "')' or 'and'/'or'")?;
            self.depth -= 1;
            return Ok(inner);
        }
        self.parse_attr_exp()
    }

    fn parse_attr_exp(&mut self) -> Result<Filter, FilterError> {
        let t = self.next();
        let Tok::Word(word) = t.tok else {
            return Err(self.error_at(t.start, "an attribute path, 'not' or '('", &t));
        };
        let path =
            AttrPath::parse(word).map_err(|e| FilterError::new(t.start, e.detail.into_owned()))?;

        if self.peek().tok == Tok::LBracket {
            let open = self.next();
            if self.in_value_filter {
                return Err(FilterError::new(
                    open.start,
                    "value filters ('[...]') cannot be nested",
                ));
            }
            if path.sub.is_some() {
                return Err(FilterError::new(
                    t.start,
                    format!("a value filter applies to a multi-valued attribute, not to the sub-attribute '{path}'"),
                ));
            }
            self.enter(open.start)?;
            self.in_value_filter = true;
            let inner = self.parse_or()?;
            self.in_value_filter = false;
            self.expect(Tok::RBracket, "']' or 'and'/'or'")?;
            self.depth -= 1;
            return self.node(
                t.start,
                Filter::ValuePath {
                    path,
                    filter: Box::new(inner),
                },
            );
        }

        let op_tok = self.next();
        let op_word = match op_tok.tok {
            Tok::Word(w) => w,
            _ => {
                return Err(self.error_at(
                    op_tok.start,
                    &format!("a comparison operator ({OPERATORS})"),
                    &op_tok,
                ))
            }
        };
        if op_word.eq_ignore_ascii_case("pr") {
            return self.node(t.start, Filter::Present(path));
        }
        let Some(op) = CompareOp::from_keyword(op_word) else {
            return Err(self.error_at(
                op_tok.start,
                &format!("a comparison operator ({OPERATORS})"),
                &op_tok,
            ));
        };
        let value = self.parse_value()?;
        self.node(t.start, Filter::Compare { path, op, value })
    }

    fn parse_value(&mut self) -> Result<CompValue, FilterError> {
        let t = self.next();
        let expected =
            "a comparison value (a string in double quotes, a number, true, false or null)";
        match &t.tok {
            Tok::Str(s) => Ok(CompValue::Str(s.clone())),
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => Ok(CompValue::Bool(true)),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => Ok(CompValue::Bool(false)),
            Tok::Word(w) if w.eq_ignore_ascii_case("null") => Ok(CompValue::Null),
            Tok::Word(w) => parse_number(w)
                .map(CompValue::Number)
                .ok_or_else(|| self.error_at(t.start, expected, &t)),
            _ => Err(self.error_at(t.start, expected, &t)),
        }
    }
}

/// A JSON number. Non-integers are re-parsed with the standard library, which rounds
/// correctly, so `Display` then parse gives back the same `f64`.
fn parse_number(w: &str) -> Option<Number> {
    let n: Number = w.parse().ok()?;
    if n.is_f64() {
        return Number::from_f64(w.parse::<f64>().ok()?);
    }
    Some(n)
}
