//! evloop::dns: lookups against this machine's resolver (`/etc/hosts`; no network needed). On
//! Unix (the C library's resolver) and Windows (Winsock's, under wine in CI).
mod util;

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use evloop::dns::{self, AddrInfoFlags, AddressFamily, DnsError, Hints, NameInfoFlags, SocketType};
use evloop::{Error, Loop, WorkClass};
use util::{Counter, assert_clean, with_timeout};

/// A slot a callback fills and the test reads after `run`.
fn slot<T>() -> Rc<RefCell<Option<T>>> {
    Rc::new(RefCell::new(None))
}

fn stream_hints() -> Hints {
    Hints {
        socktype: SocketType::Stream,
        ..Hints::default()
    }
}

#[test]
fn localhost_resolves_to_a_loopback_address() {
    with_timeout(30, || {
        let mut lp = Loop::new().unwrap();
        let answer = slot();
        let a = answer.clone();
        dns::getaddrinfo(&mut lp, "localhost", "8080", stream_hints(), move |_, r| {
            *a.borrow_mut() = Some(r)
        });
        lp.run().unwrap();
        let addrs = answer.borrow_mut().take().unwrap().unwrap();
        assert!(!addrs.is_empty());
        assert!(
            addrs
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 8080),
            "{addrs:?}"
        );
        // A family hint is honoured.
        let v4 = slot();
        let v = v4.clone();
        let hints = Hints {
            family: AddressFamily::V4,
            ..stream_hints()
        };
        dns::getaddrinfo(&mut lp, "localhost", "", hints, move |_, r| {
            *v.borrow_mut() = Some(r)
        });
        lp.run().unwrap();
        let addrs = v4.borrow_mut().take().unwrap().unwrap();
        assert!(addrs.iter().all(SocketAddr::is_ipv4), "{addrs:?}");
        assert_clean(&lp);
    });
}

#[test]
fn an_invalid_name_fails_with_the_resolver_text() {
    with_timeout(60, || {
        let mut lp = Loop::new().unwrap();
        let answer = slot();
        let a = answer.clone();
        dns::getaddrinfo(
            &mut lp,
            "name.invalid.",
            "",
            Hints::default(),
            move |_, r| *a.borrow_mut() = Some(r),
        );
        lp.run().unwrap();
        let err = answer.borrow_mut().take().unwrap().unwrap_err();
        let payload = err.get_ref().and_then(|e| e.downcast_ref::<DnsError>());
        let payload = payload.expect("a DnsError payload");
        assert_eq!(payload.query(), "name.invalid.");
        assert_ne!(payload.gai_code(), 0);
        let text = err.to_string();
        assert!(text.contains("getaddrinfo 'name.invalid.'"), "{text}");
        let (resolver_text, _) = text.split_once(": getaddrinfo").unwrap();
        assert!(!resolver_text.is_empty(), "{text}");
        assert_clean(&lp);
    });
}

#[test]
fn ten_concurrent_lookups_each_call_back_exactly_once() {
    with_timeout(30, || {
        let mut lp = Loop::new().unwrap();
        let calls: Vec<Counter> = (0..10).map(|_| Counter::new()).collect();
        for (i, calls) in calls.iter().enumerate() {
            let c = calls.clone();
            let port = (9000 + i).to_string();
            dns::getaddrinfo(&mut lp, "localhost", &port, stream_hints(), move |_, r| {
                let addrs = r.expect("localhost resolves");
                assert!(addrs.iter().all(|a| a.port() == 9000 + i as u16));
                c.inc();
            });
        }
        lp.run().unwrap();
        assert!(
            calls.iter().all(|c| c.get() == 1),
            "callback counts differ from 1"
        );
        assert_clean(&lp);
    });
}

#[test]
fn getnameinfo_answers_for_the_loopback_address() {
    with_timeout(30, || {
        let mut lp = Loop::new().unwrap();
        let answer = slot();
        let a = answer.clone();
        let addr: SocketAddr = "127.0.0.1:80".parse().unwrap();
        dns::getnameinfo(&mut lp, addr, NameInfoFlags::NONE, move |_, r| {
            *a.borrow_mut() = Some(r)
        });
        let numeric = slot();
        let n = numeric.clone();
        let flags = NameInfoFlags::NUMERIC_HOST | NameInfoFlags::NUMERIC_SERV;
        dns::getnameinfo(&mut lp, addr, flags, move |_, r| *n.borrow_mut() = Some(r));
        lp.run().unwrap();
        let (host, service) = answer.borrow_mut().take().unwrap().unwrap();
        assert!(
            !host.is_empty() && !service.is_empty(),
            "{host:?} {service:?}"
        );
        let numeric = numeric.borrow_mut().take().unwrap().unwrap();
        assert_eq!(numeric, ("127.0.0.1".to_owned(), "80".to_owned()));
        assert_clean(&lp);
    });
}

