//! The `Date` header value: RFC 9110 §5.6.7 IMF-fixdate, formatted by hand.

use std::time::{SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate such as `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const HTTP_DATE_LEN: usize = 29;

/// The last second an IMF-fixdate can show: 9999-12-31 23:59:59 UTC.
const MAX_SECS: u64 = 253_402_300_799;

const WEEKDAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Formats `time` as an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
///
/// Sub-second parts are dropped. Times before 1970 show as the epoch and times after year 9999
/// as its last second, so the result is always 29 bytes of valid date.
pub fn format_http_date(time: SystemTime) -> [u8; HTTP_DATE_LEN] {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .min(MAX_SECS);
    let days = secs / 86_400;
    let secs_of_day = secs % 86_400;
    let (year, month, day) = civil_from_days(days);

    let mut out = [0u8; HTTP_DATE_LEN];
    out[0..3].copy_from_slice(WEEKDAYS[(days % 7) as usize]);
    out[3..5].copy_from_slice(b", ");
    put_two_digits(&mut out[5..7], day);
    out[7] = b' ';
    out[8..11].copy_from_slice(MONTHS[(month - 1) as usize]);
    out[11] = b' ';
    put_two_digits(&mut out[12..14], year / 100);
    put_two_digits(&mut out[14..16], year % 100);
    out[16] = b' ';
    put_two_digits(&mut out[17..19], secs_of_day / 3600);
    out[19] = b':';
    put_two_digits(&mut out[20..22], secs_of_day / 60 % 60);
    out[22] = b':';
    put_two_digits(&mut out[23..25], secs_of_day % 60);
    out[25..29].copy_from_slice(b" GMT");
    out
}

/// (year, month 1..=12, day 1..=31) of a day counted from 1970-01-01 — Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153; // month from March = 0
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

fn put_two_digits(out: &mut [u8], n: u64) {
    out[0] = b'0' + (n / 10 % 10) as u8;
    out[1] = b'0' + (n % 10) as u8;
}

/// The current `Date` value, formatted again only when the second changes.
///
/// A server calls [`get`](Self::get) with the loop's idea of "now" for every response; within one
/// second that is a comparison and a copy-free borrow.
#[derive(Debug, Clone)]
pub struct DateCache {
    secs: Option<u64>,
    value: [u8; HTTP_DATE_LEN],
}

impl Default for DateCache {
    fn default() -> Self {
        Self::new()
    }
}

impl DateCache {
    /// An empty cache; the first [`get`](Self::get) formats.
    pub fn new() -> Self {
        Self {
            secs: None,
            value: [0; HTTP_DATE_LEN],
        }
    }

    /// The IMF-fixdate for `now`, re-formatted only if its whole second differs from the last call.
    pub fn get(&mut self, now: SystemTime) -> &[u8] {
        let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if self.secs != Some(secs) {
            self.secs = Some(secs);
            self.value = format_http_date(now);
        }
        &self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn text(secs: u64) -> String {
        String::from_utf8_lossy(&format_http_date(at(secs))).into_owned()
    }

    #[test]
    fn formats_known_dates() {
        assert_eq!(text(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(text(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT"); // RFC 9110's example
        assert_eq!(text(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(text(1_709_164_799), "Wed, 28 Feb 2024 23:59:59 GMT");
        assert_eq!(text(4_107_542_400), "Mon, 01 Mar 2100 00:00:00 GMT");
        assert_eq!(text(MAX_SECS), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn clamps_out_of_range_times() {
        assert_eq!(text(MAX_SECS + 86_400 * 400), text(MAX_SECS));
        let before_epoch = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(format_http_date(before_epoch), format_http_date(UNIX_EPOCH));
    }

    /// Oracle: walk the calendar a day at a time from 1970 to 2400, across every leap rule.
    #[test]
    fn agrees_with_a_day_by_day_calendar() {
        let month_len = |y: u64, m: usize| match m {
            1 if y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400)) => 29,
            1 => 28,
            3 | 5 | 8 | 10 => 30,
            _ => 31,
        };
        let (mut y, mut m, mut d) = (1970u64, 0usize, 1u64);
        for days in 0..(430 * 366) {
            let expected = format!(
                "{}, {d:02} {} {y} 12:34:56 GMT",
                std::str::from_utf8(WEEKDAYS[days % 7]).unwrap_or("?"),
                std::str::from_utf8(MONTHS[m]).unwrap_or("?"),
            );
            if y > 2400 {
                break;
            }
            assert_eq!(text(days as u64 * 86_400 + 45_296), expected);
            d += 1;
            if d > month_len(y, m) {
                d = 1;
                m += 1;
                if m == 12 {
                    m = 0;
                    y += 1;
                }
            }
        }
    }

    #[test]
    fn cache_reformats_only_when_the_second_changes() {
        let mut cache = DateCache::new();
        let t = at(784_111_777);
        assert_eq!(cache.get(t), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(cache.secs, Some(784_111_777));
        assert_eq!(
            cache.get(t + Duration::from_millis(999)),
            b"Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(
            cache.get(t + Duration::from_secs(1)),
            b"Sun, 06 Nov 1994 08:49:38 GMT"
        );
        assert_eq!(cache.get(t), b"Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
