//! Artifacts of a repository (`.../repositories/{repository}/artifacts`) and of a project
//! (`/projects/{project}/artifacts`): listings, one artifact with its additions and accessories,
//! deletion, and copies from another repository.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_api_types::{
    Accessory, AdditionLink, AdditionLinks, Artifact, BuildHistoryEntry, Descriptor, ExtraAttrs, ImageConfig, Label,
};
use berth_auth::Permission;
use berth_meta::time::{rfc3339, rfc3339_or_zero};
use berth_meta::{ArtifactLabel, ArtifactRow, RepositoryRow, TagRow};
use berth_oci::media_type::{IMAGE_CONFIGS, harbor_artifact_type};
use berth_oci::{Digest, Reference, RepoName};
use serde::Deserialize;

use crate::ApiState;
use crate::caller::Caller;
use crate::error::ApiError;
use crate::labels::label_model;
use crate::page::PageQuery;
use crate::projects::{find, find_visible, require};
use crate::query::Term;
use crate::repositories::{decode, locate, repo_name};
use crate::tags::tag_model;
use berth_rules::ImmutableRule;

type PathRejection = axum::extract::rejection::PathRejection;
type QueryRejection = axum::extract::rejection::QueryRejection;

/// What the API reads of a stored manifest: an image's config and layers, an index's children.
#[derive(Deserialize, Default)]
struct ManifestView {
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

impl ManifestView {
    fn of(a: &ArtifactRow) -> ManifestView {
        // Stored manifests were parsed when pushed: only a manifest of another shape fails here.
        serde_json::from_slice(&a.content).unwrap_or_default()
    }

    fn is_index(&self) -> bool {
        !self.manifests.is_empty()
    }

