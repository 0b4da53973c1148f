//! Integer expressions in workload files: `table_size`, `id + range_size - 1`, `42`.
//!
//! Deliberately tiny: integers and names joined by `+` and `-`. Names are settings
//! (`table_size`, `range_size`, ...) or, inside a step, the step's `let` values.

use serde::Serialize;

/// A parsed expression: a sum of signed terms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expr {
    pub terms: Vec<(i64, Term)>,
    /// The text it came from, for messages.
    pub text: String,
    /// Where it was written (1-based line and column in its file), for messages about it.
    #[serde(skip)]
    pub at: Option<(usize, usize)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Term {
    Int(i64),
    Name(String),
}

impl Expr {
    pub fn int(v: i64) -> Expr {
        Expr {
            terms: vec![(1, Term::Int(v))],
            text: v.to_string(),
            at: None,
        }
    }

    pub fn parse(text: &str) -> Result<Expr, String> {
        let mut terms = Vec::new();
        let mut sign = 1i64;
        let mut expect_term = true;
        let mut chars = text.char_indices().peekable();
        while let Some(&(i, c)) = chars.peek() {
            if c.is_whitespace() {
                chars.next();
                continue;
            }
            if expect_term {
                if c == '-' && terms.is_empty() && sign == 1 {
                    sign = -1;
                    chars.next();
                    continue;
                }
                let start = i;
                let mut end = i;
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_ascii_alphanumeric() || d == '_' {
                        end = j + d.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let word = &text[start..end];
                if word.is_empty() {
                    return Err(format!("expected a number or a name at `{}`", &text[i..]));
                }
                let term = if word.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                    Term::Int(
                        word.parse()
                            .map_err(|_| format!("`{word}` is not an integer"))?,
                    )
                } else {
                    Term::Name(word.to_string())
                };
                terms.push((sign, term));
                expect_term = false;
            } else {
                sign = match c {
                    '+' => 1,
                    '-' => -1,
                    _ => return Err(format!("expected `+` or `-` at `{}`", &text[i..])),
                };
                chars.next();
                expect_term = true;
            }
        }
        if expect_term {
            return Err(if terms.is_empty() {
                "empty expression".to_string()
            } else {
                "expression ends with an operator".to_string()
            });
        }
        Ok(Expr {
            terms,
            text: text.to_string(),
            at: None,
        })
    }

    /// Names used by the expression.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.terms.iter().filter_map(|(_, t)| match t {
            Term::Name(n) => Some(n.as_str()),
            Term::Int(_) => None,
        })
    }

    /// The same expression, marked as written at `at` (line, column).
    pub fn located(mut self, at: (usize, usize)) -> Expr {
        self.at = Some(at);
        self
    }

    /// Evaluate with every name looked up by `lookup`. Every term and the result must lie
    /// within ±[`LIMIT`]; anything past it is an error, never a wrapped or clamped number.
    pub fn eval(&self, lookup: &dyn Fn(&str) -> Option<i64>) -> Result<i64, String> {
        let mut v = 0i128;
        for (s, t) in &self.terms {
            let x = match t {
                Term::Int(i) => *i,
                Term::Name(n) => lookup(n).ok_or_else(|| format!("unknown name `{n}`"))?,
            };
            v += *s as i128 * within_limit(x, t)? as i128;
        }
        within_limit(
            i64::try_from(v).map_err(|_| too_big(&self.text))?,
            &Term::Name(self.text.clone()),
        )
        .map_err(|_| too_big(&self.text))
    }
}

/// The largest magnitude a workload's numbers may take: 10^18. Two of them added or
/// subtracted (a range's width, `id + range_size`) stay inside a 64-bit integer.
pub const LIMIT: i64 = 1_000_000_000_000_000_000;

/// `v` if it lies within ±[`LIMIT`].
pub fn within_limit(v: i64, what: &Term) -> Result<i64, String> {
    if v.checked_abs().is_some_and(|a| a <= LIMIT) {
        return Ok(v);
    }
    Err(match what {
        Term::Int(_) => format!("{v} is out of range: a workload's numbers lie within ±10^18"),
        Term::Name(n) => {
            format!("`{n}` is {v} here, out of range: a workload's numbers lie within ±10^18")
        }
    })
}

fn too_big(text: &str) -> String {
    format!("`{text}` is out of range: a workload's numbers lie within ±10^18")
}

impl Expr {
    /// Numbers written in the expression that lie outside ±[`LIMIT`], as an error.
    pub fn check_literals(&self) -> Result<(), String> {
        for (_, t) in &self.terms {
            if let Term::Int(i) = t {
                within_limit(*i, t)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_evaluates() {
        let e = Expr::parse("id + range_size - 1").unwrap();
        let v = e
            .eval(&|n| match n {
                "id" => Some(10),
                "range_size" => Some(100),
                _ => None,
            })
            .unwrap();
        assert_eq!(v, 109);
        assert_eq!(Expr::parse("-5").unwrap().eval(&|_| None).unwrap(), -5);
        assert_eq!(Expr::parse("42").unwrap().eval(&|_| None).unwrap(), 42);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "a +", "a * b", "1 2", "+"] {
            assert!(Expr::parse(bad).is_err(), "{bad}");
        }
        let e = Expr::parse("nope").unwrap();
        assert!(e.eval(&|_| None).unwrap_err().contains("nope"));
    }
}
