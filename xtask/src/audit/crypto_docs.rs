//! docs/CRYPTO.md states what keyvault-crypto does: this check compares the two.
//!
//! From the document it reads
//! - the AEAD table (header with `algorithm` and `id`): each row's id, key, nonce and tag
//!   lengths, and the row marked `(default)`;
//! - the Argon2id table (header with `parameter` and `default`): the `default`, `floor` and
//!   `ceiling` columns of the rows `memory`, `passes`, `lanes`, `salt` and `output`, reading
//!   every quantity in a cell (`64 MiB (65,536 KiB)` must agree with itself);
//! - the OWASP floor list, written as `N MiB/t=M` pairs;
//! - the per-lane memory minimum, written as `N KiB of memory per lane`.
//!
//! and compares them with `Argon2Params::DEFAULT`, its `MAX_*` ceilings and `OWASP_MINIMUMS`,
//! the lane and per-lane memory minimums that `Argon2Params::check_bounds` enforces, the salt
//! bounds, the key length and `Algorithm::ALL` / `Algorithm::default()`. Table cells without a
//! number (`see below`) are not compared; the rows and the default column must be there.

use std::path::Path;

use keyvault_crypto::password::{MAX_SALT_LEN, MIN_SALT_LEN};
use keyvault_crypto::{Algorithm, Argon2Params, KEY_LEN};

use super::Outcome;

/// One AEAD algorithm as the code defines it.
#[derive(Clone, Debug)]
pub(crate) struct AeadFacts {
    name: String,
    id: u64,
    key: u64,
    nonce: u64,
    tag: u64,
}

/// What keyvault-crypto says.
#[derive(Clone, Debug)]
pub(crate) struct CodeFacts {
    default: Argon2Params,
    max: Argon2Params,
    min_lanes: u32,
    min_memory_kib_per_lane: u32,
    /// (memory KiB, passes), as in `Argon2Params::OWASP_MINIMUMS`.
    owasp: Vec<(u32, u32)>,
    min_salt: u64,
    max_salt: u64,
    output: u64,
    algorithms: Vec<AeadFacts>,
    default_algorithm: String,
}

impl CodeFacts {
    /// The facts of the keyvault-crypto this task is built with.
    pub(crate) fn from_code() -> Self {
        let accepts = |memory_kib, lanes| {
            Argon2Params {
                memory_kib,
                iterations: 1,
                lanes,
            }
            .check_bounds()
            .is_ok()
        };
        let min_lanes = (0..=Argon2Params::MAX_LANES)
            .find(|&lanes| accepts(Argon2Params::MAX_MEMORY_KIB, lanes))
            .unwrap_or(u32::MAX);
        let min_memory_kib_per_lane = (0..=Argon2Params::MAX_MEMORY_KIB)
            .find(|&memory| accepts(memory, 1))
            .unwrap_or(u32::MAX);
        CodeFacts {
            default: Argon2Params::DEFAULT,
            max: Argon2Params {
                memory_kib: Argon2Params::MAX_MEMORY_KIB,
                iterations: Argon2Params::MAX_ITERATIONS,
                lanes: Argon2Params::MAX_LANES,
            },
            min_lanes,
            min_memory_kib_per_lane,
            owasp: Argon2Params::OWASP_MINIMUMS.to_vec(),
            min_salt: MIN_SALT_LEN as u64,
            max_salt: MAX_SALT_LEN as u64,
            output: KEY_LEN as u64,
            algorithms: Algorithm::ALL
                .iter()
                .map(|alg| AeadFacts {
                    name: alg.name().to_owned(),
                    id: alg.id().into(),
                    key: alg.key_len() as u64,
                    nonce: alg.nonce_len() as u64,
                    tag: alg.tag_len() as u64,
                })
                .collect(),
            default_algorithm: Algorithm::default().name().to_owned(),
        }
    }
}

/// Runs the check on `<root>/docs/CRYPTO.md`.
pub(crate) fn check(root: &Path) -> Outcome {
    let path = root.join("docs/CRYPTO.md");
    let doc = match std::fs::read_to_string(&path) {
        Ok(doc) => doc,
        Err(err) => return Outcome::fail(format!("cannot read docs/CRYPTO.md: {err}")),
    };
    let code = CodeFacts::from_code();
    let (compared, problems) = compare(&doc, &code);
    if problems.is_empty() {
        Outcome::pass(format!(
            "{compared} values in docs/CRYPTO.md match the code (Argon2id {} KiB, t={}, p={}; \
             default AEAD {})",
            code.default.memory_kib,
            code.default.iterations,
            code.default.lanes,
            code.default_algorithm
        ))
    } else {
        Outcome::fail(format!(
            "docs/CRYPTO.md disagrees with keyvault-crypto: {} problem(s)",
            problems.len()
        ))
        .with_notes(problems)
    }
}

