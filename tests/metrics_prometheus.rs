//! The Prometheus exposition parses: families declared before their samples, valid names,
//! labels and values.
mod util;

use std::collections::HashMap;
use std::time::Duration;

use evloop::Loop;
use util::{assert_clean, with_timeout};

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses `{a="x",b="y"}`; returns the label pairs.
fn parse_labels(s: &str) -> Result<Vec<(String, String)>, String> {
    let inner = s
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .ok_or("labels not in braces")?;
    let mut out = Vec::new();
    let mut rest = inner;
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or("label without =")?;
        let name = &rest[..eq];
        if !valid_label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        rest = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next().ok_or("unterminated label value")? {
                (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    c => return Err(format!("bad escape \\{c}")),
                },
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        out.push((name.to_string(), value));
        rest = &rest[end + 1..];
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else if !rest.is_empty() {
            return Err(format!("junk after label: {rest:?}"));
        }
    }
    Ok(out)
}

/// Checks the text; returns family name -> type and the number of samples.
fn parse(text: &str) -> Result<(HashMap<String, String>, usize), String> {
    let mut types = HashMap::new();
    let mut helps = HashMap::new();
    let mut samples = 0;
    for (n, line) in text.lines().enumerate() {
        let err = |m: String| format!("line {}: {m}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kw, name, arg) = (parts.next(), parts.next(), parts.next());
            let (Some(kw), Some(name), Some(arg)) = (kw, name, arg) else {
                return Err(err("short comment".into()));
            };
            if !valid_name(name) {
                return Err(err(format!("bad family name {name}")));
            }
            match kw {
                "HELP" => {
                    if helps.insert(name.to_string(), arg.to_string()).is_some() {
                        return Err(err("second HELP".into()));
                    }
                }
                "TYPE" => {
                    if !["counter", "gauge", "summary", "histogram", "untyped"].contains(&arg) {
                        return Err(err(format!("bad type {arg}")));
                    }
                    if types.insert(name.to_string(), arg.to_string()).is_some() {
                        return Err(err("second TYPE".into()));
                    }
                }
                _ => return Err(err("unknown comment".into())),
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .ok_or_else(|| err("no value".into()))?;
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().map_err(|_| err(format!("bad value {v}")))?,
        };
        let (name, labels) = match series.find('{') {
            Some(i) => (&series[..i], parse_labels(&series[i..]).map_err(err)?),
            None => (series, Vec::new()),
        };
        if !valid_name(name) {
            return Err(err(format!("bad metric name {name}")));
        }
        // The family is the name itself, or a summary's `_sum`/`_count` series.
        let family = [
            name,
            name.trim_end_matches("_sum"),
            name.trim_end_matches("_count"),
        ]
        .into_iter()
        .find(|f| types.contains_key(*f))
        .ok_or_else(|| err("sample before its # TYPE".into()))?;
        let kind = &types[family];
        if kind == "summary" && family == name {
            let q = labels.iter().find(|(k, _)| k == "quantile");
            let q: f64 = q
                .ok_or_else(|| err("summary sample without quantile".into()))?
                .1
                .parse()
                .map_err(|_| err("bad quantile".into()))?;
            assert!((0.0..=1.0).contains(&q));
        }
        if kind == "counter" {
            if !name.ends_with("_total") {
                return Err(err("counter without _total".into()));
            }
            if value < 0.0 {
                return Err(err("negative counter".into()));
            }
        }
        if !helps.contains_key(family) {
            return Err(err("family without HELP".into()));
        }
        samples += 1;
    }
    Ok((types, samples))
}

#[test]
fn the_exposition_parses() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let monitor = lp.monitor_lag(Duration::from_millis(1));
        lp.on_slow_callback(Duration::from_millis(5), |_| {});
        lp.set_timeout(Duration::from_millis(10), |lp, _| {
            std::thread::sleep(Duration::from_millis(10));
            lp.queue_microtask(|_| {});
            lp.set_immediate(|_| {});
        });
        lp.set_timeout(Duration::from_millis(40), |_, _| {});
        lp.run().unwrap();
        let m = lp.metrics();
        let text = m.to_prometheus("evloop");
        let (types, samples) = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert!(samples > 40, "{samples} samples\n{text}");
        assert_eq!(types["evloop_loop_iterations_total"], "counter");
        assert_eq!(types["evloop_lag_seconds"], "summary");
        assert_eq!(types["evloop_callback_duration_seconds"], "summary");
        assert_eq!(types["evloop_utilization_ratio"], "gauge");
        assert!(
            text.contains("evloop_callbacks_total{phase=\"timers\"} "),
            "{text}"
        );
        assert!(
            text.contains("evloop_lag_seconds{quantile=\"0.999\"} "),
            "{text}"
        );
        assert!(text.contains("evloop_lag_seconds_count "), "{text}");
        assert!(
            text.contains("evloop_open_handles{kind=\"timer\"} 1"),
            "{text}"
        );
        // The 10 ms sleep is slow; on a loaded machine another callback may be too.
        let slow: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("evloop_slow_callbacks_total "))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no slow-callback count\n{text}"));
        assert!(slow >= 1, "{text}");

        // Odd prefixes are made valid; an empty one adds nothing.
        let (types, _) = parse(&m.to_prometheus("my-app.v2")).unwrap();
        assert!(types.contains_key("my_app_v2_loop_iterations_total"));
        let (types, _) = parse(&m.to_prometheus("")).unwrap();
        assert!(types.contains_key("loop_iterations_total"));
        monitor.stop(&mut lp).unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn the_parser_rejects_what_it_should() {
    assert!(parse("x_total 1\n").is_err(), "sample before TYPE");
    assert!(parse("# HELP x a\n# TYPE x gauge\nx{a=\"b} 1\n").is_err());
    assert!(parse("# HELP x a\n# TYPE x gauge\nx one\n").is_err());
    assert!(parse("# HELP 1x a\n# TYPE 1x gauge\n1x 1\n").is_err());
    assert!(parse("# HELP x a\n# TYPE x gauge\nx{a=\"q\\\"\",b=\"\"} 1.5\n").is_ok());
}
