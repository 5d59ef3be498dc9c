//! Property tests of the HTTP/1.1 request parser, through its public API only.
//!
//! 1. Whatever the bytes (valid requests, mutated requests, HTTP-flavoured token soup, random
//!    bytes) and whatever the limits, the parser never panics, and the sequence of outcomes is the
//!    same however the input is split into reads.
//! 2. Valid pipelines parse to exactly the requests that were serialised.

use evloop::http::head::{BodyFraming, RequestHead};
use evloop::http::method::Method;
use evloop::http::parser::{Event, Limits, Parser};
use proptest::prelude::*;
use proptest::sample::Index;

/// One observable result; body bytes between a head and its end are merged into one `Body`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Head(Box<RequestHead>),
    Body(Vec<u8>),
    End,
    Error(u16),
}

/// Feeds `input` in pieces ending at `cuts` (sorted offsets), draining events after each piece.
fn run(input: &[u8], cuts: &[usize], limits: Limits) -> Vec<Outcome> {
    let mut parser = Parser::new(limits);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut fed = 0;
    for &cut in cuts.iter().chain([&input.len()]) {
        let cut = cut.clamp(fed, input.len());
        buf.extend_from_slice(&input[fed..cut]);
        fed = cut;
        // Each event either consumes bytes or moves the parser on; a stall would be a bug.
        for _ in 0..=2 * buf.len() + 4 {
            let step = match parser.parse(&buf) {
                Ok(step) => step,
                Err(e) => {
                    out.push(Outcome::Error(e.status()));
                    return out;
                }
            };
            assert!(step.consumed <= buf.len(), "consumed more than given");
            match step.event {
                Event::NeedMore => {
                    buf.drain(..step.consumed);
                    break;
                }
                Event::Head(head) => out.push(Outcome::Head(Box::new(head))),
                Event::Body(range) => {
                    assert!(!range.is_empty() && range.end <= step.consumed);
                    match out.last_mut() {
                        Some(Outcome::Body(body)) => body.extend_from_slice(&buf[range]),
                        _ => out.push(Outcome::Body(buf[range].to_vec())),
                    }
                }
                Event::End => out.push(Outcome::End),
                _ => unreachable!("no other events exist yet"),
            }
            buf.drain(..step.consumed);
        }
    }
    out
}

/// What the oracle compares: a head's fields, then the whole body of that message at its end.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Head(Method, String, u8, BodyFraming),
    Message(Vec<u8>),
}

/// A request to serialise; the parts are chosen so that the request is valid.
#[derive(Debug, Clone)]
struct Request {
    method: &'static str,
    target: String,
    minor: u8,
    fields: Vec<(String, String)>,
    body: Body,
}

#[derive(Debug, Clone)]
enum Body {
    None,
    Length(Vec<u8>),
    /// Chunks (non-empty), with an extension on some and an optional trailer field.
    Chunked(Vec<(Vec<u8>, bool)>, Option<String>),
}

