//! Leadership on Kubernetes: a `coordination.k8s.io/v1` Lease, as Kubernetes' own controllers
//! elect theirs (kube-rs has no election of its own). The holder renews it every check; another
//! replica takes it only once it has not been renewed for its whole duration. Every write names
//! the `resourceVersion` it read, so of two replicas that try at once the API server lets one win
//! (409 for the other). The leader steps down as soon as a renewal fails, long before the lease
//! expires for the others, so two leaders never overlap while the clocks agree within that margin.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::Client;

use super::Campaign;

/// How long a lease that is not renewed keeps the others out.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(15);

pub struct KubeLease {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
    /// The longest one try or renewal may take.
    limit: Duration,
}

impl KubeLease {
    /// The Lease `name` of `namespace`, held as `identity` (unique per replica).
    pub fn new(client: Client, namespace: &str, name: &str, identity: String) -> Self {
        KubeLease {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity,
            duration: DEFAULT_DURATION,
            limit: Duration::from_secs(5),
        }
    }

    /// How long an unrenewed lease keeps the others out; the try and renewal limit follows.
    pub fn with_duration(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self.limit = (duration / 3).max(Duration::from_millis(100));
        self
    }

    /// Takes or renews the lease: `Ok(false)` when another replica holds it, or won the race.
    async fn take(&self) -> anyhow::Result<bool> {
        let now = jiff::Timestamp::now();
        let Some(lease) = self.api.get_opt(&self.name).await? else {
            let lease = self.lease(ObjectMeta::default(), LeaseSpec::default(), now);
            return won(self.api.create(&PostParams::default(), &lease).await);
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let ours = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        if !ours && !expired(&spec, now) {
            return Ok(false);
        }
        let next = self.lease(lease.metadata, spec, now);
        won(self
            .api
            .replace(&self.name, &PostParams::default(), &next)
            .await)
    }

    /// The Lease written without a holder, if this replica still holds it.
    async fn give_up(&self) -> anyhow::Result<()> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
        self.api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
            .context("writing the leader Lease free")?;
        Ok(())
    }

    /// `spec` held by this replica from `now`; `metadata` keeps the `resourceVersion` read.
    fn lease(&self, mut metadata: ObjectMeta, spec: LeaseSpec, now: jiff::Timestamp) -> Lease {
        let ours = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        let transitions = spec.lease_transitions.unwrap_or(0);
        metadata.name = Some(self.name.clone());
        Lease {
            metadata,
            spec: Some(LeaseSpec {
                holder_identity: Some(self.identity.clone()),
                lease_duration_seconds: Some(self.duration.as_secs().max(1) as i32),
                acquire_time: if ours {
                    spec.acquire_time
                } else {
                    Some(MicroTime(now))
                },
                renew_time: Some(MicroTime(now)),
                lease_transitions: Some(if ours { transitions } else { transitions + 1 }),
                ..spec
            }),
        }
    }
}

/// Who this replica is in the Lease: its pod (`HOSTNAME` in a pod), its process, and when it
/// started, so a restarted pod is not taken for its predecessor.
pub fn identity() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "belt-api".to_string());
    let started = jiff::Timestamp::now().as_millisecond();
    format!("{host}-{}-{started}", std::process::id())
}

/// A lease not renewed for its duration, or never held, is free.
fn expired(spec: &LeaseSpec, now: jiff::Timestamp) -> bool {
    let (Some(renewed), Some(seconds)) = (&spec.renew_time, spec.lease_duration_seconds) else {
        return true;
    };
    let until = renewed.0 + jiff::SignedDuration::from_secs(i64::from(seconds));
    spec.holder_identity.is_none() || until < now
}

/// A write that went through wins; a conflict (another replica wrote first) loses.
fn won(written: Result<Lease, kube::Error>) -> anyhow::Result<bool> {
    match written {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(err) => Err(err).context("writing the leader Lease"),
    }
}

#[async_trait]
impl Campaign for KubeLease {
    async fn try_acquire(&mut self) -> anyhow::Result<bool> {
        match tokio::time::timeout(self.limit, self.take()).await {
            Ok(taken) => taken,
            Err(_) => anyhow::bail!("the Kubernetes API did not answer within {:?}", self.limit),
        }
    }

    /// Writes the Lease free (no holder), as client-go's `ReleaseOnCancel` does, if it is still
    /// ours; the next replica to try takes it without waiting out its duration.
    async fn release(&mut self) {
        match tokio::time::timeout(self.limit, self.give_up()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::warn!(lease = %self.name, error = %err, "releasing the leader Lease failed; it expires instead")
            }
            Err(_) => {
                tracing::warn!(lease = %self.name, "releasing the leader Lease did not finish in time; it expires instead")
            }
        }
    }

    /// A renewal: the lease still ours and written again, within the limit.
    async fn still_leads(&mut self) -> bool {
        match tokio::time::timeout(self.limit, self.take()).await {
            Ok(Ok(true)) => true,
            Ok(Ok(false)) => {
                tracing::error!(lease = %self.name, "the leader Lease is held by another replica");
                false
            }
            Ok(Err(err)) => {
                tracing::error!(lease = %self.name, error = %err, "renewing the leader Lease failed");
                false
            }
            Err(_) => {
                tracing::error!(lease = %self.name, "renewing the leader Lease did not finish in time");
                false
            }
        }
    }
}
