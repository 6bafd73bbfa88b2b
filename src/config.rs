//! THE table of `NUMASEG_*` environment variables: names, types, defaults, what each accepts and
//! means. Parsing, defaults, the [`ConfigBuilder`] setters, [`Config::describe`] and the table in
//! `docs/CONFIGURATION.md` all come from the one `settings!` invocation below, so they cannot
//! disagree (a test regenerates the document and compares).
//!
//! Precedence: builder > environment > default. Everything is read and validated once, at
//! construction; nothing here runs on a hot path. A malformed or out-of-range value, or an
//! unknown `NUMASEG_*` name, is a [`ConfigError`] naming the variable, the value and what is
//! accepted, never a silent default.
//!
//! This file holds the table, the macro that expands it and the checks across variables; the
//! value types are in `config/values.rs` and `config/weights.rs` (`NamedWeights`, the syntax of
//! `NUMASEG_USE_CASE_WEIGHTS`; the use cases themselves are the memory manager's), the
//! per-variable parsers in `config/parse.rs`.
//!
//! ```
//! use numaseg::config::{Config, Source};
//! let vars = [("NUMASEG_REGION_SIZE", "64MiB"), ("NUMASEG_STRICT", "on")];
//! let config = Config::builder().prefault(false).build_from(vars)?;
//! assert_eq!(config.region_size.bytes(), 64 << 20);
//! assert!(config.strict);
//! assert!(!config.prefault);
//! let described = config.describe();
//! let region = described.iter().find(|s| s.name == "NUMASEG_REGION_SIZE").unwrap();
//! assert_eq!((region.value.as_str(), region.source), ("64MiB", Source::Environment));
//!
//! let err = Config::builder().build_from([("NUMASEG_REGION_SIZE", "3x")]).unwrap_err();
//! assert!(err.to_string().starts_with("NUMASEG_REGION_SIZE=\"3x\""));
//! # Ok::<(), numaseg::config::ConfigError>(())
//! ```

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::str::FromStr;

use numa::{PageKind, PagePolicy};

/// The prefix every numaseg variable starts with; any other name with it is an error.
///
/// ```
/// use numaseg::config::{Config, ConfigError, PREFIX, VARS};
/// assert_eq!(PREFIX, "NUMASEG_");
/// assert!(VARS.iter().all(|v| v.name.starts_with(PREFIX)));
/// // Names without the prefix are none of numaseg's business; unknown ones with it are errors.
/// assert!(Config::builder().build_from([("REGION_SIZE", "bogus")]).is_ok());
/// let err = Config::builder().build_from([("NUMASEG_REGION_SIZ", "64MiB")]).unwrap_err();
/// assert_eq!(err, ConfigError::Unknown { var: "NUMASEG_REGION_SIZ".into(), suggestion: Some("NUMASEG_REGION_SIZE") });
/// ```
pub const PREFIX: &str = "NUMASEG_";

/// Where an effective value came from.
///
/// ```
/// use numaseg::config::{Config, Source};
/// let config = Config::builder().strict(true).build_from([("NUMASEG_PREFAULT", "off")])?;
/// assert_eq!(config.source_of("NUMASEG_STRICT"), Some(Source::Builder));
/// assert_eq!(config.source_of("NUMASEG_PREFAULT"), Some(Source::Environment));
/// assert_eq!(config.source_of("NUMASEG_LOG"), Some(Source::Default));
/// assert_eq!(Source::Environment.to_string(), "environment");
/// # Ok::<(), numaseg::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The table's default.
    Default,
    /// The process environment (or the variables given to [`ConfigBuilder::build_from`]).
    Environment,
    /// A [`ConfigBuilder`] setter.
    Builder,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Default => "default",
            Self::Environment => "environment",
            Self::Builder => "builder",
        })
    }
}

/// One row of the table.
///
/// ```
/// use numaseg::config::{Config, VARS};
/// let spec = VARS.iter().find(|v| v.name == "NUMASEG_REGION_SIZE").expect("a row of the table");
/// assert_eq!((spec.default, spec.accepts), ("32MiB", "a power of two from 2MiB to 1GiB"));
/// assert!(spec.doc.trim_start().starts_with("Size of one region"));
/// // The default is what an empty environment gives.
/// assert_eq!(Config::default().region_size.to_string(), spec.default);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VarSpec {
    /// The variable's name.
    pub name: &'static str,
    /// The default, in the variable's own syntax.
    pub default: &'static str,
    /// What values it accepts.
    pub accepts: &'static str,
    /// What it means.
    pub doc: &'static str,
}

/// One effective setting, as [`Config::describe`] reports it.
///
/// ```
/// use numaseg::config::{Config, Setting, Source};
/// let config = Config::builder().build_from([("NUMASEG_NODE_POLICY", "bind:0")])?;
/// let setting = config.describe().into_iter().find(|s| s.name == "NUMASEG_NODE_POLICY").expect("described");
/// assert_eq!(setting, Setting { name: "NUMASEG_NODE_POLICY", value: "bind:0".into(), source: Source::Environment });
/// # Ok::<(), numaseg::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The variable's name.
    pub name: &'static str,
    /// The effective value, in the variable's own syntax.
    pub value: String,
    /// Where it came from.
    pub source: Source,
}

/// A configuration that could not be accepted.
///
/// ```
/// use std::ffi::OsString;
/// use std::os::unix::ffi::OsStringExt;
/// use numaseg::config::{Config, ConfigError};
/// let err = Config::builder().build_from([("NUMASEG_CACHE_CAPACITY", "1")]).unwrap_err();
/// assert!(matches!(&err, ConfigError::Invalid { var: "NUMASEG_CACHE_CAPACITY", value, .. } if value == "1"));
/// assert!(err.to_string().starts_with("NUMASEG_CACHE_CAPACITY=\"1\": "));
/// assert!(err.to_string().ends_with("(accepted: a whole number from 2 to 65536)"));
/// // Each value fine on its own, but not together.
/// let vars = [("NUMASEG_REGION_SIZE", "2MiB"), ("NUMASEG_SEGMENT_SIZE", "4MiB")];
/// let err = Config::builder().build_from(vars).unwrap_err();
/// assert_eq!(err.to_string(), "NUMASEG_SEGMENT_SIZE and NUMASEG_REGION_SIZE conflict: a segment of 4MiB does not fit a region of 2MiB");
/// let bytes = [(OsString::from("NUMASEG_LOG"), OsString::from_vec(vec![0xff]))];
/// assert_eq!(Config::builder().build_from(bytes).unwrap_err().to_string(), "NUMASEG_LOG: the value is not valid UTF-8");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value did not parse or is out of range.
    #[error("{var}={value:?}: {reason} (accepted: {accepts})")]
    Invalid {
        /// The variable (or, for a builder value, the variable it stands for).
        var: &'static str,
        /// The value given.
        value: String,
        /// What was wrong.
        reason: String,
        /// What the variable accepts.
        accepts: &'static str,
    },
    /// A `NUMASEG_*` variable that numaseg does not know: most likely a typo.
    #[error("unknown variable {var}{}; known variables: see docs/CONFIGURATION.md or `numaseg config`; \
        if it is not meant for numaseg, allow it with NUMASEG_ALLOW_UNKNOWN={var}",
        suggestion.map(|s| format!(" (did you mean {s}?)")).unwrap_or_default())]
    Unknown {
        /// The name given.
        var: String,
        /// The closest known name.
        suggestion: Option<&'static str>,
    },
    /// A `NUMASEG_*` variable whose name or value is not valid Unicode.
    #[error("{var}: the value is not valid UTF-8")]
    NotUnicode {
        /// The name (lossily converted).
        var: String,
    },
    /// Two settings that cannot hold together.
    #[error("{first} and {second} conflict: {reason}")]
    Conflict {
        /// One variable.
        first: &'static str,
        /// The other.
        second: &'static str,
        /// Why.
        reason: String,
    },
}

