//! Formatting shared by the pages: sizes, shares, confusion matrices, and a
//! model's footprint on a board.

use tinystudio_domain::footprint::{Basis, Footprint, Latency};
use tinystudio_domain::jobs::test::SampleOutcome;

/// Bytes as kilobytes, one decimal.
pub fn kb(bytes: u64) -> String {
    format!("{:.1} KB", bytes as f64 / 1024.0)
}

/// Text for a URL's query string.
pub fn url_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A fraction as a percentage, one decimal.
pub fn percent(fraction: f64) -> String {
    format!("{:.1}%", fraction * 100.0)
}

/// A confusion matrix ready to draw: rows are true labels, columns predictions,
/// and for a test run a last column of samples whose top score was below the
/// threshold (counted there, not as predictions).
pub struct Confusion {
    pub labels: Vec<String>,
    pub rows: Vec<Row>,
    /// The threshold, in words, when the matrix has an "uncertain" column.
    pub uncertain_below: Option<String>,
}

pub struct Row {
    pub label: String,
    pub cells: Vec<Cell>,
    pub uncertain: Option<Cell>,
}

pub struct Cell {
    pub count: u64,
    pub percent: String,
    /// 0..=10, the colour step of the heat map.
    pub heat: u8,
    pub diagonal: bool,
}

impl Confusion {
    /// From the labels and a square matrix of counts, `[actual][predicted]`;
    /// `None` when they do not match (a model without a validation set).
    pub fn new<N: Copy + Into<u64>>(labels: &[String], matrix: &[Vec<N>]) -> Option<Self> {
        Self::build(labels, matrix, None, None)
    }

    /// A test run's matrix from its samples: a sample whose top score is
    /// below `threshold` counts as "uncertain", not as its prediction.
    pub fn of_test(labels: &[String], samples: &[SampleOutcome], threshold: f64) -> Option<Self> {
        let n = labels.len();
        let mut matrix = vec![vec![0u64; n]; n];
        let mut uncertain = vec![0u64; n];
        let index = |l: &str| labels.iter().position(|x| x == l);
        for s in samples {
            let Some(truth) = index(&s.label) else {
                continue;
            };
            if s.uncertain {
                uncertain[truth] += 1;
            } else if let Some(predicted) = index(&s.predicted) {
                matrix[truth][predicted] += 1;
            }
        }
        Self::build(
            labels,
            &matrix,
            Some(&uncertain),
            Some(format!("{threshold:.2}")),
        )
    }

    fn build<N: Copy + Into<u64>>(
        labels: &[String],
        matrix: &[Vec<N>],
        uncertain: Option<&[u64]>,
        uncertain_below: Option<String>,
    ) -> Option<Self> {
        if matrix.len() != labels.len() || matrix.iter().any(|r| r.len() != labels.len()) {
            return None;
        }
        let rows = matrix
            .iter()
            .zip(labels)
            .enumerate()
            .map(|(i, (row, label))| {
                let unsure = uncertain.and_then(|u| u.get(i).copied());
                let total: u64 = row.iter().map(|&n| n.into()).sum::<u64>() + unsure.unwrap_or(0);
                let cell = |count: u64, diagonal: bool| {
                    let share = if total > 0 {
                        count as f64 / total as f64
                    } else {
                        0.0
                    };
                    Cell {
                        count,
                        percent: format!("{:.0}%", share * 100.0),
                        heat: (share * 10.0).round() as u8,
                        diagonal,
                    }
                };
                Row {
                    label: label.clone(),
                    cells: row
                        .iter()
                        .enumerate()
                        .map(|(j, &count)| cell(count.into(), i == j))
                        .collect(),
                    uncertain: unsure.map(|count| cell(count, false)),
                }
            })
            .collect();
        Some(Self {
            labels: labels.to_vec(),
            rows,
            uncertain_below,
        })
    }
}

/// A latency in words: the figure, its basis, and how it was obtained. The
/// time is always an estimate (cycles from instructions); its basis says
/// whether the instructions were counted.
pub fn latency_words(l: &Latency) -> (String, &'static str, String) {
    let basis = match l.basis {
        Basis::Estimated => "estimated",
        Basis::Measured => "estimated from a measured count",
    };
    (
        format!("about {:.0} ms per inference", l.ms),
        basis,
        l.how.clone(),
    )
}

/// A [`Footprint`] in words, each figure with where it comes from.
pub struct FootprintView {
    /// "estimated" or "measured".
    pub basis: &'static str,
    pub flash: String,
    pub ram: String,
    pub flash_percent: u32,
    pub ram_percent: u32,
    /// Empty when nothing here can tell.
    pub latency: String,
    /// "estimated" or "measured".
    pub latency_basis: &'static str,
    /// How the latency was obtained.
    pub latency_how: String,
}

impl FootprintView {
    pub fn new(f: &Footprint) -> Self {
        let share = |a: u64, b: u64| ((100 * a) / b.max(1)).min(100) as u32;
        let stack = match f.stack_used {
            Some(used) => format!(
                "{} stack reserved, {} used at most",
                kb(f.stack_reserve),
                kb(used)
            ),
            None => format!("{} stack reserved", kb(f.stack_reserve)),
        };
        let (latency, latency_basis, latency_how) = match &f.latency {
            Some(l) => latency_words(l),
            None => (String::new(), "", String::new()),
        };
        FootprintView {
            basis: f.basis.as_str(),
            flash: format!(
                "{} of {} (model {}, code {})",
                kb(f.flash_bytes),
                kb(f.flash_limit),
                kb(f.model_bytes),
                kb(f.flash_bytes.saturating_sub(f.model_bytes))
            ),
            ram: format!(
                "{} of {} (tensor arena {}, {stack})",
                kb(f.ram_bytes),
                kb(f.ram_limit),
                kb(f.arena_bytes)
            ),
            flash_percent: share(f.flash_bytes, f.flash_limit),
            ram_percent: share(f.ram_bytes, f.ram_limit),
            latency,
            latency_basis,
            latency_how,
        }
    }
}
