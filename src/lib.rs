//! evloop: a libuv-style, single-threaded event loop (work in progress).

// The loop-independent layers below are wired into `Loop` next; until then nothing calls them.
#[allow(dead_code)]
mod pool;
