//! The Prometheus text exposition format, as every stats snapshot writes it: one `# HELP` and
//! `# TYPE` header per metric family, then one line per series (`name{labels} value`, or
//! `name value` when there are no labels). Label values are escaped here, in one place.
//!
//! Each snapshot row type is declared once, with [`snapshot!`]: a field carries its metric (type,
//! name, help, extra labels) next to its doc, and the same table gives the struct and its
//! exposition. Families come out in field order; consecutive fields naming the same family are
//! one family (a label tells them apart), and a `rows` field (a `Vec` of a child row type) puts
//! the child's families there, each series labelled with its parents' labels first.
//!
//! A family of raw counters (bumped on hot or slow paths, summed when a snapshot is taken) is
//! declared once, with [`counters!`], next to the code that bumps it: a row names the counter and,
//! for a metric, the snapshot field and family it becomes; the snapshot row takes those rows with
//! `..table`. So every counter is spelled once, not in a struct, a collect and an exposition.
//!
//! What `counters!` does not declare, on purpose: values that are part of a protocol's state
//! under a lock rather than statistics bumped beside it — a local pool record's waits,
//! notifications and global lends (in the pool's `State`, under its mutex, changed together with
//! the stack they describe) and an input channel's consumed bytes (in the channel's state,
//! under its lock, summed over the gate's channels). Their snapshot rows are still declared
//! once with [`snapshot!`]; their collection reads them under the lock that keeps them exact, in
//! the one `stats` function of their pool or gate. A separate atomic table for them would be a
//! second copy of the same number. For the same reason a channel's and a sender's credit
//! accounting (`credit::ChannelStats`, `credit::SenderStats`) stay plain structs: they are the
//! credit protocol's state copied under its lock by one `stats` function each, and they are not
//! exported one series per channel (unbounded labels); the gate's row (`GateStats`) is.

use std::fmt::Write as _;

/// Accumulates metric families into text.
#[derive(Debug, Default)]
pub(crate) struct TextWriter {
    out: String,
}

impl TextWriter {
    /// Writes one family's header: `kind` is `gauge` or `counter`.
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// Writes one series; `labels` already formatted (`node="0",size="4096"`) or empty.
    fn series(&mut self, name: &str, labels: &str, value: u64) {
        if labels.is_empty() {
            let _ = writeln!(self.out, "{name} {value}");
        } else {
            let _ = writeln!(self.out, "{name}{{{labels}}} {value}");
        }
    }

    /// Writes the families of `rows` (each with its parents' labels), in table order.
    pub(crate) fn table<R: Table>(&mut self, rows: &[(String, &R)]) {
        let entries = R::entries();
        let mut i = 0;
        while i < entries.len() {
            match entries[i] {
                Entry::Rows(children) => {
                    children(rows, self);
                    i += 1;
                }
                Entry::Metric { name, kind, help, .. } => {
                    let end = i + entries[i..]
                        .iter()
                        .take_while(|e| matches!(e, Entry::Metric { name: n, .. } if *n == name))
                        .count();
                    self.header(name, kind, help);
                    for (parents, row) in rows {
                        let own = join(parents, &row.labels());
                        for e in &entries[i..end] {
                            if let Entry::Metric { samples, .. } = e {
                                samples(row, &mut |extra, value| self.series(name, &join(&own, extra), value));
                            }
                        }
                    }
                    i = end;
                }
            }
        }
    }

    /// The text.
    pub(crate) fn finish(self) -> String {
        self.out
    }
}

/// Renders `rows` of a top-level snapshot type (no parent labels).
pub(crate) fn render<'a, R: Table + 'a>(rows: impl IntoIterator<Item = &'a R>) -> String {
    let rows: Vec<(String, &R)> = rows.into_iter().map(|r| (String::new(), r)).collect();
    let mut w = TextWriter::default();
    w.table(&rows);
    w.finish()
}

/// `a,b`, or whichever is not empty.
pub(crate) fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a},{b}"),
    }
}

/// Where a row's series go: (extra labels, value).
pub(crate) type Out<'a> = &'a mut dyn FnMut(&str, u64);

/// One entry of a row type's metrics table.
pub(crate) enum Entry<R> {
    /// A family, or one part of it (consecutive entries with the same name): its series of a
    /// row, each as (extra labels, value).
    Metric { name: &'static str, kind: &'static str, help: &'static str, samples: fn(&R, Out<'_>) },
    /// The families of a child row type, given the parent rows.
    Rows(fn(&[(String, &R)], &mut TextWriter)),
}