#[test]
fn no_host_and_no_service_is_an_error_delivered_later() {
    with_timeout(30, || {
        let mut lp = Loop::new().unwrap();
        let answer = slot();
        let a = answer.clone();
        let req = dns::getaddrinfo(&mut lp, "", "", Hints::default(), move |_, r| {
            *a.borrow_mut() = Some(r)
        });
        assert!(answer.borrow().is_none(), "no callback inside the call");
        assert!(lp.alive(), "the pending callback keeps the loop alive");
        assert!(matches!(lp.cancel(req), Err(Error::StaleHandle)));
        lp.run().unwrap();
        let err = answer.borrow_mut().take().unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(
            lp.pool_stats().is_none(),
            "rejected without starting the pool"
        );
        assert_clean(&lp);
    });
}

#[test]
fn a_lookup_waiting_for_a_dns_slot_can_be_canceled() {
    with_timeout(30, || {
        // A pool of 2 has one DNS slot; a blocked DNS job holds it, so the lookup stays queued.
        let mut lp = Loop::builder().threadpool_size(2).build().unwrap();
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        lp.queue_work_in(
            WorkClass::SlowIo,
            move || {
                started_tx.send(()).unwrap();
                release_rx.recv_timeout(Duration::from_secs(20)).unwrap();
            },
            |_, r| r.unwrap(),
        );
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let answer = slot();
        let a = answer.clone();
        let req = dns::getaddrinfo(&mut lp, "localhost", "", Hints::default(), move |_, r| {
            *a.borrow_mut() = Some(r)
        });
        lp.cancel(req).unwrap();
        assert!(
            answer.borrow().is_none(),
            "canceled later, not inside cancel()"
        );
        release_tx.send(()).unwrap();
        lp.run().unwrap();
        let err = answer.borrow_mut().take().unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
        assert!(
            Error::from_io_ref(&err).is_some_and(Error::is_canceled),
            "{err}"
        );
        assert_clean(&lp);
    });
}

/// `EAI_NONAME`: the C library's, or Winsock's `WSAHOST_NOT_FOUND`.
#[cfg(unix)]
const EAI_NONAME: i32 = libc::EAI_NONAME;
#[cfg(windows)]
const EAI_NONAME: i32 = 11001;

#[test]
fn numeric_lookups_answer_without_a_resolver_and_names_are_refused() {
    with_timeout(30, || {
        let mut lp = Loop::new().unwrap();
        let hints = Hints {
            socktype: SocketType::Stream,
            flags: AddrInfoFlags::NUMERIC_HOST | AddrInfoFlags::NUMERIC_SERV,
            ..Hints::default()
        };
        let answers = Rc::new(RefCell::new(Vec::new()));
        for host in ["127.0.0.1", "::1", "localhost"] {
            let a = answers.clone();
            dns::getaddrinfo(&mut lp, host, "8080", hints, move |_, r| {
                a.borrow_mut().push((host, r));
            });
        }
        lp.run().unwrap();
        let mut answers = answers.borrow_mut();
        answers.sort_by_key(|(host, _)| *host);
        assert_eq!(answers.len(), 3);
        let v4 = answers[0].1.as_ref().unwrap();
        assert_eq!(v4, &["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]);
        let v6 = answers[1].1.as_ref().unwrap();
        assert_eq!(v6, &["[::1]:8080".parse::<SocketAddr>().unwrap()]);
        // A name with NUMERIC_HOST: EAI_NONAME, kind NotFound, the query named.
        let err = answers[2].1.as_ref().unwrap_err();
        assert_eq!(answers[2].0, "localhost");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let payload = err.get_ref().and_then(|e| e.downcast_ref::<DnsError>());
        assert_eq!(payload.expect("a DnsError").gai_code(), EAI_NONAME);
        assert!(
            err.to_string().ends_with(": getaddrinfo 'localhost:8080'"),
            "{err}"
        );
        drop(answers);
        assert_clean(&lp);
    });
}

#[test]
fn a_host_with_a_nul_byte_is_invalid_input() {
    with_timeout(30, || {
        let mut lp = Loop::new().unwrap();
        let answer = slot();
        let a = answer.clone();
        dns::getaddrinfo(
            &mut lp,
            "local\0host",
            "80",
            Hints::default(),
            move |_, r| *a.borrow_mut() = Some(r),
        );
        lp.run().unwrap();
        let err = answer.borrow_mut().take().unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("NUL"), "{err}");
        assert_clean(&lp);
    });
}
