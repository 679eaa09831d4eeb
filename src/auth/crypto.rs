//! The server key and the secrets it protects.
//!
//! Secret access keys must be recoverable (SigV4 signs with the secret itself), so they are
//! sealed with AES-256-GCM under a 32-byte server key rather than hashed. Token signing keys are
//! sealed the same way, so that the database alone never lets anyone mint a token.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the server key must be 32 bytes, base64-encoded (`berth generate-key` makes one)")]
    Malformed,
    #[error("cannot read or write the server key file {0}: {1}")]
    File(String, std::io::Error),
    #[error("a sealed secret does not open under this server key (was the key changed?)")]
    Open,
    #[error("the system random number generator failed")]
    Random,
}

/// Fill `n` bytes from the operating system's CSPRNG.
pub fn random_bytes(n: usize) -> Result<Vec<u8>, KeyError> {
    let mut b = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| KeyError::Random)?;
    Ok(b)
}

/// A random token of `n` bytes, base64url without padding (no `:`, no whitespace).
pub fn random_token(n: usize) -> Result<String, KeyError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes(n)?))
}

/// The key that seals every stored secret.
pub struct ServerKey {
    key: LessSafeKey,
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(***)")
    }
}

impl ServerKey {
    /// A new random key, base64-encoded (what `berth generate-key` prints).
    pub fn generate_encoded() -> Result<String, KeyError> {
        Ok(STANDARD.encode(random_bytes(32)?))
    }

    pub fn from_base64(text: &str) -> Result<ServerKey, KeyError> {
        let raw = STANDARD
            .decode(text.trim())
            .map_err(|_| KeyError::Malformed)?;
        let key = UnboundKey::new(&AES_256_GCM, &raw).map_err(|_| KeyError::Malformed)?;
        if raw.len() != 32 {
            return Err(KeyError::Malformed);
        }
        Ok(ServerKey {
            key: LessSafeKey::new(key),
        })
    }

    /// Read the key from `path`, creating it (mode 0600) if it does not exist yet.
    pub fn load_or_create(path: &Path) -> Result<ServerKey, KeyError> {
        match ServerKey::load(path)? {
            Some(k) => Ok(k),
            None => ServerKey::create(path),
        }
    }

    /// Read the key from `path`; `None` if there is no such file.
    pub fn load(path: &Path) -> Result<Option<ServerKey>, KeyError> {
        match std::fs::read_to_string(path) {
            Ok(text) => ServerKey::from_base64(&text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(KeyError::File(path.display().to_string(), e)),
        }
    }

    /// Make a new key and write it to `path` (mode 0600).
    pub fn create(path: &Path) -> Result<ServerKey, KeyError> {
        let encoded = ServerKey::generate_encoded()?;
        write_private(path, format!("{encoded}\n").as_bytes())
            .map_err(|e| KeyError::File(path.display().to_string(), e))?;
        ServerKey::from_base64(&encoded)
    }

    /// Seal `plain`: a fresh 12-byte nonce, then the ciphertext and its tag. `label` binds the
    /// ciphertext to its purpose (a sealed signing key cannot be passed off as an access key).
    pub fn seal(&self, label: &str, plain: &[u8]) -> Result<Vec<u8>, KeyError> {
        let nonce_bytes = random_bytes(NONCE_LEN)?;
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&nonce_bytes);
        let mut buf = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(label.as_bytes()),
                &mut buf,
            )
            .map_err(|_| KeyError::Random)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    pub fn open(&self, label: &str, sealed: &[u8]) -> Result<Vec<u8>, KeyError> {
        if sealed.len() < NONCE_LEN {
            return Err(KeyError::Open);
        }
        let (n, rest) = sealed.split_at(NONCE_LEN);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(n);
        let mut buf = rest.to_vec();
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(label.as_bytes()),
                &mut buf,
            )
            .map_err(|_| KeyError::Open)?;
        Ok(plain.to_vec())
    }
}

/// Write a file only its owner can read, atomically (temporary file, fsync, rename).
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Access key ids look like AWS's (20 upper-case characters, here starting `BKIA`), so tools
/// that validate their shape accept them.
pub fn new_access_key_id() -> Result<String, KeyError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let raw = random_bytes(16)?;
    let tail: String = raw
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect();
    Ok(format!("BKIA{tail}"))
}

/// Secret access keys: 40 characters of base64url (240 bits), like AWS's length.
pub fn new_secret_access_key() -> Result<String, KeyError> {
    random_token(30)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip_and_bind_label() {
        let key = ServerKey::from_base64(&ServerKey::generate_encoded().unwrap()).unwrap();
        let sealed = key.seal("access-key", b"s3cret").unwrap();
        assert_eq!(key.open("access-key", &sealed).unwrap(), b"s3cret");
        assert!(key.open("signing-key", &sealed).is_err());
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(key.open("access-key", &tampered).is_err());
        assert!(key.open("access-key", &sealed[..5]).is_err());
        let other = ServerKey::from_base64(&ServerKey::generate_encoded().unwrap()).unwrap();
        assert!(other.open("access-key", &sealed).is_err());
    }

    #[test]
    fn malformed_keys_are_rejected() {
        for bad in ["", "not base64!", "AAAA", &STANDARD.encode([0u8; 31])] {
            assert!(ServerKey::from_base64(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn generated_identifiers_have_their_shapes() {
        let id = new_access_key_id().unwrap();
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("BKIA"));
        let s = new_secret_access_key().unwrap();
        assert_eq!(s.len(), 40);
        assert!(!s.contains(':') && !s.contains(char::is_whitespace));
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("server.key");
        let a = ServerKey::load_or_create(&p).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = ServerKey::load_or_create(&p).unwrap();
        let sealed = a.seal("x", b"y").unwrap();
        assert_eq!(b.open("x", &sealed).unwrap(), b"y");
        let c = ServerKey::load(&p).unwrap().unwrap();
        assert_eq!(c.open("x", &sealed).unwrap(), b"y");
        assert!(ServerKey::load(&dir.path().join("none")).unwrap().is_none());
    }
}
