//! What differs between pollers, pinned on every platform: each test here failed under wine
//! (mio's Windows backend) before its fix, and passes on Linux's epoll and the portable path.
//!
//! 1. A non-blocking connect answers `EINPROGRESS` on Unix but `WSAEWOULDBLOCK` on Windows.
//! 2. mio on Windows re-arms a socket only after a read through it returned `WouldBlock`: a
//!    short read must not be taken to mean the socket is drained.
//! 3. Likewise for writes: a send that would block must go through mio (`try_io`), or the
//!    writable event never comes.
//! 4. Sockets report Winsock's `WSAE*` codes on Windows, not `libc::E*` values.
mod util;

use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::rc::Rc;
use std::time::Duration;

use evloop::net::ReadEvent;
use evloop::{Error, Handle, Loop};
use util::{Trace, assert_clean, with_timeout};

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[test]
fn a_connect_in_progress_completes_through_the_connect_callback() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let server = lp
            .tcp_listen(any_port(), |lp, server, conn| {
                conn.unwrap().close(lp, |_| {}).unwrap();
                server.close(lp, |_| {}).unwrap();
            })
            .unwrap();
        let addr = server.local_addr(&lp).unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        lp.tcp_connect(addr, move |lp, stream, r| {
            r.expect("the connect succeeds");
            assert_eq!(stream.peer_addr(lp).unwrap(), addr);
            t.push("connected");
            stream.close(lp, |_| {}).unwrap();
        })
        .unwrap();
        lp.run().unwrap();
        assert_eq!(trace.take(), ["connected"]);
        assert_clean(&lp);
    });
}

#[test]
fn data_arriving_after_a_short_read_is_read_too() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let got = Rc::new(RefCell::new(Vec::new()));
        let g = got.clone();
        let server = lp
            .tcp_listen(any_port(), move |lp, server, conn| {
                server.close(lp, |_| {}).unwrap();
                let g = g.clone();
                conn.unwrap()
                    .read_start(lp, move |lp, stream, ev| match ev {
                        // Each message is far shorter than the read buffer: a short read.
                        ReadEvent::Data(bytes) => {
                            g.borrow_mut().extend_from_slice(bytes);
                            stream
                                .write(lp, b"ack".to_vec(), |_, r| r.unwrap())
                                .unwrap();
                        }
                        ReadEvent::Eof => stream.close(lp, |_| {}).unwrap(),
                        ReadEvent::Error(e) => panic!("server read: {e}"),
                    })
                    .unwrap();
            })
            .unwrap();
        let addr = server.local_addr(&lp).unwrap();
        let client = std::thread::spawn(move || {
            let mut c = StdTcpStream::connect(addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            for msg in [&b"one"[..], b"two", b"three"] {
                c.write_all(msg).unwrap();
                // Wait for the ack, so each message lands on a socket the loop found drained.
                let mut ack = [0u8; 3];
                c.read_exact(&mut ack)
                    .expect("the server answers every message");
                assert_eq!(&ack, b"ack");
            }
        });
        lp.run().unwrap();
        client.join().unwrap();
        assert_eq!(&*got.borrow(), b"onetwothree");
        assert_clean(&lp);
    });
}

#[test]
fn a_write_that_would_block_completes_once_the_peer_reads() {
    with_timeout(30, || {
        const LEN: usize = 32 << 20; // far beyond both socket buffers
        let mut lp = Loop::new().unwrap();
        let data: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
        let expected = data.clone();
        let trace = Trace::new();
        let t = trace.clone();
        let server = lp
            .tcp_listen(any_port(), move |lp, server, conn| {
                server.close(lp, |_| {}).unwrap();
                let stream = conn.unwrap();
                let t = t.clone();
                stream
                    .write(lp, data.clone(), move |lp, r| {
                        r.expect("the write completes");
                        t.push("written");
                        stream.close(lp, |_| {}).unwrap();
                    })
                    .unwrap();
            })
            .unwrap();
        let addr = server.local_addr(&lp).unwrap();
        let client = std::thread::spawn(move || {
            let mut c = StdTcpStream::connect(addr).unwrap();
            // Read late and slowly, so the server's sends hit WouldBlock again and again, not
            // just once (the first one also adds write interest, which re-arms by itself).
            std::thread::sleep(Duration::from_millis(200));
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut got = Vec::with_capacity(LEN);
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                match c.read(&mut chunk).expect("every byte, then EOF") {
                    0 => break got,
                    n => got.extend_from_slice(&chunk[..n]),
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        });
        lp.run().unwrap();
        let got = client.join().unwrap();
        assert_eq!(trace.take(), ["written"]);
        assert!(got == expected, "{} bytes differ or are missing", got.len());
        assert_clean(&lp);
    });
}

#[test]
fn socket_errors_carry_the_platform_codes_and_kinds() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let sock = lp.udp_bind(any_port()).unwrap();
        let Err(Error::Io(e)) = sock.disconnect(&mut lp) else {
            panic!("disconnecting an unconnected socket must fail");
        };
        assert_eq!(e.kind(), ErrorKind::NotConnected, "{e}");
        assert_eq!(e.raw_os_error(), Some(util::errno::ENOTCONN), "{e}");
        let Err(Error::Io(e)) = sock.peer_addr(&lp) else {
            panic!("an unconnected socket has no peer");
        };
        assert_eq!(e.kind(), ErrorKind::NotConnected, "{e}");
        let peer = lp.udp_bind(any_port()).unwrap();
        let peer_addr = peer.local_addr(&lp).unwrap();
        sock.connect(&mut lp, peer_addr).unwrap();
        let Err(e) = sock.connect(&mut lp, peer_addr) else {
            panic!("connecting twice must fail");
        };
        assert_eq!(e.raw_os_error(), Some(util::errno::EISCONN), "{e}");
        sock.close(&mut lp, |_| {}).unwrap();
        peer.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}
