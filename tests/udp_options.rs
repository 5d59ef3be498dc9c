//! UDP sockets, options: IPv6 dual-stack and v6-only, address and port reuse, broadcast,
//! multicast, TTL and buffer sizes.
mod util;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use evloop::net::UdpBindOptions;
use evloop::{Error, Handle, Loop};
use util::net::any_port as local;
use util::{Trace, assert_clean, with_timeout};

#[test]
fn ipv6_dual_stack_and_v6only() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let any6: SocketAddr = "[::]:0".parse().unwrap();
        let dual = lp
            .udp_bind_with(any6, UdpBindOptions::new().only_v6(false))
            .unwrap();
        let port = dual.local_addr(&lp).unwrap().port();
        let v6only = lp
            .udp_bind_with(any6, UdpBindOptions::new().only_v6(true))
            .unwrap();
        let v6only_port = v6only.local_addr(&lp).unwrap().port();
        let tx = lp.udp_bind(local()).unwrap();
        let tx6 = lp.udp_bind("[::1]:0".parse().unwrap()).unwrap();
        let tx_port = tx.local_addr(&lp).unwrap().port();

        let trace = Trace::new();
        let t = trace.clone();
        dual.recv_start(&mut lp, move |lp, dual, d| {
            let (data, from) = d.unwrap();
            let SocketAddr::V6(from) = from else {
                panic!("a dual-stack socket reports IPv6 sources: {from}");
            };
            assert_eq!(from.ip().to_ipv4_mapped(), Some(Ipv4Addr::LOCALHOST));
            assert_eq!(from.port(), tx_port);
            t.push(format!("dual got {}", String::from_utf8_lossy(data)));
            dual.close(lp, |_| {}).unwrap();
        })
        .unwrap();
        let t = trace.clone();
        v6only
            .recv_start(&mut lp, move |lp, v6only, d| {
                let (data, from) = d.unwrap();
                assert!(from.is_ipv6());
                t.push(format!("v6only got {}", String::from_utf8_lossy(data)));
                v6only.close(lp, |_| {}).unwrap();
            })
            .unwrap();
        tx.send_to(
            &mut lp,
            b"v4",
            SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            |lp, tx, r| {
                r.unwrap();
                tx.close(lp, |_| {}).unwrap();
            },
        )
        .unwrap();
        let to6 = SocketAddr::from((Ipv6Addr::LOCALHOST, v6only_port));
        tx6.send_to(&mut lp, b"v6", to6, |lp, tx6, r| {
            r.unwrap();
            tx6.close(lp, |_| {}).unwrap();
        })
        .unwrap();
        lp.run().unwrap();
        let mut got = trace.take();
        got.sort();
        assert_eq!(got, ["dual got v4", "v6only got v6"]);
        assert_clean(&lp);
    });
}

#[test]
#[cfg(windows)]
fn reuse_port_is_unsupported_on_windows() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let opts = UdpBindOptions::new().reuse_port(true);
        let err = lp
            .udp_bind_with(local(), opts)
            .expect_err("no SO_REUSEPORT on Windows");
        let Error::Io(io) = &err else {
            panic!("an I/O error, got {err:?}");
        };
        assert_eq!(io.kind(), std::io::ErrorKind::Unsupported, "{io}");
        assert!(io.to_string().contains("SO_REUSEPORT"), "{io}");
        assert_clean(&lp);
    });
}

#[test]
#[cfg(unix)] // Windows has no SO_REUSEPORT: see reuse_port_is_unsupported_on_windows
fn reuse_address_and_port_let_two_sockets_share_a_port() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let opts = UdpBindOptions::new().reuse_address(true).reuse_port(true);
        let a = lp.udp_bind_with(local(), opts).unwrap();
        let addr = a.local_addr(&lp).unwrap();
        let b = lp.udp_bind_with(addr, opts).unwrap();
        assert_eq!(b.local_addr(&lp).unwrap(), addr);
        // Without the option the port is taken.
        let r = lp.udp_bind(addr);
        assert!(matches!(r, Err(e) if e.kind() == std::io::ErrorKind::AddrInUse));
        a.close(&mut lp, |_| {}).unwrap();
        b.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

/// Multicast membership on loopback depends on the kernel and the container: joining may
/// succeed, or fail with an OS error. Either way the result must be a clean `Result`, and the
/// socket must keep working afterwards.
fn check_membership(r: Result<(), Error>, what: &str) {
    match r {
        Ok(()) => {}
        Err(Error::Io(e)) => {
            assert!(e.raw_os_error().is_some(), "{what}: not an OS error: {e:?}");
            eprintln!("{what}: the kernel refused: {e}");
        }
        Err(other) => panic!("{what}: unexpected error {other:?}"),
    }
}

#[test]
fn broadcast_multicast_and_ttl_options() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let sock = lp.udp_bind(local()).unwrap();
        sock.set_broadcast(&mut lp, true).unwrap();
        sock.set_broadcast(&mut lp, false).unwrap();
        sock.set_ttl(&mut lp, 32).unwrap();
        sock.set_multicast_ttl_v4(&mut lp, 2).unwrap();
        sock.set_multicast_loop_v4(&mut lp, true).unwrap();
        sock.set_recv_buffer_size(&mut lp, 1 << 16).unwrap();
        assert!(sock.recv_buffer_size(&lp).unwrap() >= 1 << 16);
        sock.set_send_buffer_size(&mut lp, 1 << 16).unwrap();
        assert!(sock.send_buffer_size(&lp).unwrap() >= 1 << 16);
        check_membership(
            sock.set_multicast_interface_v4(&mut lp, Ipv4Addr::LOCALHOST),
            "multicast interface 127.0.0.1",
        );

        let group = Ipv4Addr::new(239, 255, 77, 1);
        let joined = sock.join_multicast_v4(&mut lp, group, Ipv4Addr::LOCALHOST);
        let was_joined = joined.is_ok();
        check_membership(joined, "join 239.255.77.1 on 127.0.0.1");
        let left = sock.leave_multicast_v4(&mut lp, group, Ipv4Addr::LOCALHOST);
        if was_joined {
            left.unwrap();
        } else {
            check_membership(left, "leave without join");
        }
        // Not a multicast address: always refused, cleanly.
        let r = sock.join_multicast_v4(&mut lp, Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST);
        assert!(matches!(r, Err(Error::Io(_))), "{r:?}");

        let sock6 = lp.udp_bind("[::1]:0".parse().unwrap()).unwrap();
        sock6.set_multicast_loop_v6(&mut lp, true).unwrap();
        let group6: Ipv6Addr = "ff02::1:3".parse().unwrap();
        let joined6 = sock6.join_multicast_v6(&mut lp, group6, 1);
        let was_joined6 = joined6.is_ok();
        check_membership(joined6, "join ff02::1:3 on interface 1");
        if was_joined6 {
            sock6.leave_multicast_v6(&mut lp, group6, 1).unwrap();
        }

        // The socket still works after all this.
        let me = sock.local_addr(&lp).unwrap();
        sock.recv_start(&mut lp, |lp, sock, d| {
            assert_eq!(d.unwrap().0, b"still works");
            sock.close(lp, |_| {}).unwrap();
        })
        .unwrap();
        sock.send_to(&mut lp, b"still works", me, |_, _, r| r.unwrap())
            .unwrap();
        sock6.close(&mut lp, |_| {}).unwrap();
        lp.run().unwrap();
        assert!(matches!(sock.set_ttl(&mut lp, 1), Err(Error::StaleHandle)));
        assert_clean(&lp);
    });
}
