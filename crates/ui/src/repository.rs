//! A repository's artifacts, and one artifact: tags, layers, configuration, build history,
//! accessories found through referrers, pull commands.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use berth_api_types::{Artifact as ArtifactModel, BuildHistoryEntry, Descriptor, Label, NewTag, Repository};

use crate::Portal;
use crate::api::NO_BODY;
use crate::format::{self, filters};
use crate::labels::{self, LabelView};
use crate::page::{self, Chrome, PageError, Paging, form_urlencoded, path_segment};
use crate::project::{Head, head, pull_host, repo_path};
use crate::projects::capitalize;
use crate::viewer::{Posted, Viewer};

pub(crate) struct TagView {
    pub name: String,
    pub pushed: String,
    pub pulled: String,
}

pub(crate) struct ArtifactRow {
    pub digest: String,
    pub short: String,
    pub kind: String,
    pub size: String,
    pub tags: Vec<TagView>,
    pub pushed: String,
    pub pulled: String,
    /// An index's platforms: (platform, child digest).
    pub platforms: Vec<(String, String)>,
    /// The labels it carries (when the listing asked for them).
    pub labels: Vec<LabelView>,
}

/// What an artifact is, by the media types of its manifest and config (as Harbor's UI tells).
pub(crate) fn kind(a: &ArtifactModel) -> String {
    let manifest = a.manifest_media_type.as_str();
    let config = a.artifact_type.as_deref().unwrap_or("");
    if manifest.contains("index") || manifest.contains("manifest.list") {
        return "Image index".to_owned();
    }
    match config {
        "application/vnd.oci.image.config.v1+json" | "application/vnd.docker.container.image.v1+json" => "Image",
        "application/vnd.cncf.helm.config.v1+json" => "Helm chart",
        t if t.contains("cosign") || t.contains("notation") || t.contains("signature") => "Signature",
        t if t.contains("spdx") || t.contains("cyclonedx") || t.contains("sbom") => "SBOM",
        _ => "Other artifact",
    }
    .to_owned()
}

/// Harbor's accessory types as a reader knows them.
fn accessory_kind(t: &str) -> String {
    match t {
        "signature.cosign" | "signature.notation" => "Signature".to_owned(),
        t if t.starts_with("sbom") => "SBOM".to_owned(),
        "" => "Other artifact".to_owned(),
        t => t.to_owned(),
    }
}

/// `os/architecture[/variant]`.
fn platform(os: &str, architecture: &str, variant: Option<&str>) -> String {
    match variant {
        Some(v) => format!("{os}/{architecture}/{v}"),
        None => format!("{os}/{architecture}"),
    }
}

fn artifact_row(a: &ArtifactModel) -> ArtifactRow {
    let tags = a
        .tags
        .iter()
        .flatten()
        .map(|t| TagView {
            name: t.name.clone(),
            pushed: format::time(&t.push_time),
            pulled: format::pull_time(&t.pull_time),
        })
        .collect();
    let platforms = a
        .references
        .iter()
        .flatten()
        .map(|r| {
            let p = r.platform.clone().unwrap_or_default();
            (platform(&p.os, &p.architecture, p.variant.as_deref()), r.child_digest.clone())
        })
        .collect();
    ArtifactRow {
        short: format::short_digest(&a.digest),
        digest: a.digest.clone(),
        kind: kind(a),
        size: format::size(a.size),
        tags,
        pushed: format::time(&a.push_time),
        pulled: format::pull_time(&a.pull_time),
        platforms,
        labels: a.labels.iter().map(labels::view).collect(),
    }
}

#[derive(Template)]
#[template(path = "artifacts.html")]
struct Artifacts {
    chrome: Chrome,
    head: Head,
    repo: String,
    segment: String,
    description: String,
    rows: Vec<ArtifactRow>,
    chart: String,
    paging: Paging,
    pull_host: String,
    /// The labels to filter by, and the one chosen (0 for none).
    usable: Vec<LabelView>,
    filter: i64,
    error: Option<String>,
}

/// The query of the artifact list: which page, and the label its artifacts must carry.
#[derive(serde::Deserialize, Default)]
pub(crate) struct ArtifactsQuery {
    page: Option<String>,
    label: Option<String>,
}

