//! NUMA node identifiers and sets of nodes.
//!
//! A [`NodeId`] is the kernel's (OS) index of a NUMA node, the number that appears in
//! `/sys/devices/system/node/nodeN` and that `mbind`/`move_pages` speak. A [`NodeSet`] is an
//! ordered set of them, parsed from and printed as the kernel's list syntax (`0-3,6`).

use std::fmt;
use std::str::FromStr;

/// The highest node index numaseg accepts (the kernel's `MAX_NUMNODES` on common x86-64
/// configurations is 1024).
///
/// ```
/// use numaseg_numa::{MAX_NODES, NodeId};
/// assert_eq!(MAX_NODES, 1024);
/// assert!(NodeId::try_new(MAX_NODES - 1).is_some());
/// assert!(NodeId::try_new(MAX_NODES).is_none());
/// ```
pub const MAX_NODES: usize = 1024;

/// A NUMA node, by the kernel's index.
///
/// ```
/// use numaseg_numa::NodeId;
/// let node = NodeId::new(1);
/// assert_eq!(node.index(), 1);
/// assert_eq!(node.to_string(), "node 1");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(u16);

impl NodeId {
    /// The node with kernel index `index`.
    ///
    /// ```
    /// use numaseg_numa::NodeId;
    /// assert_eq!(NodeId::new(2).index(), 2);
    /// assert_eq!(NodeId::new(2), NodeId::try_new(2).unwrap());
    /// // Out of range panics.
    /// assert!(std::panic::catch_unwind(|| NodeId::new(1024)).is_err());
    /// ```
    ///
    /// # Panics
    /// If `index` is not below [`MAX_NODES`]; use [`NodeId::try_new`] for untrusted input.
    #[must_use]
    pub fn new(index: u16) -> Self {
        assert!(usize::from(index) < MAX_NODES, "node index {index} is not below {MAX_NODES}");
        Self(index)
    }

    /// The node with kernel index `index`, or `None` if the index is not below [`MAX_NODES`].
    ///
    /// ```
    /// use numaseg_numa::NodeId;
    /// assert!(NodeId::try_new(3).is_some());
    /// assert!(NodeId::try_new(1 << 20).is_none());
    /// ```
    #[must_use]
    pub fn try_new(index: usize) -> Option<Self> {
        if index < MAX_NODES { u16::try_from(index).ok().map(Self) } else { None }
    }

    /// The kernel's index of this node.
    ///
    /// ```
    /// use numaseg_numa::NodeId;
    /// assert_eq!(NodeId::new(7).index(), 7);
    /// assert_eq!(NodeId::try_new(1023).map(NodeId::index), Some(1023));
    /// ```
    #[must_use]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node {}", self.0)
    }
}

/// An ordered set of NUMA nodes.
///
/// ```
/// use numaseg_numa::{NodeId, NodeSet};
/// let set: NodeSet = "0-2,5".parse()?;
/// assert_eq!(set.len(), 4);
/// assert!(set.contains(NodeId::new(5)));
/// assert_eq!(set.to_string(), "0-2,5");
/// # Ok::<(), numaseg_numa::ParseNodeSetError>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct NodeSet {
    words: Vec<u64>,
}

