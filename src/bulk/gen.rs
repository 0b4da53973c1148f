//! Seeded row generation for the bulk and index workloads, and the two encodings rows travel
//! in (SQL literals, `LOAD DATA` tab-separated text) plus the order-independent checksum.
//!
//! A row is a pure function of `(seed, row number, revision)`: any worker can produce any batch,
//! a retried batch is the same batch, and the expected checksum can be recomputed after the sync
//! without keeping the rows. The natural key depends on the row number only, so a later
//! revision changes a row's other columns, never its identity. Values are produced as the text
//! the server prints for them (`DECIMAL(12,2)` as `12.50`, `DATETIME` as `2024-03-01 12:00:00`),
//! which is what makes a client-side checksum comparable with the server's `CRC32(CONCAT_WS(...))`.

use crate::workload::Pattern;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// One value: the server's text form, or NULL.
pub type Cell = Option<Vec<u8>>;

/// A row: one cell per column, in the spec's column order.
pub type Row = Vec<Cell>;

/// How a column's values are made.
#[derive(Debug, Clone, PartialEq)]
pub enum ColGen {
    /// The natural key from the row number: `prefix`, the number zero-padded to `width`,
    /// `suffix` (from `key = "ORD-{n:010}"`).
    Key {
        prefix: String,
        width: usize,
        suffix: String,
    },
    /// An integer, uniform in `[min, max]`.
    Int { min: i64, max: i64 },
    /// A decimal, uniform in `[min, max]` with `scale` digits after the point.
    Decimal { min: i64, max: i64, scale: u32 },
    /// One of the listed strings, uniformly.
    Choice(Vec<String>),
    /// A `DATETIME`, uniform between two instants (Unix seconds, UTC, no time zone applied).
    DateTime { min: i64, max: i64 },
    /// A `#`/`@` template (digit / lower-case letter).
    Str(Pattern),
    /// Words, `min` to `max` characters long (some of them non-ASCII).
    Text { min: usize, max: usize },
    /// Always this value.
    Const(String),
}

impl ColGen {
    /// Whether the value is a number (for the index workload's parameters and docs).
    pub fn is_numeric(&self) -> bool {
        matches!(self, ColGen::Int { .. } | ColGen::Decimal { .. })
    }
}

/// A column and its generator.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    pub name: String,
    pub gen: ColGen,
    /// Percent of rows (0–100) where the column is NULL.
    pub null_pct: u32,
}

/// An integer bound: a number, or the name of an integer setting (`"users"`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub enum Bound {
    Int(i64),
    Name(String),
}

impl Bound {
    fn resolve(&self, vars: &dyn Fn(&str) -> Option<i64>) -> Result<i64, String> {
        match self {
            Bound::Int(i) => Ok(*i),
            Bound::Name(n) => vars(n).ok_or_else(|| format!("unknown integer setting `{n}`")),
        }
    }
}

/// The raw TOML form of a column: `{ name = "amount", decimal = [1, 5000], scale = 2 }`. A
/// statement parameter has the same form without `name`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawColumn {
    #[serde(default)]
    pub name: String,
    pub key: Option<String>,
    pub int: Option<[Bound; 2]>,
    pub decimal: Option<[i64; 2]>,
    pub scale: Option<u32>,
    pub choice: Option<Vec<String>>,
    pub datetime: Option<[String; 2]>,
    pub str: Option<String>,
    pub text: Option<[usize; 2]>,
    pub value: Option<String>,
    pub null_pct: Option<u32>,
}

