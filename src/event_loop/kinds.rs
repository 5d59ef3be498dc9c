//! How a handle kind plugs into the loop: it implements [`HandleState`] for the data its slot
//! holds, and adds one entry to the registry at the bottom of this file. The registry
//! generates the slot's data enum, the pending-queue entry enum, the public [`HandleKind`]
//! list, and the dispatch from the core's phases (poll events, close, pending, free) to the
//! kind's own code. The core never names a kind.

use mio::event::Event;

use crate::event_loop::{Loop, PanicPayload};
use crate::handle::HandleId;

/// A type with no values: the [`HandleState::Event`] of a kind that queues no typed pending
/// entries.
#[derive(Debug)]
pub(crate) enum Never {}

/// What a handle kind does when the core reaches it. Implemented by the type its slot holds.
pub(crate) trait HandleState: Sized {
    /// What the kind puts on the pending queue besides closures ([`Never`] if nothing): a
    /// typed entry costs no boxed closure (a stream's write completion, say).
    type Event;

    /// `close` was called: stop at once, out of every queue and the poller. `kind` tells apart
    /// the public kinds that share one data type.
    fn stop(lp: &mut Loop, id: HandleId, kind: HandleKind);

    /// The poller reported the handle's source ready (for kinds that register one).
    fn ready(_lp: &mut Loop, _id: HandleId, _event: &Event) {}

    /// One of the kind's pending-queue entries is due (in the pending phase).
    fn pending(lp: &mut Loop, id: HandleId, event: Self::Event);

    /// Close phase, before the close callback: run the requests still pending on the handle
    /// (finished ones with their result, the rest canceled). A panic in one is returned, to
    /// resume after the close callback.
    fn cancel_requests(_lp: &mut Loop, _id: HandleId) -> Option<PanicPayload> {
        None
    }

    /// The slot was freed after the close callback: keep what is worth reusing.
    fn freed(self, _lp: &mut Loop) {}
}

