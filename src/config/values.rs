//! The value types of the settings table: sizes ([`ByteSize`], [`MemoryAmount`]), node
//! choices ([`NodeSelection`], [`NodePolicy`]), [`LogLevel`], [`Millis`], [`Percent`] and
//! [`AllowUnknown`], each with how it is written and printed.
//!
//! What must hold: every type prints in the syntax its variable accepts, so a printed value
//! parses back to the same value (`Config::describe` relies on it). No type here knows which
//! variable uses it.

use std::fmt;
use std::str::FromStr;

use numa::{NodeId, NodeSet};

use super::PREFIX;

/// A byte count, printed in the largest binary unit that divides it (`32MiB`).
///
/// ```
/// use numaseg::config::{ByteSize, Config};
/// assert_eq!(ByteSize(32 << 20).to_string(), "32MiB");
/// assert_eq!(ByteSize(3 << 30).to_string(), "3GiB");
/// assert_eq!(ByteSize(1536).to_string(), "1536"); // 1.5 KiB: no unit divides it
/// let config = Config::builder().build_from([("NUMASEG_RETAIN_FREE", "1536")])?;
/// assert_eq!(config.retain_free, ByteSize(1536));
/// # Ok::<(), numaseg::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// The count.
    ///
    /// ```
    /// use numaseg::config::{ByteSize, Config};
    /// assert_eq!(ByteSize(4096).bytes(), 4096);
    /// assert_eq!(Config::default().segment_size.bytes(), 32 << 10);
    /// ```
    #[must_use]
    pub const fn bytes(self) -> u64 {
        self.0
    }

    /// The count as `usize` (saturating on 32-bit targets).
    ///
    /// ```
    /// use numaseg::config::ByteSize;
    /// assert_eq!(ByteSize(2 << 20).as_usize(), 2 << 20);
    /// assert_eq!(ByteSize(u64::MAX).as_usize(), usize::try_from(u64::MAX).unwrap_or(usize::MAX));
    /// ```
    #[must_use]
    pub fn as_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 4] = [(1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
        for (unit, name) in UNITS {
            if self.0 >= unit && self.0.is_multiple_of(unit) {
                return write!(f, "{}{name}", self.0 / unit);
            }
        }
        write!(f, "{}", self.0)
    }
}

/// Parses a size with optional unit: `4096`, `32k`, `2MiB`, `1g` (K/M/G are binary).
///
/// ```
/// use numaseg::config::parse_bytes;
/// assert_eq!(parse_bytes("32k"), Ok(32 << 10));
/// assert_eq!(parse_bytes("2MiB"), Ok(2 << 20));
/// assert_eq!(parse_bytes("1g"), Ok(1 << 30));
/// assert!(parse_bytes("99999999999999999999").is_err());
/// assert!(parse_bytes("-1").is_err());
/// ```
///
/// # Errors
/// A text that is not a number with an optional unit, or that overflows 64 bits.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    parse_size::Config::new().with_binary().parse_size(text.trim()).map_err(|e| e.to_string())
}

/// An amount of memory: bytes, a fraction of a reference amount, or no limit.
///
/// ```
/// use numaseg::config::{ByteSize, Config, MemoryAmount};
/// let vars = [("NUMASEG_MEMORY_LIMIT", "8GiB"), ("NUMASEG_NODE_MEMORY_LIMIT", "0.25"), ("NUMASEG_MANAGED_MEMORY", "none")];
/// let config = Config::builder().build_from(vars)?;
/// assert_eq!(config.memory_limit, MemoryAmount::Bytes(ByteSize(8 << 30)));
/// assert_eq!(config.node_memory_limit, MemoryAmount::Fraction(0.25));
/// assert_eq!(config.managed_memory, MemoryAmount::Unlimited);
/// // Printed as written, so it parses back.
/// assert_eq!((config.node_memory_limit.to_string(), MemoryAmount::Fraction(1.0).to_string()), ("0.25".into(), "1.0".into()));
/// assert!(Config::builder().build_from([("NUMASEG_MEMORY_LIMIT", "1.5")]).is_err()); // a fraction is at most 1
/// # Ok::<(), numaseg::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MemoryAmount {
    /// An absolute number of bytes.
    Bytes(ByteSize),
    /// A fraction in (0, 1] of the reference the variable names.
    Fraction(f64),
    /// No limit.
    Unlimited,
}