    /// The configuration of an image: not of an index, a signature or another artifact.
    fn image_config(&self) -> Option<&Descriptor> {
        self.config.as_ref().filter(|c| IMAGE_CONFIGS.contains(&c.media_type.as_str()))
    }
}

/// The additions Berth serves for an artifact, as Harbor links them: `build_history` for an
/// image, and Berth's own `layers` for every manifest that is not an index.
fn addition_links(repo: &RepositoryRow, a: &ArtifactRow, view: &ManifestView) -> AdditionLinks {
    let (project, short) = repo.name.split_once('/').unwrap_or(("", &repo.name));
    // Harbor's clients encode the `/` of a repository name twice.
    let base = format!(
        "/api/v2.0/projects/{project}/repositories/{}/artifacts/{}/additions",
        short.replace('/', "%252F"),
        a.digest
    );
    let link = |addition: &str| AdditionLink { href: format!("{base}/{addition}"), absolute: false };
    let mut links = AdditionLinks::new();
    if view.image_config().is_some() {
        links.insert("build_history".to_owned(), link("build_history"));
    }
    if !view.is_index() {
        links.insert("layers".to_owned(), link("layers"));
    }
    links
}

/// `tags`: the artifact's tags when the caller already loaded them (listings load a whole page
/// at once), or `None` to load them here; `rules`: the project's enabled immutability rules.
async fn artifact_model(
    state: &ApiState,
    project_id: i64,
    repo: &RepositoryRow,
    a: &ArtifactRow,
    with_tag: bool,
    tags: Option<Vec<&TagRow>>,
    rules: &[ImmutableRule],
) -> Result<Artifact, ApiError> {
    let view = ManifestView::of(a);
    let model = |t: &TagRow| tag_model(t, repo, a, rules);
    let tags = match (with_tag, tags) {
        (false, _) => None,
        (true, Some(tags)) => Some(tags.into_iter().map(model).collect()),
        (true, None) => Some(state.meta().tags_of(repo.id, &a.digest).await?.iter().map(model).collect()),
    };
    // An index refers to its children.
    let mut references = Vec::with_capacity(view.manifests.len());
    for child in &view.manifests {
        references.push(berth_api_types::Reference {
            parent_id: a.id,
            child_id: state.meta().artifact_id(repo.id, &child.digest).await?,
            child_digest: child.digest.clone(),
            platform: child.platform.clone(),
            annotations: child.annotations.clone(),
        });
    }
    Ok(Artifact {
        id: a.id,
        kind: harbor_artifact_type(&a.media_type, a.artifact_type.as_deref()).to_owned(),
        media_type: a.artifact_type.clone().unwrap_or_else(|| a.media_type.clone()),
        manifest_media_type: a.media_type.clone(),
        artifact_type: a.artifact_type.clone(),
        project_id,
        repository_id: repo.id,
        repository_name: repo.name.clone(),
        digest: a.digest.clone(),
        size: a.total_size,
        icon: String::new(),
        push_time: rfc3339(a.created_at),
        pull_time: rfc3339_or_zero(Some(a.pull_time)),
        extra_attrs: ExtraAttrs::default(),
        annotations: a.annotations.as_deref().and_then(|s| serde_json::from_str(s).ok()),
        labels: Vec::new(),
        tags,
        references: view.is_index().then_some(references),
        accessories: None,
        addition_links: addition_links(repo, a, &view),
    })
}

#[derive(Deserialize)]
pub(crate) struct ArtifactQuery {
    #[serde(default)]
    with_tag: Option<bool>,
    #[serde(default)]
    with_accessory: Option<bool>,
    /// Project listings only: just the last artifact pushed to each repository.
    #[serde(default)]
    latest_in_repository: Option<bool>,
    #[serde(default)]
    with_label: Option<bool>,
    /// Listings only: `labels=id` or `labels=(id1 id2)`, the artifacts carrying all of them.
    #[serde(default)]
    q: Option<String>,
}

impl ArtifactQuery {
    /// The labels a listing's artifacts must all carry (`q=labels=...`), as Harbor reads them:
    /// one id, or all of a list.
    fn labels(&self) -> Result<Vec<i64>, ApiError> {
        let q = crate::query::Query::parse(self.q.as_deref(), &["labels"])?;
        let ids: Vec<&String> = match q.get("labels") {
            None => return Ok(Vec::new()),
            Some(Term::Exact(id)) => vec![id],
            Some(Term::AllOf(ids)) => ids.iter().collect(),
            Some(_) => return Err(ApiError::bad_request("labels takes a label id or all of a list: labels=(id1 id2)")),
        };
        let mut ids = ids
            .into_iter()
            .map(|id| id.parse().map_err(|_| ApiError::bad_request(format!("label id {id:?} is not a number"))))
            .collect::<Result<Vec<i64>, _>>()?;
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// What a listing's `Link` keeps of the query, beside paging.
    fn kept(&self) -> String {
        let mut kept = Vec::new();
        if self.with_tag == Some(false) {
            kept.push("with_tag=false".to_owned());
        }
        if self.with_label == Some(true) {
            kept.push("with_label=true".to_owned());
        }
        if self.latest_in_repository == Some(true) {
            kept.push("latest_in_repository=true".to_owned());
        }
        kept.extend(self.q.as_ref().map(|q| format!("q={q}")));
        kept.join("&")
    }
}

/// The labels the artifacts `rows` carry, when asked (`with_label=true`).
async fn labels_of(state: &ApiState, rows: &[ArtifactRow], with_label: bool) -> Result<Vec<ArtifactLabel>, ApiError> {
    if !with_label {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = rows.iter().map(|a| a.id).collect();
    Ok(state.meta().labels_of_artifacts(&ids).await?)
}

/// The labels of `labels` artifact `a` carries, as Harbor shows them.
fn carried(labels: &[ArtifactLabel], a: &ArtifactRow) -> Vec<Label> {
    labels.iter().filter(|l| l.manifest_id == a.id).map(|l| label_model(&l.label)).collect()
}

/// The orders artifact listings offer (`sort=`).
const SORTS: &[(&str, &str)] =
    &[("push_time", "m.created_at"), ("pull_time", "m.pull_time"), ("size", "m.total_size"), ("digest", "m.digest")];

/// Image configurations above this size are not read for `extra_attrs` (real ones are a few KiB).
const CONFIG_LIMIT: u64 = 4 << 20;

/// What the API shows of an image configuration blob (OCI image specification).
#[derive(Deserialize)]
struct ImageConfigBlob {
    architecture: Option<String>,
    os: Option<String>,
    variant: Option<String>,
    author: Option<String>,
    created: Option<String>,
    config: Option<ImageConfig>,
    history: Option<Vec<BuildHistoryEntry>>,
}

impl ImageConfigBlob {
    /// Harbor's `extra_attrs` of an image: platform, author, creation and the run configuration.
    fn extra_attrs(self) -> ExtraAttrs {
        ExtraAttrs {
            architecture: self.architecture,
            os: self.os,
            variant: self.variant,
            author: self.author,
            created: self.created,
            config: self.config,
        }
    }
}

/// The configuration blob of an image, parsed; `None` for other artifacts.
async fn image_config(state: &ApiState, view: &ManifestView) -> Result<Option<ImageConfigBlob>, ApiError> {
    let Some(config) = view.image_config() else { return Ok(None) };
    let size = u64::try_from(config.size).unwrap_or(0);
    let Ok(digest) = config.digest.parse::<berth_oci::Digest>() else { return Ok(None) };
    if size == 0 || size > CONFIG_LIMIT {
        return Ok(None);
    }
    let mut stream = state.content.read_blob(&digest, 0, size).await?;
    let mut bytes = Vec::with_capacity(size as usize);
    while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
        bytes.extend_from_slice(&chunk.map_err(ApiError::internal)?);
    }
    Ok(serde_json::from_slice(&bytes).ok())
}

/// Harbor's accessory type of a referrer, by its artifact type.
fn accessory_type(artifact_type: Option<&str>) -> &'static str {
    match artifact_type.unwrap_or("") {
        "application/vnd.dev.cosign.artifact.sig.v1+json" => "signature.cosign",
        "application/vnd.cncf.notary.signature" => "signature.notation",
        t if t.contains("spdx") || t.contains("cyclonedx") || t.contains("sbom") => "sbom.harbor",
        _ => "subject.accessory",
    }
}

pub(crate) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    paging: Result<Query<PageQuery>, QueryRejection>,
    query: Result<Query<ArtifactQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path((project_key, repository)) = path?;
    let (project, repo) =
        locate(&state, &caller, &project_key, &repository, &headers, Permission::new("artifact", "list")).await?;
    let paging = paging?.0;
    let page = paging.page()?;
    let sort = paging.sort(SORTS, &[("m.created_at", true)], "m.id DESC")?;
    let query = query?.0;
    let with_tag = query.with_tag.unwrap_or(true);
    let (rows, total) = state.meta().list_artifacts(repo.id, &query.labels()?, &sort, page.offset(), page.size).await?;
    // The page's tags in one query rather than one per artifact.
    let digests: Vec<&str> = rows.iter().map(|a| a.digest.as_str()).collect();
    let tags = if with_tag { state.meta().tags_of_many(repo.id, &digests).await? } else { Vec::new() };
    let rules = state.meta().immutable_rules_of(project.id).await?;
    let labels = labels_of(&state, &rows, query.with_label.unwrap_or(false)).await?;
    let mut items = Vec::with_capacity(rows.len());
    for a in &rows {
        let mine = tags.iter().filter(|t| t.digest == a.digest).collect();
        let mut model = artifact_model(&state, project.id, &repo, a, with_tag, Some(mine), &rules).await?;
        model.labels = carried(&labels, a);
        items.push(model);
    }
    let path = format!("/api/v2.0/projects/{project_key}/repositories/{repository}/artifacts");
    Ok(page.respond(items, total, &path, &query.kept()))
}

