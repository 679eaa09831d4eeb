//! Authentication: a request's credentials to a [`Caller`]. Every way in is here: an access
//! key's secret or a login password (Basic), a bearer token, a SigV4 signature, a refresh
//! token, a download URL. Each checks the failure limits ([`super::ratelimit`]) before the
//! credential, counts a wrong one, and logs every refusal in one place (`Auth::log_refusal`).

use super::caller::{Caller, Credentials, PrincipalEntry};
use super::jwt::{self, Claims, TokenError};
use super::ratelimit::{self, Key, Limit, Source};
use super::scope::Access;
use super::sigv4::{self, SigError};
use super::snapshot::Snapshot;
use super::time::now_secs;
use super::tokens::sha256_hex;
use super::{Auth, AuthFailure};
use crate::oci::RepositoryName;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use subtle::ConstantTimeEq;

/// A bearer token that passed signature and claim checks, remembered until it expires.
pub(super) struct VerifiedToken {
    claims: Claims,
    access: Arc<Vec<Access>>,
}

/// Bound on remembered tokens (each a few hundred bytes).
const TOKEN_CACHE_MAX: usize = 20_000;

/// What a credential claimed to be: what its failures count against, and what a refusal logs.
#[derive(Debug, Clone, Copy)]
struct Claim<'a> {
    /// The kind of credential: "secret", "SigV4 signature", "login password", "bearer token"...
    credential: &'static str,
    /// The user name it claims before it is verified (an access key id or a principal name);
    /// `None` for credentials this registry issued (tokens, login passwords).
    user: Option<&'a str>,
}

impl<'a> Claim<'a> {
    fn named(user: &'a str, credential: &'static str) -> Claim<'a> {
        Claim {
            credential,
            user: Some(user),
        }
    }

    fn issued(credential: &'static str) -> Claim<'a> {
        Claim {
            credential,
            user: None,
        }
    }

    /// The per-source-and-name key of this claim from `src`.
    fn source_key(&self, src: Source) -> Key {
        Key::SourceName(src, self.user.map(ratelimit::name_key))
    }
}

impl Auth {
    /// Resolve a request's credentials. No credentials is not a failure: it is the anonymous
    /// caller, whom only policies granting `"*"` let in.
    pub fn authenticate(
        &self,
        creds: &Credentials<'_>,
        source: Option<IpAddr>,
    ) -> Result<Caller, AuthFailure> {
        match creds {
            Credentials::None => Ok(Caller::anonymous(source)),
            Credentials::Malformed => Err(self.refuse(
                source,
                Claim::issued("Authorization header"),
                AuthFailure::Invalid(
                    "the Authorization header is not valid Basic or Bearer credentials",
                ),
                None,
            )),
            Credentials::Basic { user, password } => self.basic(user, password, source),
            Credentials::Bearer(token) => self.bearer(token, source),
        }
    }

    /// Refuse a source that is over a limit for this claim, before its credentials are
    /// checked. Never the per-name limit: the right secret must always get in from a source
    /// that is not locked out. While nothing has failed anywhere, this takes no lock and
    /// allocates nothing.
    fn check_limits(&self, source: Option<IpAddr>, claim: Claim<'_>) -> Result<(), AuthFailure> {
        if self.limiter.is_idle() {
            return Ok(());
        }
        let Some(src) = source.map(Source::of) else {
            return Ok(());
        };
        let keys = [Key::Source(src), claim.source_key(src)];
        match self.limiter.blocked(&keys, Instant::now()) {
            Some((limit, left)) => {
                Err(self.refuse(source, claim, AuthFailure::RateLimited(left), Some(limit)))
            }
            None => Ok(()),
        }
    }

    /// Count a wrong credential against its source, its source and name, and its name; if
    /// the name was already over its limit (many sources guessing it), that limit and when
    /// it ends.
    fn count_failure(&self, source: Option<IpAddr>, claim: Claim<'_>) -> Option<(Limit, Duration)> {
        let now = Instant::now();
        let name = claim.user.map(|u| Key::Name(ratelimit::name_key(u)));
        let guessed = name
            .as_ref()
            .and_then(|k| self.limiter.blocked(std::slice::from_ref(k), now));
        let mut keys = Vec::with_capacity(3);
        if let Some(src) = source.map(Source::of) {
            keys.push(Key::Source(src));
            keys.push(claim.source_key(src));
        }
        keys.extend(name);
        self.limiter.fail(&keys, now);
        guessed
    }