impl MemoryAmount {
    /// The amount in bytes given the reference for fractions; `None` for [`Self::Unlimited`].
    ///
    /// ```
    /// use numaseg::config::{ByteSize, MemoryAmount};
    /// assert_eq!(MemoryAmount::Fraction(0.25).resolve(1000), Some(250));
    /// assert_eq!(MemoryAmount::Bytes(ByteSize(4096)).resolve(1000), Some(4096)); // the reference does not matter
    /// assert_eq!(MemoryAmount::Unlimited.resolve(1000), None);
    /// ```
    #[must_use]
    pub fn resolve(self, reference: u64) -> Option<u64> {
        match self {
            Self::Bytes(b) => Some(b.bytes()),
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss,
                reason = "a fraction in (0,1] of a u64 fits a u64"
            )]
            Self::Fraction(f) => Some((reference as f64 * f) as u64),
            Self::Unlimited => None,
        }
    }
}

impl fmt::Display for MemoryAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bytes(b) => b.fmt(f),
            // Debug keeps the decimal point (`1.0`), so the text parses back as a fraction.
            Self::Fraction(x) => write!(f, "{x:?}"),
            Self::Unlimited => f.write_str("none"),
        }
    }
}

/// Which nodes numaseg may use.
///
/// ```
/// use numaseg::config::{Config, NodeSelection};
/// assert_eq!(Config::default().nodes, NodeSelection::All);
/// let config = Config::builder().build_from([("NUMASEG_NODES", "0-1,3")])?;
/// assert_eq!(config.nodes, NodeSelection::List("0-1,3".parse().expect("a node list")));
/// assert_eq!((config.nodes.to_string(), NodeSelection::All.to_string()), ("0-1,3".into(), "all".into()));
/// # Ok::<(), numaseg::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeSelection {
    /// Every node the process may use.
    All,
    /// These nodes (each must be usable, checked when the core is built).
    List(NodeSet),
}

impl fmt::Display for NodeSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("all"),
            Self::List(set) => set.fmt(f),
        }
    }
}

/// Which node an allocation that names none is served from.
///
/// ```
/// use numaseg::config::{Config, NodePolicy};
/// use numaseg::numa::NodeId;
/// assert_eq!(Config::default().node_policy, NodePolicy::Local);
/// let config = Config::builder().build_from([("NUMASEG_NODE_POLICY", "bind:1")])?;
/// assert_eq!(config.node_policy, NodePolicy::Bind(NodeId::new(1)));
/// assert_eq!(config.node_policy.to_string(), "bind:1");
/// assert_eq!(NodePolicy::Interleave.to_string(), "interleave");
/// assert!(Config::builder().build_from([("NUMASEG_NODE_POLICY", "bind:x")]).is_err());
/// # Ok::<(), numaseg::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodePolicy {
    /// The node of the CPU the calling thread runs on.
    Local,
    /// Nodes in turn: each refill of a thread's cache comes from the next node of the set.
    Interleave,
    /// Always this node.
    Bind(NodeId),
}

impl fmt::Display for NodePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local => f.write_str("local"),
            Self::Interleave => f.write_str("interleave"),
            Self::Bind(node) => write!(f, "bind:{}", node.index()),
        }
    }
}