impl NodeSet {
    /// The empty set.
    ///
    /// ```
    /// use numaseg_numa::NodeSet;
    /// let set = NodeSet::new();
    /// assert!(set.is_empty());
    /// assert_eq!(set.len(), 0);
    /// assert_eq!(set.to_string(), "");
    /// assert_eq!(set, NodeSet::default());
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self { words: Vec::new() }
    }

    /// A set holding just `node`.
    ///
    /// ```
    /// use numaseg_numa::{NodeId, NodeSet};
    /// let set = NodeSet::single(NodeId::new(3));
    /// assert_eq!(set.len(), 1);
    /// assert!(set.contains(NodeId::new(3)));
    /// assert_eq!(set.to_string(), "3");
    /// ```
    #[must_use]
    pub fn single(node: NodeId) -> Self {
        let mut set = Self::new();
        set.insert(node);
        set
    }

    /// Adds `node`; returns whether it was new.
    ///
    /// ```
    /// use numaseg_numa::{NodeId, NodeSet};
    /// let mut set = NodeSet::new();
    /// assert!(set.insert(NodeId::new(70)));
    /// assert!(!set.insert(NodeId::new(70))); // already there
    /// assert!(set.insert(NodeId::new(1)));
    /// assert_eq!(set.to_string(), "1,70");
    /// ```
    pub fn insert(&mut self, node: NodeId) -> bool {
        let (word, bit) = (node.index() / 64, node.index() % 64);
        if self.words.len() <= word {
            self.words.resize(word + 1, 0);
        }
        let was = self.words[word] & (1 << bit) != 0;
        self.words[word] |= 1 << bit;
        !was
    }

    /// Removes `node`; returns whether it was present.
    ///
    /// ```
    /// use numaseg_numa::{NodeId, NodeSet};
    /// let mut set: NodeSet = "0-2".parse()?;
    /// assert!(set.remove(NodeId::new(1)));
    /// assert!(!set.remove(NodeId::new(1))); // gone already
    /// assert!(!set.remove(NodeId::new(500))); // never there
    /// assert_eq!(set.to_string(), "0,2");
    /// # Ok::<(), numaseg_numa::ParseNodeSetError>(())
    /// ```
    pub fn remove(&mut self, node: NodeId) -> bool {
        let (word, bit) = (node.index() / 64, node.index() % 64);
        match self.words.get_mut(word) {
            Some(w) if *w & (1 << bit) != 0 => {
                *w &= !(1 << bit);
                true
            }
            _ => false,
        }
    }

    /// Whether `node` is in the set.
    ///
    /// ```
    /// use numaseg_numa::{NodeId, NodeSet};
    /// let set: NodeSet = "0,4-5".parse()?;
    /// assert!(set.contains(NodeId::new(4)));
    /// assert!(!set.contains(NodeId::new(3)));
    /// assert!(!set.contains(NodeId::new(1000)));
    /// # Ok::<(), numaseg_numa::ParseNodeSetError>(())
    /// ```
    #[must_use]
    pub fn contains(&self, node: NodeId) -> bool {
        let (word, bit) = (node.index() / 64, node.index() % 64);
        self.words.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    /// The number of nodes in the set.
    ///
    /// ```
    /// use numaseg_numa::NodeSet;
    /// assert_eq!("0-3,6,100".parse::<NodeSet>()?.len(), 6);
    /// assert_eq!(NodeSet::new().len(), 0);
    /// # Ok::<(), numaseg_numa::ParseNodeSetError>(())
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether the set is empty.
    ///
    /// ```
    /// use numaseg_numa::{NodeId, NodeSet};
    /// let mut set = NodeSet::single(NodeId::new(65));
    /// assert!(!set.is_empty());
    /// set.remove(NodeId::new(65));
    /// assert!(set.is_empty()); // a zero word left behind still counts as empty
    /// assert!("".parse::<NodeSet>()?.is_empty());
    /// # Ok::<(), numaseg_numa::ParseNodeSetError>(())
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// The nodes in ascending order.
    ///
    /// ```
    /// use numaseg_numa::{NodeId, NodeSet};
    /// let set: NodeSet = "64,5,0-1".parse()?;
    /// let indexes: Vec<usize> = set.iter().map(NodeId::index).collect();
    /// assert_eq!(indexes, [0, 1, 5, 64]);
    /// # Ok::<(), numaseg_numa::ParseNodeSetError>(())
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            (0..64).filter(move |b| w & (1u64 << b) != 0).filter_map(move |b| NodeId::try_new(i * 64 + b))
        })
    }

    /// The lowest node, if any.
    ///
    /// ```
    /// use numaseg_numa::{NodeId, NodeSet};
    /// assert_eq!("7,3-4".parse::<NodeSet>()?.first(), Some(NodeId::new(3)));
    /// assert_eq!(NodeSet::new().first(), None);
    /// # Ok::<(), numaseg_numa::ParseNodeSetError>(())
    /// ```
    #[must_use]
    pub fn first(&self) -> Option<NodeId> {
        self.iter().next()
    }

    /// The nodes present in both sets.
    ///
    /// ```
    /// use numaseg_numa::NodeSet;
    /// let a: NodeSet = "0-3,64".parse()?;
    /// let b: NodeSet = "2-5".parse()?;
    /// assert_eq!(a.intersection(&b).to_string(), "2-3");
    /// assert!(a.intersection(&NodeSet::new()).is_empty());
    /// # Ok::<(), numaseg_numa::ParseNodeSetError>(())
    /// ```
    #[must_use]
    pub fn intersection(&self, other: &Self) -> Self {
        let mut words: Vec<u64> = self.words.iter().zip(&other.words).map(|(a, b)| a & b).collect();
        while words.last() == Some(&0) {
            words.pop();
        }
        Self { words }
    }

    /// Whether every node of `self` is in `other`.
    ///
    /// ```
    /// use numaseg_numa::NodeSet;
    /// let all: NodeSet = "0-3".parse()?;
    /// assert!("1,3".parse::<NodeSet>()?.is_subset(&all));
    /// assert!(!"3-4".parse::<NodeSet>()?.is_subset(&all));
    /// assert!(NodeSet::new().is_subset(&all));
    /// # Ok::<(), numaseg_numa::ParseNodeSetError>(())
    /// ```
    #[must_use]
    pub fn is_subset(&self, other: &Self) -> bool {
        self.iter().all(|n| other.contains(n))
    }

    /// The set as the kernel's `nodemask` words (bit `n` of the mask = node `n`), at least
    /// `min_words` long.
    ///
    /// ```
    /// use numaseg_numa::NodeSet;
    /// let set: NodeSet = "0,2,65".parse()?;
    /// // Node 65 is bit 1 of the second word.
    /// assert_eq!(set.to_mask_words(0), vec![0b101, 0b10]);
    /// assert_eq!(set.to_mask_words(4), vec![0b101, 0b10, 0, 0]);
    /// # Ok::<(), numaseg_numa::ParseNodeSetError>(())
    /// ```
    #[must_use]
    pub fn to_mask_words(&self, min_words: usize) -> Vec<u64> {
        let mut words = self.words.clone();
        if words.len() < min_words {
            words.resize(min_words, 0);
        }
        words
    }
}