    /// A wrong credential: counted, logged, and answered `failure`, or `429` when its name
    /// is over the per-name limit.
    fn fail(&self, source: Option<IpAddr>, claim: Claim<'_>, failure: AuthFailure) -> AuthFailure {
        match self.count_failure(source, claim) {
            Some((limit, left)) => {
                self.log_refusal(source, claim, &failure, Some(limit), Some(left));
                AuthFailure::RateLimited(left)
            }
            None => self.refuse(source, claim, failure, None),
        }
    }

    /// Log a refusal that counts as no failure (a lockout, an expired token, a disabled
    /// principal's token), and return it.
    fn refuse(
        &self,
        source: Option<IpAddr>,
        claim: Claim<'_>,
        failure: AuthFailure,
        limit: Option<Limit>,
    ) -> AuthFailure {
        let left = match failure {
            AuthFailure::RateLimited(d) => Some(d),
            _ => None,
        };
        self.log_refusal(source, claim, &failure, limit, left);
        failure
    }

    /// Every refused authentication is logged here, at `warn`: the name claimed (never a
    /// secret or a token), the source, why, and for a lockout the limit and its end.
    fn log_refusal(
        &self,
        source: Option<IpAddr>,
        claim: Claim<'_>,
        reason: &AuthFailure,
        limit: Option<Limit>,
        left: Option<Duration>,
    ) {
        let user = claim.user.map(ratelimit::name_key);
        let source = source.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        tracing::warn!(
            user = user.as_deref(),
            credential = claim.credential,
            source = %source,
            reason = reason.to_string().as_str(),
            limit = limit.map(Limit::as_str),
            retry_after_secs = left.map(|d| d.as_secs_f64().ceil() as u64),
            "authentication refused"
        );
    }

    /// Username and password: an access key id and its secret, a principal's name and one of
    /// its keys' secrets, or `AWS` and a login password.
    pub fn basic(
        &self,
        user: &str,
        password: &str,
        source: Option<IpAddr>,
    ) -> Result<Caller, AuthFailure> {
        // Login passwords cannot be guessed, and a limit on the shared user name `AWS` would
        // let anyone lock every ECR-style login out: those count against the source only.
        let login_password = user == "AWS";
        let claim = if login_password {
            Claim::issued("login password")
        } else {
            Claim::named(user, "secret")
        };
        self.check_limits(source, claim)?;
        let result = if login_password {
            self.login_password(password, source)
        } else {
            self.access_key_login(user, password, source)
        };
        result.map_err(|f| match f {
            AuthFailure::Invalid(_) | AuthFailure::Expired => self.fail(source, claim, f),
            other => self.refuse(source, claim, other, None),
        })
    }

    fn access_key_login(
        &self,
        user: &str,
        password: &str,
        source: Option<IpAddr>,
    ) -> Result<Caller, AuthFailure> {
        const BAD: AuthFailure = AuthFailure::Invalid("invalid username or password");
        let snap = self.snapshot();
        let candidates: Vec<&String> = if snap.keys.contains_key(user) {
            vec![snap.keys.get_key_value(user).map(|(k, _)| k).ok_or(BAD)?]
        } else if let Some(p) = snap.principals.get(user) {
            p.keys.iter().collect()
        } else {
            // Spend the same time as a real comparison, so names cannot be probed by timing.
            let _ = password.as_bytes().ct_eq(user.as_bytes());
            return Err(BAD);
        };
        for id in candidates {
            let Some(k) = snap.keys.get(id) else { continue };
            if !bool::from(k.secret.as_bytes().ct_eq(password.as_bytes())) {
                continue;
            }
            if k.disabled {
                return Err(AuthFailure::Invalid("the access key is disabled"));
            }
            let p = snap.principals.get(&k.principal).ok_or(BAD)?;
            if p.disabled {
                return Err(AuthFailure::Invalid("the principal is disabled"));
            }
            return Ok(Caller {
                principal: Some(p.clone()),
                access_key: Some(id.clone()),
                token_access: None,
                source,
                secure: false,
                expires_at: None,
            });
        }
        Err(BAD)
    }

