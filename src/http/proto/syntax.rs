//! Character classes of RFC 9110 §5.6, shared by the parser and the encoder.

/// `tchar`: the characters of methods, header names and coding names.
pub(crate) fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// [`is_tchar`] for every byte: a table, as every response header name is checked.
const TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        i += 1;
    }
    table
};

/// A token: a non-empty run of `tchar`.
pub(crate) fn is_token(s: &[u8]) -> bool {
    // No early exit: names are short, and a branch-free loop is the cheaper walk.
    s.iter().fold(!s.is_empty(), |ok, &b| ok & is_tchar(b))
}

/// Control characters other than HTAB (CR and LF included): never allowed inside a field value,
/// a reason phrase or a chunk extension.
pub(crate) fn is_ctl(b: u8) -> bool {
    // Bitwise, not short-circuit: lets `has_ctl` look at many bytes at a time.
    ((b < 0x20) & (b != b'\t')) | (b == 0x7f)
}

/// Whether `s` holds an [`is_ctl`] byte. Looks at every byte without stopping early, which
/// lets the compiler check many at a time.
pub(crate) fn has_ctl(s: &[u8]) -> bool {
    s.iter().fold(false, |found, &b| found | is_ctl(b))
}

/// `s` without leading and trailing optional whitespace (SP and HTAB).
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert!(is_token(b"Content-Type"));
        assert!(is_token(b"x!#$%&'*+-.^_`|~9"));
        assert!(!is_token(b""));
        assert!(!is_token(b"a b"));
        assert!(!is_token(b"a:"));
        assert!(!is_token(b"a\r"));
        assert!(is_ctl(b'\r') && is_ctl(b'\n') && is_ctl(0) && is_ctl(0x7f));
        assert!(!is_ctl(b'\t') && !is_ctl(b' ') && !is_ctl(0x80));
        assert!(has_ctl(b"a\rb") && has_ctl(b"\x7f") && !has_ctl(b"a\tb \x80") && !has_ctl(b""));
        for b in 0..=255u8 {
            let slow = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            assert_eq!(is_tchar(b), slow, "{b}");
        }
        assert_eq!(trim_ows(b" \t a b\t "), b"a b");
        assert_eq!(trim_ows(b"  "), b"");
    }
}