mod parse;
mod values;
mod weights;

pub use values::{
    AllowUnknown, ByteSize, LogLevel, MemoryAmount, Millis, NodePolicy, NodeSelection, Percent, parse_bytes,
};
pub use weights::NamedWeights;

use parse::{
    parse_amount, parse_any_size, parse_bool, parse_cache_bytes, parse_count, parse_log, parse_millis,
    parse_min_buffer_size, parse_node_policy, parse_nodes, parse_percent, parse_policy, parse_region_size,
    parse_segment_size, parse_use_case_weights,
};

/// Renders a value back in its variable's syntax.
trait Render {
    fn render(&self) -> String;
}

impl<T: fmt::Display> Render for T {
    fn render(&self) -> String {
        self.to_string()
    }
}

macro_rules! settings {
    ($(
        $(#[doc = $doc:literal])+
        $field:ident: $ty:ty = $var:literal, default $default:literal, accepts $accepts:literal, parse $parse:expr;
    )+) => {
        /// The effective configuration: every field of the table, resolved.
        ///
        /// Fields are public for reading; build one with [`Config::from_env`],
        /// [`Config::builder`] or [`Config::default`] (defaults only).
        ///
        /// ```
        /// use numaseg::config::{ByteSize, Config};
        /// let config = Config::builder().build_from([("NUMASEG_REGION_SIZE", "64MiB"), ("NUMASEG_LOG", "debug")])?;
        /// assert_eq!(config.region_size, ByteSize(64 << 20));
        /// assert_eq!(Config::default().region_size, ByteSize(32 << 20));
        /// // Every setting prints in its variable's syntax, so the description builds the same values.
        /// let vars: Vec<(&str, String)> = config.describe().into_iter().map(|s| (s.name, s.value)).collect();
        /// let again = Config::builder().build_from(vars)?;
        /// assert_eq!(again.describe().iter().map(|s| &s.value).collect::<Vec<_>>(), config.describe().iter().map(|s| &s.value).collect::<Vec<_>>());
        /// # Ok::<(), numaseg::config::ConfigError>(())
        /// ```
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub struct Config {
            $( $(#[doc = $doc])+ pub $field: $ty, )+
            sources: BTreeMap<&'static str, Source>,
        }

        /// Every variable: name, default, accepted values, meaning.
        ///
        /// ```
        /// use std::collections::BTreeSet;
        /// use numaseg::config::{Config, VARS};
        /// let names: BTreeSet<&str> = VARS.iter().map(|v| v.name).collect();
        /// assert_eq!(names.len(), VARS.len()); // no name twice
        /// assert!(names.contains("NUMASEG_HUGE_PAGES") && names.contains("NUMASEG_ALLOW_UNKNOWN"));
        /// // In table order, as `describe` reports them.
        /// assert!(VARS.iter().zip(Config::default().describe()).all(|(v, s)| v.name == s.name && v.default == s.value));
        /// ```
        pub const VARS: &[VarSpec] = &[
            $( VarSpec { name: $var, default: $default, accepts: $accepts, doc: concat!($($doc),+) }, )+
        ];

        /// Sets values from a program. Values set here win over the environment.
        ///
        /// ```
        /// use numaseg::config::Config;
        /// use numaseg::numa::{PageKind, PagePolicy};
        /// let config = Config::builder().huge_pages(PagePolicy::Only(PageKind::Small)).build_from::<_, &str, &str>([])?;
        /// assert_eq!(config.huge_pages, PagePolicy::Only(PageKind::Small));
        /// # Ok::<(), numaseg::config::ConfigError>(())
        /// ```
        #[derive(Debug, Clone, Default)]
        pub struct ConfigBuilder {
            $( $field: Option<$ty>, )+
        }

        impl ConfigBuilder {
            $(
                #[doc = concat!("Sets `", $var, "`.")]
                #[must_use]
                pub fn $field(mut self, value: $ty) -> Self {
                    self.$field = Some(value);
                    self
                }
            )+

            fn resolve(self, vars: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
                let mut sources = BTreeMap::new();
                $(
                    let $field: $ty = match self.$field {
                        Some(value) => {
                            // Builder values go through the same validation as text.
                            let text = value.render();
                            let parsed: $ty = ($parse)(text.as_str()).map_err(|reason| ConfigError::Invalid {
                                var: $var, value: text.clone(), reason, accepts: $accepts,
                            })?;
                            sources.insert($var, Source::Builder);
                            parsed
                        }
                        None => match vars.get($var) {
                            Some(text) => {
                                let parsed: $ty = ($parse)(text.as_str()).map_err(|reason| ConfigError::Invalid {
                                    var: $var, value: text.clone(), reason, accepts: $accepts,
                                })?;
                                sources.insert($var, Source::Environment);
                                parsed
                            }
                            None => {
                                sources.insert($var, Source::Default);
                                ($parse)($default).unwrap_or_else(|e| unreachable!("the default of {} does not parse: {e}", $var))
                            }
                        },
                    };
                )+
                let config = Config { $( $field, )+ sources };
                config.check_together()?;
                Ok(config)
            }
        }

        impl Config {
            /// Every setting with its effective value and where it came from, in table order.
            ///
            /// ```
            /// use numaseg::config::{Config, Source};
            /// let config = Config::builder().build_from([("NUMASEG_STRICT", "yes")])?;
            /// let described = config.describe();
            /// let strict = described.iter().find(|s| s.name == "NUMASEG_STRICT").expect("every variable is described");
            /// assert_eq!((strict.value.as_str(), strict.source), ("true", Source::Environment));
            /// assert_eq!(described[0].name, "NUMASEG_HUGE_PAGES");
            /// assert!(described.iter().filter(|s| s.name != "NUMASEG_STRICT").all(|s| s.source == Source::Default));
            /// # Ok::<(), numaseg::config::ConfigError>(())
            /// ```
            #[must_use]
            pub fn describe(&self) -> Vec<Setting> {
                vec![ $( Setting {
                    name: $var,
                    value: self.$field.render(),
                    source: self.sources.get($var).copied().unwrap_or(Source::Default),
                }, )+ ]
            }
        }
    };
}

settings! {
    /// Which page kinds back regions: `auto` tries 1 GiB → 2 MiB → THP → base pages (1 GiB only
    /// where the region size is a multiple of it) and reports what it got; a single kind is used
    /// alone, falling back with a logged notice unless `NUMASEG_STRICT` is on.
    huge_pages: PagePolicy = "NUMASEG_HUGE_PAGES", default "auto", accepts "auto, 1g, 2m, thp, small", parse parse_policy;
    /// Strict placement: regions are bound with `MPOL_BIND`, a single page kind that cannot be had
    /// is an error instead of a fallback, and a node out of budget fails instead of allocating on
    /// another node.
    strict: bool = "NUMASEG_STRICT", default "false", accepts "true/false, 1/0, on/off, yes/no", parse parse_bool;
    /// The nodes numaseg may use: `all` (every node the process may use) or a list.
    nodes: NodeSelection = "NUMASEG_NODES", default "all", accepts "all, or a node list like 0-3,6", parse parse_nodes;
    /// The node an allocation that names none comes from: the calling thread's node, nodes in
    /// turn (per cache refill), or one fixed node.
    node_policy: NodePolicy = "NUMASEG_NODE_POLICY", default "local", accepts "local, interleave, bind:N", parse parse_node_policy;
    /// Size of one region, the unit numaseg maps from the OS and hands to one size class at a
    /// time; also the largest segment size.
    region_size: ByteSize = "NUMASEG_REGION_SIZE", default "32MiB", accepts "a power of two from 2MiB to 1GiB", parse parse_region_size;
    /// Default segment size: the page size of the memory manager and the size of network buffers.
    segment_size: ByteSize = "NUMASEG_SEGMENT_SIZE", default "32KiB", accepts "a power of two from 4KiB to the region size", parse parse_segment_size;
    /// Fault every page of a region in when it is mapped or recommitted, so the hot path never
    /// takes a page fault (hugetlb regions are always populated at map time).
    prefault: bool = "NUMASEG_PREFAULT", default "true", accepts "true/false, 1/0, on/off, yes/no", parse parse_bool;
    /// Lock regions in RAM with `mlock` so they never swap; `RLIMIT_MEMLOCK` is checked first.
    lock_memory: bool = "NUMASEG_LOCK_MEMORY", default "false", accepts "true/false, 1/0, on/off, yes/no", parse parse_bool;
    /// Total budget: bytes numaseg may hold committed over all nodes, as bytes, a fraction of the
    /// memory of the nodes in use, or `none`.
    memory_limit: MemoryAmount = "NUMASEG_MEMORY_LIMIT", default "0.5", accepts "bytes (e.g. 8GiB), a fraction in (0,1] of the nodes' memory, or none", parse parse_amount;
    /// Per-node budget: bytes numaseg may hold committed on each node, as bytes, a fraction of that
    /// node's memory, or `none`.
    node_memory_limit: MemoryAmount = "NUMASEG_NODE_MEMORY_LIMIT", default "0.75", accepts "bytes, a fraction in (0,1] of the node's memory, or none", parse parse_amount;
    /// Bytes of regions mapped on every node when the core is built, instead of on demand.
    preallocate: ByteSize = "NUMASEG_PREALLOCATE", default "0", accepts "bytes (rounded up to whole regions)", parse parse_any_size;
    /// Bytes of fully free regions each node keeps committed for reuse; free regions beyond it are
    /// decommitted (memory back to the OS) and recommitted when needed again.
    retain_free: ByteSize = "NUMASEG_RETAIN_FREE", default "64MiB", accepts "bytes", parse parse_any_size;
    /// Most segments one thread caches per size class (the adaptive capacity grows up to this).
    cache_capacity: usize = "NUMASEG_CACHE_CAPACITY", default "1024", accepts "a whole number from 2 to 65536", parse parse_count(2, 65536);
    /// Most bytes one thread caches per size class (caps the capacity of large classes).
    cache_bytes: ByteSize = "NUMASEG_CACHE_BYTES", default "32MiB", accepts "bytes up to 1GiB", parse parse_cache_bytes;
    /// Memory of the memory manager: bytes, or a fraction of the total budget.
    managed_memory: MemoryAmount = "NUMASEG_MANAGED_MEMORY", default "0.4", accepts "bytes, or a fraction in (0,1] of NUMASEG_MEMORY_LIMIT", parse parse_amount;
    /// Memory of the network buffer pool: bytes, or a fraction of the total budget (ignored when
    /// `NUMASEG_NETWORK_BUFFERS` is set).
    network_memory: MemoryAmount = "NUMASEG_NETWORK_MEMORY", default "0.1", accepts "bytes, or a fraction in (0,1] of NUMASEG_MEMORY_LIMIT", parse parse_amount;
    /// Number of network buffers; `0` means: derive it from `NUMASEG_NETWORK_MEMORY`.
    network_buffers: usize = "NUMASEG_NETWORK_BUFFERS", default "0", accepts "a whole number (0 = use NUMASEG_NETWORK_MEMORY)", parse parse_count(0, usize::MAX);
    /// Level of the CLI's log output (libraries install their own `tracing` subscriber).
    log: LogLevel = "NUMASEG_LOG", default "warn", accepts "off, error, warn, info, debug, trace", parse parse_log;
    /// Exclusive network buffers per input channel of credit-based flow control: the credit a
    /// channel always has, which keeps every channel moving under backpressure.
    network_exclusive_buffers: usize = "NUMASEG_NETWORK_EXCLUSIVE_BUFFERS", default "2", accepts "a whole number from 0 to 65536", parse parse_count(0, 65536);
    /// Floating network buffers per input gate: the gate's local pool (shared by its channels) has
    /// at most this many, lent to channels whose sender's backlog needs more than their exclusive
    /// buffers, first come first served.
    network_floating_buffers: usize = "NUMASEG_NETWORK_FLOATING_BUFFERS", default "8", accepts "a whole number from 1 to 1048576", parse parse_count(1, 1 << 20);
    /// How long a request for exclusive network buffers waits for other pools to give buffers
    /// back before it fails (and gives back what it had taken).
    network_request_timeout: Millis = "NUMASEG_NETWORK_REQUEST_TIMEOUT", default "30s", accepts "a duration like 250ms, 30s or 2min (1ms to 1440min)", parse parse_millis;
    /// How the memory manager's budget splits between use cases: `USE_CASE:WEIGHT` pairs, each use
    /// case's share being its weight over the sum (a use case left out weighs 0 and gets no share).
    use_case_weights: NamedWeights = "NUMASEG_USE_CASE_WEIGHTS", default "OPERATOR:70,STATE_BACKEND:70,PYTHON:30", accepts "USE_CASE:WEIGHT,... with use cases OPERATOR, STATE_BACKEND, PYTHON and whole-number weights, at least one positive", parse parse_use_case_weights;
    /// Adaptive buffer sizing of network buffers ("debloating"): each input gate measures how
    /// fast its consumer takes data and announces a buffer size to its senders so that the data
    /// in flight covers `NUMASEG_NETWORK_DEBLOAT_TARGET`. Off: whole buffers, as before.
    network_debloat: bool = "NUMASEG_NETWORK_DEBLOAT", default "false", accepts "true/false, 1/0, on/off, yes/no", parse parse_bool;
    /// How often a debloating gate measures its throughput and recomputes its buffer size.
    network_debloat_period: Millis = "NUMASEG_NETWORK_DEBLOAT_PERIOD", default "200ms", accepts "a duration like 10ms, 200ms or 1s (1ms to 1440min)", parse parse_millis;
    /// The time the data in flight to a debloating gate should take its consumer to process:
    /// buffers that can be outstanding × buffer size ≈ throughput × target. Lower it (down to a
    /// few ms) to bound the wait of a new message behind a backlog.
    network_debloat_target: Millis = "NUMASEG_NETWORK_DEBLOAT_TARGET", default "1s", accepts "a duration like 5ms, 100ms or 1s (1ms to 1440min)", parse parse_millis;
    /// The smallest buffer size debloating announces (the largest is the segment size).
    network_debloat_min_size: ByteSize = "NUMASEG_NETWORK_DEBLOAT_MIN_SIZE", default "256", accepts "bytes, from 1 to NUMASEG_SEGMENT_SIZE", parse parse_min_buffer_size;
    /// Damping: a newly computed buffer size is applied only when it differs from the current one
    /// by more than this share of it (or reaches the minimum or the segment size).
    network_debloat_threshold: Percent = "NUMASEG_NETWORK_DEBLOAT_THRESHOLD", default "25%", accepts "a whole percentage from 0 to 100 (25 or 25%)", parse parse_percent;
    /// The window of the throughput's exponential moving average, in periods: each new
    /// measurement weighs 2 / (samples + 1).
    network_debloat_samples: usize = "NUMASEG_NETWORK_DEBLOAT_SAMPLES", default "20", accepts "a whole number from 1 to 1000", parse parse_count(1, 1000);
    /// Isolation: clear every segment, memory-manager page and network buffer when it is given
    /// back (`on-release`) or handed out (`on-allocate`), so no owner reads another's bytes.
    zero: crate::zero::ZeroMode = "NUMASEG_ZERO", default "off", accepts "off, on-release, on-allocate", parse crate::zero::ZeroMode::from_str;
    /// `NUMASEG_*` variables that are not numaseg's and must not be refused as typos (a
    /// launcher's `NUMASEG_DIR`, say): a list of names, or `*` to let any unknown name through
    /// with a logged warning. Any other unknown `NUMASEG_*` name is an error.
    allow_unknown: AllowUnknown = "NUMASEG_ALLOW_UNKNOWN", default "none", accepts "none, *, or a list of NUMASEG_* names like NUMASEG_DIR,NUMASEG_FOO", parse AllowUnknown::from_str;
}

impl Config {
    /// Reads the process environment (`NUMASEG_*` only) over the defaults.
    ///
    /// ```
    /// use numaseg::config::{Config, Source};
    /// // Whatever this process's environment holds: each value came from it exactly when it is set.
    /// let config = Config::from_env()?;
    /// for setting in config.describe() {
    ///     let from_env = std::env::var_os(setting.name).is_some();
    ///     assert_eq!(setting.source, if from_env { Source::Environment } else { Source::Default });
    /// }
    /// # Ok::<(), numaseg::config::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// See [`ConfigError`].
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::builder().build()
    }

    /// A builder; its values win over the environment.
    ///
    /// ```
    /// use numaseg::config::{ByteSize, Config, ConfigError, Source};
    /// // Builder values win over the variables.
    /// let config = Config::builder().strict(true).build_from([("NUMASEG_STRICT", "off")])?;
    /// assert!(config.strict);
    /// assert_eq!(config.source_of("NUMASEG_STRICT"), Some(Source::Builder));
    /// // And are checked as strictly: 3 MiB is not a power of two.
    /// let err = Config::builder().region_size(ByteSize(3 << 20)).build_from::<_, &str, &str>([]).unwrap_err();
    /// assert!(matches!(&err, ConfigError::Invalid { var: "NUMASEG_REGION_SIZE", value, .. } if value == "3MiB"));
    /// # Ok::<(), numaseg::config::ConfigError>(())
    /// ```
    #[must_use]
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Where a variable's value came from.
    ///
    /// ```
    /// use numaseg::config::{Config, Source};
    /// let config = Config::builder().build_from([("NUMASEG_ZERO", "on-release")])?;
    /// assert_eq!(config.source_of("NUMASEG_ZERO"), Some(Source::Environment));
    /// assert_eq!(config.source_of("NUMASEG_REGION_SIZE"), Some(Source::Default));
    /// assert_eq!(config.source_of("NUMASEG_NO_SUCH_THING"), None);
    /// assert_eq!(Config::default().source_of("NUMASEG_ZERO"), Some(Source::Default));
    /// # Ok::<(), numaseg::config::ConfigError>(())
    /// ```
    #[must_use]
    pub fn source_of(&self, var: &str) -> Option<Source> {
        self.sources.get(var).copied()
    }

    fn check_together(&self) -> Result<(), ConfigError> {
        if self.segment_size.bytes() > self.region_size.bytes() {
            return Err(ConfigError::Conflict {
                first: "NUMASEG_SEGMENT_SIZE",
                second: "NUMASEG_REGION_SIZE",
                reason: format!("a segment of {} does not fit a region of {}", self.segment_size, self.region_size),
            });
        }
        if self.network_debloat_min_size.bytes() > self.segment_size.bytes() {
            return Err(ConfigError::Conflict {
                first: "NUMASEG_NETWORK_DEBLOAT_MIN_SIZE",
                second: "NUMASEG_SEGMENT_SIZE",
                reason: format!(
                    "a minimum buffer size of {} is above the segment size {}",
                    self.network_debloat_min_size, self.segment_size
                ),
            });
        }
        if let PagePolicy::Only(PageKind::Huge1G) = self.huge_pages
            && !self.region_size.bytes().is_multiple_of(PageKind::Huge1G.page_size() as u64)
        {
            return Err(ConfigError::Conflict {
                first: "NUMASEG_HUGE_PAGES",
                second: "NUMASEG_REGION_SIZE",
                reason: format!("1 GiB pages need a region size that is a multiple of 1GiB, not {}", self.region_size),
            });
        }
        Ok(())
    }

    /// The table as Markdown, exactly as `docs/CONFIGURATION.md` holds it.
    ///
    /// ```
    /// use numaseg::config::{Config, VARS};
    /// let table = Config::markdown_table();
    /// assert!(table.starts_with("| Variable | Default | Accepts | Meaning |\n|---|---|---|---|\n"));
    /// assert_eq!(table.lines().count(), VARS.len() + 2);
    /// assert!(table.contains("| `NUMASEG_REGION_SIZE` | `32MiB` | a power of two from 2MiB to 1GiB | Size of one region"));
    /// ```
    #[must_use]
    pub fn markdown_table() -> String {
        let mut out = String::from("| Variable | Default | Accepts | Meaning |\n|---|---|---|---|\n");
        for v in VARS {
            out.push_str(&format!(
                "| `{}` | `{}` | {} | {} |\n",
                v.name,
                v.default,
                v.accepts.replace('|', "\\|"),
                v.doc.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|")
            ));
        }
        out
    }
}

impl Default for Config {
    /// Defaults only, ignoring the environment.
    fn default() -> Self {
        ConfigBuilder::default()
            .resolve(&BTreeMap::new())
            .unwrap_or_else(|e| unreachable!("the defaults form a valid configuration, but: {e}"))
    }
}

impl ConfigBuilder {
    /// Builds over the process environment.
    ///
    /// ```
    /// use numaseg::config::{Config, Source};
    /// // Over this process's environment; the builder's value wins whatever it holds.
    /// let config = Config::builder().prefault(false).build()?;
    /// assert!(!config.prefault);
    /// assert_eq!(config.source_of("NUMASEG_PREFAULT"), Some(Source::Builder));
    /// # Ok::<(), numaseg::config::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// See [`ConfigError`].
    pub fn build(self) -> Result<Config, ConfigError> {
        self.build_from_os(std::env::vars_os())
    }

    /// Builds over the given variables instead of the environment (only `NUMASEG_*` names are
    /// looked at), so tests never touch the process environment.
    ///
    /// ```
    /// use numaseg::config::{Config, MemoryAmount, Source};
    /// let vars = [("NUMASEG_MEMORY_LIMIT", "none"), ("PATH", "/usr/bin"), ("HOME", "/root")];
    /// let config = Config::builder().build_from(vars)?;
    /// assert_eq!(config.memory_limit, MemoryAmount::Unlimited);
    /// assert_eq!(config.source_of("NUMASEG_MEMORY_LIMIT"), Some(Source::Environment));
    /// # Ok::<(), numaseg::config::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// See [`ConfigError`].
    pub fn build_from<I, K, V>(self, vars: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        self.build_from_os(vars.into_iter().map(|(k, v)| (k.into(), v.into())))
    }

    fn build_from_os(self, vars: impl IntoIterator<Item = (OsString, OsString)>) -> Result<Config, ConfigError> {
        let mut ours = BTreeMap::new();
        let mut unknown = Vec::new();
        for (key, value) in vars {
            let key_lossy = key.to_string_lossy();
            if !key_lossy.starts_with(PREFIX) {
                continue;
            }
            let (Some(key), Some(value)) = (key.to_str(), value.to_str()) else {
                return Err(ConfigError::NotUnicode { var: key_lossy.into_owned() });
            };
            if VARS.iter().any(|v| v.name == key) {
                ours.insert(key.to_owned(), value.to_owned());
            } else {
                unknown.push(key.to_owned());
            }
        }
        let config = self.resolve(&ours)?;
        // Unknown names are checked against NUMASEG_ALLOW_UNKNOWN, which is parsed with the rest.
        for var in unknown {
            if !config.allow_unknown.allows(&var) {
                return Err(ConfigError::Unknown { suggestion: closest(&var), var });
            }
            if config.allow_unknown.any {
                tracing::warn!(target: "numaseg", "ignoring unknown variable {var} (NUMASEG_ALLOW_UNKNOWN=*)");
            }
        }
        Ok(config)
    }
}

/// The known name closest to `name` (edit distance at most 3).
fn closest(name: &str) -> Option<&'static str> {
    VARS.iter().map(|v| (edit_distance(name, v.name), v.name)).filter(|(d, _)| *d <= 3).min().map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use numa::NodeId;

    fn with(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::builder().build_from(vars.iter().copied())
    }

    fn invalid_var(err: ConfigError) -> &'static str {
        match err {
            ConfigError::Invalid { var, .. } => var,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn defaults_parse_and_are_marked_default() {
        let config = Config::default();
        assert_eq!(config.describe().len(), VARS.len());
        assert!(config.describe().iter().all(|s| s.source == Source::Default));
        for v in VARS {
            let described = config.describe().into_iter().find(|s| s.name == v.name).unwrap();
            // Rendering a default and parsing it again gives the same configuration.
            let again = with(&[(v.name, described.value.as_str())]).unwrap();
            assert_eq!(again.describe().into_iter().find(|s| s.name == v.name).unwrap().value, described.value);
        }
    }

    #[test]
    fn every_variable_accepts_good_values() {
        let good: &[(&str, &[&str])] = &[
            ("NUMASEG_HUGE_PAGES", &["auto", "1g", "2m", "thp", "small", "2MiB", "THP"]),
            ("NUMASEG_STRICT", &["1", "0", "true", "False", "on", "OFF", "yes", "no"]),
            ("NUMASEG_NODES", &["all", "0", "0-3", "0,2", " 1 - 2 "]),
            ("NUMASEG_NODE_POLICY", &["local", "interleave", "bind:0", "BIND:3"]),
            ("NUMASEG_REGION_SIZE", &["2MiB", "32m", "64M", "1g", "2097152"]),
            ("NUMASEG_SEGMENT_SIZE", &["4k", "32KiB", "1m", "32MiB"]),
            ("NUMASEG_PREFAULT", &["1", "off"]),
            ("NUMASEG_LOCK_MEMORY", &["on", "0"]),
            ("NUMASEG_MEMORY_LIMIT", &["8GiB", "0.5", "1.0", ".25", "none", "4096"]),
            ("NUMASEG_NODE_MEMORY_LIMIT", &["1g", "0.9", "unlimited"]),
            ("NUMASEG_PREALLOCATE", &["0", "64MiB"]),
            ("NUMASEG_RETAIN_FREE", &["0", "1g"]),
            ("NUMASEG_CACHE_CAPACITY", &["2", "256", "65536"]),
            ("NUMASEG_CACHE_BYTES", &["0", "4MiB", "1GiB"]),
            ("NUMASEG_MANAGED_MEMORY", &["0.4", "512m"]),
            ("NUMASEG_NETWORK_MEMORY", &["0.1", "64MiB"]),
            ("NUMASEG_NETWORK_BUFFERS", &["0", "2048"]),
            ("NUMASEG_LOG", &["off", "error", "warn", "info", "debug", "trace"]),
            ("NUMASEG_NETWORK_EXCLUSIVE_BUFFERS", &["0", "2", "65536"]),
            ("NUMASEG_NETWORK_FLOATING_BUFFERS", &["1", "8", "1048576"]),
            ("NUMASEG_NETWORK_REQUEST_TIMEOUT", &["30s", "250ms", "2min", "1ms", " 5 S "]),
            (
                "NUMASEG_USE_CASE_WEIGHTS",
                &[
                    "OPERATOR:70,STATE_BACKEND:70,PYTHON:30",
                    "operator:1",
                    " PYTHON : 0 , STATE_BACKEND:5 ",
                    "OPERATOR:3,",
                ],
            ),
            ("NUMASEG_NETWORK_DEBLOAT", &["on", "false", "1"]),
            ("NUMASEG_NETWORK_DEBLOAT_PERIOD", &["200ms", "1ms", "2s"]),
            ("NUMASEG_NETWORK_DEBLOAT_TARGET", &["1s", "5ms", "1ms", "10min"]),
            ("NUMASEG_NETWORK_DEBLOAT_MIN_SIZE", &["256", "1", "4k", "32KiB"]),
            ("NUMASEG_NETWORK_DEBLOAT_THRESHOLD", &["25%", "25", "0", "100%", " 10 % "]),
            ("NUMASEG_NETWORK_DEBLOAT_SAMPLES", &["20", "1", "1000"]),
            ("NUMASEG_ZERO", &["off", "on-release", "On-Allocate", " release "]),
            ("NUMASEG_ALLOW_UNKNOWN", &["none", "", "*", "NUMASEG_DIR", " NUMASEG_DIR , NUMASEG_FOO,"]),
        ];
        assert_eq!(good.len(), VARS.len(), "every variable has good values listed here");
        for (var, values) in good {
            for value in *values {
                // 1 GiB pages need 1 GiB regions (tested as a conflict below).
                let extra = if value.eq_ignore_ascii_case("1g") && *var == "NUMASEG_HUGE_PAGES" {
                    ("NUMASEG_REGION_SIZE", "1g")
                } else {
                    ("NUMASEG_LOG", "warn")
                };
                let config = with(&[(var, value), extra]).unwrap_or_else(|e| panic!("{var}={value}: {e}"));
                assert_eq!(config.source_of(var), Some(Source::Environment));
            }
        }
        let c =
            with(&[("NUMASEG_NODES", "1-2,5"), ("NUMASEG_NODE_POLICY", "bind:5"), ("NUMASEG_MEMORY_LIMIT", "0.25")])
                .unwrap();
        assert_eq!(c.nodes, NodeSelection::List("1,2,5".parse().unwrap()));
        assert_eq!(c.node_policy, NodePolicy::Bind(NodeId::new(5)));
        assert_eq!(c.memory_limit.resolve(1 << 30), Some(256 << 20));
    }

    #[test]
    fn each_class_of_bad_value_names_the_variable() {
        let bad: &[(&str, &str)] = &[
            ("NUMASEG_HUGE_PAGES", "huge"),
            ("NUMASEG_STRICT", "maybe"),
            ("NUMASEG_STRICT", ""),
            ("NUMASEG_NODES", "0-"),
            ("NUMASEG_NODES", "3-1"),
            ("NUMASEG_NODES", ""),
            ("NUMASEG_NODES", "99999"),
            ("NUMASEG_NODE_POLICY", "remote"),
            ("NUMASEG_NODE_POLICY", "bind:"),
            ("NUMASEG_NODE_POLICY", "bind:-1"),
            ("NUMASEG_NODE_POLICY", "bind:5000"),
            ("NUMASEG_REGION_SIZE", "3x"),
            ("NUMASEG_REGION_SIZE", "1MiB"),  // below the minimum
            ("NUMASEG_REGION_SIZE", "48MiB"), // not a power of two
            ("NUMASEG_REGION_SIZE", "2GiB"),  // above the maximum
            ("NUMASEG_REGION_SIZE", "-2m"),
            ("NUMASEG_SEGMENT_SIZE", "1000"),
            ("NUMASEG_SEGMENT_SIZE", "2k"),
            ("NUMASEG_MEMORY_LIMIT", "0"),
            ("NUMASEG_MEMORY_LIMIT", "1.5"),
            ("NUMASEG_MEMORY_LIMIT", "0.0"),
            ("NUMASEG_MEMORY_LIMIT", "NaN"),
            ("NUMASEG_MEMORY_LIMIT", "1e400"),
            ("NUMASEG_MEMORY_LIMIT", "99999999999999999999"), // overflows u64
            ("NUMASEG_MEMORY_LIMIT", "16EiB"),                // overflows u64
            ("NUMASEG_PREALLOCATE", "lots"),
            ("NUMASEG_CACHE_CAPACITY", "1"),
            ("NUMASEG_CACHE_CAPACITY", "1e3"),
            ("NUMASEG_CACHE_CAPACITY", "99999999999999999999999"),
            ("NUMASEG_CACHE_BYTES", "2GiB"),
            ("NUMASEG_NETWORK_BUFFERS", "-1"),
            ("NUMASEG_LOG", "verbose"),
            ("NUMASEG_NETWORK_EXCLUSIVE_BUFFERS", "65537"),
            ("NUMASEG_NETWORK_EXCLUSIVE_BUFFERS", "two"),
            ("NUMASEG_NETWORK_FLOATING_BUFFERS", "0"),
            ("NUMASEG_NETWORK_REQUEST_TIMEOUT", "30"),
            ("NUMASEG_NETWORK_REQUEST_TIMEOUT", "0s"),
            ("NUMASEG_NETWORK_REQUEST_TIMEOUT", "2h"),
            ("NUMASEG_NETWORK_REQUEST_TIMEOUT", "1441min"),
            ("NUMASEG_NETWORK_REQUEST_TIMEOUT", "99999999999999999999s"),
            ("NUMASEG_USE_CASE_WEIGHTS", "OPERATOR"),
            ("NUMASEG_USE_CASE_WEIGHTS", "OPERATOR:-1"),
            ("NUMASEG_USE_CASE_WEIGHTS", "OPERATOR:1.5"),
            ("NUMASEG_USE_CASE_WEIGHTS", "OPERATOR:4294967296"),
            ("NUMASEG_USE_CASE_WEIGHTS", "OPERATOR:1,operator:2"),
            ("NUMASEG_NETWORK_DEBLOAT", "sometimes"),
            ("NUMASEG_NETWORK_DEBLOAT_PERIOD", "200"),
            ("NUMASEG_NETWORK_DEBLOAT_PERIOD", "0ms"),
            ("NUMASEG_NETWORK_DEBLOAT_TARGET", "1h"),
            ("NUMASEG_NETWORK_DEBLOAT_TARGET", "0s"),
            ("NUMASEG_NETWORK_DEBLOAT_MIN_SIZE", "0"),
            ("NUMASEG_NETWORK_DEBLOAT_MIN_SIZE", "2GiB"),
            ("NUMASEG_NETWORK_DEBLOAT_MIN_SIZE", "small"),
            ("NUMASEG_NETWORK_DEBLOAT_THRESHOLD", "101%"),
            ("NUMASEG_NETWORK_DEBLOAT_THRESHOLD", "-5"),
            ("NUMASEG_NETWORK_DEBLOAT_THRESHOLD", "0.25"),
            ("NUMASEG_NETWORK_DEBLOAT_THRESHOLD", "%"),
            ("NUMASEG_NETWORK_DEBLOAT_SAMPLES", "0"),
            ("NUMASEG_NETWORK_DEBLOAT_SAMPLES", "1001"),
            ("NUMASEG_ZERO", "sometimes"),
            ("NUMASEG_ALLOW_UNKNOWN", "DIR"),
            ("NUMASEG_ALLOW_UNKNOWN", "NUMASEG_"),
        ];
        for (var, value) in bad {
            let err = with(&[(var, value)]).expect_err(&format!("{var}={value:?} should be refused"));
            let text = err.to_string();
            assert!(text.starts_with(&format!("{var}={value:?}")), "{text}");
            assert!(text.contains("accepted: "), "{text}");
            assert_eq!(invalid_var(err), *var);
        }
    }

    #[test]
    fn units_are_binary() {
        for (text, bytes) in [
            ("32k", 32u64 << 10),
            ("32K", 32 << 10),
            ("32KiB", 32 << 10),
            ("2m", 2 << 20),
            ("2MB", 2 << 20),
            ("1g", 1 << 30),
            ("1.5g", 3 << 29),
            ("4096", 4096),
        ] {
            assert_eq!(parse_bytes(text), Ok(bytes), "{text}");
        }
        assert_eq!(ByteSize(32 << 20).to_string(), "32MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000");
        assert_eq!(ByteSize(3 << 29).to_string(), "1536MiB");
    }

    #[test]
    fn unknown_and_non_unicode_names_are_errors() {
        let err = with(&[("NUMASEG_REGION_SIZ", "32m")]).unwrap_err();
        assert_eq!(
            err,
            ConfigError::Unknown { var: "NUMASEG_REGION_SIZ".into(), suggestion: Some("NUMASEG_REGION_SIZE") }
        );
        assert!(err.to_string().contains("did you mean NUMASEG_REGION_SIZE?"));
        assert!(matches!(
            with(&[("NUMASEG_WHATEVER", "1")]).unwrap_err(),
            ConfigError::Unknown { suggestion: None, .. }
        ));
        assert!(err.to_string().contains("allow it with NUMASEG_ALLOW_UNKNOWN=NUMASEG_REGION_SIZ"), "{err}");
        // Other variables are none of our business.
        assert!(with(&[("PATH", "/bin"), ("NUMASEGX", "1")]).is_ok());
        use std::os::unix::ffi::OsStringExt;
        let bad = OsString::from_vec(vec![0xff, 0xfe]);
        let err = Config::builder().build_from([(OsString::from("NUMASEG_LOG"), bad)]).unwrap_err();
        assert!(matches!(err, ConfigError::NotUnicode { .. }));
    }

    #[test]
    fn allowed_unknown_names_pass_and_typos_still_fail() {
        // A launcher's variable, listed: accepted, and nothing else about the config changes.
        let c = with(&[("NUMASEG_DIR", "/opt"), ("NUMASEG_ALLOW_UNKNOWN", "NUMASEG_DIR,NUMASEG_FOO")]).unwrap();
        assert_eq!(c.source_of("NUMASEG_ALLOW_UNKNOWN"), Some(Source::Environment));
        assert!(c.allow_unknown.allows("NUMASEG_FOO"));
        // A typo next to the allowed name is still refused, naming itself.
        let err = with(&[("NUMASEG_DIR", "/opt"), ("NUMASEG_ALLOW_UNKNOWN", "NUMASEG_DIR"), ("NUMASEG_STRCT", "1")])
            .unwrap_err();
        assert_eq!(err, ConfigError::Unknown { var: "NUMASEG_STRCT".into(), suggestion: Some("NUMASEG_STRICT") });
        // `*` lets any unknown name through (each is logged); known names are still checked.
        assert!(with(&[("NUMASEG_WHATEVER", "1"), ("NUMASEG_ALLOW_UNKNOWN", "*")]).is_ok());
        let err = with(&[("NUMASEG_ALLOW_UNKNOWN", "*"), ("NUMASEG_STRICT", "maybe")]).unwrap_err();
        assert_eq!(invalid_var(err), "NUMASEG_STRICT");
        // The builder's list wins over the environment's, as for every variable.
        let allow: AllowUnknown = "NUMASEG_OTHER".parse().unwrap();
        let err = Config::builder()
            .allow_unknown(allow)
            .build_from([("NUMASEG_DIR", "/opt"), ("NUMASEG_ALLOW_UNKNOWN", "NUMASEG_DIR")])
            .unwrap_err();
        assert!(matches!(err, ConfigError::Unknown { ref var, .. } if var == "NUMASEG_DIR"), "{err}");
        assert_eq!(AllowUnknown::default().to_string(), "none");
        assert_eq!("*".parse::<AllowUnknown>().unwrap().to_string(), "*");
    }

    #[test]
    fn durations_parse_to_milliseconds_and_render_back() {
        for (text, ms) in [("250ms", 250), ("30s", 30_000), ("2min", 120_000), ("1500ms", 1500), (" 7 S ", 7000)] {
            assert_eq!(parse_millis(text), Ok(Millis(ms)), "{text}");
            assert_eq!(parse_millis(&Millis(ms).to_string()), Ok(Millis(ms)));
        }
        assert_eq!(Millis(1500).to_string(), "1500ms");
        let c =
            with(&[("NUMASEG_NETWORK_REQUEST_TIMEOUT", "250ms"), ("NUMASEG_NETWORK_EXCLUSIVE_BUFFERS", "4")]).unwrap();
        assert_eq!(c.network_request_timeout.as_duration(), std::time::Duration::from_millis(250));
        assert_eq!(c.network_exclusive_buffers, 4);
        assert_eq!(Config::default().network_floating_buffers, 8);
    }

    #[test]
    fn debloating_settings_parse_with_their_defaults() {
        let d = Config::default();
        assert!(!d.network_debloat);
        assert_eq!((d.network_debloat_period, d.network_debloat_target), (Millis(200), Millis(1000)));
        assert_eq!((d.network_debloat_min_size, d.network_debloat_threshold), (ByteSize(256), Percent(25)));
        assert_eq!(d.network_debloat_samples, 20);
        let c = with(&[
            ("NUMASEG_NETWORK_DEBLOAT", "on"),
            ("NUMASEG_NETWORK_DEBLOAT_PERIOD", "10ms"),
            ("NUMASEG_NETWORK_DEBLOAT_TARGET", "5ms"),
            ("NUMASEG_NETWORK_DEBLOAT_MIN_SIZE", "1k"),
            ("NUMASEG_NETWORK_DEBLOAT_THRESHOLD", "10"),
            ("NUMASEG_NETWORK_DEBLOAT_SAMPLES", "5"),
        ])
        .unwrap();
        assert!(c.network_debloat);
        assert_eq!(c.network_debloat_target.as_duration(), std::time::Duration::from_millis(5));
        assert_eq!((c.network_debloat_min_size, c.network_debloat_threshold), (ByteSize(1024), Percent(10)));
        assert_eq!(c.network_debloat_samples, 5);
        for (text, pct) in [("25", 25), ("25%", 25), (" 0 % ", 0), ("100%", 100)] {
            assert_eq!(parse_percent(text), Ok(Percent(pct)), "{text}");
            assert_eq!(parse_percent(&Percent(pct).to_string()), Ok(Percent(pct)));
        }
        // The minimum cannot exceed the segment size.
        let err = with(&[("NUMASEG_NETWORK_DEBLOAT_MIN_SIZE", "64KiB")]).unwrap_err();
        assert!(matches!(err, ConfigError::Conflict { first: "NUMASEG_NETWORK_DEBLOAT_MIN_SIZE", .. }), "{err}");
        assert!(with(&[("NUMASEG_NETWORK_DEBLOAT_MIN_SIZE", "64KiB"), ("NUMASEG_SEGMENT_SIZE", "64KiB")]).is_ok());
    }

    #[test]
    fn builder_beats_environment_beats_default() {
        let c = Config::builder()
            .region_size(ByteSize(64 << 20))
            .build_from([("NUMASEG_REGION_SIZE", "128MiB"), ("NUMASEG_SEGMENT_SIZE", "64KiB")])
            .unwrap();
        assert_eq!(c.region_size, ByteSize(64 << 20));
        assert_eq!(c.source_of("NUMASEG_REGION_SIZE"), Some(Source::Builder));
        assert_eq!(c.segment_size, ByteSize(64 << 10));
        assert_eq!(c.source_of("NUMASEG_SEGMENT_SIZE"), Some(Source::Environment));
        assert_eq!(c.source_of("NUMASEG_PREFAULT"), Some(Source::Default));
    }

    #[test]
    fn builder_values_are_validated_too() {
        let err = Config::builder().region_size(ByteSize(3 << 20)).build_from::<_, &str, &str>([]).unwrap_err();
        assert_eq!(invalid_var(err), "NUMASEG_REGION_SIZE");
        let err = Config::builder()
            .memory_limit(MemoryAmount::Fraction(f64::NAN))
            .build_from::<_, &str, &str>([])
            .unwrap_err();
        assert_eq!(invalid_var(err), "NUMASEG_MEMORY_LIMIT");
        let err = Config::builder().cache_capacity(0).build_from::<_, &str, &str>([]).unwrap_err();
        assert_eq!(invalid_var(err), "NUMASEG_CACHE_CAPACITY");
    }

    #[test]
    fn settings_that_conflict_are_refused() {
        let err = with(&[("NUMASEG_SEGMENT_SIZE", "64MiB")]).unwrap_err();
        assert!(matches!(err, ConfigError::Conflict { first: "NUMASEG_SEGMENT_SIZE", .. }), "{err}");
        let err = with(&[("NUMASEG_HUGE_PAGES", "1g")]).unwrap_err();
        assert!(err.to_string().contains("multiple of 1GiB"), "{err}");
        assert!(with(&[("NUMASEG_HUGE_PAGES", "1g"), ("NUMASEG_REGION_SIZE", "1g")]).is_ok());
    }

    #[test]
    fn use_case_weights_are_named_weights_checked_for_syntax() {
        let default = Config::default().use_case_weights;
        assert_eq!(default.to_string(), "OPERATOR:70,STATE_BACKEND:70,PYTHON:30");
        assert_eq!(default.iter().collect::<Vec<_>>(), [("OPERATOR", 70), ("STATE_BACKEND", 70), ("PYTHON", 30)]);

        let c = with(&[("NUMASEG_USE_CASE_WEIGHTS", " state_backend:1 , OPERATOR:0 ")]).unwrap();
        assert_eq!(c.use_case_weights.to_string(), "STATE_BACKEND:1,OPERATOR:0");
        assert_eq!(c.use_case_weights.iter().collect::<Vec<_>>(), [("STATE_BACKEND", 1), ("OPERATOR", 0)]);
        // What the names mean, and whether any weight is positive, is the manager's to check.
        for value in ["HEAP:10", "OPERATOR:0", ""] {
            assert!(with(&[("NUMASEG_USE_CASE_WEIGHTS", value)]).is_ok(), "{value}");
        }

        let reasons = [
            ("OPERATOR:1,operator:2", "OPERATOR is listed twice"),
            ("PYTHON=3", "\"PYTHON=3\" is not USE_CASE:WEIGHT"),
            ("PY THON:3", "\"PY THON:3\" is not USE_CASE:WEIGHT"),
            (":3", "\":3\" is not USE_CASE:WEIGHT"),
            ("PYTHON:-1", "the weight of PYTHON must be a whole number from 0 to 4294967295"),
        ];
        for (value, reason) in reasons {
            match with(&[("NUMASEG_USE_CASE_WEIGHTS", value)]).unwrap_err() {
                ConfigError::Invalid { reason: got, .. } => assert_eq!(got, reason, "{value}"),
                other => panic!("{value}: {other:?}"),
            }
        }
        // The builder goes through the same parser, and its value round-trips.
        let weights: NamedWeights = [("python", 2), ("OPERATOR", 1)].into_iter().collect();
        let c = Config::builder().use_case_weights(weights.clone()).build_from::<_, &str, &str>([]).unwrap();
        assert_eq!(c.use_case_weights, weights);
        assert_eq!(c.source_of("NUMASEG_USE_CASE_WEIGHTS"), Some(Source::Builder));
        let bad: NamedWeights = [("A B", 1)].into_iter().collect();
        let err = Config::builder().use_case_weights(bad).build_from::<_, &str, &str>([]).unwrap_err();
        assert_eq!(invalid_var(err), "NUMASEG_USE_CASE_WEIGHTS");
    }

    #[test]
    fn the_documentation_matches_the_table() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/CONFIGURATION.md")).unwrap();
        let begin = "<!-- BEGIN TABLE: the output of `numaseg config --markdown`; a test compares -->\n";
        let end = "<!-- END TABLE -->";
        let start = doc.find(begin).expect("begin marker") + begin.len();
        let stop = doc.find(end).expect("end marker");
        assert_eq!(
            &doc[start..stop],
            Config::markdown_table(),
            "docs/CONFIGURATION.md is out of date: replace its table with the output of `numaseg config --markdown`"
        );
    }
}
