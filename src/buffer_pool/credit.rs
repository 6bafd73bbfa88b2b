//! Credit-based flow control (in progress).