impl ArtifactsQuery {
    fn page(&self) -> i64 {
        Paging::from_query(self.page.as_deref())
    }

    /// The label chosen; 0 for none (or what is not a label id).
    fn label(&self) -> i64 {
        self.label.as_deref().and_then(|l| l.parse().ok()).unwrap_or(0)
    }
}

/// The repository a page shows: project `project`'s repository `name` (without the project).
#[derive(Clone, Copy)]
struct Shown<'a> {
    project: i64,
    name: &'a str,
}

async fn artifacts_page(
    portal: &Portal,
    viewer: &Viewer,
    shown: Shown<'_>,
    query: &ArtifactsQuery,
    error: Option<String>,
) -> Result<Response, PageError> {
    let Shown { project: id, name: repo } = shown;
    let head = head(portal, viewer, id, "repositories").await?;
    let api_repo = repo_path(&head.name, repo);
    let info: Repository = portal.api.get(viewer, &api_repo).await?;
    let (page_no, filter) = (query.page(), query.label());
    let mut path =
        format!("{api_repo}/artifacts?with_tag=true&with_label=true&page={page_no}&page_size={}", Paging::SIZE);
    let mut keep = String::new();
    if filter != 0 {
        path.push_str(&format!("&q={}", form_urlencoded(&format!("labels={filter}"))));
        keep = format!("&label={filter}");
    }
    let listing = portal.api.list::<ArtifactModel>(viewer, &path).await?;
    let rows: Vec<ArtifactRow> = listing.items.iter().map(artifact_row).collect();
    let sizes: Vec<(String, i64)> = listing
        .items
        .iter()
        .map(|a| {
            let first_tag = a.tags.iter().flatten().next().map(|t| t.name.clone());
            (first_tag.unwrap_or_else(|| format::short_digest(&a.digest)), a.size)
        })
        .collect();
    let page = Artifacts {
        chrome: Chrome::new(viewer, format!("{}/{repo}", head.name), "projects"),
        head,
        segment: form_urlencoded(repo),
        repo: repo.to_owned(),
        description: info.description,
        chart: if sizes.len() > 1 { format::size_chart("Artifact sizes", &sizes) } else { String::new() },
        rows,
        paging: Paging::of(page_no, &listing).keeping(keep),
        pull_host: pull_host(viewer),
        usable: labels::usable(portal, viewer, id).await?,
        filter,
        error: error.clone(),
    };
    page::render(page::status_for(&error), &page)
}

pub(crate) async fn artifacts(
    State(portal): State<Portal>,
    viewer: Viewer,
    Path((id, repo)): Path<(i64, String)>,
    Query(query): Query<ArtifactsQuery>,
) -> Result<Response, PageError> {
    artifacts_page(&portal, &viewer, Shown { project: id, name: &repo }, &query, None).await
}

/// Saves the repository's description.
pub(crate) async fn describe(
    State(portal): State<Portal>,
    Path((id, repo)): Path<(i64, String)>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    let project = head(&portal, &viewer, id, "repositories").await?.name;
    let body = Repository { description: fields.get("description").to_owned(), ..Repository::default() };
    match portal.api.send(&viewer, Method::PUT, &repo_path(&project, &repo), Some(&body)).await? {
        Ok(_) => page::see(format!("/harbor/projects/{id}/repositories/{}", form_urlencoded(&repo))),
        Err(r) => {
            let shown = Shown { project: id, name: &repo };
            artifacts_page(&portal, &viewer, shown, &ArtifactsQuery::default(), Some(capitalize(&r.message))).await
        }
    }
}

/// The API path of artifact `reference` (a tag or digest) of repository `repo` in `project`.
fn artifact_path(project: &str, repo: &str, reference: &str) -> String {
    format!("{}/artifacts/{}", repo_path(project, repo), path_segment(reference))
}

pub(crate) struct Layer {
    pub digest: String,
    pub short: String,
    pub media_type: String,
    pub size: String,
}

pub(crate) struct HistoryStep {
    pub created: String,
    pub created_by: String,
    pub empty: bool,
}

