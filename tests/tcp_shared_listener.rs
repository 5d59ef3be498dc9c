//! One listening socket shared by several loops (`TcpListenOptions::shared`): how loops share
//! a port where `SO_REUSEPORT` is missing (Windows). Runs on Linux and under wine.
mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use evloop::net::{ReadEvent, TcpListenOptions};
use evloop::{Handle, Loop, LoopSender};
use util::{assert_clean, with_timeout};

/// Runs one echo loop on its own thread, listening on a copy of `shared`; counts what it
/// accepts in `accepted`. Returns the loop's sender and its thread.
fn echo_loop(
    shared: &Arc<std::net::TcpListener>,
    accepted: Arc<AtomicUsize>,
) -> (LoopSender, std::thread::JoinHandle<usize>) {
    let shared = Arc::clone(shared);
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let mut lp = Loop::new().unwrap();
        let addr = shared.local_addr().unwrap();
        let opts = TcpListenOptions::new().shared(&shared);
        let mine = Arc::new(AtomicUsize::new(0));
        let m = Arc::clone(&mine);
        lp.tcp_listen_with(addr, &opts, move |lp, _, conn| {
            let stream = conn.expect("accept");
            m.fetch_add(1, Ordering::SeqCst);
            accepted.fetch_add(1, Ordering::SeqCst);
            stream
                .read_start(lp, |lp, stream, ev| match ev {
                    ReadEvent::Data(d) => {
                        stream.write(lp, d.to_vec(), |_, r| r.unwrap()).unwrap();
                    }
                    _ => stream.close(lp, |_| {}).unwrap(),
                })
                .unwrap();
        })
        .unwrap();
        tx.send(lp.weak_sender()).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
        mine.load(Ordering::SeqCst)
    });
    (rx.recv().unwrap(), thread)
}

/// `count` clients at once, each echoed byte-exact by whichever loop takes it.
fn clients(addr: SocketAddr, first: u8, count: u8) {
    let clients: Vec<_> = (first..first + count)
        .map(|seed| {
            std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let msg = vec![seed; 1000 + usize::from(seed)];
                s.write_all(&msg).unwrap();
                let mut got = vec![0; msg.len()];
                s.read_exact(&mut got).unwrap();
                assert_eq!(got, msg, "client {seed}");
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
}

/// Closes everything on the loop behind `sender`; returns what it accepted.
fn stop(sender: &LoopSender, thread: std::thread::JoinHandle<usize>) -> usize {
    sender
        .post(|lp| {
            lp.close_all(|_| {});
        })
        .unwrap();
    thread.join().unwrap()
}

#[test]
fn two_loops_accept_from_one_listening_socket() {
    with_timeout(60, || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(listener);
        let accepted = Arc::new(AtomicUsize::new(0));
        // Loop A alone serves the first 4; then both serve 40 (8 at a time); then B alone
        // serves 4 more: each loop's copy accepts on its own, and together they lose none.
        let (a_sender, a_thread) = echo_loop(&shared, Arc::clone(&accepted));
        clients(addr, 0, 4);
        let (b_sender, b_thread) = echo_loop(&shared, Arc::clone(&accepted));
        for batch in 0..5u8 {
            clients(addr, 4 + batch * 8, 8);
        }
        let by_a = stop(&a_sender, a_thread);
        clients(addr, 44, 4);
        let by_b = stop(&b_sender, b_thread);
        assert_eq!(accepted.load(Ordering::SeqCst), 48);
        assert_eq!(by_a + by_b, 48);
        assert!(by_a >= 4 && by_b >= 4, "A took {by_a}, B took {by_b}");
        // The loops' copies are closed; the original still listens.
        let again = std::net::TcpStream::connect(addr);
        assert!(again.is_ok(), "{again:?}");
    });
}

#[test]
fn a_shared_listener_must_be_named_by_its_own_address() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let own = listener.local_addr().unwrap();
    let shared = Arc::new(listener);
    let mut lp = Loop::new().unwrap();
    let other: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let opts = TcpListenOptions::new().shared(&shared);
    let err = lp.tcp_listen_with(other, &opts, |_, _, _| {}).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let net = err.as_net().expect("a NetError");
    assert_eq!(net.op(), "listen");
    assert!(err.to_string().contains(&own.to_string()), "{err}");
    assert_clean(&lp);
}
