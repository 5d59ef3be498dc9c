//! Terminals: `isatty`, `termios` get / set, raw mode, and the window size.

use std::io;
use std::os::fd::RawFd;

/// A saved terminal mode.
#[derive(Clone, Copy)]
pub(crate) struct Termios(libc::termios);

/// Whether `fd` is a terminal.
pub(crate) fn isatty(fd: RawFd) -> bool {
    // SAFETY: isatty takes an integer and only queries it.
    unsafe { libc::isatty(fd) == 1 }
}

/// `tcgetattr`.
pub(crate) fn get_mode(fd: RawFd) -> io::Result<Termios> {
    // SAFETY: all-zero is a valid termios, overwritten by tcgetattr.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `t` is a valid, writable termios.
    syscall!(unsafe { libc::tcgetattr(fd, &mut t) })?;
    Ok(Termios(t))
}

/// `tcsetattr(TCSADRAIN)`: applies `mode` once pending output is written.
pub(crate) fn set_mode(fd: RawFd, mode: &Termios) -> io::Result<()> {
    loop {
        // SAFETY: `mode.0` is a valid termios that tcsetattr only reads.
        match syscall!(unsafe { libc::tcsetattr(fd, libc::TCSADRAIN, &mode.0) }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other.map(drop),
        }
    }
}

impl Termios {
    /// libuv's raw mode: no echo, no line editing, no signals from keys, no input
    /// translation, 8-bit characters, reads return after one byte; output processing kept (so
    /// `\n` still moves to the start of the line).
    pub(crate) fn raw(self) -> Self {
        let mut t = self.0;
        t.c_iflag &= !(libc::BRKINT | libc::ICRNL | libc::INPCK | libc::ISTRIP | libc::IXON);
        t.c_oflag |= libc::ONLCR;
        t.c_cflag |= libc::CS8;
        t.c_lflag &= !(libc::ECHO | libc::ICANON | libc::IEXTEN | libc::ISIG);
        t.c_cc[libc::VMIN] = 1;
        t.c_cc[libc::VTIME] = 0;
        Self(t)
    }

    /// Whether canonical (line) input and echo are on: the normal mode's marks.
    pub(crate) fn is_canonical(&self) -> bool {
        self.0.c_lflag & libc::ICANON != 0 && self.0.c_lflag & libc::ECHO != 0
    }
}

/// `ioctl(TIOCGWINSZ)`: (columns, rows).
pub(crate) fn window_size(fd: RawFd) -> io::Result<(u16, u16)> {
    // SAFETY: all-zero is a valid winsize, overwritten by the ioctl.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize through the pointer, which is valid and writable.
    syscall!(unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) })?;
    Ok((ws.ws_col, ws.ws_row))
}