impl Request {
    fn write(&self, out: &mut Vec<u8>) {
        let head = format!("{} {} HTTP/1.{}\r\n", self.method, self.target, self.minor);
        out.extend_from_slice(head.as_bytes());
        for (name, value) in &self.fields {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        match &self.body {
            Body::None => out.extend_from_slice(b"\r\n"),
            Body::Length(data) => {
                out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", data.len()).as_bytes());
                out.extend_from_slice(data);
            }
            Body::Chunked(chunks, trailer) => {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                for (data, ext) in chunks {
                    let ext = if *ext { ";name=\"v\"" } else { "" };
                    out.extend_from_slice(format!("{:X}{ext}\r\n", data.len()).as_bytes());
                    out.extend_from_slice(data);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n");
                if let Some(t) = trailer {
                    out.extend_from_slice(format!("X-Trailer: {t}\r\n").as_bytes());
                }
                out.extend_from_slice(b"\r\n");
            }
        }
    }

    fn body_bytes(&self) -> Vec<u8> {
        match &self.body {
            Body::None => Vec::new(),
            Body::Length(data) => data.clone(),
            Body::Chunked(chunks, _) => chunks.iter().flat_map(|(d, _)| d.clone()).collect(),
        }
    }
}

fn request() -> impl Strategy<Value = Request> {
    let method = prop::sample::select(vec!["GET", "HEAD", "POST", "PUT", "DELETE", "BREW"]);
    let target = prop_oneof![
        "/[a-z0-9/._~%-]{0,20}(\\?[a-z0-9=&]{0,10})?",
        Just("http://example.com/x".to_owned()),
    ];
    let field = ("X-[A-Za-z0-9-]{1,8}", "[!-~]([ -~]{0,14}[!-~])?");
    let data = prop::collection::vec(any::<u8>(), 1..20);
    let body = prop_oneof![
        Just(Body::None),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Body::Length),
        (
            prop::collection::vec((data, any::<bool>()), 0..4),
            prop::option::of("[a-z0-9]{1,8}")
        )
            .prop_map(|(chunks, trailer)| Body::Chunked(chunks, trailer)),
    ];
    (
        method,
        target,
        prop::bool::weighted(0.9),
        prop::collection::vec(field, 0..4),
        body,
    )
        .prop_map(|(method, target, http11, mut fields, body)| {
            let minor = u8::from(http11 || matches!(body, Body::Chunked(..)));
            fields.insert(0, ("Host".into(), "example.com".into()));
            if minor == 0 {
                fields.push(("Connection".into(), "keep-alive".into()));
            }
            Request {
                method,
                target,
                minor,
                fields,
                body,
            }
        })
}

fn pipeline() -> impl Strategy<Value = (Vec<Request>, Vec<u8>)> {
    prop::collection::vec(request(), 1..4).prop_map(|requests| {
        let mut bytes = Vec::new();
        for r in &requests {
            r.write(&mut bytes);
        }
        (requests, bytes)
    })
}

/// Valid pipelines with a few bytes replaced, inserted or deleted.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let interesting = prop_oneof![
        prop::sample::select(b"\r\n \t:;,0129aAfFxX-+\0\x7f\xff".to_vec()),
        any::<u8>(),
    ];
    let edit = (0u8..3, any::<Index>(), interesting);
    (pipeline(), prop::collection::vec(edit, 1..5)).prop_map(|((_, mut bytes), edits)| {
        for (kind, at, byte) in edits {
            let i = at.index(bytes.len() + 1);
            match kind {
                0 if i < bytes.len() => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ if i < bytes.len() => {
                    bytes.remove(i);
                }
                _ => {}
            }
        }
        bytes
    })
}

/// HTTP-looking fragments in random order: reaches deeper states than uniform bytes.
fn token_soup() -> impl Strategy<Value = Vec<u8>> {
    let fragments: Vec<&'static [u8]> = vec![
        b"GET / ",
        b"POST /x ",
        b"GET ",
        b"POST ",
        b"/",
        b"/a?b",
        b"*",
        b" ",
        b"HTTP/1.1",
        b"HTTP/1.0",
        b"HTTP/2.0",
        b"\r\n",
        b"\n",
        b"\r",
        b"\r\n\r\n",
        b"Host: a",
        b"Content-Length: ",
        b"Content-Length: 3",
        b"Transfer-Encoding: chunked",
        b"Transfer-Encoding: gzip, chunked",
        b"HTTP/3.1\r\n",
        b"Connection: close",
        b"Expect: 100-continue",
        b"0",
        b"3",
        b"a",
        b"ff",
        b";x",
        b":",
        b",",
        b"abc",
        b"\t",
        b"\0",
    ];
    prop::collection::vec(prop::sample::select(fragments), 0..40).prop_map(|f| f.concat())
}

