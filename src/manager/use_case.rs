//! The memory manager's use cases ([`UseCase`], as Flink's managed-memory consumer types) and
//! how its budget splits between them ([`UseCaseWeights`], `NUMASEG_USE_CASE_WEIGHTS`).
//!
//! The settings table knows `NUMASEG_USE_CASE_WEIGHTS` only as [`NamedWeights`] (its syntax);
//! what the names mean is decided here, when a manager is built from a configuration
//! ([`UseCaseWeights::try_from`]) or a list is parsed ([`UseCaseWeights::from_str`]). The errors
//! keep the variable's texts, and a configured list that names no known use case, or gives none
//! a positive weight, fails the manager's build as a [`ConfigError`](crate::config::ConfigError)
//! naming the variable.
//!
//! What must hold: each use case is listed at most once, at least one weight is positive (so the
//! shares are defined), and a written list prints back as written.

use std::fmt;
use std::str::FromStr;

use crate::config::NamedWeights;

/// A consumer of the memory manager's budget, as Flink's managed-memory consumer types: each
/// has a weight in `NUMASEG_USE_CASE_WEIGHTS`, and its share of the budget is its weight over the
/// sum of the weights.
///
/// ```
/// use numaseg::manager::UseCase;
/// assert_eq!("state_backend".parse::<UseCase>(), Ok(UseCase::StateBackend));
/// assert_eq!(UseCase::Python.to_string(), "PYTHON");
/// assert!("HEAP".parse::<UseCase>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum UseCase {
    /// Operators that sort, hash, join or cache in pages (`OPERATOR`).
    Operator,
    /// State backends, e.g. an embedded key-value store's caches and write buffers (`STATE_BACKEND`).
    StateBackend,
    /// Worker processes of another runtime, e.g. Python workers (`PYTHON`).
    Python,
}

impl UseCase {
    /// Every use case, in table order.
    ///
    /// ```
    /// use numaseg::manager::UseCase;
    /// assert_eq!(UseCase::ALL.map(UseCase::name), ["OPERATOR", "STATE_BACKEND", "PYTHON"]);
    /// ```
    pub const ALL: [Self; 3] = [Self::Operator, Self::StateBackend, Self::Python];

    /// The name used in `NUMASEG_USE_CASE_WEIGHTS` and in metrics labels.
    ///
    /// ```
    /// assert_eq!(numaseg::manager::UseCase::StateBackend.name(), "STATE_BACKEND");
    /// ```
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Operator => "OPERATOR",
            Self::StateBackend => "STATE_BACKEND",
            Self::Python => "PYTHON",
        }
    }

    /// The position in [`UseCase::ALL`].
    ///
    /// ```
    /// use numaseg::manager::UseCase;
    /// assert!(UseCase::ALL.iter().enumerate().all(|(i, u)| u.index() == i));
    /// ```
    #[must_use]
    pub const fn index(self) -> usize {
        match self {
            Self::Operator => 0,
            Self::StateBackend => 1,
            Self::Python => 2,
        }
    }
}

impl fmt::Display for UseCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for UseCase {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let t = text.trim();
        Self::ALL
            .into_iter()
            .find(|u| u.name().eq_ignore_ascii_case(t))
            .ok_or_else(|| format!("unknown use case {t:?} (known: {})", Self::ALL.map(Self::name).join(", ")))
    }
}

/// How the memory manager's budget splits between [use cases](UseCase): a weight per use case
/// (a use case left out weighs 0), and each use case's share is its weight over the sum.
/// Written `OPERATOR:70,STATE_BACKEND:70,PYTHON:30` (the default).
///
/// ```
/// use numaseg::manager::{UseCase, UseCaseWeights};
/// let weights: UseCaseWeights = "OPERATOR:3,PYTHON:1".parse()?;
/// assert_eq!(weights.weight(UseCase::StateBackend), 0);
/// assert_eq!(weights.fraction(UseCase::Operator), Some(0.75));
/// assert_eq!(weights.fraction(UseCase::StateBackend), None);
/// assert_eq!(weights.to_string(), "OPERATOR:3,PYTHON:1");
/// // Among the use cases a job actually has, as Flink computes its fractions:
/// assert_eq!(weights.fraction_among(UseCase::Operator, &[UseCase::Operator]), Some(1.0));
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UseCaseWeights {
    /// In the order written; each use case at most once.
    weights: Vec<(UseCase, u32)>,
}

