//! The default mode: every route answered by callbacks (the handler, a pool job's completion,
//! a file open's).

#[cfg(unix)]
use super::file_answer;
use super::{Route, Shared, WorkSlot, block, busy, metrics, route, worked};
use evloop::Loop;
use evloop::http::{Request, Responder};

/// The server's handler: called on the loop for every request.
pub(crate) fn handle(lp: &mut Loop, index: usize, shared: &Shared, req: Request, res: Responder) {
    match route(shared, &req) {
        Route::Answer(answer) => answer.send(lp, res),
        Route::Metrics => metrics(lp, index).send(lp, res),
        Route::Block(ms) => block(ms).send(lp, res),
        // The same spin on the pool's CPU class: nobody waits.
        Route::Work(ms) => match WorkSlot::take(shared.max_work) {
            Err(busy_answer) => busy_answer.send(lp, res),
            Ok(slot) => {
                lp.queue_work(
                    move || busy(ms),
                    move |lp, done| {
                        drop(slot);
                        worked(done, ms).send(lp, res);
                    },
                );
            }
        },
        #[cfg(unix)]
        Route::File(root, rel) => match evloop::fs::open_beneath_cached(&root, &rel) {
            // Not in the kernel's lookup cache (or no way to tell): open on the pool.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                evloop::fs::open_beneath(lp, &root, rel.clone(), move |lp, opened| {
                    file_answer(opened, &rel).send(lp, res);
                });
            }
            opened => file_answer(opened, &rel).send(lp, res),
        },
    }
}
