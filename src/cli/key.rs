//! `berth key`: access keys of principals.

use super::{found, print_key};
use crate::auth::Auth;
use clap::Subcommand;

#[derive(Subcommand)]
pub(super) enum KeyCmd {
    /// Create an access key for a principal; the secret is printed once.
    Create {
        /// Name of the principal the key belongs to.
        principal: String,
    },
    /// List access keys: id, principal, enabled or disabled (tab-separated).
    List {
        /// Only the keys of this principal.
        #[arg(long, value_name = "NAME")]
        principal: Option<String>,
    },
    /// Refuse the key until enabled again.
    Disable {
        /// Access key id (BKIA...).
        id: String,
    },
    /// Accept the key again.
    Enable {
        /// Access key id (BKIA...).
        id: String,
    },
    /// Delete the key for good.
    Delete {
        /// Access key id (BKIA...).
        id: String,
    },
    /// Print an ECR-style login password (user `AWS`) for the key, valid 12 hours by default.
    #[command(after_help = "Example:\n  \
        berth key login-password BKIA... | docker login -u AWS --password-stdin 127.0.0.1:5000")]
    LoginPassword {
        /// Access key id (BKIA...).
        id: String,
    },
}

pub(super) async fn run(auth: &Auth, command: KeyCmd) -> Result<(), String> {
    let store = auth.store();
    let e = |e: crate::metadata::MetaError| e.to_string();
    match command {
        KeyCmd::Create { principal } => print_key(
            &auth
                .create_access_key(&principal)
                .await
                .map_err(|e| e.to_string())?,
        ),
        KeyCmd::List { principal } => {
            for k in store
                .list_access_keys(principal.as_deref())
                .await
                .map_err(e)?
            {
                println!(
                    "{}\t{}\t{}",
                    k.id,
                    k.principal,
                    if k.disabled { "disabled" } else { "enabled" }
                );
            }
        }
        KeyCmd::Disable { id } => found(
            store.set_access_key_disabled(&id, true).await.map_err(e)?,
            format!("access key {id}"),
        )?,
        KeyCmd::Enable { id } => found(
            store.set_access_key_disabled(&id, false).await.map_err(e)?,
            format!("access key {id}"),
        )?,
        KeyCmd::Delete { id } => found(
            store.delete_access_key(&id).await.map_err(e)?,
            format!("access key {id}"),
        )?,
        KeyCmd::LoginPassword { id } => {
            auth.rotate_keys().await.map_err(|e| e.to_string())?;
            let (password, _) = auth
                .login_password_for_key(&id)
                .map_err(|e| e.to_string())?;
            println!("{password}");
        }
    }
    Ok(())
}