/// A unit a quantity is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    None,
    Bytes,
    KiB,
    MiB,
    GiB,
}

/// Every `number [unit]` in `text`; numbers may use `,` between thousands.
fn quantities(text: &str) -> Vec<(u64, Unit)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_number = chars.get(i).is_some_and(char::is_ascii_digit)
            && (i == 0 || chars.get(i - 1).is_some_and(|c| !c.is_alphanumeric()));
        if !starts_number {
            i += 1;
            continue;
        }
        let mut digits = String::new();
        while let Some(&c) = chars.get(i) {
            if c.is_ascii_digit() {
                digits.push(c);
            } else if c == ',' && chars.get(i + 1).is_some_and(char::is_ascii_digit) {
                // thousands separator
            } else {
                break;
            }
            i += 1;
        }
        let mut j = i;
        while chars.get(j) == Some(&' ') {
            j += 1;
        }
        let unit_end = (j..chars.len())
            .find(|&k| chars.get(k).is_some_and(|c| !c.is_ascii_alphabetic()))
            .unwrap_or(chars.len());
        let word: String = chars.get(j..unit_end).unwrap_or_default().iter().collect();
        let unit = match word.as_str() {
            "B" | "bytes" | "byte" => Unit::Bytes,
            "KiB" => Unit::KiB,
            "MiB" => Unit::MiB,
            "GiB" => Unit::GiB,
            _ => Unit::None,
        };
        if let Ok(value) = digits.parse() {
            out.push((value, unit));
        }
    }
    out
}

/// A quantity in KiB, if it is a memory size.
fn kib(value: u64, unit: Unit) -> Option<u64> {
    match unit {
        Unit::Bytes if value.is_multiple_of(1024) => Some(value / 1024),
        Unit::KiB => Some(value),
        Unit::MiB => value.checked_mul(1024),
        Unit::GiB => value.checked_mul(1024 * 1024),
        _ => None,
    }
}

/// A markdown table: header cells (lower case) and data rows.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|cell| cell == name)
    }

    /// The row whose first cell starts with `key` (case-insensitive).
    fn row(&self, key: &str) -> Option<&Vec<String>> {
        self.rows.iter().find(|row| {
            row.first()
                .and_then(|cell| cell.split_whitespace().next())
                .is_some_and(|first| first.eq_ignore_ascii_case(key))
        })
    }
}

fn tables(doc: &str) -> Vec<Table> {
    let cells = |line: &str| -> Vec<String> {
        let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
        inner
            .split('|')
            .map(|cell| cell.trim().to_owned())
            .collect()
    };
    let mut out = Vec::new();
    let mut lines = doc.lines().peekable();
    while let Some(line) = lines.next() {
        if !line.trim_start().starts_with('|') {
            continue;
        }
        let is_separator = lines.peek().is_some_and(|next| {
            let next = next.trim();
            next.starts_with('|') && next.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
        });
        if !is_separator {
            continue;
        }
        lines.next();
        let header = cells(line).iter().map(|c| c.to_lowercase()).collect();
        let mut rows = Vec::new();
        while let Some(row) = lines.next_if(|next| next.trim_start().starts_with('|')) {
            rows.push(cells(row));
        }
        out.push(Table { header, rows });
    }
    out
}

/// Compares `doc` with `code`: the number of values compared, and every disagreement.
pub(crate) fn compare(doc: &str, code: &CodeFacts) -> (usize, Vec<String>) {
    let mut cmp = Comparison::default();
    let tables = tables(doc);
    match tables
        .iter()
        .find(|t| t.column("algorithm").is_some() && t.column("id").is_some())
    {
        Some(table) => cmp.aead(table, code),
        None => cmp.problem("no AEAD table (a header with `algorithm` and `id` columns)"),
    }
    match tables
        .iter()
        .find(|t| t.column("parameter").is_some() && t.column("default").is_some())
    {
        Some(table) => cmp.argon2(table, code),
        None => cmp.problem("no Argon2 table (a header with `parameter` and `default` columns)"),
    }
    cmp.owasp(doc, code);
    cmp.per_lane(doc, code);
    (cmp.compared, cmp.problems)
}

