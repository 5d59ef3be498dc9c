//! A [`Responder::send_file`](super::Responder::send_file) body on its way out: handed whole to
//! the socket's `write_file` (`sendfile`, driven by the socket's writability on the loop
//! thread), or read on the pool chunk by chunk as the socket drains
//! ([`ServerConfig::sendfile`](super::ServerConfig::sendfile) off, and on Windows).

use std::rc::Rc;
use std::time::Instant;

use crate::http::conn::pipeline::{FileRead, InlineFile};
use crate::http::server::{ConnId, Entry, Shared};
use crate::pool::JobKind;
use crate::{CallbackKind, Loop};

/// Whether `send_file` bodies go through `write_file` on this platform.
const SENDFILE_HERE: bool = cfg!(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "macos",
    target_os = "ios"
));

impl Shared {
    /// How a small file body may go out with its head: read from the page cache on the loop
    /// thread ([`ServerConfig::file_inline_bytes`](super::ServerConfig::file_inline_bytes);
    /// Linux only, where a read can refuse to wait for a disk).
    pub(super) fn inline_file(&self) -> Option<InlineFile> {
        #[cfg(target_os = "linux")]
        if self.cfg.file_inline_bytes > 0 {
            return Some(InlineFile {
                max: self.cfg.file_inline_bytes,
                read: |file, buf| crate::sys::read_nowait::read_at_nowait(file, buf, 0),
            });
        }
        None
    }

    /// Starts sending the front response's file body, if one is due.
    pub(super) fn file_body_io(
        self: &Rc<Self>,
        lp: &mut Loop,
        e: &mut Entry,
        id: ConnId,
        now: Instant,
    ) {
        if SENDFILE_HERE && self.cfg.sendfile {
            let Some(FileRead {
                seq,
                file,
                offset,
                len,
            }) = e.conn.take_file_send(now)
            else {
                return;
            };
            let len = len as u64;
            let s = Rc::clone(self);
            let sent = e.stream.write_file(lp, file, offset, len, move |lp, r| {
                let cut = r
                    .as_ref()
                    .is_err_and(|e| e.kind() == std::io::ErrorKind::UnexpectedEof);
                s.on_file_sent(lp, id, seq, len, r.is_ok(), cut);
            });
            match sent {
                Ok(true) => {}
                Ok(false) => e.conn.set_write_blocked(true),
                Err(_) => e.conn.on_io_error(),
            }
            return;
        }
        if let Some(read) = e.conn.take_file_read() {
            let s = Rc::clone(self);
            let FileRead {
                seq,
                file,
                offset,
                len,
            } = read;
            let job = move || {
                let mut buf = vec![0u8; len];
                #[cfg(unix)]
                let n = std::os::unix::fs::FileExt::read_at(&*file, &mut buf, offset)?;
                #[cfg(windows)]
                let n = std::os::windows::fs::FileExt::seek_read(&*file, &mut buf, offset)?;
                buf.truncate(n);
                Ok(buf)
            };
            lp.submit_io(
                JobKind::Fs,
                CallbackKind::Fs,
                self.site,
                job,
                move |lp, read| s.on_file_chunk(lp, id, seq, read),
            );
        }
    }

    /// The socket took a whole file body (`ok`), or the send failed (`cut`: the file ended
    /// before its length).
    fn on_file_sent(
        self: &Rc<Self>,
        lp: &mut Loop,
        id: ConnId,
        seq: u64,
        len: u64,
        ok: bool,
        cut: bool,
    ) {
        let mut st = self.state.borrow_mut();
        st.stats.file_bodies_cut += u64::from(cut);
        let now = st.now(lp);
        if let Some(e) = st.entry(id) {
            e.conn.on_file_sent(seq, len, ok, &now);
        }
        drop(st);
        self.mark(lp, id);
    }

    /// A chunk of a file body came back from the pool (empty or failed: the body is cut).
    fn on_file_chunk(
        self: &Rc<Self>,
        lp: &mut Loop,
        id: ConnId,
        seq: u64,
        read: std::io::Result<Vec<u8>>,
    ) {
        let mut st = self.state.borrow_mut();
        st.stats.file_bodies_cut += u64::from(read.as_ref().map_or(true, Vec::is_empty));
        let now = st.now(lp);
        if let Some(e) = st.entry(id) {
            e.conn.on_file_chunk(seq, read, &now);
        }
        drop(st);
        self.mark(lp, id);
    }
}