/// `GET /projects/{project}/artifacts`: the artifacts of every repository of the project, each
/// with its repository's name; with `latest_in_repository`, only the last pushed of each.
pub(crate) async fn list_of_project(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    paging: Result<Query<PageQuery>, QueryRejection>,
    query: Result<Query<ArtifactQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(key) = path?;
    let (project, access) = find_visible(&state, &caller, &key, &headers).await?;
    require(&caller, &access, "artifact", "list")?;
    let paging = paging?.0;
    let page = paging.page()?;
    let sort = paging.sort(SORTS, &[("m.created_at", true)], "m.id DESC")?;
    let query = query?.0;
    let (with_tag, latest) = (query.with_tag.unwrap_or(true), query.latest_in_repository.unwrap_or(false));
    let (rows, total) = state
        .meta()
        .list_project_artifacts(&project.name, latest, &query.labels()?, &sort, page.offset(), page.size)
        .await?;
    let mut ids: Vec<i64> = rows.iter().map(|a| a.repository_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let repositories = state.meta().repositories_by_id(&ids).await?;
    let rules = state.meta().immutable_rules_of(project.id).await?;
    let labels = labels_of(&state, &rows, query.with_label.unwrap_or(false)).await?;
    let mut items = Vec::with_capacity(rows.len());
    for a in &rows {
        let Some(repo) = repositories.iter().find(|r| r.id == a.repository_id) else { continue };
        let mut model = artifact_model(&state, project.id, repo, a, with_tag, None, &rules).await?;
        model.labels = carried(&labels, a);
        items.push(model);
    }
    Ok(page.respond(items, total, &format!("/api/v2.0/projects/{key}/artifacts"), &query.kept()))
}

#[derive(Deserialize)]
pub(crate) struct CopyQuery {
    /// `project/repository:tag` or `project/repository@digest`.
    from: String,
}

/// `POST .../repositories/{repository}/artifacts?from=`: copies an artifact of any repository
/// the caller may read into this one (created if missing), with its children, accessories and
/// tags; no bytes move. Not into a proxy-cache project, whose content comes from upstream only.
pub(crate) async fn copy(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    query: Result<Query<CopyQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path((project, repository)) = path?;
    let (target, access) = find_visible(&state, &caller, &project, &headers).await?;
    require(&caller, &access, "artifact", "create")?;
    if target.registry_id.is_some() {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("project {} is a proxy cache: its content comes from its upstream only", target.name),
        ));
    }
    let Query(q) = query?;
    let (from, reference) = parse_from(&q.from)?;
    let source = find(&state, from.project(), true).await?;
    require(&caller, &state.auth.access_to(&caller.principal, &source.key()).await?, "artifact", "read")?;
    let to = RepoName::parse(&format!("{}/{}", target.name, decode(&repository)?))
        .map_err(|e| ApiError::bad_request(format!("invalid repository name {repository:?}: {e}")))?;
    state.content.copy_artifact(&from, &reference, &to, &caller.actor()).await?;
    let location = format!("/api/v2.0/projects/{project}/repositories/{repository}/artifacts/{reference}");
    Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
}