#[derive(Default)]
struct Comparison {
    compared: usize,
    problems: Vec<String>,
}

impl Comparison {
    fn problem(&mut self, text: impl Into<String>) {
        self.problems.push(text.into());
    }

    fn expect(&mut self, what: &str, doc: u64, code: u64) {
        self.compared += 1;
        if doc != code {
            self.problem(format!("{what}: the doc says {doc}, the code has {code}"));
        }
    }

    fn aead(&mut self, table: &Table, code: &CodeFacts) {
        let mut defaults = Vec::new();
        let mut seen = Vec::new();
        let column = |name| table.column(name);
        let (Some(id), Some(key), Some(nonce), Some(tag)) =
            (column("id"), column("key"), column("nonce"), column("tag"))
        else {
            return self.problem("AEAD table: needs `id`, `key`, `nonce` and `tag` columns");
        };
        for row in &table.rows {
            let label = row.first().map_or("", String::as_str);
            let name = label.replace("(default)", "").trim().to_owned();
            let Some(facts) = code
                .algorithms
                .iter()
                .find(|alg| alg.name.eq_ignore_ascii_case(&name))
            else {
                self.problem(format!(
                    "AEAD table: `{name}` is not an algorithm of the code"
                ));
                continue;
            };
            if label.contains("(default)") {
                defaults.push(facts.name.clone());
            }
            seen.push(facts.name.clone());
            for (column, what, expected, unit) in [
                (id, "id", facts.id, Unit::None),
                (key, "key length", facts.key, Unit::Bytes),
                (nonce, "nonce length", facts.nonce, Unit::Bytes),
                (tag, "tag length", facts.tag, Unit::Bytes),
            ] {
                let cell = row.get(column).map_or("", String::as_str);
                match quantities(cell).as_slice() {
                    [(value, found)] if *found == unit => {
                        self.expect(&format!("{} {what}", facts.name), *value, expected);
                    }
                    _ => self.problem(format!(
                        "AEAD table: {} {what} `{cell}` is not one number{}",
                        facts.name,
                        if unit == Unit::Bytes {
                            " of bytes (`N B`)"
                        } else {
                            ""
                        }
                    )),
                }
            }
        }
        for alg in &code.algorithms {
            if !seen.contains(&alg.name) {
                self.problem(format!("AEAD table: no row for {}", alg.name));
            }
        }
        self.compared += 1;
        if defaults != [code.default_algorithm.clone()] {
            self.problem(format!(
                "AEAD table: the row marked (default) is {}, the code's default is {}",
                if defaults.is_empty() {
                    "missing".to_owned()
                } else {
                    defaults.join(" and ")
                },
                code.default_algorithm
            ));
        }
    }

    /// Every quantity in `table[row][column]` as a number (KiB for memory, bytes for sizes):
    /// `None` if the row or column is missing.
    fn cell(&mut self, table: &Table, row: &str, column: &str, memory: bool) -> Option<Vec<u64>> {
        let cell = table.row(row)?.get(table.column(column)?)?;
        let mut values = Vec::new();
        for (value, unit) in quantities(cell) {
            let converted = if memory {
                kib(value, unit)
            } else if matches!(unit, Unit::None | Unit::Bytes) {
                Some(value)
            } else {
                None
            };
            match converted {
                Some(value) => values.push(value),
                None => self.problem(format!(
                    "Argon2 table: {row} {column} `{cell}`: {value} {unit:?} is not a {}",
                    if memory {
                        "memory size"
                    } else {
                        "plain number"
                    }
                )),
            }
        }
        Some(values)
    }

    /// Compares the cell's quantities with `expected`; a required cell must hold one.
    fn argon2_cell(
        &mut self,
        table: &Table,
        (row, column): (&str, &str),
        expected: u64,
        memory: bool,
        required: bool,
    ) {
        match self.cell(table, row, column, memory) {
            Some(values) if !values.is_empty() => {
                for value in values {
                    self.expect(&format!("Argon2 {row} {column}"), value, expected);
                }
            }
            _ if required => self.problem(format!("Argon2 table: no {row} {column} value")),
            _ => {}
        }
    }

