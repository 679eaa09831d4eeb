//! Content digests (`algorithm:hex`) and the incremental hashers that produce them.

use sha2::digest::common::hazmat::{SerializableState, SerializedState};
use sha2::{Digest as _, Sha256, Sha512};
use std::fmt;
use std::str::FromStr;

/// The digest algorithms Berth accepts for blobs and manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    pub fn hasher(self) -> Hasher {
        Hasher::new(self)
    }

    /// The digest of a complete byte string.
    pub fn digest(self, bytes: &[u8]) -> Digest {
        let mut h = self.hasher();
        h.update(bytes);
        h.finish()
    }
}

impl FromStr for Algorithm {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, DigestError> {
        match s {
            "sha256" => Ok(Algorithm::Sha256),
            "sha512" => Ok(Algorithm::Sha512),
            _ => Err(DigestError::UnsupportedAlgorithm(truncate(s))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("digest must have the form algorithm:hex")]
    Malformed,
    #[error("unsupported digest algorithm {0:?} (sha256 and sha512 are supported)")]
    UnsupportedAlgorithm(String),
    #[error("{algorithm} digest must be {expected} lowercase hex characters")]
    BadEncoding {
        algorithm: &'static str,
        expected: usize,
    },
}

fn truncate(s: &str) -> String {
    s.chars().take(32).collect()
}

/// A parsed, canonical digest. The hex part is always lowercase and of the algorithm's length.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
    pub fn hex(&self) -> &str {
        &self.hex
    }
    /// The digest of the JSON `{}` (the OCI empty descriptor).
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        Algorithm::Sha256.digest(bytes)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, DigestError> {
        let (alg, hex) = s.split_once(':').ok_or(DigestError::Malformed)?;
        // The OCI grammar allows other algorithms syntactically; we name them precisely.
        if alg.is_empty()
            || !alg
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
        {
            return Err(DigestError::Malformed);
        }
        let algorithm: Algorithm = alg.parse()?;
        if hex.len() != algorithm.hex_len()
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(DigestError::BadEncoding {
                algorithm: algorithm.as_str(),
                expected: algorithm.hex_len(),
            });
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_owned(),
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An incremental hasher for one of the supported algorithms whose whole state can be saved
/// and restored (`to_state` / `from_state`), so that an upload can continue on any replica.
/// `sha2` does the work (with the CPU's SHA extensions when present) and serializes its state.
#[derive(Clone)]
pub struct Hasher {
    inner: Inner,
    /// Bytes hashed so far.
    len: u64,
}

#[derive(Clone)]
enum Inner {
    Sha256(Box<Sha256>),
    Sha512(Box<Sha512>),
}

/// Why a saved hash state was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid saved hash state")]
pub struct BadHashState;

impl Hasher {
    fn new(algorithm: Algorithm) -> Hasher {
        let inner = match algorithm {
            Algorithm::Sha256 => Inner::Sha256(Box::default()),
            Algorithm::Sha512 => Inner::Sha512(Box::default()),
        };
        Hasher { inner, len: 0 }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.len += bytes.len() as u64;
        match &mut self.inner {
            Inner::Sha256(h) => h.update(bytes),
            Inner::Sha512(h) => h.update(bytes),
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self.inner {
            Inner::Sha256(_) => Algorithm::Sha256,
            Inner::Sha512(_) => Algorithm::Sha512,
        }
    }

    /// Bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn finish(self) -> Digest {
        let (algorithm, hex) = match self.inner {
            Inner::Sha256(h) => (Algorithm::Sha256, hex::encode(h.finalize())),
            Inner::Sha512(h) => (Algorithm::Sha512, hex::encode(h.finalize())),
        };
        Digest { algorithm, hex }
    }

    /// The complete state as bytes: algorithm tag, length, then `sha2`'s serialized state.
    pub fn to_state(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 8 + 256);
        match &self.inner {
            Inner::Sha256(h) => {
                out.push(1);
                out.extend_from_slice(&self.len.to_le_bytes());
                out.extend_from_slice(&h.serialize());
            }
            Inner::Sha512(h) => {
                out.push(2);
                out.extend_from_slice(&self.len.to_le_bytes());
                out.extend_from_slice(&h.serialize());
            }
        }
        out
    }

    /// Restore a state saved by `to_state`; anything malformed is refused.
    pub fn from_state(state: &[u8]) -> Result<Hasher, BadHashState> {
        let (&tag, rest) = state.split_first().ok_or(BadHashState)?;
        let (len, rest) = rest.split_first_chunk::<8>().ok_or(BadHashState)?;
        let len = u64::from_le_bytes(*len);
        // sha2 serializes its state words, then its count of compressed blocks (u64 for
        // SHA-256, u128 for SHA-512, little-endian), then the partial block's fill and its bytes. The
        // count must agree with our byte length: a corrupted count would otherwise overflow
        // inside sha2 when the hash is finished.
        let consistent = |words: usize, count_len: usize, block: u128| -> bool {
            let Some(count) = rest.get(words..words + count_len) else {
                return false;
            };
            let mut c = [0u8; 16];
            c[..count_len].copy_from_slice(count);
            let Some(&pos) = rest.get(words + count_len) else {
                return false;
            };
            let pos = pos as u128;
            u128::from_le_bytes(c)
                .checked_mul(block)
                .and_then(|b| b.checked_add(pos))
                == Some(len as u128)
        };
        let ok = match tag {
            1 => consistent(32, 8, 64),
            2 => consistent(64, 16, 128),
            _ => false,
        };
        if !ok {
            return Err(BadHashState);
        }
        let inner = match tag {
            1 => {
                let s = SerializedState::<Sha256>::try_from(rest).map_err(|_| BadHashState)?;
                Inner::Sha256(Box::new(Sha256::deserialize(&s).map_err(|_| BadHashState)?))
            }
            2 => {
                let s = SerializedState::<Sha512>::try_from(rest).map_err(|_| BadHashState)?;
                Inner::Sha512(Box::new(Sha512::deserialize(&s).map_err(|_| BadHashState)?))
            }
            _ => return Err(BadHashState),
        };
        Ok(Hasher { inner, len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY256: &str =
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_valid_digests() {
        let d: Digest = EMPTY256.parse().unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.to_string(), EMPTY256);
        assert_eq!(Algorithm::Sha256.digest(b""), d);
        let d512 = Algorithm::Sha512.digest(b"abc");
        assert_eq!(d512.to_string().len(), 7 + 128);
        assert_eq!(d512.to_string().parse::<Digest>().unwrap(), d512);
    }

    #[test]
    fn rejects_hostile_digests() {
        let long = format!("sha256:{}", "a".repeat(65));
        let upper = EMPTY256.to_uppercase();
        let cases = [
            "",
            ":",
            "sha256",
            "sha256:",
            "sha256:abc",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            "sha256:../../../../etc/passwd",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g",
            "SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n",
            " sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855:x",
            "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:é3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
            &long,
            &upper,
        ];
        for c in cases {
            assert!(c.parse::<Digest>().is_err(), "accepted {c:?}");
        }
    }

    #[test]
    fn hasher_matches_sha2_and_survives_save_and_restore() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for len in [
            0usize, 1, 55, 56, 63, 64, 65, 111, 112, 127, 128, 129, 1000, 5000,
        ] {
            let d = &data[..len];
            let want256 = hex::encode(sha2::Sha256::digest(d));
            let want512 = hex::encode(sha2::Sha512::digest(d));
            for split in [0, len / 3, len / 2, len] {
                for (alg, want) in [(Algorithm::Sha256, &want256), (Algorithm::Sha512, &want512)] {
                    let mut h = alg.hasher();
                    h.update(&d[..split]);
                    let mut h = Hasher::from_state(&h.to_state()).unwrap();
                    for c in d[split..].chunks(17) {
                        h.update(c);
                    }
                    assert_eq!(h.len(), len as u64);
                    assert_eq!(
                        h.finish().hex(),
                        want.as_str(),
                        "{alg:?} len {len} split {split}"
                    );
                }
            }
        }
    }

    #[test]
    fn hostile_hash_states_are_refused() {
        let mut h = Algorithm::Sha256.hasher();
        h.update(b"abc");
        let good = h.to_state();
        assert!(Hasher::from_state(&good).is_ok());
        let mut cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![1],
            vec![3; 50],
            good[..good.len() - 1].to_vec(),
        ];
        let mut longer = good.clone();
        longer.push(0);
        cases.push(longer);
        let mut tag = good.clone();
        tag[0] = 2;
        cases.push(tag);
        // A buffer position past the block (the last byte of sha2's serialized buffer).
        let mut pos = good.clone();
        let last = pos.len() - 1;
        pos[last] = 200;
        cases.push(pos);
        for c in cases {
            assert!(Hasher::from_state(&c).is_err(), "{c:?}");
        }
    }

    proptest::proptest! {
        /// Saved states come from the database; whatever is there, restoring never panics, and
        /// a state that restores hashes on without panicking.
        #[test]
        fn restoring_arbitrary_states_never_panics(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            more in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
        ) {
            if let Ok(mut h) = Hasher::from_state(&bytes) {
                h.update(&more);
                let _ = h.finish();
            }
        }

        /// A real state with one byte changed is refused or restores to a working hasher.
        #[test]
        fn flipped_state_bytes_never_panic(at in 0usize..200, val in proptest::num::u8::ANY, sha512 in proptest::bool::ANY) {
            let alg = if sha512 { Algorithm::Sha512 } else { Algorithm::Sha256 };
            let mut h = alg.hasher();
            h.update(b"some bytes to hash");
            let mut st = h.to_state();
            let i = at % st.len();
            st[i] = val;
            if let Ok(mut h) = Hasher::from_state(&st) {
                h.update(b"more");
                let _ = h.finish();
            }
        }
    }

    #[test]
    fn names_unsupported_algorithms() {
        let e = "blake3:abcd".parse::<Digest>().unwrap_err();
        assert!(matches!(e, DigestError::UnsupportedAlgorithm(a) if a == "blake3"));
    }
}
