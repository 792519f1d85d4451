//! Running policies: planning an execution (what differs between source and destination), the
//! task jobs that copy, the event trigger that turns the outbox into tasks, and the schedules.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use berth_content::{Actor, Content};
use berth_jobs::JobContext;
use berth_meta::{Cursor, EventRow, Handover, NewTask, PolicyRow};
use chrono::{TimeZone, Utc};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::copy::Copier;
use crate::endpoints::Endpoints;
use crate::jobs::{plan_job, task_job};
use crate::policy::{Filter, Filters, destination_repository, parse_cron};
use crate::side::Side;

/// What a task does, stored with it.
#[derive(Debug, Serialize, Deserialize)]
pub struct TaskSpec {
    pub policy: i64,
    pub src_repo: String,
    pub dst_repo: String,
    /// A tag or a digest.
    pub reference: String,
    /// The registry the change that asked for this task came from (event-based runs).
    #[serde(default)]
    pub origin: Option<String>,
}

/// Events read per round of the event trigger.
const EVENT_BATCH: i64 = 500;
/// Event-based policies are also reconciled (source and destination compared) this often, to
/// repair whatever events alone could not (a destination changed by hand, say).
const RECONCILE_EVERY: i64 = 3600;

/// Replication as the job runner and the trigger loops see it. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    endpoints: Endpoints,
    local: Content,
}

/// A policy parsed: its filters and both sides.
struct Prepared {
    policy: PolicyRow,
    filters: Filters,
    src: Side,
    dst: Side,
    /// The destination's registry id when it is a Berth (content from there is not sent back).
    dst_peer: Option<String>,
}

