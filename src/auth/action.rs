//! What a request does, and to what: [`Action`]s, named as Amazon ECR names them (the
//! `ecr:` names policies match), and the [`Resource`] each acts on. Only the actions Berth
//! serves are here; `policy.rs` keeps every ECR action name a policy may mention
//! (`ECR_ACTIONS`), served or not.

use super::scope::ScopeAction;
use crate::oci::RepositoryName;
use std::fmt;

/// Actions, named as Amazon ECR names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    BatchGetImage,
    GetDownloadUrlForLayer,
    BatchCheckLayerAvailability,
    InitiateLayerUpload,
    UploadLayerPart,
    CompleteLayerUpload,
    PutImage,
    BatchDeleteImage,
    ListImages,
    DescribeImages,
    DescribeRepositories,
    GetAuthorizationToken,
    SetRepositoryPolicy,
    GetRepositoryPolicy,
    DeleteRepositoryPolicy,
    PutRegistryPolicy,
    GetRegistryPolicy,
    DeleteRegistryPolicy,
    CreateRepository,
    DeleteRepository,
    TagResource,
    UntagResource,
    ListTagsForResource,
    PutImageTagMutability,
    PutImageScanningConfiguration,
    ListImageReferrers,
    PutLifecyclePolicy,
    GetLifecyclePolicy,
    DeleteLifecyclePolicy,
    StartLifecyclePolicyPreview,
    GetLifecyclePolicyPreview,
    DescribeRegistry,
    PutReplicationConfiguration,
    GetRegistryScanningConfiguration,
    PutRegistryScanningConfiguration,
    BatchGetRepositoryScanningConfiguration,
    GetAccountSetting,
    PutAccountSetting,
    StartImageScan,
    DescribeImageScanFindings,
    DescribeImageReplicationStatus,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::BatchGetImage => "ecr:BatchGetImage",
            Action::GetDownloadUrlForLayer => "ecr:GetDownloadUrlForLayer",
            Action::BatchCheckLayerAvailability => "ecr:BatchCheckLayerAvailability",
            Action::InitiateLayerUpload => "ecr:InitiateLayerUpload",
            Action::UploadLayerPart => "ecr:UploadLayerPart",
            Action::CompleteLayerUpload => "ecr:CompleteLayerUpload",
            Action::PutImage => "ecr:PutImage",
            Action::BatchDeleteImage => "ecr:BatchDeleteImage",
            Action::ListImages => "ecr:ListImages",
            Action::DescribeImages => "ecr:DescribeImages",
            Action::DescribeRepositories => "ecr:DescribeRepositories",
            Action::GetAuthorizationToken => "ecr:GetAuthorizationToken",
            Action::SetRepositoryPolicy => "ecr:SetRepositoryPolicy",
            Action::GetRepositoryPolicy => "ecr:GetRepositoryPolicy",
            Action::DeleteRepositoryPolicy => "ecr:DeleteRepositoryPolicy",
            Action::PutRegistryPolicy => "ecr:PutRegistryPolicy",
            Action::GetRegistryPolicy => "ecr:GetRegistryPolicy",
            Action::DeleteRegistryPolicy => "ecr:DeleteRegistryPolicy",
            Action::CreateRepository => "ecr:CreateRepository",
            Action::DeleteRepository => "ecr:DeleteRepository",
            Action::TagResource => "ecr:TagResource",
            Action::UntagResource => "ecr:UntagResource",
            Action::ListTagsForResource => "ecr:ListTagsForResource",
            Action::PutImageTagMutability => "ecr:PutImageTagMutability",
            Action::PutImageScanningConfiguration => "ecr:PutImageScanningConfiguration",
            Action::ListImageReferrers => "ecr:ListImageReferrers",
            Action::PutLifecyclePolicy => "ecr:PutLifecyclePolicy",
            Action::GetLifecyclePolicy => "ecr:GetLifecyclePolicy",
            Action::DeleteLifecyclePolicy => "ecr:DeleteLifecyclePolicy",
            Action::StartLifecyclePolicyPreview => "ecr:StartLifecyclePolicyPreview",
            Action::GetLifecyclePolicyPreview => "ecr:GetLifecyclePolicyPreview",
            Action::DescribeRegistry => "ecr:DescribeRegistry",
            Action::PutReplicationConfiguration => "ecr:PutReplicationConfiguration",
            Action::GetRegistryScanningConfiguration => "ecr:GetRegistryScanningConfiguration",
            Action::PutRegistryScanningConfiguration => "ecr:PutRegistryScanningConfiguration",
            Action::BatchGetRepositoryScanningConfiguration => {
                "ecr:BatchGetRepositoryScanningConfiguration"
            }
            Action::GetAccountSetting => "ecr:GetAccountSetting",
            Action::PutAccountSetting => "ecr:PutAccountSetting",
            Action::StartImageScan => "ecr:StartImageScan",
            Action::DescribeImageScanFindings => "ecr:DescribeImageScanFindings",
            Action::DescribeImageReplicationStatus => "ecr:DescribeImageReplicationStatus",
        }
    }

    /// The token scope actions any one of which covers this action on a repository.
    pub(super) fn scope_actions(self) -> &'static [ScopeAction] {
        use ScopeAction::*;
        match self {
            Action::BatchGetImage
            | Action::GetDownloadUrlForLayer
            | Action::ListImages
            | Action::DescribeImages
            | Action::DescribeRepositories
            | Action::ListImageReferrers => &[Pull],
            // Clients check layer existence while pushing as well as pulling.
            Action::BatchCheckLayerAvailability => &[Pull, Push],
            Action::InitiateLayerUpload
            | Action::UploadLayerPart
            | Action::CompleteLayerUpload
            | Action::PutImage => &[Push],
            // Creating a repository by pushing to it (create-on-push) rides on the push scope;
            // the principal's policies must still allow ecr:CreateRepository.
            Action::CreateRepository => &[Push],
            Action::BatchDeleteImage => &[Delete],
            // Control-plane actions: no registry token ever carries them.
            Action::GetAuthorizationToken
            | Action::SetRepositoryPolicy
            | Action::GetRepositoryPolicy
            | Action::DeleteRepositoryPolicy
            | Action::PutRegistryPolicy
            | Action::GetRegistryPolicy
            | Action::DeleteRegistryPolicy
            | Action::DeleteRepository
            | Action::TagResource
            | Action::UntagResource
            | Action::ListTagsForResource
            | Action::PutImageTagMutability
            | Action::PutImageScanningConfiguration
            | Action::PutLifecyclePolicy
            | Action::GetLifecyclePolicy
            | Action::DeleteLifecyclePolicy
            | Action::StartLifecyclePolicyPreview
            | Action::GetLifecyclePolicyPreview
            | Action::DescribeRegistry
            | Action::PutReplicationConfiguration
            | Action::GetRegistryScanningConfiguration
            | Action::PutRegistryScanningConfiguration
            | Action::BatchGetRepositoryScanningConfiguration
            | Action::GetAccountSetting
            | Action::PutAccountSetting
            | Action::StartImageScan
            | Action::DescribeImageScanFindings
            | Action::DescribeImageReplicationStatus => &[],
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an action is performed on.
#[derive(Debug, Clone, Copy)]
pub enum Resource<'a> {
    Registry,
    Repository(&'a RepositoryName),
}
