//! Parsed value types used everywhere: digests, names, references and manifests.
//! Parse, don't validate: once a value exists, it is well-formed.

pub mod digest;
pub mod manifest;
pub mod name;

pub use digest::{Algorithm, Digest, DigestError, Hasher};
pub use name::{Reference, RepositoryName, Tag};