impl FromIterator<NodeId> for NodeSet {
    fn from_iter<I: IntoIterator<Item = NodeId>>(iter: I) -> Self {
        let mut set = Self::new();
        for node in iter {
            set.insert(node);
        }
        set
    }
}

impl fmt::Debug for NodeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeSet({self})")
    }
}

impl fmt::Display for NodeSet {
    /// The kernel's list syntax, e.g. `0-3,6`; the empty set prints as an empty string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_index_list(f, self.iter().map(NodeId::index))
    }
}

/// Writes ascending indexes in the kernel's list syntax (`0-3,6`).
pub(crate) fn write_index_list(f: &mut impl fmt::Write, indexes: impl IntoIterator<Item = usize>) -> fmt::Result {
    let mut iter = indexes.into_iter().peekable();
    let mut first = true;
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        if !first {
            f.write_char(',')?;
        }
        first = false;
        if end == start {
            write!(f, "{start}")?;
        } else {
            write!(f, "{start}-{end}")?;
        }
    }
    Ok(())
}

/// Parses the kernel's list syntax (`0-3,6`; whitespace around items is ignored) into indexes.
pub(crate) fn parse_index_list(text: &str, max: usize) -> Result<Vec<usize>, ParseNodeSetError> {
    let bad = |reason: &'static str| ParseNodeSetError { text: text.to_owned(), reason };
    let mut out = Vec::new();
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(out);
    }
    for item in trimmed.split(',') {
        let item = item.trim();
        let (lo, hi) = match item.split_once('-') {
            Some((lo, hi)) => (lo.trim(), hi.trim()),
            None => (item, item),
        };
        let lo: usize = lo.parse().map_err(|_| bad("expected a number or a range like 0-3"))?;
        let hi: usize = hi.parse().map_err(|_| bad("expected a number or a range like 0-3"))?;
        if lo > hi {
            return Err(bad("a range must go from low to high"));
        }
        if hi >= max {
            return Err(bad("index too large"));
        }
        out.extend(lo..=hi);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// A node list that could not be parsed.
///
/// ```
/// use numaseg_numa::{NodeSet, ParseNodeSetError};
/// let err = "3-1".parse::<NodeSet>().unwrap_err();
/// assert_eq!(err, ParseNodeSetError { text: "3-1".into(), reason: "a range must go from low to high" });
/// assert!(err.to_string().starts_with("invalid node list \"3-1\": a range must go from low to high"));
/// assert_eq!("1024".parse::<NodeSet>().unwrap_err().reason, "index too large");
/// assert_eq!("x".parse::<NodeSet>().unwrap_err().reason, "expected a number or a range like 0-3");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid node list {text:?}: {reason} (expected the kernel's list syntax, e.g. \"0-3,6\")")]
pub struct ParseNodeSetError {
    /// The text that was given.
    pub text: String,
    /// What was wrong with it.
    pub reason: &'static str,
}

impl FromStr for NodeSet {
    type Err = ParseNodeSetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(parse_index_list(s, MAX_NODES)?.into_iter().filter_map(NodeId::try_new).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_syntax_round_trips() {
        for text in ["", "0", "0-3", "0,2,4", "1-2,5-7,9", "63-65", "1023"] {
            let set: NodeSet = text.parse().unwrap();
            assert_eq!(set.to_string(), text);
        }
    }

    #[test]
    fn bad_lists_are_rejected() {
        for text in ["a", "1-", "-1", "3-1", "1024", "0,,1", "1.5"] {
            assert!(text.parse::<NodeSet>().is_err(), "{text} should not parse");
        }
    }

    #[test]
    fn set_operations() {
        let a: NodeSet = "0-3".parse().unwrap();
        let b: NodeSet = "2-5,70".parse().unwrap();
        assert_eq!(a.intersection(&b).to_string(), "2-3");
        assert!(!b.is_subset(&a));
        assert!("1,2".parse::<NodeSet>().unwrap().is_subset(&a));
        let mut c = b.clone();
        assert!(c.remove(NodeId::new(70)));
        assert!(!c.remove(NodeId::new(70)));
        assert_eq!(c.len(), 4);
        assert_eq!(c.first(), Some(NodeId::new(2)));
        assert_eq!(b.to_mask_words(4).len(), 4);
        assert_eq!(b.to_mask_words(1)[1], 1 << 6);
    }
}