/// `repository:tag` or `repository@digest`.
fn parse_from(from: &str) -> Result<(RepoName, Reference), ApiError> {
    let invalid = |why: String| ApiError::bad_request(format!("invalid from {from:?}: {why}"));
    let (repository, reference) = match from.split_once('@') {
        Some(split) => split,
        None => from
            .rsplit_once(':')
            .filter(|(repository, _)| !repository.is_empty())
            .ok_or_else(|| invalid("expected project/repository:tag or project/repository@digest".to_owned()))?,
    };
    let repository = RepoName::parse(repository).map_err(|e| invalid(e.to_string()))?;
    let reference = Reference::parse(reference).map_err(|e| invalid(e.to_string()))?;
    Ok((repository, reference))
}

/// A stored artifact's digest.
pub(crate) fn artifact_digest(a: &ArtifactRow) -> Result<Digest, ApiError> {
    a.digest.parse().map_err(ApiError::internal)
}

/// The artifact a `{reference}` (digest or tag) names.
pub(crate) async fn artifact(state: &ApiState, repo: &RepositoryRow, reference: &str) -> Result<ArtifactRow, ApiError> {
    let found = match Reference::parse(reference) {
        Ok(Reference::Digest(d)) => state.meta().artifact_by_digest(repo.id, &d.to_string()).await?,
        Ok(Reference::Tag(t)) => state.meta().artifact_by_tag(repo.id, t.as_str()).await?,
        Err(e) => return Err(ApiError::bad_request(format!("invalid reference {reference:?}: {e}"))),
    };
    found.ok_or_else(|| ApiError::not_found(format!("artifact {reference} not found")))
}

