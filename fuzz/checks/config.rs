//! The configuration parser against hostile input: any `NUMASEG_*` names and values. It must
//! never panic; whatever it accepts must render back (`describe`) to text it accepts again with
//! the same meaning; whatever it refuses must name a variable.
//!
//! Shared by the fuzz target (`fuzz/fuzz_targets/config.rs`) and the regression test that
//! replays stored inputs (`tests/all/fuzz_regressions.rs`).

use numaseg::config::{Config, ConfigError, VARS};

/// Turns raw bytes into variables: lines of `NAME=VALUE`; a name starting with `#n` picks the
/// n-th known variable, so the fuzzer reaches every parser quickly.
pub fn vars_from(data: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(data);
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| {
            let name = match name.strip_prefix('#').and_then(|n| n.parse::<usize>().ok()) {
                Some(i) => VARS[i % VARS.len()].name.to_owned(),
                None => name.to_owned(),
            };
            (name, value.to_owned())
        })
        .collect()
}

/// The property. Panics on a violation.
pub fn check(data: &[u8]) {
    let vars = vars_from(data);
    match Config::builder().build_from(vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        Ok(config) => {
            // Every effective value renders to text that parses to the same rendering.
            let described: Vec<(String, String)> =
                config.describe().into_iter().map(|s| (s.name.to_owned(), s.value)).collect();
            let again = Config::builder()
                .build_from(described.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .unwrap_or_else(|e| panic!("rendered configuration refused: {e}\n{described:?}"));
            let redescribed: Vec<(String, String)> =
                again.describe().into_iter().map(|s| (s.name.to_owned(), s.value)).collect();
            assert_eq!(described, redescribed, "rendering is not stable");
        }
        Err(ConfigError::Invalid { var, .. }) => assert!(var.starts_with("NUMASEG_")),
        Err(ConfigError::Unknown { var, .. } | ConfigError::NotUnicode { var }) => assert!(var.starts_with("NUMASEG_")),
        Err(ConfigError::Conflict { first, second, .. }) => {
            assert!(first.starts_with("NUMASEG_") && second.starts_with("NUMASEG_"));
        }
        Err(e) => panic!("unexpected error kind: {e}"),
    }
}