    fn argon2(&mut self, table: &Table, code: &CodeFacts) {
        let owasp_min_memory = code.owasp.iter().map(|&(m, _)| m).min().unwrap_or(0);
        let owasp_min_passes = code.owasp.iter().map(|&(_, t)| t).min().unwrap_or(0);
        let checks: [(&str, &str, u32, bool, bool); 9] = [
            ("memory", "default", code.default.memory_kib, true, true),
            ("memory", "ceiling", code.max.memory_kib, true, false),
            ("memory", "floor", owasp_min_memory, true, false),
            ("passes", "default", code.default.iterations, false, true),
            ("passes", "ceiling", code.max.iterations, false, false),
            ("passes", "floor", owasp_min_passes, false, false),
            ("lanes", "default", code.default.lanes, false, true),
            ("lanes", "ceiling", code.max.lanes, false, false),
            ("lanes", "floor", code.min_lanes, false, false),
        ];
        for (row, column, expected, memory, required) in checks {
            self.argon2_cell(table, (row, column), expected.into(), memory, required);
        }
        self.argon2_cell(table, ("salt", "floor"), code.min_salt, false, false);
        self.argon2_cell(table, ("salt", "ceiling"), code.max_salt, false, false);
        self.argon2_cell(table, ("output", "default"), code.output, false, true);
    }