impl UseCaseWeights {
    /// The weight of `use_case` (0 when it is not listed).
    ///
    /// ```
    /// use numaseg::manager::{UseCase, UseCaseWeights};
    /// let w: UseCaseWeights = "PYTHON:5".parse()?;
    /// assert_eq!((w.weight(UseCase::Python), w.weight(UseCase::Operator)), (5, 0));
    /// # Ok::<(), String>(())
    /// ```
    #[must_use]
    pub fn weight(&self, use_case: UseCase) -> u32 {
        self.weights.iter().find(|(u, _)| *u == use_case).map_or(0, |(_, w)| *w)
    }

    /// The sum of all weights.
    ///
    /// ```
    /// assert_eq!(numaseg::manager::UseCaseWeights::default().total(), 170);
    /// ```
    #[must_use]
    pub fn total(&self) -> u64 {
        self.weights.iter().map(|(_, w)| u64::from(*w)).sum()
    }

    /// The share of `use_case`: its weight over the sum of all weights; `None` for a weight of 0.
    ///
    /// ```
    /// use numaseg::manager::{UseCase, UseCaseWeights};
    /// assert_eq!(UseCaseWeights::default().fraction(UseCase::Operator), Some(70.0 / 170.0));
    /// ```
    #[must_use]
    pub fn fraction(&self, use_case: UseCase) -> Option<f64> {
        self.fraction_among(use_case, &UseCase::ALL)
    }

    /// The share of `use_case` among the use cases in `present` (those a job actually has): its
    /// weight over the sum of theirs; `None` when its weight is 0 or it is not in `present`.
    ///
    /// ```
    /// use numaseg::manager::{UseCase, UseCaseWeights};
    /// let w = UseCaseWeights::default(); // 70, 70, 30
    /// assert_eq!(w.fraction_among(UseCase::Operator, &[UseCase::Operator, UseCase::Python]), Some(0.7));
    /// ```
    #[must_use]
    pub fn fraction_among(&self, use_case: UseCase, present: &[UseCase]) -> Option<f64> {
        let weight = self.weight(use_case);
        if weight == 0 || !present.contains(&use_case) {
            return None;
        }
        let mut seen = Vec::with_capacity(present.len());
        let mut sum = 0u64;
        for &u in present {
            if !seen.contains(&u) {
                seen.push(u);
                sum += u64::from(self.weight(u));
            }
        }
        #[expect(clippy::cast_precision_loss, reason = "weights are small whole numbers")]
        Some(f64::from(weight) / sum as f64)
    }

    /// The use cases listed, with their weights, in the order written.
    ///
    /// ```
    /// use numaseg::manager::{UseCase, UseCaseWeights};
    /// let w: UseCaseWeights = "PYTHON:1,OPERATOR:2".parse()?;
    /// assert_eq!(w.iter().collect::<Vec<_>>(), [(UseCase::Python, 1), (UseCase::Operator, 2)]);
    /// # Ok::<(), String>(())
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (UseCase, u32)> + '_ {
        self.weights.iter().copied()
    }
}

impl Default for UseCaseWeights {
    /// `OPERATOR:70,STATE_BACKEND:70,PYTHON:30`, as Flink's default consumer weights.
    fn default() -> Self {
        Self { weights: vec![(UseCase::Operator, 70), (UseCase::StateBackend, 70), (UseCase::Python, 30)] }
    }
}

impl fmt::Display for UseCaseWeights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&NamedWeights::from(self), f)
    }
}

impl FromStr for UseCaseWeights {
    type Err = String;

    /// Parses `USE_CASE:WEIGHT,...` (names case-insensitive).
    ///
    /// ```
    /// use numaseg::manager::UseCaseWeights;
    /// assert_eq!("PYTHON=3".parse::<UseCaseWeights>().unwrap_err(), "\"PYTHON=3\" is not USE_CASE:WEIGHT");
    /// assert_eq!("OPERATOR:0".parse::<UseCaseWeights>().unwrap_err(), "at least one use case needs a positive weight");
    /// ```
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::try_from(&NamedWeights::parse(text, "USE_CASE")?)
    }
}

impl TryFrom<&NamedWeights> for UseCaseWeights {
    type Error = String;