    /// SigV4: the caller whose access key signed `request`, once the signature verifies under
    /// that key's secret at `now` (the secret never leaves this module). The key counts
    /// against the failure limits like any other credential, and so does a signature that
    /// does not match; one too malformed to check (`SigError::Incomplete`) does not.
    pub fn authenticate_sigv4(
        &self,
        authorization: &sigv4::Authorization,
        request: &sigv4::SignedRequest<'_>,
        source: Option<IpAddr>,
        now: SystemTime,
    ) -> Result<Caller, sigv4::Failure> {
        let (caller, secret) = self
            .signing_key(&authorization.access_key_id, source)
            .map_err(sigv4::Failure::Credential)?;
        match sigv4::verify(authorization, &secret, request, now) {
            Ok(()) => Ok(caller),
            Err(e @ SigError::Incomplete(_)) => Err(sigv4::Failure::Signature(e)),
            Err(e) => {
                self.signature_failed(&authorization.access_key_id, source);
                Err(sigv4::Failure::Signature(e))
            }
        }
    }

    /// For SigV4: the caller an access key stands for and its secret, if the key is active.
    /// Counts against the failure limits like any other credential.
    fn signing_key(
        &self,
        access_key_id: &str,
        source: Option<IpAddr>,
    ) -> Result<(Caller, String), AuthFailure> {
        let claim = Claim::named(access_key_id, "SigV4 signature");
        self.check_limits(source, claim)?;
        let snap = self.snapshot();
        let found = snap.keys.get(access_key_id).and_then(|k| {
            let p = snap.principals.get(&k.principal)?;
            (!k.disabled && !p.disabled).then(|| (p.clone(), k.secret.clone()))
        });
        match found {
            Some((p, secret)) => Ok((
                Caller {
                    principal: Some(p),
                    access_key: Some(access_key_id.to_owned()),
                    token_access: None,
                    source,
                    secure: false,
                    expires_at: None,
                },
                secret,
            )),
            None => Err(self.fail(
                source,
                claim,
                AuthFailure::Invalid("no active access key has this id"),
            )),
        }
    }

    /// A SigV4 signature did not verify: count and log it (the ECR API answers it).
    fn signature_failed(&self, access_key_id: &str, source: Option<IpAddr>) {
        let claim = Claim::named(access_key_id, "SigV4 signature");
        let guessed = self.count_failure(source, claim);
        self.log_refusal(
            source,
            claim,
            &AuthFailure::Invalid("the signature does not match"),
            guessed.map(|g| g.0),
            guessed.map(|g| g.1),
        );
    }

    fn login_password(
        &self,
        password: &str,
        source: Option<IpAddr>,
    ) -> Result<Caller, AuthFailure> {
        let snap = self.snapshot();
        let claims = jwt::verify(
            password,
            &snap.signing,
            self.settings.issuer(),
            jwt::LOGIN_AUDIENCE,
        )
        .map_err(|e| match e {
            TokenError::Expired => AuthFailure::Invalid(
                "your authorization token has expired; reauthenticate and try again",
            ),
            TokenError::Invalid => AuthFailure::Invalid("invalid username or password"),
        })?;
        let principal = self.live_principal(&snap, &claims)?;
        Ok(Caller {
            principal,
            access_key: claims.akid,
            token_access: None,
            source,
            secure: false,
            expires_at: Some(claims.exp),
        })
    }

    /// The principal a token names, if it (and the key it came from) is still in good standing.
    fn live_principal(
        &self,
        snap: &Snapshot,
        claims: &Claims,
    ) -> Result<Option<Arc<PrincipalEntry>>, AuthFailure> {
        if claims.sub.is_empty() {
            return Ok(None);
        }
        let p = snap
            .principals
            .get(&claims.sub)
            .filter(|p| Some(&p.id) == claims.pid.as_ref())
            .ok_or(AuthFailure::Invalid(
                "the token's principal no longer exists",
            ))?;
        if p.disabled {
            return Err(AuthFailure::Invalid("the principal is disabled"));
        }
        if let Some(akid) = &claims.akid {
            match snap.keys.get(akid) {
                Some(k) if !k.disabled && k.principal == p.name => {}
                _ => {
                    return Err(AuthFailure::Invalid(
                        "the access key behind this token is disabled or deleted",
                    ))
                }
            }
        }
        Ok(Some(p.clone()))
    }

    /// Verify a token signed by this registry for `audience` (rate limits first; a forged or
    /// tampered token counts as a failed attempt from `source`).
    fn verify_token(
        &self,
        token: &str,
        audience: &str,
        source: Option<IpAddr>,
        claim: Claim<'_>,
        invalid: &'static str,
    ) -> Result<jwt::Claims, AuthFailure> {
        self.check_limits(source, claim)?;
        match jwt::verify(
            token,
            &self.snapshot().signing,
            self.settings.issuer(),
            audience,
        ) {
            Ok(c) => Ok(c),
            Err(TokenError::Expired) => Err(self.refuse(source, claim, AuthFailure::Expired, None)),
            Err(TokenError::Invalid) => {
                Err(self.fail(source, claim, AuthFailure::Invalid(invalid)))
            }
        }
    }

