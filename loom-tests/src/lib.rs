//! loom models of numaseg (placeholder).