pub(crate) async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<(String, String, String)>, PathRejection>,
    headers: HeaderMap,
    query: Result<Query<ArtifactQuery>, QueryRejection>,
) -> Result<Json<Artifact>, ApiError> {
    let Path((project, repository, reference)) = path?;
    let (project, repo) =
        locate(&state, &caller, &project, &repository, &headers, Permission::new("artifact", "read")).await?;
    let a = artifact(&state, &repo, &reference).await?;
    let query = query?.0;
    let rules = state.meta().immutable_rules_of(project.id).await?;
    let mut model = artifact_model(&state, project.id, &repo, &a, query.with_tag.unwrap_or(true), None, &rules).await?;
    let labels = labels_of(&state, std::slice::from_ref(&a), query.with_label.unwrap_or(false)).await?;
    model.labels = carried(&labels, &a);
    if let Some(config) = image_config(&state, &ManifestView::of(&a)).await? {
        model.extra_attrs = config.extra_attrs();
    }
    if query.with_accessory.unwrap_or(false) {
        let referrers = state.meta().referrers(repo.id, &a.digest, None).await?;
        let accessories = referrers.iter().map(|r| Accessory {
            subject_artifact_digest: a.digest.clone(),
            kind: accessory_type(r.artifact_type.as_deref()).to_owned(),
            digest: r.digest.clone(),
            size: r.size,
            icon: String::new(),
        });
        model.accessories = Some(accessories.collect());
    }
    Ok(Json(model))
}

/// `GET .../artifacts/{reference}/additions/{addition}`: `build_history` (Harbor's: the image
/// configuration's history) and `layers` (Berth's: the manifest's layer descriptors).
pub(crate) async fn addition(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<(String, String, String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path((project, repository, reference, addition)) = path?;
    let (_, repo) =
        locate(&state, &caller, &project, &repository, &headers, Permission::new("artifact", "read")).await?;
    let a = artifact(&state, &repo, &reference).await?;
    let view = ManifestView::of(&a);
    match addition.as_str() {
        "build_history" => match image_config(&state, &view).await? {
            Some(config) => Ok(Json(config.history.unwrap_or_default()).into_response()),
            None => Err(ApiError::not_found(format!("artifact {reference} is not an image: it has no build history"))),
        },
        "layers" => Ok(Json(view.layers).into_response()),
        other => Err(ApiError::not_found(format!("addition {other:?} not found (build_history, layers)"))),
    }
}

pub(crate) async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<(String, String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let Path((project, repository, reference)) = path?;
    let (_, repo) =
        locate(&state, &caller, &project, &repository, &headers, Permission::new("artifact", "delete")).await?;
    let a = artifact(&state, &repo, &reference).await?;
    let digest = Reference::Digest(artifact_digest(&a)?);
    state.content.delete_manifest(&repo_name(&repo)?, &digest, &caller.actor(), None).await?;
    Ok(StatusCode::OK)
}