pub(crate) struct Accessory {
    pub digest: String,
    pub short: String,
    pub kind: String,
    pub size: String,
}

#[derive(Template)]
#[template(path = "artifact.html")]
struct Artifact {
    chrome: Chrome,
    head: Head,
    repo: String,
    segment: String,
    row: ArtifactRow,
    media_type: String,
    os_arch: String,
    entrypoint: String,
    cmd: String,
    env: Vec<String>,
    labels: Vec<(String, String)>,
    layers: Vec<Layer>,
    layer_chart: String,
    history: Vec<HistoryStep>,
    accessories: Vec<Accessory>,
    /// The labels it could carry besides those it does (`row.labels`).
    addable: Vec<LabelView>,
    pull_host: String,
    error: Option<String>,
}

fn joined(words: Option<&Vec<String>>) -> String {
    words.map(|w| w.join(" ")).unwrap_or_default()
}

async fn artifact_page(
    portal: &Portal,
    viewer: &Viewer,
    shown: Shown<'_>,
    reference: &str,
    error: Option<String>,
) -> Result<Response, PageError> {
    let Shown { project: id, name: repo } = shown;
    let head = head(portal, viewer, id, "repositories").await?;
    let base = artifact_path(&head.name, repo, reference);
    let a: ArtifactModel =
        portal.api.get(viewer, &format!("{base}?with_tag=true&with_accessory=true&with_label=true")).await?;
    let mut addable = labels::usable(portal, viewer, id).await?;
    addable.retain(|l| a.labels.iter().all(|carried| carried.id != l.id));
    let extra = &a.extra_attrs;
    let config = extra.config.clone().unwrap_or_default();
    let layer_list: Vec<Descriptor> = portal.api.get(viewer, &format!("{base}/additions/layers")).await?;
    let layers: Vec<Layer> = layer_list
        .iter()
        .map(|l| Layer {
            short: format::short_digest(&l.digest),
            digest: l.digest.clone(),
            media_type: l.media_type.clone(),
            size: format::size(l.size),
        })
        .collect();
    let layer_sizes: Vec<(String, i64)> =
        layer_list.iter().enumerate().map(|(i, l)| (format!("layer {}", i + 1), l.size)).collect();
    // Only images have a build history: for others the API answers 404, and there is none to show.
    let history_path = format!("{base}/additions/build_history");
    let steps: Vec<BuildHistoryEntry> = match portal.api.call(viewer, Method::GET, &history_path, NO_BODY).await {
        Ok(reply) => reply.json()?,
        Err(_) => Vec::new(),
    };
    let history = steps
        .into_iter()
        .map(|h| HistoryStep {
            created: format::time(h.created.as_deref().unwrap_or("")),
            created_by: h.created_by.unwrap_or_default(),
            empty: h.empty_layer.unwrap_or(false),
        })
        .collect();
    let accessories = a
        .accessories
        .iter()
        .flatten()
        .map(|r| Accessory {
            short: format::short_digest(&r.digest),
            digest: r.digest.clone(),
            kind: accessory_kind(&r.kind),
            size: format::size(r.size),
        })
        .collect();
    let labels: Vec<(String, String)> = config.labels.clone().unwrap_or_default().into_iter().collect();
    let os_arch = match (&extra.os, &extra.architecture) {
        (Some(os), architecture) => platform(os, architecture.as_deref().unwrap_or(""), extra.variant.as_deref()),
        (None, _) => String::new(),
    };
    let page = Artifact {
        chrome: Chrome::new(viewer, format!("{}/{repo}@{}", head.name, format::short_digest(&a.digest)), "projects"),
        head,
        segment: form_urlencoded(repo),
        repo: repo.to_owned(),
        row: artifact_row(&a),
        media_type: a.manifest_media_type.clone(),
        os_arch,
        entrypoint: joined(config.entrypoint.as_ref()),
        cmd: joined(config.cmd.as_ref()),
        env: config.env.unwrap_or_default(),
        labels,
        layer_chart: if layer_sizes.len() > 1 {
            format::size_chart("Layer sizes", &layer_sizes)
        } else {
            String::new()
        },
        layers,
        history,
        accessories,
        addable,
        pull_host: pull_host(viewer),
        error: error.clone(),
    };
    page::render(page::status_for(&error), &page)
}

