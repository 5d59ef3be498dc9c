//! Lookups against this machine's resolver: `/etc/hosts` for names, no network needed.

use std::net::{IpAddr, Ipv6Addr};

use super::*;
use crate::fs::raw_os_error;

fn dns_error_of(err: &io::Error) -> &DnsError {
    err.get_ref()
        .and_then(|e| e.downcast_ref::<DnsError>())
        .expect("a DnsError payload")
}

#[test]
fn localhost_resolves_to_loopback() {
    let addrs = getaddrinfo(Some("localhost"), Some("80"), Hints::default()).expect("localhost");
    assert!(!addrs.is_empty());
    assert!(
        addrs
            .iter()
            .all(|addr| addr.ip().is_loopback() && addr.port() == 80),
        "{addrs:?}"
    );
}

#[test]
fn answers_for_several_socket_types_are_deduplicated() {
    // With SocketType::Any the C resolver answers once per type (stream, datagram, raw).
    let hints = Hints {
        flags: AddrInfoFlags::NUMERIC_HOST,
        ..Hints::default()
    };
    let addrs = getaddrinfo(Some("127.0.0.1"), Some("8080"), hints).expect("numeric host");
    assert_eq!(
        addrs,
        ["127.0.0.1:8080".parse::<SocketAddr>().expect("an address")]
    );
}

#[test]
fn numeric_hosts_are_parsed_without_a_resolver() {
    let hints = Hints {
        socktype: SocketType::Stream,
        flags: AddrInfoFlags::NUMERIC_HOST | AddrInfoFlags::NUMERIC_SERV,
        ..Hints::default()
    };
    assert!(hints.flags.contains(AddrInfoFlags::NUMERIC_SERV));
    let addrs = getaddrinfo(Some("::1"), Some("443"), hints).expect("numeric v6");
    assert_eq!(addrs.len(), 1);
    assert_eq!(
        (addrs[0].ip(), addrs[0].port()),
        (IpAddr::V6(Ipv6Addr::LOCALHOST), 443)
    );
    let err = getaddrinfo(Some("localhost"), None, hints).expect_err("not numeric");
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert_eq!(dns_error_of(&err).gai_code(), EAI_NONAME);
}

#[test]
fn passive_without_a_host_answers_the_wildcard() {
    let hints = Hints {
        family: AddressFamily::V4,
        socktype: SocketType::Stream,
        flags: AddrInfoFlags::PASSIVE,
    };
    let addrs = getaddrinfo(None, Some("8000"), hints).expect("wildcard");
    assert_eq!(
        addrs,
        ["0.0.0.0:8000".parse::<SocketAddr>().expect("an address")]
    );
}

#[test]
fn an_unknown_name_fails_with_the_resolver_message_and_the_name() {
    let err = getaddrinfo(Some("name.invalid."), None, Hints::default()).expect_err("invalid TLD");
    let payload = dns_error_of(&err);
    assert_eq!(payload.query(), "name.invalid.");
    let message = crate::sys::dns::gai_message(payload.gai_code());
    assert_eq!(
        err.to_string(),
        format!("{message}: getaddrinfo 'name.invalid.'")
    );
    assert!(!message.is_empty());
    assert_eq!(raw_os_error(&err), payload.raw_os_error());
}

#[test]
fn an_empty_query_is_invalid_input_at_once() {
    for (host, service) in [(None, None), (Some(""), Some("")), (Some(""), None)] {
        let err = getaddrinfo(host, service, Hints::default()).expect_err("nothing to look up");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
    let err = getaddrinfo(Some("a\0b"), None, Hints::default()).expect_err("a NUL byte");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn a_mismatched_family_is_an_error() {
    let hints = Hints {
        family: AddressFamily::V6,
        flags: AddrInfoFlags::NUMERIC_HOST,
        ..Hints::default()
    };
    let err = getaddrinfo(Some("127.0.0.1"), None, hints).expect_err("v4 literal, v6 asked");
    assert!(
        err.to_string().ends_with(": getaddrinfo '127.0.0.1'"),
        "{err}"
    );
}

#[test]
fn getnameinfo_answers_for_loopback() {
    let addr: SocketAddr = "127.0.0.1:80".parse().expect("an address");
    let numeric = NameInfoFlags::NUMERIC_HOST | NameInfoFlags::NUMERIC_SERV;
    let answer = getnameinfo(addr, numeric).expect("numeric answer");
    assert_eq!(answer, ("127.0.0.1".to_owned(), "80".to_owned()));
    let (host, service) = getnameinfo(addr, NameInfoFlags::NONE).expect("named answer");
    assert!(!host.is_empty());
    assert!(service == "http" || service == "80", "{service}");
}
