//! `berth token` and `berth auth`: refresh tokens and failed-login lockouts.

use crate::auth::{Auth, Unblock};
use clap::Subcommand;

#[derive(Subcommand)]
pub(super) enum TokenCmd {
    /// Revoke every refresh token of a principal.
    Revoke {
        /// Name of the principal.
        principal: String,
    },
}

#[derive(Subcommand)]
pub(super) enum AuthCmd {
    /// Lift the failed-login lockouts of a source address or of a user name, on every running
    /// server (they apply it within a second).
    ///
    /// Example: berth auth unblock --address 203.0.113.7
    #[command(group(clap::ArgGroup::new("target").required(true).args(["address", "user"])))]
    Unblock {
        /// The client address whose lockouts end (under every user name).
        #[arg(long, value_name = "IP")]
        address: Option<std::net::IpAddr>,
        /// The user name (an access key id or a principal name) whose lockouts end, from every
        /// address; a principal's name also covers its access keys.
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
    },
}

/// `berth token`.
pub(super) async fn token(auth: &Auth, command: TokenCmd) -> Result<(), String> {
    let TokenCmd::Revoke { principal } = command;
    let n = auth
        .store()
        .revoke_refresh_tokens(&principal)
        .await
        .map_err(|e| e.to_string())?;
    println!("revoked {n} refresh token(s) of {principal}");
    Ok(())
}

/// `berth auth`.
pub(super) async fn run(auth: &Auth, command: AuthCmd) -> Result<(), String> {
    let AuthCmd::Unblock { address, user } = command;
    let target = match (address, user) {
        (Some(ip), None) => Unblock::Address(ip),
        (None, Some(name)) => Unblock::User(name),
        _ => return Err("give exactly one of --address and --user".into()),
    };
    let shown = target.to_string();
    auth.unblock(target).await.map_err(|e| e.to_string())?;
    println!("unblocked {shown}; running servers apply it within a second");
    Ok(())
}