impl RawColumn {
    /// Validate and compile; integer bounds may name settings (`vars`). Errors are plain
    /// messages; the caller adds file and line.
    pub fn compile(&self, vars: &dyn Fn(&str) -> Option<i64>) -> Result<ColumnSpec, String> {
        crate::target::check_identifier(&self.name).map_err(|w| format!("column name {w}"))?;
        let mut gens = Vec::new();
        if let Some(k) = &self.key {
            gens.push(parse_key(k)?);
        }
        if let Some([a, b]) = &self.int {
            let (a, b) = (a.resolve(vars)?, b.resolve(vars)?);
            if a > b {
                return Err(format!("`int = [{a}, {b}]`: min is above max"));
            }
            gens.push(ColGen::Int { min: a, max: b });
        }
        if let Some([a, b]) = self.decimal {
            if a > b {
                return Err(format!("`decimal = [{a}, {b}]`: min is above max"));
            }
            let scale = self.scale.unwrap_or(2);
            if scale > 9 {
                return Err("`scale` must be 0 to 9".into());
            }
            gens.push(ColGen::Decimal {
                min: a,
                max: b,
                scale,
            });
        } else if self.scale.is_some() {
            return Err("`scale` goes with `decimal = [min, max]`".into());
        }
        if let Some(c) = &self.choice {
            if c.is_empty() {
                return Err("`choice` needs at least one value".into());
            }
            gens.push(ColGen::Choice(c.clone()));
        }
        if let Some([a, b]) = &self.datetime {
            let (min, max) = (parse_datetime(a)?, parse_datetime(b)?);
            if min > max {
                return Err(format!(
                    "`datetime = [\"{a}\", \"{b}\"]`: the first is later"
                ));
            }
            gens.push(ColGen::DateTime { min, max });
        }
        if let Some(s) = &self.str {
            gens.push(ColGen::Str(Pattern::new(s)));
        }
        if let Some([a, b]) = self.text {
            if a > b || b == 0 {
                return Err(format!("`text = [{a}, {b}]`: need 0 ≤ min ≤ max, max > 0"));
            }
            gens.push(ColGen::Text { min: a, max: b });
        }
        if let Some(v) = &self.value {
            gens.push(ColGen::Const(v.clone()));
        }
        let null_pct = self.null_pct.unwrap_or(0);
        if null_pct > 100 {
            return Err("`null_pct` is a percentage, 0 to 100".into());
        }
        match gens.len() {
            1 => Ok(ColumnSpec {
                name: self.name.clone(),
                gen: gens.pop().expect("one"),
                null_pct,
            }),
            0 => Err(format!(
                "column `{}` needs a generator: key, int, decimal, choice, datetime, str, text or value",
                self.name
            )),
            _ => Err(format!(
                "column `{}` has more than one generator; give exactly one",
                self.name
            )),
        }
    }
}

