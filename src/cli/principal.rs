//! `berth principal`: users and robot identities.

use super::{found, print_key};
use crate::auth::store::PrincipalKind;
use crate::auth::Auth;
use clap::Subcommand;

#[derive(Subcommand)]
pub(super) enum PrincipalCmd {
    /// Create a principal: a user, or with --robot a robot identity.
    #[command(after_help = "Examples:\n  \
        berth principal create alice\n  \
        berth principal create ci --robot --with-key")]
    Create {
        /// Name of the new principal (letters, digits and +=,.@_-).
        name: String,
        /// Create a robot identity (for CI and automation) instead of a user.
        #[arg(long)]
        robot: bool,
        /// Also create an access key and print it (the secret is shown once).
        #[arg(long)]
        with_key: bool,
    },
    /// List principals: name, kind, enabled or disabled, ARN (tab-separated).
    List,
    /// Refuse every credential and token of the principal until enabled again.
    Disable {
        /// Name of the principal.
        name: String,
    },
    /// Accept the principal's credentials and tokens again.
    Enable {
        /// Name of the principal.
        name: String,
    },
    /// Delete the principal, its keys, policies and refresh tokens.
    Delete {
        /// Name of the principal.
        name: String,
    },
}

pub(super) async fn run(auth: &Auth, command: PrincipalCmd) -> Result<(), String> {
    let store = auth.store();
    let e = |e: crate::metadata::MetaError| e.to_string();
    match command {
        PrincipalCmd::Create {
            name,
            robot,
            with_key,
        } => {
            let kind = if robot {
                PrincipalKind::Robot
            } else {
                PrincipalKind::User
            };
            auth.create_principal(&name, kind)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "created {} {name} ({})",
                kind.as_str(),
                auth.settings().principal_arn(kind, &name)
            );
            if with_key {
                print_key(
                    &auth
                        .create_access_key(&name)
                        .await
                        .map_err(|e| e.to_string())?,
                );
            }
        }
        PrincipalCmd::List => {
            for p in store.list_principals().await.map_err(e)? {
                println!(
                    "{}\t{}\t{}\t{}",
                    p.name,
                    p.kind.as_str(),
                    if p.disabled { "disabled" } else { "enabled" },
                    auth.settings().principal_arn(p.kind, &p.name)
                );
            }
        }
        PrincipalCmd::Disable { name } => found(
            store.set_principal_disabled(&name, true).await.map_err(e)?,
            format!("principal {name}"),
        )?,
        PrincipalCmd::Enable { name } => found(
            store
                .set_principal_disabled(&name, false)
                .await
                .map_err(e)?,
            format!("principal {name}"),
        )?,
        PrincipalCmd::Delete { name } => found(
            store.delete_principal(&name).await.map_err(e)?,
            format!("principal {name}"),
        )?,
    }
    Ok(())
}
