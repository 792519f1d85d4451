//! A repository's artifacts, and one artifact: tags, layers, configuration, build history,
//! accessories found through referrers, pull commands.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::Portal;
use crate::format::{self, filters};
use crate::page::{self, Chrome, PageError, Paging, Search, form_urlencoded};
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
}

/// What an artifact is, by the media types of its manifest and config (as Harbor's UI tells).
pub(crate) fn kind(a: &Value) -> String {
    let manifest = a["manifest_media_type"].as_str().unwrap_or("");
    let config = a["artifact_type"].as_str().unwrap_or("");
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

fn platform(p: &Value) -> String {
    let mut s = format!("{}/{}", format::text(&p["os"]), format::text(&p["architecture"]));
    if let Some(v) = p["variant"].as_str() {
        s.push('/');
        s.push_str(v);
    }
    s
}

fn artifact_row(a: &Value) -> ArtifactRow {
    let digest = format::text(&a["digest"]);
    let tags = a["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| TagView {
            name: format::text(&t["name"]),
            pushed: format::time(&t["push_time"]),
            pulled: format::pull_time(&t["pull_time"]),
        })
        .collect();
    let platforms = a["references"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| (platform(&r["platform"]), format::text(&r["child_digest"])))
        .collect();
    ArtifactRow {
        short: format::short_digest(&digest),
        digest,
        kind: kind(a),
        size: format::size(a["size"].as_i64().unwrap_or(0)),
        tags,
        pushed: format::time(&a["push_time"]),
        pulled: format::pull_time(&a["pull_time"]),
        platforms,
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
    error: Option<String>,
}

async fn artifacts_page(
    portal: &Portal,
    viewer: &Viewer,
    (id, repo): (i64, &str),
    page_no: i64,
    headers: &HeaderMap,
    error: Option<String>,
) -> Result<Response, PageError> {
    let head = head(portal, viewer, id, "repositories").await?;
    let api_repo = repo_path(&head.name, repo);
    let info = portal.api.get(viewer, &api_repo).await?.body;
    let reply = portal
        .api
        .get(viewer, &format!("{api_repo}/artifacts?with_tag=true&page={page_no}&page_size={}", Paging::SIZE))
        .await?;
    let rows: Vec<ArtifactRow> = reply.items().iter().map(artifact_row).collect();
    let sizes: Vec<(String, i64)> = reply
        .items()
        .iter()
        .map(|a| {
            let digest = format::text(&a["digest"]);
            let label =
                a["tags"][0]["name"].as_str().map(str::to_owned).unwrap_or_else(|| format::short_digest(&digest));
            (label, a["size"].as_i64().unwrap_or(0))
        })
        .collect();
    let page = Artifacts {
        chrome: Chrome::new(viewer, format!("{}/{repo}", head.name), "projects"),
        head,
        segment: form_urlencoded(repo),
        repo: repo.to_owned(),
        description: format::text(&info["description"]),
        chart: if sizes.len() > 1 { format::size_chart(&sizes) } else { String::new() },
        rows,
        paging: Paging::of(page_no, &reply),
        pull_host: pull_host(headers),
        error: error.clone(),
    };
    page::render(page::status_for(&error), &page)
}

pub(crate) async fn artifacts(
    State(portal): State<Portal>,
    viewer: Viewer,
    Path((id, repo)): Path<(i64, String)>,
    Query(query): Query<Search>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    artifacts_page(&portal, &viewer, (id, &repo), query.page(), &headers, None).await
}

/// Saves the repository's description.
pub(crate) async fn describe(
    State(portal): State<Portal>,
    Path((id, repo)): Path<(i64, String)>,
    headers: HeaderMap,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    let project = head(&portal, &viewer, id, "repositories").await?.name;
    let body = json!({"description": fields.get("description")});
    match portal.api.send(&viewer, Method::PUT, &repo_path(&project, &repo), Some(body)).await? {
        Ok(_) => page::see(format!("/harbor/projects/{id}/repositories/{}", form_urlencoded(&repo))),
        Err(r) => artifacts_page(&portal, &viewer, (id, &repo), 1, &headers, Some(capitalize(&r.message))).await,
    }
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
    pull_host: String,
    error: Option<String>,
}

fn joined(v: &Value) -> String {
    v.as_array().map(|a| a.iter().map(format::text).collect::<Vec<_>>().join(" ")).unwrap_or_default()
}

async fn artifact_page(
    portal: &Portal,
    viewer: &Viewer,
    (id, repo, reference): (i64, &str, &str),
    headers: &HeaderMap,
    error: Option<String>,
) -> Result<Response, PageError> {
    let head = head(portal, viewer, id, "repositories").await?;
    let base = format!("{}/artifacts/{reference}", repo_path(&head.name, repo));
    let a = portal.api.get(viewer, &format!("{base}?with_tag=true&with_accessory=true")).await?.body;
    let extra = &a["extra_attrs"];
    let config = &extra["config"];
    let layers_json = portal.api.get(viewer, &format!("{base}/additions/layers")).await?.body;
    let layers: Vec<Layer> = layers_json
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            let digest = format::text(&l["digest"]);
            Layer {
                short: format::short_digest(&digest),
                digest,
                media_type: format::text(&l["mediaType"]),
                size: format::size(l["size"].as_i64().unwrap_or(0)),
            }
        })
        .collect();
    let layer_sizes: Vec<(String, i64)> = layers_json
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, l)| (format!("layer {}", i + 1), l["size"].as_i64().unwrap_or(0)))
        .collect();
    let history = match portal.api.call(viewer, Method::GET, &format!("{base}/additions/build_history"), None).await {
        Ok(reply) => reply
            .items()
            .iter()
            .map(|h| HistoryStep {
                created: format::time(&h["created"]),
                created_by: format::text(&h["created_by"]),
                empty: h["empty_layer"].as_bool().unwrap_or(false),
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    let digest = format::text(&a["digest"]);
    let accessories = a["accessories"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let d = format::text(&r["digest"]);
            Accessory {
                short: format::short_digest(&d),
                digest: d,
                kind: accessory_kind(r["type"].as_str().unwrap_or("")),
                size: format::size(r["size"].as_i64().unwrap_or(0)),
            }
        })
        .collect();
    let mut labels: Vec<(String, String)> =
        config["Labels"].as_object().into_iter().flatten().map(|(k, v)| (k.clone(), format::text(v))).collect();
    labels.sort();
    let os_arch = if extra["os"].is_null() { String::new() } else { platform(extra) };
    let page = Artifact {
        chrome: Chrome::new(viewer, format!("{}/{repo}@{}", head.name, format::short_digest(&digest)), "projects"),
        head,
        segment: form_urlencoded(repo),
        repo: repo.to_owned(),
        row: artifact_row(&a),
        media_type: format::text(&a["manifest_media_type"]),
        os_arch,
        entrypoint: joined(&config["Entrypoint"]),
        cmd: joined(&config["Cmd"]),
        env: config["Env"].as_array().into_iter().flatten().map(format::text).collect(),
        labels,
        layer_chart: if layer_sizes.len() > 1 { format::size_chart(&layer_sizes) } else { String::new() },
        layers,
        history,
        accessories,
        pull_host: pull_host(headers),
        error: error.clone(),
    };
    page::render(page::status_for(&error), &page)
}

pub(crate) async fn artifact(
    State(portal): State<Portal>,
    viewer: Viewer,
    Path((id, repo, reference)): Path<(i64, String, String)>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    artifact_page(&portal, &viewer, (id, &repo, &reference), &headers, None).await
}

pub(crate) async fn delete_artifact(
    State(portal): State<Portal>,
    Path((id, repo, reference)): Path<(i64, String, String)>,
    headers: HeaderMap,
    Posted { viewer, .. }: Posted,
) -> Result<Response, PageError> {
    let project = head(&portal, &viewer, id, "repositories").await?.name;
    let path = format!("{}/artifacts/{reference}", repo_path(&project, &repo));
    match portal.api.send(&viewer, Method::DELETE, &path, None).await? {
        Ok(_) => page::see(format!("/harbor/projects/{id}/repositories/{}", form_urlencoded(&repo))),
        Err(refusal) => {
            artifacts_page(&portal, &viewer, (id, &repo), 1, &headers, Some(capitalize(&refusal.message))).await
        }
    }
}

/// Adds a tag (`action=add`, `tag`) or removes one (`action=remove`, `tag`).
pub(crate) async fn change_tags(
    State(portal): State<Portal>,
    Path((id, repo, reference)): Path<(i64, String, String)>,
    headers: HeaderMap,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    let project = head(&portal, &viewer, id, "repositories").await?.name;
    let tags = format!("{}/artifacts/{reference}/tags", repo_path(&project, &repo));
    let tag = fields.get("tag");
    let result = match fields.get("action") {
        "add" => portal.api.send(&viewer, Method::POST, &tags, Some(json!({"name": tag}))).await?,
        "remove" => portal.api.send(&viewer, Method::DELETE, &format!("{tags}/{}", form_urlencoded(tag)), None).await?,
        _ => return Err(PageError::Status(StatusCode::BAD_REQUEST, "Unknown action.".to_owned())),
    };
    let back = if fields.get("back") == "list" {
        format!("/harbor/projects/{id}/repositories/{}", form_urlencoded(&repo))
    } else {
        format!("/harbor/projects/{id}/repositories/{}/artifacts/{reference}", form_urlencoded(&repo))
    };
    match result {
        Ok(_) => page::see(back),
        Err(refusal) => {
            artifact_page(&portal, &viewer, (id, &repo, &reference), &headers, Some(capitalize(&refusal.message))).await
        }
    }
}
