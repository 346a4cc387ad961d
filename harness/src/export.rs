//! One table, three formats: Markdown for people, CSV for spreadsheets, JSON for scripts.
//! The run report and `nas compare` both write their tables through it.

use anyhow::{Context, Result};
use serde_json::{Map, Value};

/// A cell: text, a number shown with a fixed number of decimals, or nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text (shown as code in Markdown when `code` is set).
    Text {
        /// The text.
        text: String,
        /// Shown as `code` in Markdown (architectures).
        code: bool,
    },
    /// A number, with the decimals Markdown shows (CSV and JSON keep every digit).
    Num(f64, usize),
    /// An integer.
    Int(u64),
    /// A mean and standard deviation, shown as `m ± s`.
    MeanStd(f64, f64, usize),
    /// Not available.
    None,
}

impl Cell {
    /// Plain text.
    pub fn text(t: impl Into<String>) -> Cell {
        Cell::Text {
            text: t.into(),
            code: false,
        }
    }

    /// Text shown as code in Markdown.
    pub fn code(t: impl Into<String>) -> Cell {
        Cell::Text {
            text: t.into(),
            code: true,
        }
    }

    /// An optional number.
    pub fn opt(v: Option<f64>, decimals: usize) -> Cell {
        v.map_or(Cell::None, |v| Cell::Num(v, decimals))
    }

    /// The cell in a Markdown table (a `|` in text is escaped, as tables need, code
    /// spans included).
    fn markdown(&self) -> String {
        match self {
            Cell::Text { text, code: true } => format!("`{}`", text.replace('|', r"\|")),
            Cell::Text { text, .. } => text.replace('|', r"\|"),
            Cell::Num(v, d) => format!("{v:.d$}"),
            Cell::Int(v) => v.to_string(),
            Cell::MeanStd(m, s, d) => format!("{m:.d$} ± {s:.d$}"),
            Cell::None => "n/a".into(),
        }
    }

    /// The CSV fields of this cell (a mean ± std gives two).
    fn csv(&self) -> Vec<String> {
        match self {
            Cell::Text { text, .. } => vec![text.clone()],
            Cell::Num(v, _) => vec![v.to_string()],
            Cell::Int(v) => vec![v.to_string()],
            Cell::MeanStd(m, s, _) => vec![m.to_string(), s.to_string()],
            Cell::None => vec![String::new()],
        }
    }

    fn json(&self) -> Value {
        match self {
            Cell::Text { text, .. } => Value::from(text.clone()),
            Cell::Num(v, _) => Value::from(*v),
            Cell::Int(v) => Value::from(*v),
            Cell::MeanStd(m, s, _) => serde_json::json!({"mean": m, "std": s}),
            Cell::None => Value::Null,
        }
    }
}

/// A table: column keys (snake_case, used in CSV and JSON), column titles (Markdown),
/// and rows.
#[derive(Debug, Clone, Default)]
pub struct Table {
    keys: Vec<String>,
    titles: Vec<String>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    /// A table with `columns` as `(key, title)` pairs.
    pub fn new(columns: &[(&str, &str)]) -> Table {
        Table {
            keys: columns.iter().map(|c| c.0.to_string()).collect(),
            titles: columns.iter().map(|c| c.1.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (one cell per column).
    pub fn push(&mut self, row: Vec<Cell>) {
        debug_assert_eq!(row.len(), self.keys.len());
        self.rows.push(row);
    }

    /// The Markdown table.
    pub fn to_markdown(&self) -> String {
        let titles: Vec<String> = self.titles.iter().map(|t| t.replace('|', r"\|")).collect();
        let mut s = format!("| {} |\n", titles.join(" | "));
        s.push_str(&format!("|{}\n", "---|".repeat(self.titles.len())));
        for r in &self.rows {
            let cells: Vec<String> = r.iter().map(Cell::markdown).collect();
            s.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        s
    }

    /// CSV with a header of the keys (a mean ± std column gives `KEY_mean,KEY_std`).
    pub fn to_csv(&self) -> Result<Vec<u8>> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let first = self.rows.first();
        let header: Vec<String> = self
            .keys
            .iter()
            .enumerate()
            .flat_map(|(i, k)| match first.map(|r| &r[i]) {
                Some(Cell::MeanStd(..)) => vec![format!("{k}_mean"), format!("{k}_std")],
                _ => vec![k.clone()],
            })
            .collect();
        w.write_record(&header).context("writing CSV")?;
        for r in &self.rows {
            w.write_record(r.iter().flat_map(Cell::csv))
                .context("writing CSV")?;
        }
        w.into_inner().context("writing CSV")
    }

    /// A JSON array of objects keyed by the column keys.
    pub fn to_json(&self) -> Value {
        Value::Array(
            self.rows
                .iter()
                .map(|r| {
                    let m: Map<String, Value> = self
                        .keys
                        .iter()
                        .cloned()
                        .zip(r.iter().map(Cell::json))
                        .collect();
                    Value::Object(m)
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_table_three_formats() {
        let mut t = Table::new(&[
            ("strategy", "strategy"),
            ("best", "best one-shot"),
            ("arch", "architecture"),
        ]);
        t.push(vec![
            Cell::text("random"),
            Cell::MeanStd(0.5, 0.125, 3),
            Cell::code("N=0:id;R=0:id"),
        ]);
        t.push(vec![
            Cell::text("evolution"),
            Cell::MeanStd(0.25, 0.0, 3),
            Cell::None,
        ]);
        let md = t.to_markdown();
        assert!(
            md.starts_with("| strategy | best one-shot | architecture |\n|---|---|---|\n"),
            "{md}"
        );
        assert!(
            md.contains("| random | 0.500 ± 0.125 | `N=0:id;R=0:id` |"),
            "{md}"
        );
        assert!(md.contains("| evolution | 0.250 ± 0.000 | n/a |"), "{md}");
        let csv = String::from_utf8(t.to_csv().unwrap()).unwrap();
        assert_eq!(
            csv,
            "strategy,best_mean,best_std,arch\nrandom,0.5,0.125,N=0:id;R=0:id\nevolution,0.25,0,\n"
        );
        let j = t.to_json();
        assert_eq!(j[0]["best"]["std"], 0.125);
        assert_eq!(j[1]["arch"], Value::Null);
    }
}