/// `"ORD-{n:010}"` or `"user-{n}"`.
fn parse_key(k: &str) -> Result<ColGen, String> {
    let bad = || {
        format!("`key = \"{k}\"` must contain {{n}} or {{n:0W}} (the row number, zero-padded to W digits)")
    };
    let start = k.find("{n").ok_or_else(bad)?;
    let end = start + k[start..].find('}').ok_or_else(bad)?;
    let inner = &k[start + 2..end];
    let width = match inner.strip_prefix(':') {
        None if inner.is_empty() => 0,
        Some(w) => w
            .trim_start_matches('0')
            .parse::<usize>()
            .ok()
            .filter(|w| *w <= 20)
            .ok_or_else(bad)?,
        None => return Err(bad()),
    };
    Ok(ColGen::Key {
        prefix: k[..start].to_string(),
        width,
        suffix: k[end + 1..].to_string(),
    })
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian; H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS` to seconds since the epoch (no time zone).
pub fn parse_datetime(s: &str) -> Result<i64, String> {
    let bad = || format!("`{s}` is not a date-time (YYYY-MM-DD or YYYY-MM-DD HH:MM:SS)");
    let (date, time) = match s.trim().split_once([' ', 'T']) {
        Some((d, t)) => (d, t),
        None => (s.trim(), "00:00:00"),
    };
    let dp: Vec<&str> = date.split('-').collect();
    let tp: Vec<&str> = time.split(':').collect();
    if dp.len() != 3 || tp.len() != 3 {
        return Err(bad());
    }
    let num = |p: &str| p.parse::<i64>().map_err(|_| bad());
    let (y, m, d) = (num(dp[0])?, num(dp[1])?, num(dp[2])?);
    let (hh, mm, ss) = (num(tp[0])?, num(tp[1])?, num(tp[2])?);
    if !(1000..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&d)
        || !(0..24).contains(&hh)
        || !(0..60).contains(&mm)
        || !(0..60).contains(&ss)
    {
        return Err(bad());
    }
    Ok(days_from_civil(y, m as u32, d as u32) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS`.
pub fn format_datetime(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Words for `text` columns: mostly ASCII, a few multi-byte, as real notes are.
const WORDS: &[&str] = &[
    "order",
    "shipped",
    "customer",
    "requested",
    "delivery",
    "before",
    "noon",
    "please",
    "call",
    "on",
    "arrival",
    "gift",
    "wrap",
    "fragile",
    "handle",
    "with",
    "care",
    "invoice",
    "attached",
    "warehouse",
    "north",
    "south",
    "backorder",
    "partial",
    "refund",
    "issued",
    "address",
    "changed",
    "second",
    "floor",
    "leave",
    "at",
    "door",
    "signature",
    "required",
    "express",
    "standard",
    "return",
    "label",
    "printed",
    "café",
    "Zürich",
    "São",
    "Paulo",
    "naïve",
    "crème",
    "brûlée",
    "façade",
    "smörgåsbord",
    "the",
    "and",
    "for",
    "was",
    "is",
    "a",
    "of",
    "to",
    "in",
    "lot",
    "batch",
    "pallet",
    "carton",
    "box",
    "item",
];

/// Makes rows.
#[derive(Debug, Clone)]
pub struct RowGen {
    pub columns: Vec<ColumnSpec>,
    pub seed: u64,
    /// The current revision: rows chosen by revisions 1..=revision carry changed values.
    pub revision: u32,
    /// Percent (0–100, fractions allowed) of rows each revision changes.
    pub changed_pct: f64,
    /// Row numbers that get a bad value, and which: `(column index, value)`.
    pub bad: Vec<(u64, usize, String)>,
}

fn mix(mut x: u64) -> u64 {
    // splitmix64 finaliser: a good hash of a 64-bit value.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl RowGen {
    /// The revision row `n` is at: the latest revision that chose it, or 0.
    pub fn revision_of(&self, n: u64) -> u32 {
        if self.changed_pct <= 0.0 {
            return 0;
        }
        let threshold = (self.changed_pct.min(100.0) / 100.0 * (u32::MAX as f64)) as u64;
        (1..=self.revision)
            .rev()
            .find(|&r| {
                let h = mix(self.seed ^ mix(n ^ ((r as u64) << 40) ^ 0x5eed));
                (h & 0xffff_ffff) < threshold
            })
            .unwrap_or(0)
    }

    /// Row `n` (1-based).
    pub fn row(&self, n: u64) -> Row {
        let rev = self.revision_of(n);
        let mut rng = SmallRng::seed_from_u64(mix(self.seed ^ mix(n) ^ ((rev as u64) << 48)));
        let mut row: Row = self.columns.iter().map(|c| value(c, n, &mut rng)).collect();
        if let Some((_, col, v)) = self.bad.iter().find(|(b, _, _)| *b == n) {
            row[*col] = Some(v.as_bytes().to_vec());
        }
        row
    }

    /// Whether row `n` was made bad on purpose.
    pub fn is_bad(&self, n: u64) -> bool {
        self.bad.iter().any(|(b, _, _)| *b == n)
    }
}

/// One value of column `c` for row `n`, drawn from `rng`.
pub fn value(c: &ColumnSpec, n: u64, rng: &mut SmallRng) -> Cell {
    if c.null_pct > 0 && rng.gen_range(0..100u32) < c.null_pct {
        return None;
    }
    let v = match &c.gen {
        ColGen::Key {
            prefix,
            width,
            suffix,
        } => format!("{prefix}{n:0width$}{suffix}").into_bytes(),
        ColGen::Int { min, max } => rng.gen_range(*min..=*max).to_string().into_bytes(),
        ColGen::Decimal { min, max, scale } => {
            let unit = 10i64.pow(*scale);
            let v = rng.gen_range(min * unit..=max * unit);
            let sign = if v < 0 { "-" } else { "" };
            let (i, f) = (v.abs() / unit, v.abs() % unit);
            if *scale == 0 {
                format!("{sign}{i}").into_bytes()
            } else {
                format!("{sign}{i}.{f:0w$}", w = *scale as usize).into_bytes()
            }
        }
        ColGen::Choice(list) => list[rng.gen_range(0..list.len())].as_bytes().to_vec(),
        ColGen::DateTime { min, max } => format_datetime(rng.gen_range(*min..=*max)).into_bytes(),
        ColGen::Str(p) => p.fill(rng),
        ColGen::Text { min, max } => {
            let want = rng.gen_range(*min..=*max);
            let mut s = String::with_capacity(want + 16);
            let mut chars = 0;
            while chars < want {
                let w = WORDS[rng.gen_range(0..WORDS.len())];
                if chars > 0 {
                    s.push(' ');
                    chars += 1;
                }
                s.push_str(w);
                chars += w.chars().count();
            }
            // Trim to exactly `want` characters, never inside a character.
            if chars > want {
                let cut = s.char_indices().nth(want).map_or(s.len(), |(i, _)| i);
                s.truncate(cut);
            }
            // Trailing spaces survive in TEXT but read badly; end on a letter.
            while s.ends_with(' ') {
                s.pop();
                s.push('.');
            }
            s.into_bytes()
        }
        ColGen::Const(v) => v.as_bytes().to_vec(),
    };
    Some(v)
}

/// Append `v`, writing each byte that `escape` maps to a sequence as that sequence; the runs
/// between such bytes (nearly all of a value) are copied whole.
#[inline]
fn push_escaped(out: &mut Vec<u8>, v: &[u8], escape: impl Fn(u8) -> Option<&'static [u8]>) {
    out.reserve(v.len());
    let mut start = 0;
    for (i, &b) in v.iter().enumerate() {
        if let Some(e) = escape(b) {
            out.extend_from_slice(&v[start..i]);
            out.extend_from_slice(e);
            start = i + 1;
        }
    }
    out.extend_from_slice(&v[start..]);
}

/// Append `cell` as an SQL literal: `'...'` with backslash escapes (the session runs without
/// `NO_BACKSLASH_ESCAPES`), or `NULL`.
pub fn push_sql_literal(out: &mut Vec<u8>, cell: &Cell) {
    match cell {
        None => out.extend_from_slice(b"NULL"),
        Some(v) => {
            out.push(b'\'');
            push_escaped(out, v, |b| match b {
                b'\'' => Some(b"\\'"),
                b'\\' => Some(b"\\\\"),
                0 => Some(b"\\0"),
                b'\n' => Some(b"\\n"),
                b'\r' => Some(b"\\r"),
                0x1a => Some(b"\\Z"),
                _ => None,
            });
            out.push(b'\'');
        }
    }
}

/// Append `(v1, v2, ...)` as SQL literals.
pub fn push_tuple(out: &mut Vec<u8>, row: &Row) {
    out.push(b'(');
    for (i, c) in row.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_sql_literal(out, c);
    }
    out.push(b')');
}

/// Append `row` as one line of `LOAD DATA`'s default format: fields separated by tabs, lines
/// by `\n`, `\` escapes, NULL as `\N`.
pub fn push_tsv_line(out: &mut Vec<u8>, row: &Row) {
    for (i, cell) in row.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        match cell {
            None => out.extend_from_slice(b"\\N"),
            Some(v) => push_escaped(out, v, |b| match b {
                b'\\' => Some(b"\\\\"),
                b'\t' => Some(b"\\t"),
                b'\n' => Some(b"\\n"),
                b'\r' => Some(b"\\r"),
                0 => Some(b"\\0"),
                _ => None,
            }),
        }
    }
    out.push(b'\n');
}