pub(crate) async fn artifact(
    State(portal): State<Portal>,
    viewer: Viewer,
    Path((id, repo, reference)): Path<(i64, String, String)>,
) -> Result<Response, PageError> {
    artifact_page(&portal, &viewer, Shown { project: id, name: &repo }, &reference, None).await
}

pub(crate) async fn delete_artifact(
    State(portal): State<Portal>,
    Path((id, repo, reference)): Path<(i64, String, String)>,
    Posted { viewer, .. }: Posted,
) -> Result<Response, PageError> {
    let project = head(&portal, &viewer, id, "repositories").await?.name;
    let path = artifact_path(&project, &repo, &reference);
    match portal.api.send(&viewer, Method::DELETE, &path, NO_BODY).await? {
        Ok(_) => page::see(format!("/harbor/projects/{id}/repositories/{}", form_urlencoded(&repo))),
        Err(refusal) => {
            let shown = Shown { project: id, name: &repo };
            artifacts_page(&portal, &viewer, shown, &ArtifactsQuery::default(), Some(capitalize(&refusal.message)))
                .await
        }
    }
}

/// Adds a tag (`action=add`, `tag`) or removes one (`action=remove`, `tag`).
pub(crate) async fn change_tags(
    State(portal): State<Portal>,
    Path((id, repo, reference)): Path<(i64, String, String)>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    let project = head(&portal, &viewer, id, "repositories").await?.name;
    let tags = format!("{}/tags", artifact_path(&project, &repo, &reference));
    let tag = fields.get("tag");
    let result = match fields.get("action") {
        "add" => portal.api.send(&viewer, Method::POST, &tags, Some(&NewTag { name: tag.to_owned() })).await?,
        "remove" => {
            portal.api.send(&viewer, Method::DELETE, &format!("{tags}/{}", form_urlencoded(tag)), NO_BODY).await?
        }
        _ => return Err(PageError::Status(StatusCode::BAD_REQUEST, "Unknown action.".to_owned())),
    };
    let back = if fields.get("back") == "list" {
        format!("/harbor/projects/{id}/repositories/{}", form_urlencoded(&repo))
    } else {
        format!("/harbor/projects/{id}/repositories/{}/artifacts/{}", form_urlencoded(&repo), path_segment(&reference))
    };
    settle_on_artifact(&portal, &viewer, Shown { project: id, name: &repo }, &reference, result, back).await
}

/// Puts a label on the artifact (`action=add`, `label` its id) or takes one off
/// (`action=remove`).
pub(crate) async fn change_labels(
    State(portal): State<Portal>,
    Path((id, repo, reference)): Path<(i64, String, String)>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    let project = head(&portal, &viewer, id, "repositories").await?.name;
    let labels = format!("{}/labels", artifact_path(&project, &repo, &reference));
    let label: i64 = fields.get("label").parse().unwrap_or(0);
    let result = match fields.get("action") {
        "add" => {
            portal.api.send(&viewer, Method::POST, &labels, Some(&Label { id: label, ..Label::default() })).await?
        }
        "remove" => portal.api.send(&viewer, Method::DELETE, &format!("{labels}/{label}"), NO_BODY).await?,
        _ => return Err(PageError::Status(StatusCode::BAD_REQUEST, "Unknown action.".to_owned())),
    };
    let back =
        format!("/harbor/projects/{id}/repositories/{}/artifacts/{}", form_urlencoded(&repo), path_segment(&reference));
    settle_on_artifact(&portal, &viewer, Shown { project: id, name: &repo }, &reference, result, back).await
}

/// After a change to an artifact: on to `back`, or the artifact's page with the API's refusal.
async fn settle_on_artifact(
    portal: &Portal,
    viewer: &Viewer,
    shown: Shown<'_>,
    reference: &str,
    result: Result<crate::api::Reply, crate::api::Refusal>,
    back: String,
) -> Result<Response, PageError> {
    match result {
        Ok(_) => page::see(back),
        Err(refusal) => artifact_page(portal, viewer, shown, reference, Some(capitalize(&refusal.message))).await,
    }
}
