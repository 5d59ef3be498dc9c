//! TCP streams, connecting: the connect callback (success, refusal), writes queued while
//! connecting, socket options and addresses.
mod util;

use std::cell::Cell;
use std::io::ErrorKind;
use std::rc::Rc;
use std::time::Duration;

use evloop::net::ReadEvent;
use evloop::{Error, Handle, Loop};
use util::net::{any_port, echo_server};
use util::{Counter, Trace, assert_clean, with_timeout};

#[test]
fn connect_refused_is_reported_through_the_callback_and_the_handle_stays_open() {
    with_timeout(10, || {
        let port = std::net::TcpListener::bind(any_port())
            .unwrap()
            .local_addr()
            .unwrap();
        let mut lp = Loop::new().unwrap();
        let calls = Counter::new();
        let c = calls.clone();
        let stream = lp
            .tcp_connect(port, move |lp, stream, r| {
                c.inc();
                let e = r.unwrap_err();
                assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
                assert!(!stream.is_closing(lp).unwrap());
                lp.set_immediate(move |lp| stream.close(lp, |_| {}).unwrap());
            })
            .unwrap();
        assert_eq!(calls.get(), 0);
        lp.run().unwrap();
        assert_eq!(calls.get(), 1);
        assert!(stream.is_active(&lp).is_err());
        assert_clean(&lp);
    });
}

#[test]
fn writes_made_while_connecting_go_out_after_the_connect_callback() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (_server, addr) = echo_server(&mut lp);
        let trace = Trace::new();
        let t = trace.clone();
        let stream = lp
            .tcp_connect(addr, move |_, _, r| {
                r.unwrap();
                t.push("connected");
            })
            .unwrap();
        let t = trace.clone();
        stream
            .write_vectored(&mut lp, [&b"early "[..], b"bird"], move |_, r| {
                r.unwrap();
                t.push("written");
            })
            .unwrap();
        assert!(trace.get().is_empty(), "a callback ran synchronously");
        let t = trace.clone();
        let mut echoed = Vec::new();
        stream
            .read_start(&mut lp, move |lp, stream, ev| {
                if let ReadEvent::Data(b) = ev {
                    echoed.extend_from_slice(b);
                    if echoed == b"early bird" {
                        t.push("echoed");
                        stream.close(lp, |_| {}).unwrap();
                    }
                }
            })
            .unwrap();
        lp.run().unwrap();
        assert_eq!(trace.take(), ["connected", "written", "echoed"]);
        assert_clean(&lp);
    });
}

#[test]
fn socket_options_and_addresses() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let accepted = Rc::new(Cell::new(None));
        let a = accepted.clone();
        let server = lp
            .tcp_listen(any_port(), move |lp, server, conn| {
                a.set(Some(conn.unwrap()));
                server.close(lp, |_| {}).unwrap();
            })
            .unwrap();
        let addr = server.local_addr(&lp).unwrap();
        let a = accepted;
        lp.tcp_connect(addr, move |lp, stream, r| {
            r.unwrap();
            assert_eq!(stream.peer_addr(lp).unwrap(), addr);
            stream.set_nodelay(lp, true).unwrap();
            stream
                .set_keepalive(lp, Some(Duration::from_secs(30)))
                .unwrap();
            stream.set_keepalive(lp, None).unwrap();
            let local = stream.local_addr(lp).unwrap();
            lp.set_timeout(Duration::from_millis(20), move |lp, _| {
                let peer = a.get().expect("accepted by now");
                assert_eq!(peer.peer_addr(lp).unwrap(), local);
                assert_eq!(peer.local_addr(lp).unwrap(), addr);
                peer.close(lp, |_| {}).unwrap();
                stream.close(lp, |_| {}).unwrap();
                assert!(matches!(stream.local_addr(lp), Err(Error::Closing)));
            });
        })
        .unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}
