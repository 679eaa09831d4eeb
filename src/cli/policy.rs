//! `berth policy`, `berth repository-policy` and `berth registry-policy`: identity policies
//! attached to principals, and the resource policies of repositories and of the registry.

use super::{found, read_input};
use crate::auth::store::REGISTRY_SCOPE;
use crate::auth::Auth;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub(super) enum PolicyCmd {
    /// Attach (or replace) policy NAME on PRINCIPAL from FILE (`-` for standard input).
    #[command(after_help = "Example:\n  \
        berth policy attach ci push-team - <<'JSON'\n  \
        {\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"ecr:*\",\n   \
        \"Resource\":\"arn:aws:ecr:us-east-1:000000000000:repository/team/*\"}]}\n  \
        JSON")]
    Attach {
        /// Name of the principal.
        principal: String,
        /// Name of the policy (unique per principal).
        name: String,
        /// File holding the policy (IAM JSON), or `-` for standard input.
        file: PathBuf,
    },
    /// Remove policy NAME from PRINCIPAL.
    Detach {
        /// Name of the principal.
        principal: String,
        /// Name of the policy.
        name: String,
    },
    /// Print the principal's policies: name and document (tab-separated).
    List {
        /// Name of the principal.
        principal: String,
    },
}

#[derive(Subcommand)]
pub(super) enum RepositoryPolicyCmd {
    /// Set REPOSITORY's policy from FILE (`-` for standard input).
    #[command(after_help = "Example (anyone may pull public/tools):\n  \
        berth repository-policy set public/tools - <<'JSON'\n  \
        {\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\n   \
        \"Action\":[\"ecr:BatchGetImage\",\"ecr:GetDownloadUrlForLayer\",\n   \
        \"ecr:BatchCheckLayerAvailability\"]}]}\n  \
        JSON")]
    Set {
        /// Repository name, e.g. team/app.
        repository: String,
        /// File holding the policy (IAM JSON), or `-` for standard input.
        file: PathBuf,
    },
    /// Print REPOSITORY's policy.
    Get {
        /// Repository name, e.g. team/app.
        repository: String,
    },
    /// Delete REPOSITORY's policy.
    Delete {
        /// Repository name, e.g. team/app.
        repository: String,
    },
}

#[derive(Subcommand)]
pub(super) enum RegistryPolicyCmd {
    /// Set the registry policy from FILE (`-` for standard input).
    Set {
        /// File holding the policy (IAM JSON), or `-` for standard input.
        file: PathBuf,
    },
    /// Print the registry policy.
    Get,
    /// Delete the registry policy.
    Delete,
}

fn meta(e: crate::metadata::MetaError) -> String {
    e.to_string()
}

/// `berth policy`: identity policies.
pub(super) async fn identity(auth: &Auth, command: PolicyCmd) -> Result<(), String> {
    let store = auth.store();
    match command {
        PolicyCmd::Attach {
            principal,
            name,
            file,
        } => {
            let doc = read_input(&file)?;
            auth.put_identity_policy(&principal, &name, &doc)
                .await
                .map_err(|e| e.to_string())?;
        }
        PolicyCmd::Detach { principal, name } => found(
            store
                .delete_identity_policy(&principal, &name)
                .await
                .map_err(meta)?,
            format!("policy {name} on {principal}"),
        )?,
        PolicyCmd::List { principal } => {
            // The document as stored, on as many lines as it has.
            for p in store
                .list_identity_policies(&principal)
                .await
                .map_err(meta)?
            {
                println!("{}\t{}", p.name, p.document);
            }
        }
    }
    Ok(())
}

/// `berth repository-policy`: the resource policy of one repository.
pub(super) async fn repository(auth: &Auth, command: RepositoryPolicyCmd) -> Result<(), String> {
    let store = auth.store();
    let repo = |r: &str| -> Result<crate::oci::RepositoryName, String> {
        r.parse()
            .map_err(|_| format!("{r:?} is not a valid repository name"))
    };
    match command {
        RepositoryPolicyCmd::Set { repository, file } => {
            let name = repo(&repository)?;
            auth.put_resource_policy(Some(&name), &read_input(&file)?)
                .await
                .map_err(|e| e.to_string())?;
        }
        RepositoryPolicyCmd::Get { repository } => {
            let doc = store
                .get_resource_policy(repo(&repository)?.as_str())
                .await
                .map_err(meta)?;
            println!(
                "{}",
                doc.ok_or_else(|| format!("repository {repository} has no policy"))?
            );
        }
        RepositoryPolicyCmd::Delete { repository } => found(
            store
                .delete_resource_policy(repo(&repository)?.as_str())
                .await
                .map_err(meta)?
                .is_some(),
            format!("policy on repository {repository}"),
        )?,
    }
    Ok(())
}

/// `berth registry-policy`: the resource policy of every repository.
pub(super) async fn registry(auth: &Auth, command: RegistryPolicyCmd) -> Result<(), String> {
    let store = auth.store();
    match command {
        RegistryPolicyCmd::Set { file } => auth
            .put_resource_policy(None, &read_input(&file)?)
            .await
            .map_err(|e| e.to_string())?,
        RegistryPolicyCmd::Get => {
            let doc = store
                .get_resource_policy(REGISTRY_SCOPE)
                .await
                .map_err(meta)?;
            println!("{}", doc.ok_or("the registry has no policy")?);
        }
        RegistryPolicyCmd::Delete => found(
            store
                .delete_resource_policy(REGISTRY_SCOPE)
                .await
                .map_err(meta)?
                .is_some(),
            "registry policy".into(),
        )?,
    }
    Ok(())
}
