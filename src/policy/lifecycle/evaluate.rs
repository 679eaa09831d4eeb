//! What a lifecycle policy does to a repository's images, at a given time: a pure function.

use super::{CountType, Policy, Rule, RuleAction, Selection, StorageClass, TagFilter, TagStatus};
use crate::policy::glob::wildcard_match;

const DAY_MS: i64 = 86_400_000;

/// One image of the repository, as the evaluator sees it. Times are epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Image<'a> {
    pub digest: &'a str,
    pub tags: &'a [String],
    pub pushed_at: i64,
    pub last_pulled_at: Option<i64>,
    pub storage_class: StorageClass,
    /// When the image last moved to the archive storage class.
    pub last_archived_at: Option<i64>,
    /// When the image was last restored from archive (by restore or re-push).
    pub last_activated_at: Option<i64>,
}

/// What a policy does to one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Index into the `images` slice given to [`evaluate`].
    pub image: usize,
    pub rule_priority: u32,
    pub action: RuleAction,
}

/// Whether the image passes the rule's tag selection (storage class is checked separately).
fn tag_selected(image: &Image<'_>, selection: &Selection) -> bool {
    match selection.tag_status {
        TagStatus::Any => true,
        TagStatus::Untagged => image.tags.is_empty(),
        TagStatus::Tagged => {
            !image.tags.is_empty()
                && match &selection.tag_filter {
                    TagFilter::None => true,
                    TagFilter::Prefixes(list) => list
                        .iter()
                        .all(|p| image.tags.iter().any(|t| t.starts_with(p.as_str()))),
                    TagFilter::Patterns(list) => list
                        .iter()
                        .all(|p| image.tags.iter().any(|t| wildcard_match(p, t))),
                }
        }
    }
}

/// The ordering key for `imageCountMoreThan`: push time, replaced by `last_activated_at` for an
/// image that was archived and restored.
fn ordering_time(image: &Image<'_>) -> i64 {
    image
        .last_activated_at
        .map_or(image.pushed_at, |a| a.max(image.pushed_at))
}

/// The clock for `sinceImagePulled`: the last pull, or the restore time if the image was restored
/// and not pulled since, or the push time if it was never pulled.
fn pull_time(image: &Image<'_>) -> i64 {
    match (image.last_pulled_at, image.last_activated_at) {
        (Some(p), Some(a)) => p.max(a),
        (Some(p), None) => p,
        (None, Some(a)) => a,
        (None, None) => image.pushed_at,
    }
}