impl Engine {
    pub fn new(endpoints: Endpoints, local: Content) -> Engine {
        Engine { endpoints, local }
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    fn meta(&self) -> &berth_meta::Meta {
        self.endpoints.meta()
    }

    async fn prepare(&self, policy: PolicyRow) -> anyhow::Result<Prepared> {
        let filters: Vec<Filter> = serde_json::from_str(&policy.filters).context("stored filters unreadable")?;
        let filters = Filters::parse(&filters)?;
        let actor = |origin: Option<String>| Actor::system(format!("replication:{}", policy.name), origin);
        let (src, dst, dst_peer) = match (policy.src_registry_id, policy.dest_registry_id) {
            (Some(id), None) => {
                let (_, remote) = self.endpoints.remote_by_id(id).await?;
                let peer = Endpoints::peer_id(&remote).await.ok().flatten();
                (Side::Remote(remote), Side::Local { local: self.local.clone(), actor: actor(peer) }, None)
            }
            (None, Some(id)) => {
                let (_, remote) = self.endpoints.remote_by_id(id).await?;
                let peer = Endpoints::peer_id(&remote).await.ok().flatten();
                (Side::Local { local: self.local.clone(), actor: actor(None) }, Side::Remote(remote), peer)
            }
            _ => bail!("a policy needs exactly one of src_registry and dest_registry"),
        };
        Ok(Prepared { policy, filters, src, dst, dst_peer })
    }

    /// Plans `execution` ([`crate::jobs::PlanExecution`]): compares source and destination in the policy's
    /// scope and adds a task for every tag that differs.
    pub(crate) async fn plan(&self, execution: i64, job: &JobContext) -> anyhow::Result<()> {
        let Some(row) = self.meta().execution(execution).await? else {
            return Ok(());
        };
        let Some(policy) = self.meta().policy(row.policy_id).await? else {
            return Ok(());
        };
        let p = self.prepare(policy).await?;
        let mut tasks = Vec::new();
        let repositories = p.src.repositories().await?;
        job.log(format!("{} repositories at {}", repositories.len(), p.src.describe())).await;
        for repo in repositories.iter().filter(|r| p.filters.repository_matches(r)) {
            let dst_repo =
                destination_repository(repo, &p.policy.dest_namespace, p.policy.dest_namespace_replace_count)?;
            for tag in p.src.tags(repo).await?.into_iter().filter(|t| p.filters.tag_matches(t)) {
                let Some(digest) = p.src.head(repo, &tag).await? else { continue };
                if p.dst.head(&dst_repo, &tag).await? == Some(digest) {
                    continue;
                }
                tasks.push(task(&p.policy, repo, &dst_repo, &tag, None));
            }
        }
        job.log(format!("{} tags to copy", tasks.len())).await;
        Ok(self.meta().add_tasks(execution, &tasks, &task_job).await?)
    }

    /// Runs task `id` ([`crate::jobs::CopyTask`]): syncs one reference.
    pub(crate) async fn run_task(&self, id: i64, job: &JobContext) -> anyhow::Result<()> {
        let Some(task) = self.meta().task(id).await? else {
            return Ok(());
        };
        let spec: TaskSpec = serde_json::from_str(&task.spec).context("task spec unreadable")?;
        let Some(policy) = self.meta().policy(spec.policy).await? else {
            job.log("the policy was deleted; nothing to do").await;
            return Ok(());
        };
        let p = self.prepare(policy).await?;
        if spec.origin.is_some() && spec.origin == p.dst_peer {
            job.log(format!("{}:{} came from the destination; not sent back", spec.src_repo, spec.reference)).await;
            return Ok(());
        }
        let speed = u64::try_from(p.policy.speed).ok().filter(|s| *s > 0).map_or(0, |kb| kb * 1024);
        let copier = Copier {
            src: &p.src,
            dst: &p.dst,
            src_repo: &spec.src_repo,
            dst_repo: &spec.dst_repo,
            filters: &p.filters,
            override_existing: p.policy.override_existing,
            replicate_deletion: p.policy.replicate_deletion,
            speed,
            namespace: (&p.policy.dest_namespace, p.policy.dest_namespace_replace_count),
            job,
        };
        match &p.dst {
            Side::Remote(remote) => ensure_project(remote, &spec.dst_repo, job).await,
            Side::Local { actor, .. } => self.ensure_local_project(&spec.dst_repo, actor, job).await?,
        }
        copier.sync(&spec.reference).await
    }

    /// Creates the local project `dst_repo` lives in, owned by `admin`, if it is missing, as
    /// Harbor does for pull-based replication: a repository never exists outside a project.
    async fn ensure_local_project(&self, dst_repo: &str, actor: &Actor, job: &JobContext) -> anyhow::Result<()> {
        let project = dst_repo.split('/').next().unwrap_or(dst_repo);
        if self.meta().project_id(project).await?.is_some() {
            return Ok(());
        }
        let owner = self.meta().user_by_name("admin").await?.context("no admin user")?;
        let event = actor.change(project, project.to_owned(), "project", "create");
        match self.meta().create_project(project, false, owner.id, -1, None, &[], &event).await {
            Ok(_) => job.log(format!("created project {project}")).await,
            // Another task created it meanwhile.
            Err(berth_meta::MetaError::Conflict(_)) => {}
            Err(e) => return Err(anyhow!(e).context(format!("creating project {project}"))),
        }
        Ok(())
    }

    /// Hands new events of the outbox to every enabled event-based policy, until `stop`.
    pub async fn run_event_trigger(self, poll: Duration, stop: CancellationToken) {
        let mut peers: HashMap<i64, Option<String>> = HashMap::new();
        loop {
            if let Err(e) = self.event_round(&mut peers).await {
                tracing::warn!(error = %format!("{e:#}"), "replication event trigger");
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                () = stop.cancelled() => return,
            }
        }
    }

    async fn event_round(&self, peers: &mut HashMap<i64, Option<String>>) -> anyhow::Result<()> {
        let policies = self.meta().enabled_policies("event_based").await?;
        for policy in policies {
            let Some(dest) = policy.dest_registry_id else { continue };
            let consumer = cursor_name(policy.id);
            loop {
                let from = self.meta().cursor(&consumer).await?;
                let events = self.meta().events_after(from, EVENT_BATCH).await?;
                let Some(last) = events.last() else { break };
                let to = Cursor { txid: last.txid, event_id: last.id };
                // While the destination is unreachable the events wait in the outbox, behind the
                // cursor: they are handed over the moment it answers again, none is lost to
                // tasks that would have failed in the meantime.
                let (_, remote) = self.endpoints.remote_by_id(dest).await?;
                if let Err(e) = remote.ping().await {
                    tracing::debug!(policy = policy.id, error = %e, "destination unreachable; events wait");
                    break;
                }
                if !peers.contains_key(&dest)
                    && let Ok(Some(peer)) = Endpoints::peer_id(&remote).await
                {
                    peers.insert(dest, Some(peer));
                }
                let peer = peers.get(&dest).cloned().flatten();
                let tasks = event_tasks(&policy, &events, peer.as_deref())?;
                let handover =
                    Handover { consumer: &consumer, from, to, policy: policy.id, tasks: &tasks, task_job: &task_job };
                match self.meta().consume_events(&handover).await? {
                    Some(Some(execution)) => {
                        tracing::info!(policy = policy.id, execution, tasks = tasks.len(), "replicating events")
                    }
                    Some(None) => {}
                    // Another instance handed these events over.
                    None => break,
                }
                if events.len() < EVENT_BATCH as usize {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Starts scheduled executions when their cron fires (and hourly reconciliations of
    /// event-based policies), once cluster-wide, until `stop`.
    pub async fn run_scheduler(self, tick: Duration, stop: CancellationToken) {
        let mut last = Utc::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                () = stop.cancelled() => return,
            }
            let now = Utc::now();
            if let Err(e) = self.schedule_round(last, now).await {
                tracing::warn!(error = %format!("{e:#}"), "replication scheduler");
            }
            last = now;
        }
    }

    async fn schedule_round(&self, after: chrono::DateTime<Utc>, until: chrono::DateTime<Utc>) -> anyhow::Result<()> {
        for policy in self.meta().enabled_policies("scheduled").await? {
            let Ok(cron) = parse_cron(&policy.cron) else { continue };
            let Ok(next) = cron.find_next_occurrence(&after, false) else { continue };
            if next <= until {
                self.start_once(&policy, "scheduled", next.timestamp()).await?;
            }
        }
        let (a, u) = (after.timestamp() / RECONCILE_EVERY, until.timestamp() / RECONCILE_EVERY);
        if u > a {
            for policy in self.meta().enabled_policies("event_based").await? {
                self.start_once(&policy, "scheduled", u * RECONCILE_EVERY).await?;
            }
        }
        Ok(())
    }

    /// Starts one execution of `policy` for the period starting at `at`, even when every
    /// instance asks.
    async fn start_once(&self, policy: &PolicyRow, trigger: &str, at: i64) -> anyhow::Result<()> {
        let key = format!("replication:{}:{at}", policy.id);
        let plan = |id| plan_job(id).once(key.clone());
        let started = self.meta().create_execution(policy.id, trigger, &plan).await?;
        if let Some(id) = started {
            let when = Utc.timestamp_opt(at, 0).single().map(|t| t.to_rfc3339()).unwrap_or_default();
            tracing::info!(policy = policy.id, execution = id, "scheduled replication of {when}");
        }
        Ok(())
    }
}

/// The consumer name of a policy's cursor in the event outbox.
pub fn cursor_name(policy: i64) -> String {
    format!("replication:{policy}")
}

fn task(policy: &PolicyRow, src_repo: &str, dst_repo: &str, reference: &str, origin: Option<&str>) -> NewTask {
    let spec = TaskSpec {
        policy: policy.id,
        src_repo: src_repo.to_owned(),
        dst_repo: dst_repo.to_owned(),
        reference: reference.to_owned(),
        origin: origin.map(str::to_owned),
    };
    let sep = if reference.contains(':') { "@" } else { ":" };
    NewTask {
        operation: "copy",
        resource_type: "artifact",
        src_resource: format!("{src_repo}{sep}{reference}"),
        dst_resource: format!("{dst_repo}{sep}{reference}"),
        spec: serde_json::to_string(&spec).expect("a task spec serializes"),
    }
}

/// The tasks `events` ask of `policy`: one per repository and reference, whichever way it changed
/// (a task syncs the reference to what the source holds when it runs).
fn event_tasks(policy: &PolicyRow, events: &[EventRow], dst_peer: Option<&str>) -> anyhow::Result<Vec<NewTask>> {
    let filters: Vec<Filter> = serde_json::from_str(&policy.filters)?;
    let filters = Filters::parse(&filters)?;
    let mut seen = BTreeSet::new();
    let mut tasks = Vec::new();
    for e in events {
        let (Some(repo), "artifact" | "tag", "create" | "delete") =
            (e.repository.as_deref(), e.resource_type.as_str(), e.operation.as_str())
        else {
            continue;
        };
        if e.operation == "delete" && !policy.replicate_deletion {
            continue;
        }
        if dst_peer.is_some() && e.origin.as_deref() == dst_peer {
            continue;
        }
        if !filters.repository_matches(repo) {
            continue;
        }
        let reference = match (&e.tag, &e.digest) {
            (Some(tag), _) if filters.tag_matches(tag) => tag.clone(),
            (Some(_), _) => continue,
            // A deleted artifact's tags are gone with it: the name filter decides alone. An
            // untagged push is judged by its task, which sees whether it is an accessory.
            (None, Some(digest)) => digest.clone(),
            (None, None) => continue,
        };
        if !seen.insert((repo.to_owned(), reference.clone())) {
            continue;
        }
        let dst_repo = destination_repository(repo, &policy.dest_namespace, policy.dest_namespace_replace_count)?;
        tasks.push(task(policy, repo, &dst_repo, &reference, e.origin.as_deref()));
    }
    Ok(tasks)
}

/// Creates the project `dst_repo` lives in at a Harbor or Berth destination if it is missing, as
/// Harbor's own replication does. Registries without Harbor's API answer 404 and need none.
async fn ensure_project(remote: &berth_remote::Remote, dst_repo: &str, job: &JobContext) {
    let project = dst_repo.split('/').next().unwrap_or(dst_repo);
    let body = serde_json::json!({ "project_name": project, "metadata": { "public": "false" } });
    match remote.api_post("projects", &body).await {
        Ok(true) => job.log(format!("created project {project} at {}", remote.url())).await,
        Ok(false) | Err(berth_remote::RemoteError::NotFound(_)) => {}
        Err(e) => {
            job.log(format!("could not create project {project} at {} ({e}); pushing anyway", remote.url())).await
        }
    }
}