    /// The use cases of a configured list: every name a known use case, at least one weight
    /// positive.
    ///
    /// ```
    /// use numaseg::config::NamedWeights;
    /// use numaseg::manager::{UseCase, UseCaseWeights};
    /// let named: NamedWeights = "state_backend:1,OPERATOR:0".parse()?;
    /// let weights = UseCaseWeights::try_from(&named)?;
    /// assert_eq!(weights.iter().collect::<Vec<_>>(), [(UseCase::StateBackend, 1), (UseCase::Operator, 0)]);
    /// let heap: NamedWeights = "HEAP:10".parse()?;
    /// assert_eq!(
    ///     UseCaseWeights::try_from(&heap).unwrap_err(),
    ///     "unknown use case \"HEAP\" (known: OPERATOR, STATE_BACKEND, PYTHON)"
    /// );
    /// # Ok::<(), String>(())
    /// ```
    fn try_from(named: &NamedWeights) -> Result<Self, Self::Error> {
        // `NamedWeights` lists each (upper-case) name once, so each use case comes at most once.
        let weights =
            named.iter().map(|(name, weight)| Ok((name.parse()?, weight))).collect::<Result<Vec<_>, String>>()?;
        if weights.iter().all(|(_, w)| *w == 0) {
            return Err("at least one use case needs a positive weight".to_owned());
        }
        Ok(Self { weights })
    }
}

impl From<&UseCaseWeights> for NamedWeights {
    /// The list as the settings table holds it (for [`ConfigBuilder::use_case_weights`]).
    ///
    /// [`ConfigBuilder::use_case_weights`]: crate::config::ConfigBuilder::use_case_weights
    ///
    /// ```
    /// use numaseg::config::{Config, NamedWeights};
    /// use numaseg::manager::UseCaseWeights;
    /// let weights: UseCaseWeights = "PYTHON:2,OPERATOR:1".parse()?;
    /// let config = Config::builder().use_case_weights(NamedWeights::from(&weights)).build_from::<_, &str, &str>([])?;
    /// assert_eq!(config.use_case_weights.to_string(), "PYTHON:2,OPERATOR:1");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn from(weights: &UseCaseWeights) -> Self {
        weights.iter().map(|(use_case, weight)| (use_case.name(), weight)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_case_weights_parse_render_and_split() {
        let default = UseCaseWeights::default();
        assert_eq!(default.to_string(), "OPERATOR:70,STATE_BACKEND:70,PYTHON:30");
        assert_eq!(default, default.to_string().parse().unwrap());
        assert_eq!(default.total(), 170);
        assert_eq!(default.fraction(UseCase::Python), Some(30.0 / 170.0));
        assert_eq!(default.fraction_among(UseCase::Operator, &[UseCase::Operator, UseCase::Python]), Some(0.7));
        assert_eq!(default.fraction_among(UseCase::Operator, &[UseCase::Python]), None);
        assert_eq!(default.fraction_among(UseCase::Python, &[UseCase::Python, UseCase::Python]), Some(1.0));

        let w: UseCaseWeights = " state_backend:1 , OPERATOR:0 ".parse().unwrap();
        assert_eq!(w.weight(UseCase::StateBackend), 1);
        assert_eq!(w.weight(UseCase::Operator), 0);
        assert_eq!(w.weight(UseCase::Python), 0);
        assert_eq!(w.fraction(UseCase::StateBackend), Some(1.0));
        assert_eq!(w.fraction(UseCase::Operator), None);
        assert_eq!(w.to_string(), "STATE_BACKEND:1,OPERATOR:0");
        assert_eq!(w.iter().collect::<Vec<_>>(), [(UseCase::StateBackend, 1), (UseCase::Operator, 0)]);
        assert_eq!(NamedWeights::from(&w).to_string(), "STATE_BACKEND:1,OPERATOR:0");

        let reasons = [
            ("HEAP:10", "unknown use case \"HEAP\" (known: OPERATOR, STATE_BACKEND, PYTHON)"),
            ("OPERATOR:1,operator:2", "OPERATOR is listed twice"),
            ("OPERATOR:0", "at least one use case needs a positive weight"),
            ("", "at least one use case needs a positive weight"),
            ("PYTHON=3", "\"PYTHON=3\" is not USE_CASE:WEIGHT"),
            ("PYTHON:1.5", "the weight of PYTHON must be a whole number from 0 to 4294967295"),
        ];
        for (value, reason) in reasons {
            assert_eq!(value.parse::<UseCaseWeights>().unwrap_err(), reason, "{value}");
        }
    }
}