/// The level of numaseg's log output in the CLI (libraries install their own `tracing`
/// subscriber; numaseg only emits events).
///
/// ```
/// use numaseg::config::{Config, LogLevel};
/// assert_eq!(Config::default().log, LogLevel::Warn);
/// assert_eq!(Config::builder().build_from([("NUMASEG_LOG", "debug")])?.log, LogLevel::Debug);
/// assert!(LogLevel::Error < LogLevel::Warn && LogLevel::Warn < LogLevel::Trace); // more output further on
/// assert_eq!(LogLevel::Info.to_string(), "info");
/// # Ok::<(), numaseg::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Nothing.
    Off,
    /// Errors only.
    Error,
    /// Errors and warnings (fallbacks, leaks).
    Warn,
    /// Also one-time notices (regions mapped, page kinds obtained).
    Info,
    /// Also slow-path events.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    /// The level's name as a `tracing` filter directive.
    ///
    /// ```
    /// use numaseg::config::LogLevel;
    /// assert_eq!(LogLevel::Off.as_str(), "off");
    /// assert_eq!(LogLevel::Trace.as_str(), "trace");
    /// assert_eq!(LogLevel::Warn.to_string(), LogLevel::Warn.as_str());
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::Trace => "trace",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A duration in whole milliseconds, printed in the largest unit that divides it (`30s`,
/// `250ms`).
///
/// ```
/// use numaseg::config::Millis;
/// assert_eq!(Millis(30_000).to_string(), "30s");
/// assert_eq!(Millis(250).to_string(), "250ms");
/// assert_eq!(Millis(1500).as_duration(), std::time::Duration::from_millis(1500));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub u64);

impl Millis {
    /// As a [`std::time::Duration`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use numaseg::config::{Config, Millis};
    /// assert_eq!(Millis(250).as_duration(), Duration::from_millis(250));
    /// assert_eq!(Config::default().network_request_timeout.as_duration(), Duration::from_secs(30));
    /// ```
    #[must_use]
    pub const fn as_duration(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0)
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 != 0 && self.0.is_multiple_of(1000) {
            write!(f, "{}s", self.0 / 1000)
        } else {
            write!(f, "{}ms", self.0)
        }
    }
}

/// A whole percentage, printed with its sign (`25%`).
///
/// ```
/// use numaseg::config::Percent;
/// assert_eq!(Percent(25).to_string(), "25%");
/// assert_eq!(Percent(25).of(1000), 250);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Percent(pub u32);

impl Percent {
    /// This share of `n`, rounded down.
    ///
    /// ```
    /// assert_eq!(numaseg::config::Percent(25).of(1001), 250);
    /// ```
    #[must_use]
    pub const fn of(self, n: u64) -> u64 {
        n.saturating_mul(self.0 as u64) / 100
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

/// `NUMASEG_*` names that are not numaseg's but may be in the environment anyway (a launcher's
/// `NUMASEG_DIR`, say): listed by name, or `*` for any unknown name (each then logged as a
/// warning, so a typo still shows). Written `NUMASEG_DIR,NUMASEG_FOO`, `*` or `none`.
///
/// ```
/// use numaseg::config::{AllowUnknown, Config};
/// let allow: AllowUnknown = "NUMASEG_DIR, NUMASEG_FOO".parse()?;
/// assert!(allow.allows("NUMASEG_DIR") && !allow.allows("NUMASEG_REGION_SIZ"));
/// assert_eq!(allow.to_string(), "NUMASEG_DIR,NUMASEG_FOO");
/// let vars = [("NUMASEG_DIR", "/opt/x"), ("NUMASEG_ALLOW_UNKNOWN", "NUMASEG_DIR")];
/// assert!(Config::builder().build_from(vars).is_ok());
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct AllowUnknown {
    pub(super) any: bool,
    names: Vec<String>,
}

impl AllowUnknown {
    /// Whether the unknown variable `name` is allowed.
    ///
    /// ```
    /// use numaseg::config::AllowUnknown;
    /// assert!("*".parse::<AllowUnknown>()?.allows("NUMASEG_ANYTHING"));
    /// assert!(!AllowUnknown::default().allows("NUMASEG_DIR"));
    /// # Ok::<(), String>(())
    /// ```
    #[must_use]
    pub fn allows(&self, name: &str) -> bool {
        self.any || self.names.iter().any(|n| n == name)
    }
}

impl fmt::Display for AllowUnknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.any, self.names.is_empty()) {
            (true, _) => f.write_str("*"),
            (false, true) => f.write_str("none"),
            (false, false) => f.write_str(&self.names.join(",")),
        }
    }
}

impl FromStr for AllowUnknown {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let t = text.trim();
        if t.is_empty() || t.eq_ignore_ascii_case("none") {
            return Ok(Self::default());
        }
        if t == "*" {
            return Ok(Self { any: true, names: Vec::new() });
        }
        let mut names = Vec::new();
        for name in t.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if !name.starts_with(PREFIX) || name.len() == PREFIX.len() {
                return Err(format!("{name:?} is not a NUMASEG_* name"));
            }
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
        Ok(Self { any: false, names })
    }
}
