//! UDP sockets, connected mode: `connect`, `send`, `disconnect`, ICMP port unreachable.
mod util;

use evloop::{Error, Handle, Loop};
use util::net::any_port as local;
use util::{Trace, assert_clean, with_timeout};

#[test]
fn connected_mode() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let a = lp.udp_bind(local()).unwrap();
        let b = lp.udp_bind(local()).unwrap();
        let (a_addr, b_addr) = (a.local_addr(&lp).unwrap(), b.local_addr(&lp).unwrap());

        assert!(matches!(
            a.peer_addr(&lp),
            Err(Error::Io(e)) if e.raw_os_error() == Some(util::errno::ENOTCONN)
        ));
        // Not connected: `send` needs an address.
        let r = a.send(&mut lp, b"x", |_, _, _| panic!("must not run"));
        assert!(matches!(r, Err(e) if e.raw_os_error() == Some(util::errno::EDESTADDRREQ)));

        b.connect(&mut lp, a_addr).unwrap();
        assert_eq!(b.peer_addr(&lp).unwrap(), a_addr);
        let r = b.connect(&mut lp, a_addr);
        assert!(matches!(r, Err(e) if e.raw_os_error() == Some(util::errno::EISCONN)));
        // Connected: `send_to` is refused, the callback never runs.
        let r = b.send_to(&mut lp, b"x", a_addr, |_, _, _| panic!("must not run"));
        assert!(matches!(r, Err(e) if e.raw_os_error() == Some(util::errno::EISCONN)));

        let trace = Trace::new();
        let t = trace.clone();
        a.recv_start(&mut lp, move |lp, a, datagram| {
            let (data, from) = datagram.unwrap();
            assert_eq!(from, b_addr);
            t.push(format!("a got {}", String::from_utf8_lossy(data)));
            a.send_to(lp, b"pong", from, |_, _, r| r.unwrap()).unwrap();
            a.recv_stop(lp).unwrap();
        })
        .unwrap();
        let t = trace.clone();
        b.recv_start(&mut lp, move |lp, b, datagram| {
            let (data, from) = datagram.unwrap();
            assert_eq!(from, a_addr);
            t.push(format!("b got {}", String::from_utf8_lossy(data)));
            b.close(lp, |_| {}).unwrap();
            a.close(lp, |_| {}).unwrap();
        })
        .unwrap();
        let t = trace.clone();
        b.send(&mut lp, b"ping", move |_, _, r| {
            r.unwrap();
            t.push("b sent");
        })
        .unwrap();
        lp.run().unwrap();
        assert_eq!(trace.take(), ["b sent", "a got ping", "b got pong"]);
        assert_clean(&lp);
    });
}

#[test]
fn disconnect_restores_send_to_and_receiving_from_anyone() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let a = lp.udp_bind(local()).unwrap();
        let b = lp.udp_bind(local()).unwrap();
        let c = lp.udp_bind(local()).unwrap();
        let b_addr = b.local_addr(&lp).unwrap();
        let c_addr = c.local_addr(&lp).unwrap();
        let r = a.disconnect(&mut lp);
        assert!(matches!(r, Err(e) if e.raw_os_error() == Some(util::errno::ENOTCONN)));

        a.connect(&mut lp, b_addr).unwrap();
        a.disconnect(&mut lp).unwrap();
        assert!(a.peer_addr(&lp).is_err());
        let r = a.send(&mut lp, b"x", |_, _, _| panic!("must not run"));
        assert!(matches!(r, Err(e) if e.raw_os_error() == Some(util::errno::EDESTADDRREQ)));

        // Disconnected, a may `send_to` anyone (c), and c's reply (not from b) reaches it.
        // (a was bound to port 0, so Linux dropped its port on disconnect and picks a new one
        // for this send: the reply goes to wherever the datagram came from.)
        let trace = Trace::new();
        let t = trace.clone();
        a.recv_start(&mut lp, move |lp, a, d| {
            let (data, from) = d.unwrap();
            assert_eq!(from, c_addr);
            t.push(String::from_utf8_lossy(data).into_owned());
            a.close(lp, |_| {}).unwrap();
        })
        .unwrap();
        c.recv_start(&mut lp, |lp, c, d| {
            let (data, from) = d.unwrap();
            assert_eq!(data, b"to c");
            c.send_to(lp, b"reply from c", from, |lp, c, r| {
                r.unwrap();
                c.close(lp, |_| {}).unwrap();
            })
            .unwrap();
        })
        .unwrap();
        a.send_to(&mut lp, b"to c", c_addr, |_, _, r| r.unwrap())
            .unwrap();
        lp.run().unwrap();
        assert_eq!(trace.take(), ["reply from c"]);
        b.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
#[cfg_attr(
    windows,
    ignore = "wine runs on Linux's network stack and never reports ICMP port-unreachable to a connected UDP socket"
)]
fn port_unreachable_is_reported_to_the_connected_receiver() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        // A port with nobody behind it: bind, note it, close.
        let gone = lp.udp_bind(local()).unwrap();
        let dead = gone.local_addr(&lp).unwrap();
        gone.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();

        let sock = lp.udp_bind(local()).unwrap();
        sock.connect(&mut lp, dead).unwrap();
        let trace = Trace::new();
        let t = trace.clone();
        sock.recv_start(&mut lp, move |lp, sock, d| {
            let e = d.expect_err("ICMP port unreachable");
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
            t.push("refused");
            sock.close(lp, |_| {}).unwrap();
        })
        .unwrap();
        let t = trace.clone();
        sock.send(&mut lp, b"anyone?", move |_, _, r| {
            r.unwrap();
            t.push("sent");
        })
        .unwrap();
        lp.run().unwrap();
        assert_eq!(trace.take(), ["sent", "refused"]);
        assert_clean(&lp);
    });
}