    fn bearer(&self, token: &str, source: Option<IpAddr>) -> Result<Caller, AuthFailure> {
        let claim = Claim::issued("bearer token");
        let now = now_secs();
        let cached = self
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned();
        let verified = match cached {
            Some(v) if v.claims.exp > now => v,
            Some(_) => return Err(self.refuse(source, claim, AuthFailure::Expired, None)),
            None => {
                let claims = self.verify_token(
                    token,
                    &self.settings.service,
                    source,
                    claim,
                    "the bearer token is not valid",
                )?;
                let v = Arc::new(VerifiedToken {
                    access: Arc::new(claims.access.clone()),
                    claims,
                });
                let mut cache = self.verified.lock().unwrap_or_else(|p| p.into_inner());
                if cache.len() >= TOKEN_CACHE_MAX {
                    cache.retain(|_, v| v.claims.exp > now);
                    if cache.len() >= TOKEN_CACHE_MAX {
                        cache.clear();
                    }
                }
                cache.insert(token.to_owned(), v.clone());
                v
            }
        };
        let snap = self.snapshot();
        let principal = self
            .live_principal(&snap, &verified.claims)
            .map_err(|f| self.refuse(source, claim, f, None))?;
        Ok(Caller {
            principal,
            access_key: verified.claims.akid.clone(),
            token_access: Some(verified.access.clone()),
            source,
            secure: false,
            expires_at: None,
        })
    }

    pub(super) fn prune_token_cache(&self) {
        let now = now_secs();
        self.verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, v| v.claims.exp > now);
    }

    /// The caller behind a download token, and the repository and blob it is good for.
    pub fn download_caller(
        &self,
        token: &str,
        source: Option<IpAddr>,
    ) -> Result<(Caller, RepositoryName, String), AuthFailure> {
        let claim = Claim::issued("download URL");
        const BAD: AuthFailure = AuthFailure::Invalid("the download URL is not valid");
        let claims = self.verify_token(
            token,
            jwt::DOWNLOAD_AUDIENCE,
            source,
            claim,
            "the download URL is not valid",
        )?;
        let snap = self.snapshot();
        let (Some(blob), [access]) = (claims.blob.clone(), claims.access.as_slice()) else {
            return Err(self.refuse(source, claim, BAD, None));
        };
        let repository: RepositoryName = access
            .name
            .parse()
            .map_err(|_| self.refuse(source, claim, BAD, None))?;
        let principal = self
            .live_principal(&snap, &claims)
            .map_err(|f| self.refuse(source, claim, f, None))?;
        let caller = Caller {
            principal,
            access_key: claims.akid.clone(),
            token_access: Some(Arc::new(claims.access)),
            source,
            secure: false,
            expires_at: None,
        };
        Ok((caller, repository, blob))
    }

    /// The caller a refresh token stands for, if it is still good.
    pub async fn redeem_refresh_token(
        &self,
        token: &str,
        source: Option<IpAddr>,
    ) -> Result<Caller, AuthFailure> {
        let claim = Claim::issued("refresh token");
        self.check_limits(source, claim)?;
        const BAD: AuthFailure = AuthFailure::Invalid("the refresh token is not valid");
        let row = if token.len() > 512 {
            None
        } else {
            self.store
                .find_refresh_token(&sha256_hex(token))
                .await
                .map_err(|_| self.refuse(source, claim, AuthFailure::Unavailable, None))?
        };
        let Some(row) = row.filter(|r| !r.revoked && r.expires_at > now_secs()) else {
            return Err(self.fail(source, claim, BAD));
        };
        let snap = self.snapshot();
        let refused = |f| self.refuse(source, claim, f, None);
        let p = snap
            .principals
            .get(&row.principal)
            .ok_or_else(|| refused(BAD))?;
        if p.disabled {
            return Err(refused(AuthFailure::Invalid("the principal is disabled")));
        }
        if let Some(akid) = &row.access_key {
            match snap.keys.get(akid) {
                Some(k) if !k.disabled => {}
                _ => {
                    return Err(refused(AuthFailure::Invalid(
                        "the access key behind this token is disabled or deleted",
                    )))
                }
            }
        }
        Ok(Caller {
            principal: Some(p.clone()),
            access_key: row.access_key,
            token_access: None,
            source,
            secure: false,
            expires_at: None,
        })
    }
}
