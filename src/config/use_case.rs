//! The memory manager's use cases ([`UseCase`], as Flink's managed-memory consumer types) and
//! how its budget splits between them ([`UseCaseWeights`], `NUMASEG_USE_CASE_WEIGHTS`).
//!
//! These are the manager's vocabulary; their public home is [`crate::manager`] (which re-exports
//! them), and `numaseg::config::UseCase` stays for the settings table's users. They sit in the
//! foundation layer, under `config`, because the settings table has a row of this type and
//! `error::MemoryError` names a use case, and neither may import the manager (`tests/layers.rs`).
//!
//! What must hold: each use case is listed at most once, at least one weight is positive (so the
//! shares are defined), and a written list prints back as written.

use std::fmt;
use std::str::FromStr;

/// A consumer of the memory manager's budget, as Flink's managed-memory consumer types: each
/// has a weight in `NUMASEG_USE_CASE_WEIGHTS`, and its share of the budget is its weight over the
/// sum of the weights.
///
/// ```
/// use numaseg::config::UseCase;
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
    /// use numaseg::config::UseCase;
    /// assert_eq!(UseCase::ALL.map(UseCase::name), ["OPERATOR", "STATE_BACKEND", "PYTHON"]);
    /// ```
    pub const ALL: [Self; 3] = [Self::Operator, Self::StateBackend, Self::Python];

    /// The name used in `NUMASEG_USE_CASE_WEIGHTS` and in metrics labels.
    ///
    /// ```
    /// assert_eq!(numaseg::config::UseCase::StateBackend.name(), "STATE_BACKEND");
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
    /// use numaseg::config::UseCase;
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
/// use numaseg::config::{UseCase, UseCaseWeights};
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
    /// use numaseg::config::{UseCase, UseCaseWeights};
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
    /// assert_eq!(numaseg::config::UseCaseWeights::default().total(), 170);
    /// ```
    #[must_use]
    pub fn total(&self) -> u64 {
        self.weights.iter().map(|(_, w)| u64::from(*w)).sum()
    }

    /// The share of `use_case`: its weight over the sum of all weights; `None` for a weight of 0.
    ///
    /// ```
    /// use numaseg::config::{UseCase, UseCaseWeights};
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
    /// use numaseg::config::{UseCase, UseCaseWeights};
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
    /// use numaseg::config::{UseCase, UseCaseWeights};
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
        for (i, (use_case, weight)) in self.weights.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{use_case}:{weight}")?;
        }
        Ok(())
    }
}

impl FromStr for UseCaseWeights {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_use_case_weights(text)
    }
}

pub(super) fn parse_use_case_weights(text: &str) -> Result<UseCaseWeights, String> {
    let mut weights: Vec<(UseCase, u32)> = Vec::new();
    for item in text.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (name, weight) = item.split_once(':').ok_or_else(|| format!("{item:?} is not USE_CASE:WEIGHT"))?;
        let use_case: UseCase = name.parse()?;
        let weight: u32 = weight
            .trim()
            .parse()
            .map_err(|_| format!("the weight of {use_case} must be a whole number from 0 to {}", u32::MAX))?;
        if weights.iter().any(|(u, _)| *u == use_case) {
            return Err(format!("{use_case} is listed twice"));
        }
        weights.push((use_case, weight));
    }
    if weights.iter().all(|(_, w)| *w == 0) {
        return Err("at least one use case needs a positive weight".to_owned());
    }
    Ok(UseCaseWeights { weights })
}
