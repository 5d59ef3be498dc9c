//! Networking helpers shared by the TCP and UDP tests: loopback addresses and small servers.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use evloop::net::{ReadEvent, TcpListener, TcpStream};
use evloop::{Handle, Loop};

use super::Counter;

/// `127.0.0.1:0`: loopback, a port the kernel picks.
pub fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A listener that echoes every byte back and closes on EOF; closes itself after one client.
pub fn echo_server(lp: &mut Loop) -> (TcpListener, SocketAddr) {
    let server = lp
        .tcp_listen(any_port(), |lp, server, conn| {
            let stream = conn.expect("accept");
            server.close(lp, |_| {}).unwrap();
            stream
                .read_start(lp, |lp, stream, ev| match ev {
                    ReadEvent::Data(bytes) => {
                        stream.write(lp, bytes.to_vec(), |_, r| r.unwrap()).unwrap();
                    }
                    ReadEvent::Eof => stream.close(lp, |_| {}).unwrap(),
                    ReadEvent::Error(e) => panic!("server read: {e}"),
                })
                .unwrap();
        })
        .unwrap();
    let addr = server.local_addr(lp).unwrap();
    (server, addr)
}

/// A listener that reads and drops everything; closes on EOF or error; one client.
pub fn sink_server(lp: &mut Loop) -> SocketAddr {
    sink_listener(lp, 1)
}

/// A listener for `n` clients that reads and drops their bytes and closes each on EOF or
/// error; it closes itself after the `n`th.
pub fn sink_listener(lp: &mut Loop, n: usize) -> SocketAddr {
    let accepted = Counter::new();
    let server = lp
        .tcp_listen(any_port(), move |lp, server, conn| {
            if accepted.inc() == n {
                server.close(lp, |_| {}).unwrap();
            }
            conn.unwrap()
                .read_start(lp, |lp, stream, ev| {
                    if !matches!(ev, ReadEvent::Data(_)) {
                        stream.close(lp, |_| {}).unwrap();
                    }
                })
                .unwrap();
        })
        .unwrap();
    server.local_addr(lp).unwrap()
}

/// A listener whose one accepted stream never reads; it is closed after 300 ms.
pub fn silent_server(lp: &mut Loop) -> SocketAddr {
    let server = lp
        .tcp_listen(any_port(), move |lp, server, conn| {
            let stream = conn.unwrap();
            stream.set_recv_buffer_size(lp, 4096).unwrap();
            server.close(lp, |_| {}).unwrap();
            lp.set_timeout(Duration::from_millis(300), move |lp, _| {
                stream.close(lp, |_| {}).unwrap();
            });
        })
        .unwrap();
    server.local_addr(lp).unwrap()
}

/// A [`sink_listener`] for `n` clients and `n` clients connecting to it; the list fills as
/// their connects complete.
pub fn sink_with_clients(lp: &mut Loop, n: usize) -> Rc<RefCell<Vec<TcpStream>>> {
    let addr = sink_listener(lp, n);
    let streams: Rc<RefCell<Vec<TcpStream>>> = Rc::default();
    for _ in 0..n {
        let s = streams.clone();
        lp.tcp_connect(addr, move |_, stream, r| {
            r.unwrap();
            s.borrow_mut().push(stream);
        })
        .unwrap();
    }
    streams
}
