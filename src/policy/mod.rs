//! Policy evaluation as pure functions (input → decision): no I/O, no clock, no database. The
//! caller supplies what a decision depends on (the request, the images, `now`).
//!
//! * [`iam`]: the IAM policy language (identity, repository and registry policies) and its
//!   evaluation;
//! * [`lifecycle`]: ECR lifecycle policies, their validation and what they do to images;
//! * [`glob`]: the one wildcard matcher both use, and ECR's other filters too.

pub mod glob;
pub mod iam;
pub mod lifecycle;
