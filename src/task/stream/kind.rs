//! The stream handle kinds an [`AsyncStream`](super::AsyncStream) wraps: the sealed
//! [`StreamKind`] trait over the callback API of [`TcpStream`] and [`UnixStream`].

use std::fmt;

use crate::error::Result;
use crate::event_loop::Loop;
use crate::handle::Handle;
use crate::net::UnixStream;
use crate::net::{ReadEvent, TcpStream, WriteBuf};

mod sealed {
    pub trait Sealed {}
}

/// A stream handle kind an [`AsyncStream`](super::AsyncStream) can wrap: [`TcpStream`] or
/// [`UnixStream`].
pub trait StreamKind: Handle + fmt::Debug + 'static + sealed::Sealed {
    #[doc(hidden)]
    fn start_reading(
        self,
        lp: &mut Loop,
        cb: impl FnMut(&mut Loop, Self, ReadEvent<'_>) + 'static,
    ) -> Result<()>;
    #[doc(hidden)]
    fn stop_reading(self, lp: &mut Loop) -> Result<()>;
    #[doc(hidden)]
    fn write_buf(
        self,
        lp: &mut Loop,
        buf: WriteBuf,
        cb: impl FnOnce(&mut Loop, Result<()>) + 'static,
    ) -> Result<bool>;
    #[doc(hidden)]
    fn shut_down(
        self,
        lp: &mut Loop,
        cb: impl FnOnce(&mut Loop, Result<()>) + 'static,
    ) -> Result<()>;
}

macro_rules! stream_kind {
    ($t:ty) => {
        impl sealed::Sealed for $t {}
        impl StreamKind for $t {
            fn start_reading(
                self,
                lp: &mut Loop,
                cb: impl FnMut(&mut Loop, Self, ReadEvent<'_>) + 'static,
            ) -> Result<()> {
                self.read_start(lp, cb)
            }
            fn stop_reading(self, lp: &mut Loop) -> Result<()> {
                self.read_stop(lp)
            }
            fn write_buf(
                self,
                lp: &mut Loop,
                buf: WriteBuf,
                cb: impl FnOnce(&mut Loop, Result<()>) + 'static,
            ) -> Result<bool> {
                self.write(lp, buf, cb)
            }
            fn shut_down(
                self,
                lp: &mut Loop,
                cb: impl FnOnce(&mut Loop, Result<()>) + 'static,
            ) -> Result<()> {
                self.shutdown(lp, cb)
            }
        }
    };
}
stream_kind!(TcpStream);
stream_kind!(UnixStream);