/// The §9.2 reference algorithm, evaluated at `now` (epoch ms).
///
/// For each rule in ascending `rulePriority`: the candidates are the images of the rule's storage
/// class that pass its tag selection; the count type picks among *all* candidates (images claimed by
/// higher-priority rules still count); a picked image is acted on only if no higher-priority rule
/// has claimed it; then every candidate becomes claimed.
///
/// * `imageCountMoreThan N`: candidates newest first by [push time, or `lastActivatedAt` after a
///   restore]; ties broken by digest (the lexicographically smaller digest counts as newer), then by
///   index; everything after the first N is picked.
/// * `sinceImagePushed N`: `pushed_at < now - N days`. Strictly older: the docs' "Filtering on all
///   images" example B keeps an untagged image pushed exactly one day ago under a 1-day rule.
/// * `sinceImagePulled N`: last pull (or restore, or push; see above) `< now - N days`.
/// * `sinceImageTransitioned N`: archived images with `last_archived_at < now - N days`; an archived
///   image without `last_archived_at` is never picked (it cannot be shown to have served the
///   minimum archive duration).
///
/// Returns at most one outcome per image, ordered by image index.
pub fn evaluate(policy: &Policy, images: &[Image<'_>], now: i64) -> Vec<Outcome> {
    let mut rules: Vec<&Rule> = policy.rules.iter().collect();
    rules.sort_by_key(|r| r.rule_priority);
    let mut claimed = vec![false; images.len()];
    let mut acted: Vec<Option<(u32, RuleAction)>> = vec![None; images.len()];
    let cutoff = |days: u32| now.saturating_sub(i64::from(days).saturating_mul(DAY_MS));

    for rule in rules {
        let sel = &rule.selection;
        let mut candidates: Vec<usize> = images
            .iter()
            .enumerate()
            .filter(|(_, img)| img.storage_class == sel.storage_class && tag_selected(img, sel))
            .map(|(i, _)| i)
            .collect();
        let picked: Vec<usize> = match sel.count {
            CountType::ImageCountMoreThan(keep) => {
                candidates.sort_by(|&a, &b| {
                    ordering_time(&images[b])
                        .cmp(&ordering_time(&images[a]))
                        .then_with(|| images[a].digest.cmp(images[b].digest))
                        .then(a.cmp(&b))
                });
                candidates
                    .iter()
                    .copied()
                    .skip(usize::try_from(keep).unwrap_or(usize::MAX))
                    .collect()
            }
            CountType::SinceImagePushed { days } => {
                let before = cutoff(days);
                candidates
                    .iter()
                    .copied()
                    .filter(|&i| images[i].pushed_at < before)
                    .collect()
            }
            CountType::SinceImagePulled { days } => {
                let before = cutoff(days);
                candidates
                    .iter()
                    .copied()
                    .filter(|&i| pull_time(&images[i]) < before)
                    .collect()
            }
            CountType::SinceImageTransitioned { days } => {
                let before = cutoff(days);
                candidates
                    .iter()
                    .copied()
                    .filter(|&i| {
                        images[i].storage_class == StorageClass::Archive
                            && images[i].last_archived_at.is_some_and(|t| t < before)
                    })
                    .collect()
            }
        };
        for i in picked {
            if !claimed[i] && acted[i].is_none() {
                acted[i] = Some((rule.rule_priority, rule.action));
            }
        }
        for i in candidates {
            claimed[i] = true;
        }
    }

    acted
        .into_iter()
        .enumerate()
        .filter_map(|(image, a)| {
            a.map(|(rule_priority, action)| Outcome {
                image,
                rule_priority,
                action,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    const NOW: i64 = 1_750_000_000_000;
    const HOUR: i64 = 3_600_000;

    #[derive(Clone)]
    struct Img {
        name: &'static str,
        tags: Vec<String>,
        pushed_at: i64,
        last_pulled_at: Option<i64>,
        storage_class: StorageClass,
        last_archived_at: Option<i64>,
        last_activated_at: Option<i64>,
        digest: String,
    }

    fn days_ago(d: i64) -> i64 {
        NOW - d * DAY_MS
    }

    /// An image named `name` (digest `sha256:<name>`), pushed `days` days ago.
    fn img(name: &'static str, tags: &[&str], days: i64) -> Img {
        Img {
            name,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            pushed_at: days_ago(days),
            last_pulled_at: None,
            storage_class: StorageClass::Standard,
            last_archived_at: None,
            last_activated_at: None,
            digest: format!("sha256:{}", name.to_lowercase()),
        }
    }

    fn archived(mut i: Img, archived_days_ago: Option<i64>) -> Img {
        i.storage_class = StorageClass::Archive;
        i.last_archived_at = archived_days_ago.map(days_ago);
        i
    }

    fn views(imgs: &[Img]) -> Vec<Image<'_>> {
        imgs.iter()
            .map(|i| Image {
                digest: &i.digest,
                tags: &i.tags,
                pushed_at: i.pushed_at,
                last_pulled_at: i.last_pulled_at,
                storage_class: i.storage_class,
                last_archived_at: i.last_archived_at,
                last_activated_at: i.last_activated_at,
            })
            .collect()
    }

    /// (image name, rule priority, action) for every image the policy acts on, in image order.
    fn run(text: &str, imgs: &[Img]) -> Vec<(&'static str, u32, RuleAction)> {
        let p = policy(text);
        let v = views(imgs);
        evaluate(&p, &v, NOW)
            .into_iter()
            .map(|o| (imgs[o.image].name, o.rule_priority, o.action))
            .collect()
    }

    fn expired(text: &str, imgs: &[Img]) -> Vec<&'static str> {
        run(text, imgs)
            .into_iter()
            .map(|(n, _, a)| {
                assert_eq!(a, RuleAction::Expire, "{n} should be expired");
                n
            })
            .collect()
    }

    fn transitioned(text: &str, imgs: &[Img]) -> Vec<&'static str> {
        run(text, imgs)
            .into_iter()
            .map(|(n, _, a)| {
                assert_eq!(a, RuleAction::Transition, "{n} should be transitioned");
                n
            })
            .collect()
    }

    // ----------------------------------------------------------------------------------------
    // AWS "Examples of lifecycle policies in Amazon ECR", reproduced
    // ----------------------------------------------------------------------------------------

    /// "Filtering on image age": expires images with a tag starting with `prod` (tagPatternList
    /// `prod*`) that are also older than 14 days.
    #[test]
    fn doc_filtering_on_image_age() {
        let text = r#"{"rules":[{"rulePriority":1,"description":"Expire images older than 14 days",
            "selection":{"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"sinceImagePushed",
            "countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}"#;
        let imgs = [
            img("OldProd", &["prod-1"], 20),
            img("NewProd", &["prod-2"], 3),
            img("OldDev", &["dev-1"], 20),
            img("OldUntagged", &[], 20),
        ];
        assert_eq!(expired(text, &imgs), ["OldProd"]);
    }

    /// Older revision of "Filtering on image age": "expires untagged images older than 14 days".
    #[test]
    fn doc_filtering_on_image_age_untagged_revision() {
        let text = r#"{"rules":[{"rulePriority":1,"description":"Expire images older than 14 days",
            "selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14},
            "action":{"type":"expire"}}]}"#;
        let imgs = [
            img("Old", &[], 15),
            img("Young", &[], 13),
            img("OldTagged", &["v1"], 30),
        ];
        assert_eq!(expired(text, &imgs), ["Old"]);
    }

    /// "Filtering on image count": "keeps only one untagged image and expires all others".
    #[test]
    fn doc_filtering_on_image_count() {
        let text = r#"{"rules":[{"rulePriority":1,"description":"Keep only one untagged image, expire all others",
            "selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},
            "action":{"type":"expire"}}]}"#;
        let imgs = [
            img("U1", &[], 3),
            img("U2", &[], 2),
            img("U3", &[], 1),
            img("T", &["latest"], 5),
        ];
        assert_eq!(expired(text, &imgs), ["U1", "U2"]);
    }

    /// "Filtering on last pulled time": "transitions images to archive storage that haven't been
    /// pulled in 90 days" (also the archive example "Archiving images not pulled in a specified
    /// number of days", which has the same policy text).
    #[test]
    fn doc_filtering_on_last_pulled_time() {
        let text = r#"{"rules":[{"rulePriority":1,"description":"Archive images not pulled in 90 days",
            "selection":{"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":90},
            "action":{"type":"transition","targetStorageClass":"archive"}}]}"#;
        let mut pulled_recently = img("PulledRecently", &["a"], 200);
        pulled_recently.last_pulled_at = Some(days_ago(10));
        let mut pulled_long_ago = img("PulledLongAgo", &["b"], 200);
        pulled_long_ago.last_pulled_at = Some(days_ago(95));
        // Restored 5 days ago, last pulled before it was archived: last_activated_at counts.
        let mut restored = img("Restored", &[], 400);
        restored.last_pulled_at = Some(days_ago(300));
        restored.last_activated_at = Some(days_ago(5));
        // Restored long ago, pulled since, but not for 100 days.
        let mut restored_stale = img("RestoredStale", &[], 400);
        restored_stale.last_activated_at = Some(days_ago(200));
        restored_stale.last_pulled_at = Some(days_ago(100));
        let imgs = [
            img("NeverPulledOld", &[], 91),
            img("NeverPulledYoung", &[], 89),
            pulled_recently,
            pulled_long_ago,
            restored,
            restored_stale,
            archived(img("AlreadyArchived", &[], 500), Some(200)),
        ];
        assert_eq!(
            transitioned(text, &imgs),
            ["NeverPulledOld", "PulledLongAgo", "RestoredStale"]
        );
    }

    /// "Filtering on archive transition time": "expires archived images that have been in archive
    /// storage for more than 365 days".
    #[test]
    fn doc_filtering_on_archive_transition_time() {
        let text = r#"{"rules":[{"rulePriority":1,"description":"Expire images archived for more than 365 days",
            "selection":{"tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned",
            "countUnit":"days","countNumber":365},"action":{"type":"expire"}}]}"#;
        let imgs = [
            archived(img("ArchivedLongAgo", &["v1"], 900), Some(400)),
            archived(img("ArchivedRecently", &[], 900), Some(100)),
            img("StandardOld", &[], 1000),
            // No archive time recorded: never expired by sinceImageTransitioned (documented choice).
            archived(img("ArchivedUnknown", &[], 1000), None),
        ];
        assert_eq!(expired(text, &imgs), ["ArchivedLongAgo"]);
    }

    fn beta_prod_repo() -> Vec<Img> {
        vec![
            img("A", &["beta-1", "prod-1"], 10),
            img("B", &["beta-2", "prod-2"], 9),
            img("C", &["beta-3"], 8),
        ]
    }

    fn two_rules(first: &str, second: &str, key: &str) -> String {
        format!(
            r#"{{"rules":[
              {{"rulePriority":1,"description":"Rule 1","selection":{{"tagStatus":"tagged","{key}":["{first}"],"countType":"imageCountMoreThan","countNumber":1}},"action":{{"type":"expire"}}}},
              {{"rulePriority":2,"description":"Rule 2","selection":{{"tagStatus":"tagged","{key}":["{second}"],"countType":"imageCountMoreThan","countNumber":1}},"action":{{"type":"expire"}}}}]}}"#
        )
    }

    /// "Filtering on multiple rules", Example A: Rule 1 (prod*) marks Image A; Rule 2 (beta*) would
    /// mark A and B, "However, Image A has already been seen by Rule 1 and if Image B were expired
    /// it would violate Rule 1 and thus is skipped." — "Result: Image A is expired."
    #[test]
    fn doc_multiple_rules_example_a() {
        let repo = beta_prod_repo();
        assert_eq!(
            run(&two_rules("prod*", "beta*", "tagPatternList"), &repo),
            [("A", 1, RuleAction::Expire)]
        );
        // The older revision of the page used tagPrefixList ["prod"] / ["beta"].
        assert_eq!(
            expired(&two_rules("prod", "beta", "tagPrefixList"), &repo),
            ["A"]
        );
    }

    /// "Filtering on multiple rules", Example B (priorities swapped): Rule 1 (beta*) "sees all three
    /// images and would mark Image A and Image B"; Rule 2 (prod*) "would see no images because all
    /// available images were already seen by Rule 1" — "Result: Images A and B are expired."
    #[test]
    fn doc_multiple_rules_example_b() {
        let repo = beta_prod_repo();
        assert_eq!(
            run(&two_rules("beta*", "prod*", "tagPatternList"), &repo),
            [("A", 1, RuleAction::Expire), ("B", 1, RuleAction::Expire)]
        );
        assert_eq!(
            expired(&two_rules("beta", "prod", "tagPrefixList"), &repo),
            ["A", "B"]
        );
    }

    /// "Filtering on multiple tags in a single rule", Example A: images must match all listed
    /// patterns; Rule 1 "sees images C and F. It should mark images that are older than five days,
    /// which would be Image C." — "Result: Image C is expired."
    #[test]
    fn doc_multiple_tags_example_a() {
        let repo = [
            img("A", &["alpha-1"], 12),
            img("B", &["beta-1"], 11),
            img("C", &["alpha-2", "beta-2"], 10),
            img("D", &["alpha-3"], 4),
            img("E", &["beta-3"], 3),
            img("F", &["alpha-4", "beta-4"], 2),
        ];
        for (key, list) in [
            ("tagPatternList", r#"["alpha*","beta*"]"#),
            ("tagPrefixList", r#"["alpha","beta"]"#),
        ] {
            let text = format!(
                r#"{{"rules":[{{"rulePriority":1,"description":"Rule 1","selection":{{"tagStatus":"tagged","{key}":{list},
                "countType":"sinceImagePushed","countNumber":5,"countUnit":"days"}},"action":{{"type":"expire"}}}}]}}"#
            );
            assert_eq!(expired(&text, &repo), ["C"], "{key}");
        }
    }

    /// "Filtering on multiple tags in a single rule", Example B ("tags are not exclusive"): Rule 1
    /// "sees all images ... It marks image A and B for expiration." — "Result: Images A and B are
    /// expired."
    #[test]
    fn doc_multiple_tags_example_b() {
        let repo = [
            img("A", &["alpha-1", "beta-1", "gamma-1"], 10),
            img("B", &["alpha-2", "beta-2"], 9),
            img("C", &["alpha-3", "beta-3", "gamma-2"], 8),
        ];
        for (key, list) in [
            ("tagPatternList", r#"["alpha*","beta*"]"#),
            ("tagPrefixList", r#"["alpha","beta"]"#),
        ] {
            let text = format!(
                r#"{{"rules":[{{"rulePriority":1,"description":"Rule 1","selection":{{"tagStatus":"tagged","{key}":{list},
                "countType":"imageCountMoreThan","countNumber":1}},"action":{{"type":"expire"}}}}]}}"#
            );
            assert_eq!(expired(&text, &repo), ["A", "B"], "{key}");
        }
    }

    /// "Filtering on all images", Example A: Rule 1 (any, keep 1) "sees images A, B, C, and D ...
    /// It marks images A, B, and C for expiration." — "Result: Images A, B, and C are expired."
    #[test]
    fn doc_all_images_example_a() {
        let text = r#"{"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"any",
            "countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#;
        let repo = [
            img("A", &["alpha-1"], 4),
            img("B", &["beta-1"], 3),
            img("C", &[], 2),
            img("D", &["alpha-2"], 1),
        ];
        assert_eq!(expired(text, &repo), ["A", "B", "C"]);
    }

    /// "Filtering on all images", Example B (keep one of each): Rule 1 (alpha*, keep 1) marks A;
    /// Rule 2 (untagged, older than 1 day) marks B; Rule 3 (any, keep 1) "can't mark images A, B, C,
    /// or E because they were identified by higher priority rules. It marks image D for
    /// expiration." — "Result: Images A, B, and D are expired."
    #[test]
    fn doc_all_images_example_b() {
        let text = r#"{"rules":[
            {"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPatternList":["alpha*"],
             "countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},
            {"rulePriority":2,"description":"Rule 2","selection":{"tagStatus":"untagged","countType":"sinceImagePushed",
             "countUnit":"days","countNumber":1},"action":{"type":"expire"}},
            {"rulePriority":3,"description":"Rule 3","selection":{"tagStatus":"any","countType":"imageCountMoreThan",
             "countNumber":1},"action":{"type":"expire"}}]}"#;
        // D and E were both "pushed 1 day ago"; E is the newer of the two (Rule 3 keeps it), and E
        // is not yet *older* than one day (Rule 2 does not mark it).
        let mut d = img("D", &["git hash"], 1);
        d.pushed_at -= HOUR;
        let mut e = img("E", &[], 1);
        e.pushed_at += HOUR;
        let repo = [
            img("A", &["alpha-1", "beta-1"], 4),
            img("B", &[], 3),
            img("C", &["alpha-2"], 2),
            d,
            e,
        ];
        assert_eq!(
            run(text, &repo),
            [
                ("A", 1, RuleAction::Expire),
                ("B", 2, RuleAction::Expire),
                ("D", 3, RuleAction::Expire)
            ]
        );
        // At exactly one day, an untagged image is not "older than" one day.
        let mut exactly = repo.clone();
        exactly[4].pushed_at = days_ago(1);
        assert_eq!(expired(text, &exactly), ["A", "B", "D"]);
    }

    /// "Archive examples": "Archiving images older than a specified number of days" — archives
    /// images with tags starting with `prod` that are older than 30 days.
    #[test]
    fn doc_archive_images_older_than_days() {
        let text = r#"{"rules":[{"rulePriority":1,"description":"Archive production images older than 30 days",
            "selection":{"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"sinceImagePushed",
            "countUnit":"days","countNumber":30},"action":{"type":"transition","targetStorageClass":"archive"}}]}"#;
        let repo = [
            img("OldProd", &["prod-1"], 40),
            img("YoungProd", &["prod-2"], 10),
            img("OldDev", &["dev"], 40),
            archived(img("ArchivedProd", &["prod-0"], 100), Some(60)),
        ];
        assert_eq!(run(text, &repo), [("OldProd", 1, RuleAction::Transition)]);
    }

    /// "Archive examples": "Combining archive and expire rules" — archives images older than 30 days
    /// and expires images archived for more than 365 days. Both rules use tagStatus `any`, one per
    /// storage class, so the "any must be last" rule is scoped per storage class.
    #[test]
    fn doc_combining_archive_and_expire_rules() {
        let text = r#"{"rules":[
            {"rulePriority":1,"description":"Archive images older than 30 days","selection":{"tagStatus":"any",
             "countType":"sinceImagePushed","countUnit":"days","countNumber":30},
             "action":{"type":"transition","targetStorageClass":"archive"}},
            {"rulePriority":2,"description":"Expire images archived for more than 365 days","selection":{
             "tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days",
             "countNumber":365},"action":{"type":"expire"}}]}"#;
        let repo = [
            img("Young", &["v2"], 10),
            img("Old", &["v1"], 31),
            img("OldUntagged", &[], 45),
            archived(img("LongArchived", &["v0"], 900), Some(366)),
            archived(img("RecentlyArchived", &[], 900), Some(200)),
        ];
        assert_eq!(
            run(text, &repo),
            [
                ("Old", 1, RuleAction::Transition),
                ("OldUntagged", 1, RuleAction::Transition),
                ("LongArchived", 2, RuleAction::Expire)
            ]
        );
    }

    // ----------------------------------------------------------------------------------------
    // Evaluation details
    // ----------------------------------------------------------------------------------------

    #[test]
    fn outcomes_are_one_per_image_in_index_order() {
        // Both rules pick the same old images; the first claims them.
        let text = rules_json(&[
            rule_json(
                1,
                r#"{"tagStatus":"tagged","tagPatternList":["*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":5}"#,
            ),
            rule_json(
                2,
                r#"{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1}"#,
            ),
        ]);
        let repo = [
            img("Z", &["z"], 1),
            img("Y", &[], 3),
            img("X", &["x"], 9),
            img("W", &[], 8),
        ];
        assert_eq!(
            run(&text, &repo),
            [
                ("Y", 2, RuleAction::Expire),
                ("X", 1, RuleAction::Expire),
                ("W", 2, RuleAction::Expire)
            ]
        );
    }

    #[test]
    fn count_ties_are_broken_by_digest_and_restores_reorder() {
        let text = one(
            r#"{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1}"#,
            EXPIRE,
        );
        // Same push time: the smaller digest counts as newer and is kept, whatever the input order.
        let repo = [img("B", &[], 2), img("A", &[], 2)];
        assert_eq!(expired(&text, &repo), ["B"]);
        let repo = [img("A", &[], 2), img("B", &[], 2)];
        assert_eq!(expired(&text, &repo), ["B"]);
        // A restored image orders by its activation time.
        let mut restored = img("Restored", &[], 100);
        restored.last_activated_at = Some(days_ago(1));
        let repo = [restored, img("Pushed", &[], 2)];
        assert_eq!(expired(&text, &repo), ["Pushed"]);
    }

    #[test]
    fn storage_class_scopes_rules_and_claims() {
        // An archived image is invisible to standard rules, and a standard rule's claim does not
        // protect archived images from the archive rule.
        let text = rules_json(&[
            rule_json(1, &prefix_sel("v")),
            format!(
                r#"{{"rulePriority":2,"selection":{{"tagStatus":"tagged","tagPrefixList":["v"],"storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":90}},"action":{EXPIRE}}}"#
            ),
        ]);
        let repo = [
            img("New", &["v3"], 1),
            img("Old", &["v2"], 5),
            archived(img("Archived", &["v1"], 500), Some(91)),
        ];
        assert_eq!(
            run(&text, &repo),
            [
                ("Old", 1, RuleAction::Expire),
                ("Archived", 2, RuleAction::Expire)
            ]
        );
    }

    #[test]
    fn tag_matching_semantics() {
        let prefixes = Selection {
            tag_status: TagStatus::Tagged,
            tag_filter: TagFilter::Prefixes(vec!["alpha".into(), "beta".into()]),
            storage_class: StorageClass::Standard,
            count: CountType::ImageCountMoreThan(1),
        };
        let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let image = |tags: &'static [String]| Image {
            digest: "sha256:x",
            tags,
            pushed_at: 0,
            last_pulled_at: None,
            storage_class: StorageClass::Standard,
            last_archived_at: None,
            last_activated_at: None,
        };
        let both: &'static [String] = Box::leak(tags(&["alpha-1", "beta-1"]).into_boxed_slice());
        let one_tag: &'static [String] = Box::leak(tags(&["alphabeta"]).into_boxed_slice());
        let none: &'static [String] = &[];
        assert!(tag_selected(&image(both), &prefixes));
        assert!(!tag_selected(&image(one_tag), &prefixes));
        assert!(!tag_selected(&image(none), &prefixes));
        let untagged = Selection {
            tag_status: TagStatus::Untagged,
            ..prefixes.clone()
        };
        assert!(tag_selected(&image(none), &untagged));
        assert!(!tag_selected(&image(both), &untagged));
        let any = Selection {
            tag_status: TagStatus::Any,
            ..prefixes.clone()
        };
        assert!(tag_selected(&image(none), &any) && tag_selected(&image(one_tag), &any));
        // A single tag may satisfy several patterns.
        let patterns = Selection {
            tag_filter: TagFilter::Patterns(vec!["alpha*".into(), "*beta".into()]),
            ..prefixes
        };
        assert!(tag_selected(&image(one_tag), &patterns));
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let text = one(
            r#"{"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":2147483647}"#,
            EXPIRE,
        );
        let p = policy(&text);
        let tags: Vec<String> = vec![];
        let image = Image {
            digest: "sha256:x",
            tags: &tags,
            pushed_at: i64::MIN,
            last_pulled_at: Some(i64::MAX),
            storage_class: StorageClass::Standard,
            last_archived_at: None,
            last_activated_at: Some(i64::MAX),
        };
        assert!(evaluate(&p, &[image], i64::MIN).is_empty());
        assert_eq!(evaluate(&p, &[image], i64::MAX).len(), 1);
        assert!(evaluate(&p, &[], NOW).is_empty());
    }
}
