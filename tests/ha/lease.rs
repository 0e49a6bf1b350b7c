//! The Kubernetes Lease election (`BELT_LEADER_ELECTION=lease`) against the fake cluster, whose
//! replace of a stale resourceVersion is a 409 `Conflict` as the API server's: one holder at a
//! time, a renewal keeps it, and another replica takes it only once it expired.

use std::time::{Duration, Instant};

use belt_api::leader::lease::KubeLease;
use belt_api::leader::Campaign;
use belt_test_support::fake_kube::Cluster;

use crate::replicas::NAMESPACE;

const NAME: &str = "belt-api-leader";

/// Two replicas campaigning for the same Lease of one cluster.
fn two_replicas() -> (Cluster, KubeLease, KubeLease) {
    let (client, kube) = Cluster::start(NAMESPACE);
    let replica = |identity: &str| {
        KubeLease::new(client.clone(), NAMESPACE, NAME, identity.to_string())
            .with_duration(Duration::from_secs(3))
    };
    let (a, b) = (replica("a"), replica("b"));
    (kube, a, b)
}

fn holder(kube: &Cluster) -> serde_json::Value {
    kube.get(crate::LEASE).expect("a Lease")["spec"].clone()
}

#[tokio::test]
async fn two_replicas_trying_at_once_make_one_leader() {
    let (kube, mut a, mut b) = two_replicas();
    let (won_a, won_b) = tokio::join!(a.try_acquire(), b.try_acquire());
    let (won_a, won_b) = (won_a.unwrap(), won_b.unwrap());
    assert!(won_a ^ won_b, "exactly one wins: a {won_a}, b {won_b}");
    let winner = if won_a { "a" } else { "b" };
    assert_eq!(holder(&kube)["holderIdentity"], winner);
}

#[tokio::test]
async fn a_renewed_lease_stays_and_an_unrenewed_one_is_taken_over_after_its_duration() {
    let (kube, mut a, mut b) = two_replicas();
    assert!(a.try_acquire().await.unwrap());
    assert!(!b.try_acquire().await.unwrap(), "held by a");
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(a.still_leads().await, "a renews");
        assert!(!b.try_acquire().await.unwrap(), "renewed, so still a's");
    }
    // a stops renewing (it died): b waits out the 3 s, then takes over.
    let last_renewal = Instant::now();
    while !b.try_acquire().await.unwrap() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let waited = last_renewal.elapsed();
    assert!(
        waited >= Duration::from_millis(2900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    let spec = holder(&kube);
    assert_eq!(spec["holderIdentity"], "b");
    assert_eq!(spec["leaseTransitions"], 2, "a's and b's acquisitions");
    assert!(
        !a.still_leads().await,
        "a learns at its next check that it lost"
    );
    assert!(b.still_leads().await);
}
