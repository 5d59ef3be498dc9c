//! `--async`: every request answered by an `async` handler, a task of the loop
//! ([`Server::listen_async`](evloop::http::Server::listen_async)), awaiting the pool and the
//! file opens instead of passing callbacks.

use std::sync::Arc;

use evloop::http::{Request, Response};
use evloop::task;

#[cfg(unix)]
use super::file_answer;
use super::{Route, Shared, WorkSlot, block, busy, metrics, route, worked};

/// The server's handler: the response to one request.
pub(crate) async fn handle(index: usize, shared: Arc<Shared>, req: Request) -> Response {
    match route(&shared, &req) {
        Route::Answer(answer) => answer,
        // The loop's own metrics need the loop: read them right after this poll.
        Route::Metrics => task::with_loop(move |lp| metrics(lp, index))
            .await
            .unwrap_or_else(|e| Response::text(500, format!("{e}\n"))),
        // Spins inside this task's poll, on the loop thread: every other request waits.
        Route::Block(ms) => block(ms),
        // The same spin on the pool's CPU class; the slot is held across the await and given
        // back when the job is done (or this task is dropped).
        Route::Work(ms) => {
            let _slot = match WorkSlot::take(shared.max_work) {
                Ok(slot) => slot,
                Err(busy_answer) => return busy_answer,
            };
            worked(task::spawn_blocking(move || busy(ms)).await, ms)
        }
        #[cfg(unix)]
        Route::File(root, rel) => {
            let opened = match evloop::fs::open_beneath_cached(&root, &rel) {
                // Not in the kernel's lookup cache (or no way to tell): open on the pool.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let path = rel.clone();
                    task::callback(move |lp, done| {
                        evloop::fs::open_beneath(lp, &root, path, move |_, r| done.complete(r))
                    })
                    .await
                }
                opened => Ok(opened),
            };
            match opened {
                Ok(opened) => file_answer(opened, &rel),
                Err(e) => Response::text(500, format!("{e}\n")),
            }
        }
    }
}
