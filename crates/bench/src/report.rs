//! Percentiles and the printed table.

use std::fmt::Write as _;

/// The `p`th percentile (0-100) of `values`, nearest rank; 0 for no values.
pub fn percentile(values: &[u32], p: f64) -> u32 {
    if values.is_empty() {
        return 0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Microseconds as milliseconds with three decimals.
pub fn ms(us: u32) -> String {
    format!("{:.3} ms", f64::from(us) / 1000.0)
}

/// One line of the table.
pub struct Row {
    /// What was measured.
    pub name: String,
    /// protond's figure.
    pub protond: String,
    /// The ceiling's figure, if there is one.
    pub ceiling: String,
    /// protond's figure as a ratio of the ceiling's (or of the small figure).
    pub ratio: String,
    /// The target.
    pub target: String,
    /// Whether the target was met; None when not judged.
    pub met: Option<bool>,
}

impl Row {
    /// A row without a ceiling.
    pub fn plain(name: &str, protond: String, target: &str, met: Option<bool>) -> Row {
        Row {
            name: name.to_owned(),
            protond,
            ceiling: String::new(),
            ratio: String::new(),
            target: target.to_owned(),
            met,
        }
    }
}

/// The table, with a header line.
pub fn table(title: &str, rows: &[Row], judged: bool) -> String {
    let headers = [
        "Measurement",
        "protond",
        "ceiling",
        "ratio",
        "target",
        "met",
    ];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            let met = match (judged, r.met) {
                (false, _) | (true, None) => "-".to_owned(),
                (true, Some(true)) => "yes".to_owned(),
                (true, Some(false)) => "NO".to_owned(),
            };
            [
                r.name.clone(),
                r.protond.clone(),
                r.ceiling.clone(),
                r.ratio.clone(),
                r.target.clone(),
                met,
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = format!("{title}\n\n");
    let line = |out: &mut String, row: &[&str]| {
        out.push('|');
        for (cell, w) in row.iter().zip(widths) {
            let _ = write!(out, " {cell:<w$} |");
        }
        out.push('\n');
    };
    line(&mut out, &headers);
    out.push('|');
    for w in widths {
        let _ = write!(out, "{}|", "-".repeat(w + 2));
    }
    out.push('\n');
    for row in &cells {
        let refs: Vec<&str> = row.iter().map(String::as_str).collect();
        line(&mut out, &refs);
    }
    out
}
