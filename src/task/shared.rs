//! What a loop's futures share with it ([`Shared`]: the microtask queue, the operations
//! deferred by the task being polled, the cross-thread inbox), and the thread's registry of
//! the loops that have one, where a waker or a future finds its loop.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Error;
use crate::event_loop::tasks::{Micro, MicroQueue, Task, TaskRef};
use crate::event_loop::{Loop, LoopFn};
use crate::handle::Site;
use crate::task::waker::TaskWaker;

/// How many emptied chunk buffers a loop keeps ([`Shared::recycle_chunk`]).
const CHUNKS_KEPT: usize = 16;
/// The largest chunk buffer kept.
const CHUNK_KEEP_MAX: usize = 128 * 1024;

/// The id of the next loop to get a task runtime (0 means none).
static NEXT_LOOP_ID: AtomicU64 = AtomicU64::new(1);

/// What futures of one loop share with it: the microtask queue, and the operations they ask
/// the loop to run right after the current poll.
pub(crate) struct Shared {
    pub(crate) micro: Rc<MicroQueue>,
    /// Operations deferred by the task being polled, run right after its poll returns. Borrowed
    /// only to push or pop (never across user code).
    pub(super) ops: RefCell<VecDeque<(LoopFn, Site)>>,
    /// How many operations are queued (checked after every poll without a borrow).
    pub(super) op_count: Cell<usize>,
    /// Set while the loop polls a task (or drops one): operations go to `ops`.
    pub(super) polling: Cell<bool>,
    pub(crate) loop_id: u64,
    /// Emptied buffers of chunks that were read (`AsyncStream::read_chunk`) and then sent whole
    /// (an echo, a proxy), kept for the next chunk of any stream of the loop: no allocation
    /// per chunk, and the last one used (still in cache) is the next one filled.
    chunks: RefCell<Vec<Vec<u8>>>,
    /// Readable edges reported to the readiness-mode readers of this loop's streams, counted
    /// (wrapping): a reader whose last read drained its socket, with no edge since, knows
    /// without asking the loop that there is nothing to read (`AsyncStream::read_now`).
    pub(crate) edges: Cell<u64>,
    /// The task being polled and its waker's identity (see [`Polled`]).
    pub(crate) polled: Cell<Option<Polled>>,
    /// The loop's cross-thread inbox, where a waker on another thread posts.
    remote: Arc<crate::event_loop::sender::Remote>,
    /// hyper's in-order sleeps and the one loop timer they share (`task::hyper`).
    #[cfg(feature = "hyper")]
    pub(crate) hyper_sleeps: RefCell<crate::task::hyper::Sleeps>,
}

impl Shared {
    /// A new loop's shared state, with a fresh id, registered with this thread.
    pub(super) fn register(
        micro: Rc<MicroQueue>,
        remote: Arc<crate::event_loop::sender::Remote>,
    ) -> Rc<Self> {
        let shared = Rc::new(Self {
            micro,
            ops: RefCell::default(),
            op_count: Cell::new(0),
            polling: Cell::new(false),
            loop_id: NEXT_LOOP_ID.fetch_add(1, Ordering::Relaxed),
            polled: Cell::new(None),
            edges: Cell::new(0),
            chunks: RefCell::default(),
            remote,
            #[cfg(feature = "hyper")]
            hyper_sleeps: RefCell::default(),
        });
        let _ = LOOPS.try_with(|l| l.borrow_mut().push(Rc::clone(&shared)));
        shared
    }

    /// Takes loop `id` out of this thread's registry (its runtime is shutting down).
    pub(super) fn unregister(id: u64) {
        let _ = LOOPS.try_with(|loops| {
            if let Ok(mut loops) = loops.try_borrow_mut() {
                loops.retain(|s| s.loop_id != id);
            }
        });
    }

    /// Runs `f` on the loop with `&mut Loop`: right after the current poll if a task of this
    /// loop is being polled, else as a microtask (a drop outside any poll).
    pub(crate) fn defer(&self, site: Site, f: impl FnOnce(&mut Loop) + 'static) {
        if self.polling.get() {
            let mut ops = self.ops.borrow_mut();
            ops.push_back((Box::new(f), site));
            self.op_count.set(ops.len());
        } else {
            self.micro.push(Micro::Call(Task {
                run: Box::new(f),
                site,
            }));
        }
    }

