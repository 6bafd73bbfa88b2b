//! The parsers the settings table names in its `parse` column: each takes the text of one
//! variable and returns the value or the reason it was refused (the caller adds the variable's
//! name and what it accepts).
//!
//! What must hold: a parser accepts exactly what its row's `accepts` text says, and checks only
//! its own value; checks across variables live with the table in `config.rs`.

use std::str::FromStr;

use numa::{NodeId, NodeSet, PagePolicy};

use super::{ByteSize, LogLevel, MemoryAmount, Millis, NodePolicy, NodeSelection, Percent, parse_bytes};
pub(super) fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" => Ok(false),
        _ => Err("not a boolean".to_owned()),
    }
}

pub(super) fn parse_policy(text: &str) -> Result<PagePolicy, String> {
    PagePolicy::from_str(text).map_err(|_| "not a page kind".to_owned())
}

pub(super) fn parse_nodes(text: &str) -> Result<NodeSelection, String> {
    if text.trim().eq_ignore_ascii_case("all") {
        return Ok(NodeSelection::All);
    }
    let set = NodeSet::from_str(text).map_err(|e| e.reason.to_owned())?;
    if set.is_empty() {
        return Err("the node list is empty".to_owned());
    }
    Ok(NodeSelection::List(set))
}

pub(super) fn parse_node_policy(text: &str) -> Result<NodePolicy, String> {
    let t = text.trim().to_ascii_lowercase();
    match t.as_str() {
        "local" => Ok(NodePolicy::Local),
        "interleave" => Ok(NodePolicy::Interleave),
        _ => {
            let n = t.strip_prefix("bind:").ok_or_else(|| "not a node policy".to_owned())?;
            let idx: usize = n.trim().parse().map_err(|_| "bind: needs a node number".to_owned())?;
            NodeId::try_new(idx).map(NodePolicy::Bind).ok_or_else(|| "node number too large".to_owned())
        }
    }
}

pub(super) fn parse_log(text: &str) -> Result<LogLevel, String> {
    Ok(match text.trim().to_ascii_lowercase().as_str() {
        "off" => LogLevel::Off,
        "error" => LogLevel::Error,
        "warn" | "warning" => LogLevel::Warn,
        "info" => LogLevel::Info,
        "debug" => LogLevel::Debug,
        "trace" => LogLevel::Trace,
        _ => return Err("not a log level".to_owned()),
    })
}

pub(super) fn parse_amount(text: &str) -> Result<MemoryAmount, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("none") || t.eq_ignore_ascii_case("unlimited") {
        return Ok(MemoryAmount::Unlimited);
    }
    // A number that is not a whole count of bytes (`0.4`, `1.0`, `NaN`, `1e400`) is a fraction.
    let whole = !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !whole && let Ok(f) = t.parse::<f64>() {
        return if f.is_finite() && f > 0.0 && f <= 1.0 {
            Ok(MemoryAmount::Fraction(f))
        } else {
            Err("a fraction must be in (0, 1]".to_owned())
        };
    }
    let bytes = parse_bytes(t)?;
    if bytes == 0 {
        return Err("must be more than 0 bytes".to_owned());
    }
    Ok(MemoryAmount::Bytes(ByteSize(bytes)))
}

pub(super) fn parse_size_between(text: &str, min: u64, max: u64, power_of_two: bool) -> Result<ByteSize, String> {
    check_size_between(ByteSize(parse_bytes(text)?), min, max, power_of_two)
}

fn check_size_between(size: ByteSize, min: u64, max: u64, power_of_two: bool) -> Result<ByteSize, String> {
    if size.0 < min || size.0 > max {
        return Err(format!("must be between {} and {}", ByteSize(min), ByteSize(max)));
    }
    if power_of_two && !size.0.is_power_of_two() {
        return Err("must be a power of two".to_owned());
    }
    Ok(size)
}

pub(super) fn parse_region_size(text: &str) -> Result<ByteSize, String> {
    parse_size_between(text, 2 << 20, 1 << 30, true)
}

pub(super) fn parse_segment_size(text: &str) -> Result<ByteSize, String> {
    parse_size_between(text, 4 << 10, 1 << 30, true)
}

pub(super) fn parse_any_size(text: &str) -> Result<ByteSize, String> {
    parse_bytes(text).map(ByteSize)
}

pub(super) fn parse_count(min: usize, max: usize) -> impl Fn(&str) -> Result<usize, String> {
    move |text| {
        let n: usize = text.trim().parse().map_err(|_| "not a whole number".to_owned())?;
        if n < min || n > max {
            return Err(format!("must be between {min} and {max}"));
        }
        Ok(n)
    }
}

pub(super) fn parse_cache_bytes(text: &str) -> Result<ByteSize, String> {
    parse_size_between(text, 0, 1 << 30, false)
}

/// A duration: a whole number with a unit `ms`, `s` or `min`, from 1 ms to one day.
pub(super) fn parse_millis(text: &str) -> Result<Millis, String> {
    let t = text.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().map_err(|_| "not a whole number with a unit".to_owned())?;
    let factor = match unit.trim() {
        "ms" => 1,
        "s" => 1000,
        "min" => 60_000,
        _ => return Err("needs a unit: ms, s or min".to_owned()),
    };
    let ms = n.checked_mul(factor).ok_or_else(|| "too large".to_owned())?;
    if !(1..=86_400_000).contains(&ms) {
        return Err("must be between 1ms and 1440min".to_owned());
    }
    Ok(Millis(ms))
}

/// A whole percentage from 0 to 100, with or without the sign: `25`, `25%`.
pub(super) fn parse_percent(text: &str) -> Result<Percent, String> {
    let t = text.trim();
    let digits = t.strip_suffix('%').unwrap_or(t).trim();
    let n: u32 = digits.parse().map_err(|_| "not a whole percentage".to_owned())?;
    if n > 100 {
        return Err("must be between 0% and 100%".to_owned());
    }
    Ok(Percent(n))
}

/// A debloating minimum buffer size: 1 byte to 1 GiB (and at most the segment size, checked
/// with the other settings).
pub(super) fn parse_min_buffer_size(text: &str) -> Result<ByteSize, String> {
    parse_size_between(text, 1, 1 << 30, false)
}

/// `NUMASEG_USE_CASE_WEIGHTS`: the syntax of `USE_CASE:WEIGHT` pairs; the memory manager checks
/// the names and that a weight is positive when it is built.
pub(super) fn parse_use_case_weights(text: &str) -> Result<super::NamedWeights, String> {
    super::NamedWeights::parse(text, "USE_CASE")
}
