//! The defences: head syntax, framing (request smuggling) rules and limits.

use super::*;

#[test]
fn head_syntax_defences() {
    for bad in [
        &b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"[..], // obs-fold
        b"GET / HTTP/1.1\r\nHost: a\r\nX : a\r\n\r\n",           // space before colon
        b"GET / HTTP/1.1\r\nHost: a\r\nX\t: a\r\n\r\n",
        b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", // whitespace before the first field
        b"GET / HTTP/1.1\rHost: a\r\n\r\n",    // bare CR as a line end
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
        b"GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\r\n",
        b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", // NUL and other controls
        b"GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: \x1b[31m\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX\0: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
    ] {
        assert_eq!(status(bad), Some(400), "{:?}", String::from_utf8_lossy(bad));
    }
    // HTAB and obs-text are allowed inside values.
    let h = head(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\xff\r\n\r\n");
    assert_eq!(h.header("x"), Some(&b"a\tb\xff"[..]));
}

#[test]
fn content_length_rules() {
    let len = |value: &str| {
        let req = format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {value}\r\n\r\n");
        status(req.as_bytes())
    };
    assert_eq!(len("5, 5"), None);
    assert_eq!(len("005"), None);
    for bad in [
        "5, 6",
        "-1",
        "+5",
        "0x5",
        "5 5",
        "",
        ",",
        "18446744073709551616",
        "1e3",
    ] {
        assert_eq!(len(bad), Some(400), "{bad:?}");
    }
    let dup = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc";
    assert_eq!(body(&run(dup)), b"abc");
    let dup = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd";
    assert_eq!(status(dup), Some(400));
}

#[test]
fn transfer_encoding_rules() {
    let te = |value: &str| {
        let req = format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {value}\r\n\r\n");
        status(req.as_bytes())
    };
    assert_eq!(te("Chunked"), None);
    assert_eq!(te("gzip"), Some(400));
    assert_eq!(te("chunked, gzip"), Some(400));
    assert_eq!(te("chunked, chunked"), Some(400));
    assert_eq!(te("chunked;x=1"), Some(400));
    assert_eq!(te("gzip, chunked"), Some(501));
    assert_eq!(te("a b, chunked"), Some(400));
    assert_eq!(te(""), Some(400));
    assert_eq!(te("chunked,"), Some(400));
    assert_eq!(te(", chunked"), Some(400));
    let split = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\
                  Transfer-Encoding: chunked\r\n\r\n";
    assert_eq!(status(split), Some(501));
    let both = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\
                 Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    assert_eq!(status(both), Some(400));
    let old = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    assert_eq!(status(old), Some(400));
}

#[test]
fn chunk_framing_defences() {
    let chunked = |body: &str| {
        let req = format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{body}");
        status(req.as_bytes())
    };
    assert_eq!(chunked("1\r\na\r\n0\r\n\r\n"), None);
    for bad in [
        "x\r\n",                   // not hex
        "\r\n",                    // empty size
        "-1\r\n",                  // signed
        "1 \r\na\r\n",             // whitespace not followed by an extension
        "1\na\r\n0\r\n\r\n",       // bare LF
        "1\r\nab\r\n",             // missing CRLF after data
        "1\r\na\n0\r\n\r\n",       // LF without CR after data
        "10000000000000000\r\n",   // 2^64: overflows
        "1;a\0\r\n",               // control character in an extension
        "0\r\nX: a\nY: b\r\n\r\n", // bare LF in a trailer
        "0\r\n folded\r\n\r\n",    // obs-fold in a trailer
        "0\r\n\r\r\n",
    ] {
        assert_eq!(chunked(bad), Some(400), "{bad:?}");
    }
    assert_eq!(chunked("000000000000000000001\r\na\r\n0\r\n\r\n"), None);
}

#[test]
fn head_size_limit_triggers_without_the_end_of_the_head() {
    let mut req = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    while req.len() <= 16 * 1024 {
        req.extend_from_slice(b"X-Filler: ");
        req.resize(req.len() + 1000, b'a');
        req.extend_from_slice(b"\r\n");
    }
    let mut parser = Parser::default();
    assert_eq!(
        parser.parse(&req).map(|p| p.event),
        Err(HttpError::header_too_large(
            "request head exceeds the limit"
        ))
    );
    // One long line without any line end trips it too.
    let mut parser = Parser::default();
    assert_eq!(
        parser.parse(&[b'G'; 16 * 1024 + 1]).map_err(|e| e.status()),
        Err(431)
    );
}

#[test]
fn head_size_limit_is_exact() {
    let limits = Limits {
        max_head_bytes: 40,
        ..Limits::default()
    };
    let exact = b"GET / HTTP/1.1\r\nHost: a\r\nX: 12345678\r\n\r\n";
    assert_eq!(exact.len(), 40);
    assert_eq!(status_with(exact, limits), None);
    let over = b"GET / HTTP/1.1\r\nHost: a\r\nX: 123456789\r\n\r\n";
    assert_eq!(status_with(over, limits), Some(431));
}

#[test]
fn header_count_limit() {
    let mut req = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 1..100 {
        req.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    let mut ok = req.clone();
    ok.extend_from_slice(b"\r\n");
    assert_eq!(
        Parser::default().parse(&ok).map(|p| p.consumed),
        Ok(ok.len())
    );
    req.extend_from_slice(b"X-100: v\r\n\r\n");
    assert_eq!(
        Parser::default().parse(&req).map_err(|e| e.status()),
        Err(431)
    );
}

#[test]
fn target_limit_triggers_before_the_line_ends() {
    let limits = Limits {
        max_target_bytes: 8,
        ..Limits::default()
    };
    assert_eq!(
        status_with(b"GET /2345678 HTTP/1.1\r\nHost: a\r\n\r\n", limits),
        None
    );
    assert_eq!(status_with(b"GET /23456789", limits), Some(414));
    let mut long = b"GET /".to_vec();
    long.resize(8 * 1024 + 4, b'a');
    assert_eq!(
        Parser::default().parse(&long).map(|p| p.event),
        Ok(Event::NeedMore)
    );
    long.push(b'a');
    assert_eq!(
        Parser::default().parse(&long).map_err(|e| e.status()),
        Err(414)
    );
}

#[test]
fn a_whole_head_gets_the_target_verdict_of_the_line_scan() {
    // `run_with` compares the whole input (one httparse pass, no line scan) with every split
    // (the scan first), so these pin the two paths to one verdict.
    let limits = Limits {
        max_target_bytes: 8,
        ..Limits::default()
    };
    let whole = |line: &str| format!("{line}\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    for (line, verdict) in [
        ("GET /2345678 HTTP/1.1", None),
        ("\r\n\nGET /2345678 HTTP/1.1", None),
        ("GET /23456789 HTTP/1.1", Some(414)),
        ("\r\nGET /23456789 HTTP/1.1", Some(414)),
        ("OPTIONS * HTTP/1.1", None),
        // The scan's 414 comes before httparse's complaint about what follows the target...
        ("GET /23456789\x01 HTTP/1.1", Some(414)),
        // ...and before the Host and version rules.
        ("GET /23456789 HTTP/1.0", Some(414)),
        ("GET /23456789 HTTP/2.0", Some(414)),
        ("GET /234567\x01 HTTP/1.1", Some(400)),
    ] {
        assert_eq!(
            status_with(whole(line).as_bytes(), limits),
            verdict,
            "{line:?}"
        );
    }
}

#[test]
fn body_limits() {
    let limits = Limits {
        max_body_bytes: 4,
        ..Limits::default()
    };
    let cl = |n: u64| format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {n}\r\n\r\n");
    assert_eq!(status_with(cl(4).as_bytes(), limits), None);
    // Refused at the head, before any body byte.
    assert_eq!(status_with(cl(5).as_bytes(), limits), Some(413));
    assert_eq!(status(cl(1024 * 1024 + 1).as_bytes()), Some(413));
    let chunked = |body: &str| {
        let req = format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{body}");
        status_with(req.as_bytes(), limits)
    };
    assert_eq!(chunked("2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n"), None);
    // Refused at the size that passes the limit, before its data arrives.
    assert_eq!(chunked("2\r\nab\r\n3;"), Some(413));
    assert_eq!(chunked("fffffffffffffffff"), Some(400));
}

#[test]
fn chunk_line_and_trailer_limits() {
    let limits = Limits {
        max_chunk_line_bytes: 8,
        max_head_bytes: 64,
        ..Limits::default()
    };
    let chunked = |body: &str| {
        let req = format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{body}");
        status_with(req.as_bytes(), limits)
    };
    assert_eq!(chunked("1;abcd\r\na\r\n0\r\n\r\n"), None);
    assert_eq!(chunked("1;abcdefg"), Some(400));
    assert_eq!(
        chunked(&format!("0\r\nT: {}\r\n\r\n", "a".repeat(57))),
        None
    );
    assert_eq!(
        chunked(&format!("0\r\nT: {}\r\n\r\n", "a".repeat(58))),
        Some(431)
    );
}
