//! `Range` (blob GET) and `Content-Range` (upload PATCH) header parsing.

use std::ops::Range;

#[derive(Debug, PartialEq, Eq)]
pub struct Unsatisfiable;

/// Parse a `Range: bytes=...` request header against a blob of `size` bytes.
/// `Ok(None)` means "serve the whole blob" (no usable single range: RFC 9110 lets a server
/// ignore ranges it does not support, such as multi-range requests).
pub fn parse(header: &str, size: u64) -> Result<Option<Range<u64>>, Unsatisfiable> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    // A number with more digits than a u64 holds is beyond the end of any blob.
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            Some(s.parse().unwrap_or(u64::MAX))
        }
    };
    let (a, b) = (a.trim(), b.trim());
    let r = match (a.is_empty(), b.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => {
            let Some(n) = num(b) else { return Ok(None) };
            if n == 0 || size == 0 {
                return Err(Unsatisfiable);
            }
            size.saturating_sub(n)..size
        }
        // bytes=A-
        (false, true) => {
            let Some(start) = num(a) else { return Ok(None) };
            if start >= size {
                return Err(Unsatisfiable);
            }
            start..size
        }
        (false, false) => {
            let (Some(start), Some(end)) = (num(a), num(b)) else {
                return Ok(None);
            };
            // Last before first (`bytes=500-0`) selects nothing: 416, as distribution answers.
            if end < start {
                return Err(Unsatisfiable);
            }
            if start >= size {
                return Err(Unsatisfiable);
            }
            start..end.min(size - 1) + 1
        }
        (true, true) => return Ok(None),
    };
    Ok(Some(r))
}

/// Parse an upload `Content-Range: <start>-<end>` (inclusive; a `bytes ` prefix and a
/// `/<total>` suffix are tolerated).
pub fn parse_content_range(v: &str) -> Option<(u64, u64)> {
    let v = v.trim();
    let v = v
        .strip_prefix("bytes ")
        .or_else(|| v.strip_prefix("bytes="))
        .unwrap_or(v);
    let v = v.split('/').next()?;
    let (a, b) = v.trim().split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|c| c.is_ascii_digit());
    if !digits(a) || !digits(b) {
        return None;
    }
    let (a, b) = (a.parse().ok()?, b.parse().ok()?);
    // The inclusive length end - start + 1 must fit in a u64.
    (b >= a && b < u64::MAX).then_some((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse("bytes=0-9", 100), Ok(Some(0..10)));
        assert_eq!(parse("bytes=90-", 100), Ok(Some(90..100)));
        assert_eq!(parse("bytes=-10", 100), Ok(Some(90..100)));
        assert_eq!(parse("bytes=-1000", 100), Ok(Some(0..100)));
        assert_eq!(parse("bytes=50-1000", 100), Ok(Some(50..100)));
        assert_eq!(parse("bytes=100-", 100), Err(Unsatisfiable));
        assert_eq!(parse("bytes=100-200", 100), Err(Unsatisfiable));
        assert_eq!(parse("bytes=-0", 100), Err(Unsatisfiable));
        assert_eq!(parse("bytes=0-", 0), Err(Unsatisfiable));
        assert_eq!(parse("bytes=5-1", 100), Err(Unsatisfiable));
        assert_eq!(parse("bytes=500-0", 1000), Err(Unsatisfiable));
        assert_eq!(
            parse("bytes=99999999999999999999999-", 100),
            Err(Unsatisfiable)
        );
        assert_eq!(
            parse("bytes=0-99999999999999999999999", 100),
            Ok(Some(0..100))
        );
        assert_eq!(
            parse("bytes=-99999999999999999999999", 100),
            Ok(Some(0..100))
        );
    }

    #[test]
    fn ignores_what_it_does_not_support() {
        for h in [
            "",
            "bytes",
            "bytes=",
            "bytes=-",
            "bytes=a-b",
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=+1-2",
            "bytes=--1",
        ] {
            assert_eq!(parse(h, 100), Ok(None), "{h}");
        }
    }

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("0-99"), Some((0, 99)));
        assert_eq!(parse_content_range("bytes 100-199/*"), Some((100, 199)));
        for h in [
            "",
            "-",
            "1-",
            "-1",
            "5-1",
            "a-b",
            "0-99999999999999999999999",
            "0--1",
            "+0-1",
        ] {
            assert_eq!(parse_content_range(h), None, "{h}");
        }
    }

    proptest::proptest! {
        #[test]
        fn range_within_bounds(h in "bytes=[0-9]{0,4}-[0-9]{0,4}", size in 0u64..5000) {
            if let Ok(Some(r)) = parse(&h, size) {
                proptest::prop_assert!(r.start < r.end && r.end <= size);
            }
        }
    }
}
