//! Terminals, under a pseudo-terminal: raw mode and its restoration (on close and after a
//! panic), window size and resize events, reads and writes.
// Linux only: evloop's ttys are Linux-only so far.
#![cfg(target_os = "linux")]
mod util;

use std::ffi::CStr;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};

use evloop::net::ReadEvent;
use evloop::process::TtyMode;
use evloop::{Handle, Loop};
use util::{Trace, assert_clean, with_timeout};

/// A pseudo-terminal: (controller, terminal).
fn pty() -> (std::fs::File, OwnedFd) {
    // SAFETY: plain libc calls on fds we own; ptsname_r writes into a buffer of the size given.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(master >= 0, "posix_openpt");
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(master, name.as_mut_ptr(), name.len()), 0);
        let path = CStr::from_ptr(name.as_ptr());
        let slave = libc::open(
            path.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        assert!(slave >= 0, "open the terminal side");
        (
            std::fs::File::from_raw_fd(master),
            OwnedFd::from_raw_fd(slave),
        )
    }
}

/// Whether the terminal `fd` is in canonical, echoing mode.
fn line_mode(fd: &OwnedFd) -> bool {
    // SAFETY: a zeroed termios is valid and tcgetattr overwrites it.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `t` is valid and writable.
    assert_eq!(unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut t) }, 0);
    t.c_lflag & libc::ICANON != 0 && t.c_lflag & libc::ECHO != 0
}

#[test]
fn raw_mode_is_restored_on_close_and_normal_mode_restores_it_too() {
    with_timeout(10, || {
        let (_master, term) = pty();
        assert!(line_mode(&term));
        let mut lp = Loop::new().unwrap();
        let tty = lp.tty_open(term.as_raw_fd()).unwrap();
        assert_eq!(lp.active_handles()[0].kind, evloop::HandleKind::Tty);
        tty.set_mode(&mut lp, TtyMode::Raw).unwrap();
        assert!(!line_mode(&term));
        assert!(!tty.is_line_mode(&lp).unwrap());
        tty.set_mode(&mut lp, TtyMode::Normal).unwrap();
        assert!(line_mode(&term));
        tty.set_mode(&mut lp, TtyMode::Raw).unwrap();
        assert!(!line_mode(&term));
        tty.close(&mut lp, |_| {}).unwrap();
        assert!(line_mode(&term), "restored at close");
        lp.run().unwrap();
        assert_clean(&lp);

        // Dropping the loop restores too.
        let mut lp = Loop::new().unwrap();
        let tty = lp.tty_open(term.as_raw_fd()).unwrap();
        tty.set_mode(&mut lp, TtyMode::Raw).unwrap();
        drop(lp);
        assert!(line_mode(&term), "restored when the loop is dropped");
    });
}

#[test]
fn raw_mode_is_restored_after_a_panic() {
    with_timeout(10, || {
        let (_master, term) = pty();
        let mut lp = Loop::new().unwrap();
        let tty = lp.tty_open(term.as_raw_fd()).unwrap();
        lp.set_immediate(move |lp| {
            tty.set_mode(lp, TtyMode::Raw).unwrap();
            panic!("a bug while the terminal is raw");
        });
        let result = catch_unwind(AssertUnwindSafe(|| lp.run()));
        assert!(result.is_err(), "the panic unwound out of run");
        // The loop and the handle are still alive: the panic hook restored the terminal.
        assert!(tty.is_active(&lp).is_ok());
        assert!(line_mode(&term), "restored by the panic hook");
        tty.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn window_size_resize_events_reads_and_writes() {
    with_timeout(10, || {
        let (mut master, term) = pty();
        let master_fd = master.as_raw_fd();
        let set_size = move |cols: u16, rows: u16| {
            let ws = libc::winsize {
                ws_row: rows,
                ws_col: cols,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            // SAFETY: TIOCSWINSZ reads one winsize through a valid pointer.
            assert_eq!(unsafe { libc::ioctl(master_fd, libc::TIOCSWINSZ, &ws) }, 0);
        };
        set_size(80, 24);
        let mut lp = Loop::new().unwrap();
        let tty = lp.tty_open(term.as_raw_fd()).unwrap();
        assert_eq!(tty.window_size(&lp).unwrap(), (80, 24));
        let trace = Trace::new();
        let t = trace.clone();
        let resize = tty
            .on_resize(&mut lp, move |lp, tty, cols, rows| {
                t.push(format!("resize {cols}x{rows}"));
                tty.close(lp, |_| {}).unwrap();
            })
            .unwrap();
        let t = trace.clone();
        tty.set_mode(&mut lp, TtyMode::Raw).unwrap();
        tty.read_start(&mut lp, move |lp, _tty, ev| {
            if let ReadEvent::Data(b) = ev {
                t.push(format!("read {}", String::from_utf8_lossy(b)));
                // Resize the window: the kernel sends SIGWINCH only to the terminal's
                // foreground group, which we are not, so raise it ourselves.
                set_size(100, 40);
                signal_hook::low_level::raise(libc::SIGWINCH).unwrap();
                resize.unref(lp).unwrap();
            }
        })
        .unwrap();
        tty.write(&mut lp, b"out\n", |_, r| r.unwrap()).unwrap();
        master.write_all(b"k").unwrap();
        lp.run().unwrap();
        resize.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        let got = trace.take();
        assert_eq!(got, ["read k", "resize 100x40"]);
        // Output processing stays on in raw mode: "\n" became CR LF.
        let mut buf = [0u8; 16];
        let n = master.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"out\r\n");
        assert_clean(&lp);
    });
}

#[test]
fn a_non_terminal_is_refused() {
    let mut lp = Loop::new().unwrap();
    let (r, _w) = std::io::pipe().unwrap();
    let err = lp.tty_open(r.as_raw_fd()).expect_err("a pipe");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("not a terminal"), "{err}");
    assert_clean(&lp);
}