/// Requests assembled from whole lines, valid and invalid: reaches every verdict of the head
/// and body rules, in pipelines.
fn loose_requests() -> impl Strategy<Value = Vec<u8>> {
    let start = prop::sample::select(vec![
        "GET / HTTP/1.1",
        "POST /x HTTP/1.1",
        "GET / HTTP/1.0",
        "OPTIONS * HTTP/1.1",
        "CONNECT a:1 HTTP/1.1",
        "GET / HTTP/2.0",
        "PRI * HTTP/2.0",
        "GET / HTTP/3.1",
        "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1",
    ]);
    let field = prop::sample::select(vec![
        "Host: a",
        "Host: b",
        "Content-Length: 3",
        "Content-Length: 3, 3",
        "Content-Length: 4",
        "Content-Length: -1",
        "Transfer-Encoding: chunked",
        "Transfer-Encoding: gzip, chunked",
        "Transfer-Encoding: gzip",
        "Connection: close",
        "Connection: keep-alive",
        "Expect: 100-continue",
        "X: a\0",
        " folded",
        "X : y",
        "X-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ]);
    let eol = prop_oneof![8 => Just("\r\n"), 1 => Just("\n"), 1 => Just("\r")];
    let body = prop::sample::select(vec![
        "abc",
        "3\r\nabc\r\n",
        "0\r\n\r\n",
        "1;x\r\na\r\n",
        "ff\r\n",
        "\r\n",
        "0\r\nT: x\r\n\r\n",
        "x",
    ]);
    let request = (
        (start, eol.clone()),
        prop::collection::vec((field, eol.clone()), 0..4),
        prop::bool::weighted(0.8),
        eol,
        prop::collection::vec(body, 0..4),
    )
        .prop_map(|((start, e), fields, host, end, body)| {
            let mut text = format!("{start}{e}");
            if host {
                text.push_str("Host: h\r\n");
            }
            for (f, e) in fields {
                text.push_str(f);
                text.push_str(e);
            }
            text.push_str(end);
            text.extend(body);
            text
        });
    prop::collection::vec(request, 1..4).prop_map(|r| r.concat().into_bytes())
}

fn any_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => pipeline().prop_map(|(_, bytes)| bytes),
        3 => mutated(),
        3 => loose_requests(),
        2 => token_soup(),
        1 => prop::collection::vec(any::<u8>(), 0..200),
    ]
}

/// Default limits half the time, otherwise small ones so that every limit is reached.
fn limits() -> impl Strategy<Value = Limits> {
    let small = (16usize..300, 0usize..8, 1usize..64, 0u64..64, 1usize..32).prop_map(
        |(head, headers, target, body, chunk_line)| {
            let mut limits = Limits::default();
            limits.max_head_bytes = head;
            limits.max_headers = headers;
            limits.max_target_bytes = target;
            limits.max_body_bytes = body;
            limits.max_chunk_line_bytes = chunk_line;
            limits
        },
    );
    prop_oneof![Just(Limits::default()), small]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn outcomes_do_not_depend_on_how_input_is_split(
        input in any_input(),
        limits in limits(),
        cuts in prop::collection::vec(any::<Index>(), 0..12),
    ) {
        let whole = run(&input, &[], limits);
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
        cuts.sort_unstable();
        prop_assert_eq!(&run(&input, &cuts, limits), &whole, "cuts {:?}", cuts);
        let bytewise: Vec<usize> = (0..input.len()).collect();
        prop_assert_eq!(&run(&input, &bytewise, limits), &whole, "byte by byte");
    }

    #[test]
    fn valid_pipelines_parse_to_what_was_sent(
        (requests, bytes) in pipeline(),
        cuts in prop::collection::vec(any::<Index>(), 0..12),
    ) {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let outcomes = run(&bytes, &cuts, Limits::default());
        let mut expected = Vec::new();
        for r in &requests {
            let body = r.body_bytes();
            let framing = match r.body {
                Body::None => BodyFraming::None,
                Body::Length(_) => BodyFraming::Length(body.len() as u64),
                Body::Chunked(..) => BodyFraming::Chunked,
            };
            expected.push(Seen::Head(Method::from_token(r.method), r.target.clone(), r.minor, framing));
            expected.push(Seen::Message(body));
        }
        let mut seen = Vec::new();
        let mut body = None;
        for o in outcomes {
            match (o, body.as_mut()) {
                (Outcome::Head(h), None) => {
                    prop_assert!(h.keep_alive);
                    seen.push(Seen::Head(h.method, h.target, h.version_minor, h.framing));
                    body = Some(Vec::new());
                }
                (Outcome::Body(b), Some(body)) => body.extend_from_slice(&b),
                (Outcome::End, Some(_)) => seen.extend(body.take().map(Seen::Message)),
                (o, _) => return Err(TestCaseError::fail(format!("unexpected {o:?}"))),
            }
        }
        prop_assert_eq!(seen, expected);
    }
}