/// A snapshot row type with a metrics table (declared with [`snapshot!`]).
pub(crate) trait Table: Sized {
    /// This row's own labels (after its parents').
    fn labels(&self) -> String;
    /// The table, in field order.
    fn entries() -> Vec<Entry<Self>>;
}

/// A field value as series: one, or none for an absent optional value.
pub(crate) trait Sample {
    /// Emits the value with the extra labels `extra`.
    fn sample(&self, extra: &str, out: Out<'_>);
}

impl Sample for u64 {
    fn sample(&self, extra: &str, out: Out<'_>) {
        out(extra, *self);
    }
}

impl Sample for usize {
    fn sample(&self, extra: &str, out: Out<'_>) {
        out(extra, u64::try_from(*self).unwrap_or(u64::MAX));
    }
}

impl Sample for u32 {
    fn sample(&self, extra: &str, out: Out<'_>) {
        out(extra, u64::from(*self));
    }
}

impl Sample for bool {
    fn sample(&self, extra: &str, out: Out<'_>) {
        out(extra, u64::from(*self));
    }
}

impl<T: Sample> Sample for Option<T> {
    fn sample(&self, extra: &str, out: Out<'_>) {
        if let Some(v) = self {
            v.sample(extra, out);
        }
    }
}

/// Declares a snapshot row type and its metrics table in one: the struct (attributes and field
/// docs as written) and its [`Table`] impl. A field is followed by `=> (kind "name" "help")`,
/// `=> (kind "name" "help" "extra=\"label\"")`, `=> (kind "name" "help" with |row, out| ...)`
/// (series computed by hand), `=> (and "name" "extra=\"label\"")` (one more series of the
/// family the field before opened), `=> (rows)` (a `Vec` of a child row type), or nothing (not a
/// metric). One `..table,` after the first field splices in a [`counters!`] table's metric rows
/// there. `labels(row) { ... }` gives a row's own labels.
macro_rules! snapshot {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                pub $field:ident : $ty:ty $(=> $spec:tt)?
            ),* ,
            ..$splice:ident
            $(, $($after:tt)*)?
        }
        labels($row:ident) $labels:block
    ) => {
        $splice! {
            [$(#[$meta])*] $name
            [$( $(#[$fmeta])* pub $field : $ty $(=> $spec)? ),*]
            [$($($after)*)?]
            [labels($row) $labels]
        }
    };
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                pub $field:ident : $ty:ty $(=> $spec:tt)?
            ),* $(,)?
        }
        labels($row:ident) $labels:block
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $crate::prometheus::Table for $name {
            fn labels(&self) -> String {
                let $row = self;
                $labels
            }

            fn entries() -> Vec<$crate::prometheus::Entry<Self>> {
                vec![$($($crate::prometheus::snapshot!(@entry $field $spec),)?)*]
            }
        }
    };
    (@entry $field:ident (rows)) => {
        $crate::prometheus::Entry::Rows(|rows, w| {
            let children: Vec<_> = rows
                .iter()
                .flat_map(|(parents, r)| {
                    let labels = $crate::prometheus::join(parents, &$crate::prometheus::Table::labels(*r));
                    r.$field.iter().map(move |c| (labels.clone(), c))
                })
                .collect();
            w.table(&children);
        })
    };
    (@entry $field:ident (and $metric:literal $extra:literal)) => {
        $crate::prometheus::snapshot!(@entry $field (gauge $metric "" $extra))
    };
    (@entry $field:ident ($kind:ident $metric:literal $help:literal with $samples:expr)) => {
        $crate::prometheus::Entry::Metric { name: $metric, kind: stringify!($kind), help: $help, samples: $samples }
    };
    (@entry $field:ident ($kind:ident $metric:literal $help:literal $($extra:literal)?)) => {
        $crate::prometheus::Entry::Metric {
            name: $metric,
            kind: stringify!($kind),
            help: $help,
            samples: |r, out| $crate::prometheus::Sample::sample(&r.$field, concat!("" $(, $extra)?), out),
        }
    };
}
pub(crate) use snapshot;

/// Declares a family of statistics counters once: each row is a raw counter ([`Counter`], std's
/// even under loom) with its doc; a row outside the leading `[ ... ]` block is also a metric,
/// `raw => field (kind "name" "help")`: the snapshot field it becomes and its family. From that
/// one table come
///
/// - the raw struct (`$raw`, one [`Counter`] per row, in row order: the layout the hot path
///   bumps, with the attributes written, e.g. `#[repr(align(64))]`);
/// - its values (`$values`, one `u64` per row), read by `$raw::get` (relaxed loads), summed with
///   `+=`, and folded into another counter set by `$raw::add` (a retiring thread's totals);
/// - a splice macro (`$splice`) that a snapshot row names in its field list, after at least
///   one field of its own, as `..$splice`: it puts the metric rows into that row (fields with their docs and metrics, in
///   row order) and gives the row a `From<&$values>` that fills them, so the collecting code
///   writes `Row { own fields, ..Row::from(&values) }`. The snapshot's module must have
///   `$values` in scope. A table whose rows all sit in the leading block (statistics that no
///   snapshot row shows as such, e.g. an owner's per-node page counts) has no use for it.
///
/// [`Counter`]: crate::sync::stat::Counter
macro_rules! counters {
    (
        $(#[$meta:meta])*
        $vis:vis struct $raw:ident => $values:ident, splice $splice:ident {
            $([ $( $(#[$pdoc:meta])* $private:ident ),* $(,)? ])?
            $( $(#[$mdoc:meta])* $counter:ident => $field:ident ($kind:ident $metric:literal $help:literal) ),* $(,)?
        }
    ) => {
        $crate::prometheus::counters! { @define ($)
            [$(#[$meta])*] $vis $raw $values $splice
            [$($( [$(#[$pdoc])*] $private )*)?]
            [$( [$(#[$mdoc])*] $counter $field ($kind $metric $help) )*]
        }
    };
    (@define ($d:tt)
        [$(#[$meta:meta])*] $vis:vis $raw:ident $values:ident $splice:ident
        [$( [$(#[$pdoc:meta])*] $private:ident )*]
        [$( [$(#[$mdoc:meta])*] $counter:ident $field:ident ($kind:ident $metric:literal $help:literal) )*]
    ) => {
        $(#[$meta])*
        $vis struct $raw {
            $( $(#[$pdoc])* pub(crate) $private: $crate::sync::stat::Counter, )*
            $( $(#[$mdoc])* pub(crate) $counter: $crate::sync::stat::Counter, )*
        }

        #[doc = concat!("The values of a [`", stringify!($raw), "`], one per counter.")]
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
        $vis struct $values {
            $( $(#[$pdoc])* pub(crate) $private: u64, )*
            $( $(#[$mdoc])* pub(crate) $counter: u64, )*
        }

        #[allow(dead_code, reason = "generated for every counters table; not every table reads all ways")]
        impl $raw {
            /// The values (relaxed reads: exact once the writers are quiescent).
            pub(crate) fn get(&self) -> $values {
                $values { $( $private: self.$private.get(), )* $( $counter: self.$counter.get(), )* }
            }

            /// Adds `values` to the counters; any thread may.
            pub(crate) fn add(&self, values: &$values) {
                $( self.$private.add(values.$private); )*
                $( self.$counter.add(values.$counter); )*
            }
        }

        impl ::std::ops::AddAssign<&$values> for $values {
            fn add_assign(&mut self, other: &$values) {
                $( self.$private = self.$private.wrapping_add(other.$private); )*
                $( self.$counter = self.$counter.wrapping_add(other.$counter); )*
            }
        }

        /// Puts this counters table's metric rows into a snapshot row (see `counters!`).
        #[allow(unused_macros, reason = "a table without metric rows (statistics no snapshot row shows)")]
        macro_rules! $splice {
            (
                [$d($d meta:tt)*] $d name:ident [$d($d before:tt)*] [$d($d after:tt)*] [$d($d tail:tt)*]
            ) => {
                $crate::prometheus::snapshot! {
                    $d($d meta)*
                    pub struct $d name {
                        $d($d before)*,
                        $( $(#[$mdoc])* pub $field: u64 => ($kind $metric $help), )*
                        $d($d after)*
                    }
                    $d($d tail)*
                }

                impl From<&$values> for $d name {
                    fn from(values: &$values) -> Self {
                        Self { $( $field: values.$counter, )* ..Self::default() }
                    }
                }
            };
        }
        #[allow(unused_imports, reason = "a table whose values no snapshot row shows")]
        $vis use $splice;
    };
}
pub(crate) use counters;

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

    snapshot! {
        /// A test row.
        #[derive(Debug, Default)]
        pub struct Top {
            /// A counter.
            pub a: u64 => (counter "t_a_total" "A counter."),
            /// Absent when `None`.
            pub b: Option<u64> => (gauge "t_b" "A gauge."),
            /// Children.
            pub kids: Vec<Kid> => (rows),
        }
        labels(_r) { String::new() }
    }

    snapshot! {
        /// A child row.
        #[derive(Debug, Default)]
        pub struct Kid {
            /// Its label.
            pub id: String,
            /// One family, two series per row.
            pub x: usize => (gauge "t_kid" "By state." "state=\"x\""),
            /// The other series.
            pub y: bool => (and "t_kid" "state=\"y\""),
            /// By hand.
            pub z: u32 => (counter "t_z_total" "By hand." with |k, out| out("", u64::from(k.z) * 2)),
        }
        labels(k) { format!("id=\"{}\"", label(&k.id)) }
    }

    counters! {
        /// Test counters.
        #[derive(Debug, Default)]
        #[repr(align(64))]
        pub(crate) struct TestCounters => TestCounts, splice test_counters {
            [
                /// Not a metric.
                hidden,
            ]
            /// Shown as `shown_field`.
            shown => shown_field (counter "t_shown_total" "Shown."),
            /// A level.
            level => level (gauge "t_level" "A level."),
        }
    }

    snapshot! {
        /// A row with a counters table spliced in.
        #[derive(Debug, Default, PartialEq, Eq)]
        pub struct WithCounters {
            /// Before the table.
            pub first: u64 => (gauge "t_first" "First."),
            ..test_counters,
            /// After the table.
            pub last: u64 => (counter "t_last_total" "Last."),
        }
        labels(_r) { String::new() }
    }

    #[test]
    fn counters_table_gives_raw_struct_values_and_snapshot_rows() {
        let raw = TestCounters::default();
        assert_eq!(std::mem::align_of::<TestCounters>(), 64, "attributes are kept");
        assert_eq!(std::mem::size_of::<TestCounters>(), 64, "one Counter per row, nothing else");
        raw.hidden.bump(5);
        raw.shown.bump(2);
        raw.level.add(7);
        let values = raw.get();
        assert_eq!(values, TestCounts { hidden: 5, shown: 2, level: 7 });
        let retired = TestCounters::default();
        retired.add(&values);
        retired.add(&values);
        let mut sum = retired.get();
        sum += &values;
        assert_eq!(sum, TestCounts { hidden: 15, shown: 6, level: 21 });
        let row = WithCounters { first: 1, last: 3, ..WithCounters::from(&sum) };
        assert_eq!(row, WithCounters { first: 1, shown_field: 6, level: 21, last: 3 });
        assert_eq!(
            render([&row]),
            "# HELP t_first First.\n# TYPE t_first gauge\nt_first 1\n\
             # HELP t_shown_total Shown.\n# TYPE t_shown_total counter\nt_shown_total 6\n\
             # HELP t_level A level.\n# TYPE t_level gauge\nt_level 21\n\
             # HELP t_last_total Last.\n# TYPE t_last_total counter\nt_last_total 3\n"
        );
    }

    #[test]
    fn families_series_groups_and_children() {
        let top = Top {
            a: 3,
            b: None,
            kids: vec![Kid { id: "\"q\"".into(), x: 1, y: true, z: 4 }, Kid { id: "r".into(), ..Kid::default() }],
        };
        assert_eq!(
            render([&top]),
            "# HELP t_a_total A counter.\n# TYPE t_a_total counter\nt_a_total 3\n\
             # HELP t_b A gauge.\n# TYPE t_b gauge\n\
             # HELP t_kid By state.\n# TYPE t_kid gauge\n\
             t_kid{id=\"\\\"q\\\"\",state=\"x\"} 1\nt_kid{id=\"\\\"q\\\"\",state=\"y\"} 1\n\
             t_kid{id=\"r\",state=\"x\"} 0\nt_kid{id=\"r\",state=\"y\"} 0\n\
             # HELP t_z_total By hand.\n# TYPE t_z_total counter\n\
             t_z_total{id=\"\\\"q\\\"\"} 8\nt_z_total{id=\"r\"} 0\n"
        );
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(join("", "b"), "b");
        assert_eq!(join("a", ""), "a");
        assert_eq!(join("a", "b"), "a,b");
    }
}