    /// The OWASP configurations, written `N MiB/t=M`, against `Argon2Params::OWASP_MINIMUMS`.
    fn owasp(&mut self, doc: &str, code: &CodeFacts) {
        let mut found: Vec<(u64, u64)> = Vec::new();
        for (i, _) in doc.match_indices("MiB/t=") {
            let before = doc.get(..i).unwrap_or_default().trim_end();
            let memory: String = before
                .chars()
                .rev()
                .take_while(char::is_ascii_digit)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let passes: String = doc
                .get(i + "MiB/t=".len()..)
                .unwrap_or_default()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let (Ok(memory), Ok(passes)) = (memory.parse::<u64>(), passes.parse()) {
                found.push((memory * 1024, passes));
            }
        }
        if found.is_empty() {
            // The table may state a floor instead; it is compared there.
            return;
        }
        let mut expected: Vec<(u64, u64)> = code
            .owasp
            .iter()
            .map(|&(m, t)| (m.into(), t.into()))
            .collect();
        expected.sort_unstable();
        found.sort_unstable();
        self.compared += found.len();
        if found != expected {
            let show = |list: &[(u64, u64)]| {
                list.iter()
                    .map(|(m, t)| format!("{} KiB/t={t}", m))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            self.problem(format!(
                "Argon2 floor: the doc lists {}, the code's OWASP_MINIMUMS are {}",
                show(&found),
                show(&expected)
            ));
        }
    }

    /// `N KiB of memory per lane`, against what `check_bounds` accepts.
    fn per_lane(&mut self, doc: &str, code: &CodeFacts) {
        for (i, _) in doc.match_indices("KiB of memory per lane") {
            let before = doc.get(..i).unwrap_or_default();
            let start = before
                .rfind(|c: char| !c.is_ascii_digit() && c != ' ')
                .map_or(0, |at| at + 1);
            if let Ok(value) = before.get(start..).unwrap_or_default().trim().parse() {
                self.expect(
                    "Argon2 minimum memory per lane (KiB)",
                    value,
                    code.min_memory_kib_per_lane.into(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The relevant parts of docs/CRYPTO.md as written when this check was built.
    const DOC: &str = "\
# Cryptography

| algorithm | id | key | nonce | tag | source |
|---|---|---|---|---|---|
| XChaCha20-Poly1305 (default) | 1 | 32 B | 24 B | 16 B | draft-irtf-cfrg-xchacha-03 |
| ChaCha20-Poly1305 | 2 | 32 B | 12 B | 16 B | RFC 8439 |
| AES-256-GCM | 3 | 32 B | 12 B | 16 B | NIST SP 800-38D |

## Password-based keys: Argon2id (RFC 9106)

| parameter | default | floor | ceiling |
|---|---|---|---|
| memory | 64 MiB (65,536 KiB) | see below | 1 GiB |
| passes (t) | 4 | see below | 16 |
| lanes (p) | 4 | 1 | 16 |
| salt | 16 B random, per vault or file | 16 B | 64 B |
| output | 32 B | | |

**Floor.** The OWASP Password Storage Cheat Sheet lists equivalent Argon2id configurations:
46 MiB/t=1, 19 MiB/t=2, 12 MiB/t=3, 9 MiB/t=4, 7 MiB/t=5 (one lane).

**Ceiling.** `Argon2Params::check_bounds` rejects memory above 1 GiB, more than 16 passes or
lanes, and less than 8 KiB of memory per lane.
";

    fn problems(doc: &str) -> Vec<String> {
        compare(doc, &CodeFacts::from_code()).1
    }

    fn assert_one_problem(doc: &str, mentioning: &str) {
        let problems = problems(doc);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains(mentioning),
            "{:?} should mention {mentioning:?}",
            problems[0]
        );
    }

    #[test]
    fn the_sample_matches_the_code() {
        let (compared, problems) = compare(DOC, &CodeFacts::from_code());
        assert!(problems.is_empty(), "{problems:?}");
        // AEAD: 3 algorithms x 4 values + the default. Argon2 table: 11 quantities (the memory
        // default twice, the `see below` floors not at all). 5 OWASP pairs, 1 per-lane minimum.
        assert_eq!(compared, 13 + 11 + 5 + 1);
    }

    #[test]
    fn the_real_doc_matches_the_code() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/CRYPTO.md");
        let doc = std::fs::read_to_string(path).unwrap();
        assert_eq!(problems(&doc), Vec::<String>::new());
    }

    #[test]
    fn a_wrong_default_fails() {
        assert_one_problem(
            &DOC.replace("| passes (t) | 4 |", "| passes (t) | 3 |"),
            "passes default: the doc says 3, the code has 4",
        );
        assert_one_problem(
            &DOC.replace("| lanes (p) | 4 |", "| lanes (p) | 8 |"),
            "lanes default",
        );
        assert_one_problem(
            &DOC.replace("| output | 32 B |", "| output | 64 B |"),
            "output default",
        );
    }

    #[test]
    fn every_quantity_in_a_cell_must_agree() {
        assert_one_problem(
            &DOC.replace("65,536 KiB", "65,000 KiB"),
            "memory default: the doc says 65000",
        );
        let problems = problems(&DOC.replace("64 MiB (65,536 KiB)", "32 MiB (32,768 KiB)"));
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn wrong_bounds_fail() {
        assert_one_problem(&DOC.replace("| 1 GiB |", "| 2 GiB |"), "memory ceiling");
        assert_one_problem(
            &DOC.replace("| 4 | 1 | 16 |", "| 4 | 2 | 16 |"),
            "lanes floor",
        );
        assert_one_problem(
            &DOC.replace("| 16 B | 64 B |", "| 8 B | 64 B |"),
            "salt floor",
        );
        assert_one_problem(&DOC.replace("46 MiB/t=1", "45 MiB/t=1"), "OWASP_MINIMUMS");
        assert_one_problem(&DOC.replace("9 MiB/t=4, ", ""), "OWASP_MINIMUMS");
        assert_one_problem(
            &DOC.replace("less than 8 KiB", "less than 16 KiB"),
            "per lane",
        );
    }

    #[test]
    fn aead_table_is_compared() {
        assert_one_problem(
            &DOC.replace(
                "| XChaCha20-Poly1305 (default) | 1 | 32 B | 24 B |",
                "| XChaCha20-Poly1305 (default) | 1 | 32 B | 12 B |",
            ),
            "xchacha20-poly1305 nonce length",
        );
        assert_one_problem(
            &DOC.replace("XChaCha20-Poly1305 (default)", "XChaCha20-Poly1305")
                .replace("| AES-256-GCM |", "| AES-256-GCM (default) |"),
            "the code's default is xchacha20-poly1305",
        );
        assert_one_problem(
            &DOC.replace(
                "| ChaCha20-Poly1305 | 2 | 32 B | 12 B | 16 B | RFC 8439 |\n",
                "",
            ),
            "no row for chacha20-poly1305",
        );
    }

    #[test]
    fn missing_statements_fail() {
        assert_one_problem(
            &DOC.replace("| passes (t) | 4 | see below | 16 |\n", ""),
            "no passes default",
        );
        let problems = problems("# nothing here\n");
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn quantities_are_read_with_units() {
        assert_eq!(
            quantities("64 MiB (65,536 KiB)"),
            vec![(64, Unit::MiB), (65_536, Unit::KiB)]
        );
        assert_eq!(
            quantities("16 B random, per vault"),
            vec![(16, Unit::Bytes)]
        );
        assert_eq!(quantities("see below"), vec![]);
        assert_eq!(quantities("t=4"), vec![(4, Unit::None)]);
        assert_eq!(quantities("SHA256"), vec![]);
    }
}
