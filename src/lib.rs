//! evloop: a libuv-style, single-threaded event loop (work in progress).

// All `unsafe` lives in `sys`; everywhere else it is a compile error.
#![deny(unsafe_code)]

// The loop-independent layers below are wired into `Loop` next; until then nothing calls them.
#[allow(dead_code)]
mod dns_ops;
#[allow(dead_code)]
mod fs_error;
#[allow(dead_code)]
mod fs_metadata;
#[allow(dead_code)]
mod fs_ops;
#[allow(dead_code)]
mod pool;
#[allow(unsafe_code)]
mod sys;
