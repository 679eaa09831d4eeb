//! Fuzz `Range` (blob GET) and `Content-Range` (upload PATCH) header parsing.
//!
//! Input layout: `data[0] % 4` picks how the blob size is drawn from `data[1..9]`
//! (small, medium, any u64, near u64::MAX); the rest is the header value (lossy UTF-8).

use berth::http::distribution::range;

/// The target: check `data` (panics on a violated invariant).
pub fn run(data: &[u8]) {
    if data.len() < 9 {
        return;
    }
    let raw = u64::from_le_bytes(data[1..9].try_into().expect("8 bytes"));
    let size = match data[0] % 4 {
        0 => raw % 256,
        1 => raw % 65_536,
        2 => raw,
        _ => u64::MAX - raw % 4,
    };
    let header = String::from_utf8_lossy(&data[9..]);

    if let Ok(Some(r)) = range::parse(&header, size) {
        assert!(
            r.start < r.end && r.end <= size,
            "Range {header:?} against size {size} gave {r:?}"
        );
    }

    if let Some((start, end)) = range::parse_content_range(&header) {
        assert!(start <= end, "Content-Range {header:?} gave {start}-{end}");
        // The upload path computes the chunk length as `end - start + 1`
        // (src/registry/uploads.rs), so an accepted range must keep that in u64.
        assert!(
            (end - start).checked_add(1).is_some(),
            "Content-Range {header:?} gave {start}-{end}: inclusive length overflows u64"
        );
    }
}
