//! The scalar values of conditions, parsed the same way in a policy and in a request context:
//! booleans, numbers, IP addresses and ranges, dates.

use std::net::IpAddr;

use ipnet::IpNet;

pub(super) fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// `-?digits(.digits)?`: no exponents, infinities or NaN.
pub(super) fn parse_number(s: &str) -> Option<f64> {
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match unsigned.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (unsigned, None),
    };
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !frac.is_none_or(digits) {
        return None;
    }
    s.parse().ok().filter(|x: &f64| x.is_finite())
}

pub(super) fn parse_ip_net(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

/// A context IP address; IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, as dual-stack
/// listeners report IPv4 peers) count as IPv4.
pub(super) fn parse_context_ip(s: &str) -> Option<IpAddr> {
    let ip: IpAddr = s.parse().ok()?;
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    })
}

/// Milliseconds since the Unix epoch, from epoch seconds (`1767225600`, optionally with a
/// fraction) or ISO 8601: `YYYY-MM-DD`, optionally followed by `THH:MM`, `:SS`, `.fraction`
/// and a zone (`Z`, `±HH:MM` or `±HHMM`; none means UTC).
pub(super) fn parse_date(s: &str) -> Option<i64> {
    let (int, frac) = match s.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (s, None),
    };
    let all_digits =
        |d: &str| !d.is_empty() && d.len() <= 15 && d.bytes().all(|b| b.is_ascii_digit());
    if all_digits(int) && frac.is_none_or(all_digits) {
        let seconds: i64 = int.parse().ok()?;
        let millis = frac.map_or(Some(0), fraction_millis)?;
        return seconds.checked_mul(1000)?.checked_add(millis);
    }

    let mut c = Cursor {
        bytes: s.as_bytes(),
        pos: 0,
    };
    let year = c.number(4)?;
    c.expect(b'-')?;
    let month = c.number(2)?;
    c.expect(b'-')?;
    let day = c.number(2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut millis_of_day = 0;
    if c.eat(b'T') || c.eat(b't') {
        let hour = c.number(2)?;
        c.expect(b':')?;
        let minute = c.number(2)?;
        let mut second = 0;
        let mut millis = 0;
        if c.eat(b':') {
            second = c.number(2)?;
            if c.eat(b'.') || c.eat(b',') {
                let start = c.pos;
                while c.peek().is_some_and(|b| b.is_ascii_digit()) {
                    c.pos += 1;
                }
                millis = fraction_millis(s.get(start..c.pos)?)?;
            }
        }
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        millis_of_day = ((hour * 60 + minute) * 60 + second) * 1000 + millis;
        // Zone.
        let sign = match c.peek() {
            Some(b'Z' | b'z') => {
                c.pos += 1;
                0
            }
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => 0,
        };
        if sign != 0 {
            c.pos += 1;
            let zh = c.number(2)?;
            c.eat(b':');
            let zm = c.number(2)?;
            if zh > 23 || zm > 59 {
                return None;
            }
            millis_of_day -= sign * (zh * 60 + zm) * 60_000;
        }
    }
    if !c.done() {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400_000 + millis_of_day)
}

/// The milliseconds of a decimal fraction of a second (`"5"` → 500).
fn fraction_millis(frac: &str) -> Option<i64> {
    if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut millis = 0;
    for (i, b) in frac.bytes().take(3).enumerate() {
        millis += i64::from(b - b'0') * [100, 10, 1].get(i).copied().unwrap_or(0);
    }
    Some(millis)
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        self.eat(b).then_some(())
    }

    /// Exactly `n` decimal digits.
    fn number(&mut self, n: usize) -> Option<i64> {
        let digits = self.bytes.get(self.pos..self.pos + n)?;
        let mut value = 0;
        for &d in digits {
            if !d.is_ascii_digit() {
                return None;
            }
            value = value * 10 + i64::from(d - b'0');
        }
        self.pos += n;
        Some(value)
    }

    fn done(&self) -> bool {
        self.pos == self.bytes.len()
    }
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dates() {
        let cases: &[(&str, Option<i64>)] = &[
            ("0", Some(0)),
            ("1767225600", Some(1_767_225_600_000)),
            ("1767225600.25", Some(1_767_225_600_250)),
            ("1970-01-01", Some(0)),
            ("2026-01-01T00:00:00Z", Some(1_767_225_600_000)),
            ("2026-01-01T00:00Z", Some(1_767_225_600_000)),
            ("2026-01-01T00:00:00.123Z", Some(1_767_225_600_123)),
            ("2026-01-01T02:00:00+02:00", Some(1_767_225_600_000)),
            ("2025-12-31T19:00:00-0500", Some(1_767_225_600_000)),
            ("2024-02-29T00:00:00Z", Some(1_709_164_800_000)),
            ("2023-02-29T00:00:00Z", None),
            ("2026-13-01T00:00:00Z", None),
            ("2026-01-01T24:00:00Z", None),
            ("2026-01-01T00:00:00Zjunk", None),
            ("2026-1-1", None),
            ("", None),
            ("-1", None),
            ("tomorrow", None),
            ("9999999999999999999999", None),
        ];
        for (text, expect) in cases {
            assert_eq!(parse_date(text), *expect, "{text}");
        }
    }

    #[test]
    fn parses_numbers() {
        assert_eq!(parse_number("3600"), Some(3600.0));
        assert_eq!(parse_number("-1.5"), Some(-1.5));
        for bad in ["", "-", "1.", ".5", "1e5", "inf", "NaN", "0x10", " 1"] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
    }
}