/// Declares the registry: for each data type, its variant name and the public kinds it backs.
macro_rules! handle_kinds {
    ($(
        $(#[cfg($vcfg:meta)])?
        $variant:ident($ty:ty) => [$($(#[$kmeta:meta])* $kind:ident = $name:literal),+ $(,)?];
    )*) => {
        /// What only a handle's kind knows: the data in its slot.
        pub(crate) enum HandleData {
            $(
                $(#[cfg($vcfg)])?
                #[allow(missing_docs)]
                $variant($ty),
            )*
        }

        /// A kind's typed pending-queue entry (see [`HandleState::Event`]).
        pub(crate) enum HandleEvent {
            $(
                $(#[cfg($vcfg)])?
                #[allow(missing_docs, dead_code)]
                $variant(<$ty as HandleState>::Event),
            )*
        }

        /// The kind of a handle, as listed by [`Loop::active_handles`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum HandleKind {
            $($($(#[$kmeta])* $kind,)+)*
        }

        impl HandleKind {
            /// A short lowercase name (`"timer"`, `"idle"`, ...).
            pub fn name(self) -> &'static str {
                match self {
                    $($(Self::$kind => $name,)+)*
                }
            }
        }

        /// Which variant a slot holds, copied out so the kind's code can take `&mut Loop`.
        #[derive(Clone, Copy)]
        pub(super) enum Tag {
            $($(#[cfg($vcfg)])? $variant,)*
        }

        impl HandleData {
            pub(super) fn tag(&self) -> Tag {
                match self {
                    $($(#[cfg($vcfg)])? Self::$variant(_) => Tag::$variant,)*
                }
            }
        }

        impl Loop {
            /// Close, first half: the kind stops the handle.
            pub(super) fn kind_stop(&mut self, id: HandleId, kind: HandleKind) {
                let Some(tag) = self.handle_tag(id) else { return };
                match tag {
                    $($(#[cfg($vcfg)])? Tag::$variant => <$ty as HandleState>::stop(self, id, kind),)*
                }
            }

            /// An I/O event for a live, open handle whose slot holds `tag`.
            pub(super) fn kind_ready(&mut self, tag: Tag, id: HandleId, event: &Event) {
                match tag {
                    $($(#[cfg($vcfg)])? Tag::$variant => <$ty as HandleState>::ready(self, id, event),)*
                }
            }

            /// A typed pending entry.
            pub(super) fn kind_pending(&mut self, id: HandleId, event: HandleEvent) {
                match event {
                    $($(#[cfg($vcfg)])? HandleEvent::$variant(e) => <$ty as HandleState>::pending(self, id, e),)*
                }
            }

            /// Close, second half: the kind runs the handle's leftover requests.
            pub(super) fn kind_cancel_requests(&mut self, id: HandleId) -> Option<PanicPayload> {
                match self.handle_tag(id)? {
                    $($(#[cfg($vcfg)])? Tag::$variant => <$ty as HandleState>::cancel_requests(self, id),)*
                }
            }

            /// The slot was freed: the kind may keep parts of its data.
            pub(super) fn kind_freed(&mut self, data: HandleData) {
                match data {
                    $($(#[cfg($vcfg)])? HandleData::$variant(d) => d.freed(self),)*
                }
            }
        }
    };
}

// The registry. A new handle kind adds one entry here; everything else it needs lives in its
// own module.
handle_kinds! {
    Timer(crate::timer::TimerData) => [
        /// A one-shot or repeating timer.
        Timer = "timer",
    ];
    Watcher(crate::watcher::loop_phase::WatcherData) => [
        /// An idle watcher.
        Idle = "idle",
        /// A prepare watcher.
        Prepare = "prepare",
        /// A check watcher.
        Check = "check",
    ];
    Udp(Box<crate::net::udp::UdpData>) => [
        /// A UDP socket ([`crate::net::UdpSocket`]).
        Udp = "udp",
    ];
    Signal(Box<crate::watcher::signal::SignalData>) => [
        /// A signal handle ([`crate::Signal`]).
        Signal = "signal",
    ];
    #[cfg(unix)]
    FdWatcher(crate::watcher::fd::FdWatcherData) => [
        /// A raw file-descriptor watcher ([`crate::Watcher`], libuv `uv_poll_t`).
        Watcher = "watcher",
    ];
    Stream(Box<crate::net::StreamState>) => [
        /// A TCP connection.
        TcpStream = "tcp",
        /// A Unix-domain stream.
        UnixStream = "unix",
        /// A pipe stream ([`crate::process::Pipe`]).
        Pipe = "pipe",
        /// A terminal stream ([`crate::process::Tty`]).
        Tty = "tty",
    ];
    Async(Box<crate::watcher::async_handle::AsyncData>) => [
        /// A wake-up handle ([`crate::AsyncHandle`], libuv `uv_async_t`).
        Async = "async",
    ];
    Listener(Box<crate::net::ListenerState>) => [
        /// A listening TCP socket.
        TcpListener = "tcp-listener",
        /// A listening Unix-domain socket.
        UnixListener = "unix-listener",
    ];
    Channel(crate::watcher::channel::ChannelData) => [
        /// A typed channel's loop end ([`crate::watcher::channel::Channel`]).
        Channel = "channel",
    ];
    #[cfg(target_os = "linux")]
    Process(Box<crate::process::ProcessState>) => [
        /// A child process ([`crate::process::Process`]).
        Process = "process",
    ];
    #[cfg(target_os = "linux")]
    FsEvent(Box<crate::fs::event::FsWatchState>) => [
        /// A file-system watch ([`crate::fs::event::FsWatcher`]).
        FsEvent = "fs-event",
    ];
    #[cfg(target_os = "linux")]
    FsPoll(Box<crate::fs::event::FsPollState>) => [
        /// A stat poller ([`crate::fs::event::FsPoll`]).
        FsPoll = "fs-poll",
    ];
}
