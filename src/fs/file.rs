//! Open files: [`File`] ids into the loop's table of open descriptors.

use std::io;
use std::panic::Location;
use std::sync::Arc;

use slab::Slab;

use super::submit;
use crate::error::Error;
use crate::event_loop::CallbackKind;
use crate::event_loop::Loop;
use crate::fs::metadata::Metadata;
use crate::fs::ops;
use crate::handle::Site;
use crate::pool::work::Work;

/// An open file, from [`fs::open`](crate::fs::open): a `Copy` id into the loop's table of open
/// files (slot plus serial), used with the loop that opened it.
///
/// Every operation runs on the pool with its own reference to the descriptor, so requests on one
/// file may overlap (positions are explicit: `pread`/`pwrite`, there is no file cursor).
///
/// **Closing.** [`close`](Self::close) takes the id out of the table at once: later operations
/// on it, a second `close` included, call back with a stale-handle error (never synchronously,
/// never a panic). The descriptor itself is closed when the last request using it has finished,
/// so a request still running never sees its descriptor closed or reused under it; if none is
/// running, the close job closes it and reports `close(2)`'s error. Files still open when the
/// loop is dropped are closed then. Open files do not keep the loop alive (they are not
/// handles; requests on them are).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct File {
    key: u32,
    serial: u32,
}

struct OpenFile {
    serial: u32,
    file: Arc<std::fs::File>,
}

/// The loop's open files.
#[derive(Default)]
pub(crate) struct FileTable {
    slab: Slab<OpenFile>,
    next_serial: u32,
}

impl FileTable {
    /// Adds a freshly opened file and names it.
    pub(crate) fn insert(&mut self, file: std::fs::File) -> File {
        let serial = self.next_serial;
        self.next_serial = serial.wrapping_add(1);
        let key = self.slab.insert(OpenFile {
            serial,
            file: Arc::new(file),
        }) as u32;
        File { key, serial }
    }

    /// A reference to the file `id` names, if it is still open.
    fn get(&self, id: File) -> Option<Arc<std::fs::File>> {
        match self.slab.get(id.key as usize) {
            Some(open) if open.serial == id.serial => Some(Arc::clone(&open.file)),
            _ => None,
        }
    }

    /// Takes `id` out of the table; its descriptor lives on while someone holds the `Arc`.
    fn remove(&mut self, id: File) -> Option<Arc<std::fs::File>> {
        self.get(id)?;
        Some(self.slab.remove(id.key as usize).file)
    }
}

impl File {
    /// Reads `len` bytes at `offset`; fewer only at end of file (an empty buffer means `offset`
    /// is at or past the end). Does not move any file position.
    #[track_caller]
    pub fn read(
        self,
        lp: &mut Loop,
        offset: u64,
        len: usize,
        cb: impl FnOnce(&mut Loop, io::Result<Vec<u8>>) + 'static,
    ) -> Work {
        let job = move |file: &std::fs::File| ops::read_up_to(file, offset, len);
        self.run(lp, Location::caller(), job, cb)
    }

    /// Writes all of `data` at `offset` and calls back with the count written (`data`'s
    /// length). With [`OpenFlags::APPEND`](crate::fs::OpenFlags::APPEND) the data goes to the
    /// end whatever the offset, as `pwrite` does on Linux.
    #[track_caller]
    pub fn write(
        self,
        lp: &mut Loop,
        offset: u64,
        data: impl AsRef<[u8]> + Send + 'static,
        cb: impl FnOnce(&mut Loop, io::Result<usize>) + 'static,
    ) -> Work {
        let job = move |file: &std::fs::File| ops::write_all_at(file, data.as_ref(), offset);
        self.run(lp, Location::caller(), job, cb)
    }

    /// Metadata of the open file (libuv `uv_fs_fstat`).
    #[track_caller]
    pub fn fstat(
        self,
        lp: &mut Loop,
        cb: impl FnOnce(&mut Loop, io::Result<Metadata>) + 'static,
    ) -> Work {
        self.run(lp, Location::caller(), ops::fstat, cb)
    }

    /// Flushes the file's data and metadata to the device (`fsync`).
    #[track_caller]
    pub fn fsync(
        self,
        lp: &mut Loop,
        cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
    ) -> Work {
        self.run(lp, Location::caller(), ops::fsync, cb)
    }

    /// Flushes the file's data and only the metadata needed to read it back (`fdatasync`).
    #[track_caller]
    pub fn fdatasync(
        self,
        lp: &mut Loop,
        cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
    ) -> Work {
        self.run(lp, Location::caller(), ops::fdatasync, cb)
    }

    /// Sets the file's length to `len`, cutting it or extending it with zeros (`ftruncate`).
    #[track_caller]
    pub fn ftruncate(
        self,
        lp: &mut Loop,
        len: u64,
        cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
    ) -> Work {
        let job = move |file: &std::fs::File| ops::ftruncate(file, len);
        self.run(lp, Location::caller(), job, cb)
    }

    /// Closes the file: the id is stale from now on; the descriptor closes as the
    /// [type docs](File) describe. Closing an id twice calls back with an error whose payload
    /// is [`Error::StaleHandle`] (see [`Error::from_io_ref`]). Canceling a close still closes
    /// the file (the id is gone at once); only the report of `close(2)`'s result is lost.
    #[track_caller]
    pub fn close(
        self,
        lp: &mut Loop,
        cb: impl FnOnce(&mut Loop, io::Result<()>) + 'static,
    ) -> Work {
        let site = Location::caller();
        match lp.files_mut().remove(self) {
            Some(file) => submit(lp, site, move || ops::close(file), cb),
            None => lp.reject_io(CallbackKind::Fs, site, cb, stale()),
        }
    }

    /// Whether this id still names an open file of `lp` (not yet closed).
    pub fn is_open(self, lp: &Loop) -> bool {
        lp.files().get(self).is_some()
    }

    /// Queues `job` on this file's descriptor, or reports a stale id through `cb`.
    fn run<T: Send + 'static>(
        self,
        lp: &mut Loop,
        site: Site,
        job: impl FnOnce(&std::fs::File) -> io::Result<T> + Send + 'static,
        cb: impl FnOnce(&mut Loop, io::Result<T>) + 'static,
    ) -> Work {
        match lp.files_mut().get(self) {
            Some(file) => submit(lp, site, move || job(&file), cb),
            None => lp.reject_io(CallbackKind::Fs, site, cb, stale()),
        }
    }
}

/// The error for an operation on a closed (or never opened) file id.
fn stale() -> io::Error {
    io::Error::from(Error::StaleHandle)
}
