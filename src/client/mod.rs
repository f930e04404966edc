//! The terminal client (in progress).
