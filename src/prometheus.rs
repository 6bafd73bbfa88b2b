//! The Prometheus text exposition format, as every stats snapshot writes it: one `# HELP` and
//! `# TYPE` header per metric family, then one line per series (`name{labels} value`, or
//! `name value` when there are no labels). Label values are escaped here, in one place.

use std::fmt::Write as _;

/// Accumulates metric families into text.
#[derive(Debug, Default)]
pub(crate) struct TextWriter {
    out: String,
    prefix: &'static str,
}

impl TextWriter {
    /// A writer whose metric names all start with `prefix`.
    pub(crate) fn with_prefix(prefix: &'static str) -> Self {
        Self { out: String::new(), prefix }
    }

    /// Writes one family: `kind` is `gauge` or `counter`; each row is (labels, value), the
    /// labels already formatted (`node="0",size="4096"`) or empty.
    pub(crate) fn family(&mut self, name: &str, kind: &str, help: &str, rows: impl IntoIterator<Item = (String, u64)>) {
        let prefix = self.prefix;
        let _ = writeln!(self.out, "# HELP {prefix}{name} {help}\n# TYPE {prefix}{name} {kind}");
        for (labels, value) in rows {
            if labels.is_empty() {
                let _ = writeln!(self.out, "{prefix}{name} {value}");
            } else {
                let _ = writeln!(self.out, "{prefix}{name}{{{labels}}} {value}");
            }
        }
    }

    /// The text.
    pub(crate) fn finish(self) -> String {
        self.out
    }
}

/// A label value in the text format: backslash, double quote and line feed escaped.
pub(crate) fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_series() {
        let mut w = TextWriter::with_prefix("numaseg_");
        w.family("a_total", "counter", "A counter.", [(String::new(), 3)]);
        w.family("b", "gauge", "A gauge.", [(format!("node=\"{}\"", label("0")), 7), ("x=\"\\\"\"".into(), 1)]);
        assert_eq!(
            w.finish(),
            "# HELP numaseg_a_total A counter.\n# TYPE numaseg_a_total counter\nnumaseg_a_total 3\n\
             # HELP numaseg_b A gauge.\n# TYPE numaseg_b gauge\nnumaseg_b{node=\"0\"} 7\nnumaseg_b{x=\"\\\"\"} 1\n"
        );
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
