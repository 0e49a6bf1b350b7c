//! The sweep of a belt-api that starts (docs/workload-policy.md#test-invoke-pods): the invoke
//! pods and Secrets a crashed predecessor left are removed as the pod invoker is built, not only
//! with the first invocation, while a run of another replica, not yet expired, is kept.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use belt_api::invoke::{Invoke, Outcome};
use http::Method;

use super::harness::*;
use super::invoke::{invoker, leftover, request};

/// An expiry label an hour from now: a run under way in another replica.
fn in_an_hour() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    (now.as_secs() + 3600).to_string()
}

#[tokio::test]
async fn leftovers_past_their_expiry_go_at_start_and_another_replicas_run_is_kept() {
    let (invoker, mut fake) = invoker(2, 1);
    let invoker = Arc::new(invoker);
    let sweeping = invoker.sweep_at_start();
    let (crashed, live) = (
        "grnry-belt-invoke-161-0dead001",
        "grnry-belt-invoke-162-a11ve001",
    );
    let (expired, alive) = (leftover(crashed, "1"), leftover(live, &in_an_hour()));
    fake.serve_sweep(&[expired.clone(), alive.clone()], &[expired, alive])
        .await;
    fake.expect_delete(PODS, crashed).await;
    fake.expect_delete(SECRETS, crashed).await;
    fake.assert_no_call().await;
    sweeping.await.unwrap();

    // The first invocation, within the minute, does not list again: straight to its pod.
    let serve = async {
        fake.serve_completed_run().await;
    };
    let (answer, ()) = tokio::join!(invoker.invoke(request("global")), serve);
    assert_eq!(answer.unwrap().outcome, Outcome::Completed);
}

#[tokio::test]
async fn a_failed_sweep_at_start_is_tried_again_by_the_first_invocation() {
    let (invoker, mut fake) = invoker(2, 1);
    let invoker = Arc::new(invoker);
    let sweeping = invoker.sweep_at_start();
    let (call, reply) = fake.next().await;
    assert_eq!((&call.method, call.path.as_str()), (&Method::GET, PODS));
    reply_status(reply, 500, "InternalError");
    fake.assert_no_call().await;
    sweeping.await.unwrap();

    let serve = async {
        fake.serve_sweep(&[leftover("grnry-belt-invoke-161-0dead001", "1")], &[])
            .await;
        fake.expect_delete(PODS, "grnry-belt-invoke-161-0dead001")
            .await;
        fake.serve_completed_run().await;
    };
    let (answer, ()) = tokio::join!(invoker.invoke(request("global")), serve);
    assert_eq!(answer.unwrap().outcome, Outcome::Completed);
}