/// Bytes of the row's values (the payload measure for MB/s: the same for every strategy).
pub fn payload_bytes(row: &Row) -> u64 {
    row.iter()
        .map(|c| c.as_ref().map_or(0, |v| v.len()) as u64)
        .sum()
}

/// What NULL is replaced by inside the checksum.
pub const NULL_MARK: &str = "~NULL~";
/// The separator between columns inside the checksum.
pub const CHECK_SEP: &str = "|";

/// The server-side checksum of a table over `columns`: `COUNT(*)` and the sum of
/// `CRC32(CONCAT_WS('|', IFNULL(c1, '~NULL~'), ...))`. Order-independent; a lost, duplicated
/// or changed row changes it.
pub fn checksum_sql(table: &str, columns: &[String], filter: Option<&str>) -> String {
    let cols: Vec<String> = columns
        .iter()
        .map(|c| format!("IFNULL(`{c}`, '{NULL_MARK}')"))
        .collect();
    format!(
        "SELECT COUNT(*), CAST(COALESCE(SUM(CRC32(CONCAT_WS('{CHECK_SEP}', {}))), 0) AS CHAR) FROM {table}{}",
        cols.join(", "),
        filter.map(|f| format!(" WHERE {f}")).unwrap_or_default()
    )
}

/// The same checksum computed on the client, one row at a time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checksum {
    pub rows: u64,
    pub crc_sum: u128,
}