    /// An empty buffer for a chunk: a kept one, else a new one.
    #[inline]
    pub(crate) fn take_chunk(&self) -> Vec<u8> {
        self.chunks.borrow_mut().pop().unwrap_or_default()
    }

    /// Keeps `data`'s vector (sent, no longer needed) for a later chunk, unless enough are kept
    /// or it is too big to keep.
    #[inline]
    pub(crate) fn recycle_chunk(&self, data: crate::net::WriteBuf) {
        if let Some(mut v) = data.into_vec()
            && v.capacity() <= CHUNK_KEEP_MAX
        {
            let mut chunks = self.chunks.borrow_mut();
            if chunks.len() < CHUNKS_KEPT {
                v.clear();
                chunks.push(v);
            }
        }
    }

    /// The loop's cross-thread inbox (for a new task's waker).
    pub(crate) fn remote(&self) -> Arc<crate::event_loop::sender::Remote> {
        Arc::clone(&self.remote)
    }

    /// Queues a closure as a microtask.
    pub(crate) fn microtask(&self, site: Site, f: impl FnOnce(&mut Loop) + 'static) {
        self.micro.push(Micro::Call(Task {
            run: Box::new(f),
            site,
        }));
    }
}

/// The task a loop is polling, and the identity of its own waker: a future that finds it is
/// polled with that waker (not a combinator's) may have the loop poll the task directly
/// instead of waking it (`Loop::stream_try_read`'s watcher).
#[derive(Clone, Copy)]
pub(crate) struct Polled {
    pub(crate) task: TaskRef,
    data: usize,
    vtable: usize,
}

impl Polled {
    pub(crate) fn new(task: TaskRef, waker: &std::task::Waker) -> Self {
        Self {
            task,
            data: waker.data().addr(),
            vtable: std::ptr::from_ref(waker.vtable()).addr(),
        }
    }

    /// Whether `waker` is the task's own (it would wake this task and nothing else).
    #[inline]
    pub(crate) fn owns(&self, waker: &std::task::Waker) -> bool {
        waker.data().addr() == self.data && std::ptr::from_ref(waker.vtable()).addr() == self.vtable
    }
}

thread_local! {
    /// The loops of this thread that have a task runtime: where a waker on this thread finds
    /// its loop's microtask queue. A loop is not `Send`, so it stays on the thread it
    /// registered from.
    static LOOPS: RefCell<Vec<Rc<Shared>>> = const { RefCell::new(Vec::new()) };
}

/// Queues a poll of `w`'s task on loop `loop_id` if that loop lives on this thread (unless `w`
/// says one is queued already); `false` if it does not (the wake must then be posted across
/// threads).
pub(crate) fn wake_local(loop_id: u64, w: &TaskWaker) -> bool {
    LOOPS
        .try_with(|loops| {
            let Ok(loops) = loops.try_borrow() else {
                return false;
            };
            match loops.iter().find(|s| s.loop_id == loop_id) {
                Some(s) => {
                    if w.mark_local() {
                        s.micro.push(Micro::Poll(w.task()));
                    }
                    true
                }
                None => false,
            }
        })
        .unwrap_or(false)
}

/// The shared state of loop `loop_id`, if that loop lives on this thread.
pub(crate) fn shared_for(loop_id: u64) -> Option<Rc<Shared>> {
    LOOPS
        .try_with(|loops| {
            let loops = loops.try_borrow().ok()?;
            loops.iter().find(|s| s.loop_id == loop_id).cloned()
        })
        .ok()
        .flatten()
}

/// The loop whose task is being polled right now, or the error a future reports when it is
/// polled anywhere else.
pub(crate) fn current() -> crate::Result<Rc<Shared>> {
    // The loop lent to the poll running on this thread (`poll_task`), if any.
    let id = crate::sys::loop_scope::lent_id::<Loop>();
    (id != 0)
        .then(|| shared_for(id))
        .flatten()
        .ok_or(Error::InvalidState(
            "an evloop future was polled outside a task of an evloop loop",
        ))
}
