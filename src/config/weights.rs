//! [`NamedWeights`]: a list of `NAME:WEIGHT` pairs, the syntax of a variable that splits something
//! between named parts (`NUMASEG_USE_CASE_WEIGHTS`).
//!
//! This is syntax only: what the names mean, which are known and whether the weights make a
//! usable split is for the layer that owns the parts (the memory manager checks its use cases
//! when it is built). What must hold: each name is a non-empty run of ASCII letters, digits and
//! `_`, kept upper-case (names are case-insensitive); each name is listed at most once; weights
//! are whole numbers that fit a `u32`; a list prints back in the order written.

use std::fmt;
use std::str::FromStr;

/// `NAME:WEIGHT` pairs in the order written, e.g. `OPERATOR:70,STATE_BACKEND:70,PYTHON:30`.
///
/// ```
/// use numaseg::config::NamedWeights;
/// let weights: NamedWeights = " python:1 , OPERATOR:3 ".parse()?;
/// assert_eq!(weights.iter().collect::<Vec<_>>(), [("PYTHON", 1), ("OPERATOR", 3)]);
/// assert_eq!(weights.to_string(), "PYTHON:1,OPERATOR:3");
/// assert_eq!("A:1,a:2".parse::<NamedWeights>().unwrap_err(), "A is listed twice");
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct NamedWeights {
    /// In the order written; each name (upper-case) at most once.
    weights: Vec<(String, u32)>,
}

impl NamedWeights {
    /// Parses `text`, naming the pair syntax `{what}:WEIGHT` in errors (`FromStr` says `NAME`).
    ///
    /// # Errors
    ///
    /// A message naming the offending pair, name or weight: a pair that is not `{what}:WEIGHT`,
    /// a weight that is not a whole number from 0 to `u32::MAX`, a name listed twice.
    ///
    /// ```
    /// use numaseg::config::NamedWeights;
    /// assert_eq!(NamedWeights::parse("X=1", "PART").unwrap_err(), "\"X=1\" is not PART:WEIGHT");
    /// assert_eq!(
    ///     NamedWeights::parse("x:1.5", "PART").unwrap_err(),
    ///     "the weight of X must be a whole number from 0 to 4294967295"
    /// );
    /// ```
    pub fn parse(text: &str, what: &str) -> Result<Self, String> {
        let mut weights: Vec<(String, u32)> = Vec::new();
        for item in text.split(',') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let not_a_pair = || format!("{item:?} is not {what}:WEIGHT");
            let (name, weight) = item.split_once(':').ok_or_else(not_a_pair)?;
            let name = name.trim().to_ascii_uppercase();
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(not_a_pair());
            }
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("the weight of {name} must be a whole number from 0 to {}", u32::MAX))?;
            if weights.iter().any(|(n, _)| *n == name) {
                return Err(format!("{name} is listed twice"));
            }
            weights.push((name, weight));
        }
        Ok(Self { weights })
    }

    /// The pairs, in the order written (names upper-case).
    ///
    /// ```
    /// let w: numaseg::config::NamedWeights = "b:2,a:1".parse()?;
    /// assert_eq!(w.iter().collect::<Vec<_>>(), [("B", 2), ("A", 1)]);
    /// # Ok::<(), String>(())
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, u32)> + '_ {
        self.weights.iter().map(|(n, w)| (n.as_str(), *w))
    }
}

impl fmt::Display for NamedWeights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, weight)) in self.weights.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{name}:{weight}")?;
        }
        Ok(())
    }
}

impl FromStr for NamedWeights {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text, "NAME")
    }
}

impl<N: AsRef<str>> FromIterator<(N, u32)> for NamedWeights {
    /// Pairs given by a program, upper-cased; a later pair of a name listed before replaces its
    /// weight.
    ///
    /// ```
    /// use numaseg::config::NamedWeights;
    /// let w: NamedWeights = [("a", 1), ("B", 2), ("A", 3)].into_iter().collect();
    /// assert_eq!(w.to_string(), "A:3,B:2");
    /// ```
    fn from_iter<I: IntoIterator<Item = (N, u32)>>(pairs: I) -> Self {
        let mut weights: Vec<(String, u32)> = Vec::new();
        for (name, weight) in pairs {
            let name = name.as_ref().to_ascii_uppercase();
            match weights.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = weight,
                None => weights.push((name, weight)),
            }
        }
        Self { weights }
    }
}