impl Checksum {
    pub fn add(&mut self, row: &Row) {
        let mut h = crc32fast::Hasher::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                h.update(CHECK_SEP.as_bytes());
            }
            h.update(cell.as_deref().unwrap_or(NULL_MARK.as_bytes()));
        }
        self.rows += 1;
        self.crc_sum += h.finalize() as u128;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(raw: &str) -> ColumnSpec {
        let r: RawColumn = toml::from_str(raw).unwrap();
        r.compile(&|_| None).unwrap()
    }

    #[test]
    fn datetimes_round_trip() {
        for s in [
            "1970-01-01 00:00:00",
            "2024-02-29 23:59:59",
            "2000-03-01 12:00:00",
            "1999-12-31 00:00:01",
        ] {
            assert_eq!(format_datetime(parse_datetime(s).unwrap()), s);
        }
        assert_eq!(parse_datetime("2024-01-01").unwrap(), 1_704_067_200);
        assert!(parse_datetime("2024-13-01").is_err());
    }

    #[test]
    fn keys_and_decimals_look_like_the_server_prints_them() {
        let k = col(r#"name = "k"
key = "ORD-{n:08}""#);
        assert_eq!(
            k.gen,
            ColGen::Key {
                prefix: "ORD-".into(),
                width: 8,
                suffix: "".into()
            }
        );
        let g = RowGen {
            columns: vec![
                k,
                col("name = \"d\"\ndecimal = [-5, 5]\nscale = 2"),
                col("name = \"t\"\ntext = [5, 40]"),
            ],
            seed: 7,
            revision: 0,
            changed_pct: 0.0,
            bad: vec![],
        };
        for n in 1..200 {
            let r = g.row(n);
            assert_eq!(r[0].as_deref().unwrap(), format!("ORD-{n:08}").as_bytes());
            let d = String::from_utf8(r[1].clone().unwrap()).unwrap();
            let frac = d.split('.').nth(1).unwrap();
            assert_eq!(frac.len(), 2, "{d}");
            let t = String::from_utf8(r[2].clone().unwrap()).unwrap();
            assert!((5..=40).contains(&t.chars().count()), "{t:?}");
            assert_eq!(g.row(n), r, "deterministic");
        }
    }

    #[test]
    fn revisions_change_about_the_chosen_share_and_keep_keys() {
        let mut g = RowGen {
            columns: vec![
                col("name = \"k\"\nkey = \"{n}\""),
                col("name = \"v\"\nint = [0, 1000000000]"),
            ],
            seed: 3,
            revision: 0,
            changed_pct: 10.0,
            bad: vec![],
        };
        let before: Vec<Row> = (1..=10_000).map(|n| g.row(n)).collect();
        g.revision = 1;
        let after: Vec<Row> = (1..=10_000).map(|n| g.row(n)).collect();
        let changed = before.iter().zip(&after).filter(|(a, b)| a != b).count();
        assert!((800..1200).contains(&changed), "{changed}");
        assert!(before.iter().zip(&after).all(|(a, b)| a[0] == b[0]));
        // Revision 2 keeps revision 1's changes for rows it does not choose.
        g.revision = 2;
        let again = (1..=10_000)
            .filter(|&n| g.revision_of(n) == 1)
            .all(|n| g.row(n) == after[n as usize - 1]);
        assert!(again);
    }

    #[test]
    fn encodings_escape_what_they_must() {
        let row: Row = vec![Some(b"a'b\\c\td\ne".to_vec()), None];
        let mut sql = Vec::new();
        push_sql_literal(&mut sql, &row[0]);
        assert_eq!(sql, b"'a\\'b\\\\c\td\\ne'");
        let mut tsv = Vec::new();
        push_tsv_line(&mut tsv, &row);
        assert_eq!(tsv, b"a'b\\\\c\\td\\ne\t\\N\n");
    }

    #[test]
    fn encodings_match_a_byte_by_byte_reference_on_random_bytes() {
        fn sql_ref(v: &[u8]) -> Vec<u8> {
            let mut o = vec![b'\''];
            for &b in v {
                match b {
                    b'\'' => o.extend_from_slice(b"\\'"),
                    b'\\' => o.extend_from_slice(b"\\\\"),
                    0 => o.extend_from_slice(b"\\0"),
                    b'\n' => o.extend_from_slice(b"\\n"),
                    b'\r' => o.extend_from_slice(b"\\r"),
                    0x1a => o.extend_from_slice(b"\\Z"),
                    _ => o.push(b),
                }
            }
            o.push(b'\'');
            o
        }
        fn tsv_ref(v: &[u8]) -> Vec<u8> {
            let mut o = Vec::new();
            for &b in v {
                match b {
                    b'\\' => o.extend_from_slice(b"\\\\"),
                    b'\t' => o.extend_from_slice(b"\\t"),
                    b'\n' => o.extend_from_slice(b"\\n"),
                    b'\r' => o.extend_from_slice(b"\\r"),
                    0 => o.extend_from_slice(b"\\0"),
                    _ => o.push(b),
                }
            }
            o.push(b'\n');
            o
        }
        // Mostly the special bytes, so that they come first, last and next to each other.
        let alphabet = b"\\'\t\n\r\x00\x1aab\xc3\xa9";
        let mut rng = SmallRng::seed_from_u64(11);
        for _ in 0..2000 {
            let len = rng.gen_range(0..12);
            let v: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                .collect();
            let mut sql = Vec::new();
            push_sql_literal(&mut sql, &Some(v.clone()));
            assert_eq!(sql, sql_ref(&v), "{v:?}");
            let mut tsv = Vec::new();
            push_tsv_line(&mut tsv, &vec![Some(v.clone())]);
            assert_eq!(tsv, tsv_ref(&v), "{v:?}");
        }
    }

    #[test]
    fn checksum_matches_crc32_of_the_joined_text() {
        let mut c = Checksum::default();
        c.add(&vec![Some(b"x".to_vec()), None]);
        assert_eq!(c.rows, 1);
        assert_eq!(c.crc_sum, crc32fast::hash(b"x|~NULL~") as u128);
    }
}
