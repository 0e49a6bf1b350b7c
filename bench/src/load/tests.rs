//! Both loops against a fake side on tokio's paused clock: every duration below is exact.

use std::time::Duration;

use super::open::OpenMeasured;
use super::{closed, open, Plan, Worker};

/// Answers in `service` time; its call number `stall_at` takes `stall` instead.
struct Fake {
    service: Duration,
    stall_at: Option<u64>,
    stall: Duration,
}

impl Fake {
    fn steady(service_ms: u64) -> Fake {
        Fake {
            service: Duration::from_millis(service_ms),
            stall_at: None,
            stall: Duration::ZERO,
        }
    }

    fn stalling(stall_at: u64, stall_ms: u64) -> Fake {
        Fake {
            stall_at: Some(stall_at),
            stall: Duration::from_millis(stall_ms),
            ..Fake::steady(1)
        }
    }
}

impl Worker for Fake {
    async fn call(&mut self, seq: u64) -> Result<(), String> {
        let took = if Some(seq) == self.stall_at {
            self.stall
        } else {
            self.service
        };
        tokio::time::sleep(took).await;
        Ok(())
    }
}

fn plan(concurrency: usize, warmup_ms: u64, duration_ms: u64) -> Plan {
    Plan {
        concurrency,
        warmup: Duration::from_millis(warmup_ms),
        duration: Duration::from_millis(duration_ms),
        max_requests: 1_000_000,
    }
}

async fn open_run(plan: Plan, rate: f64, make: impl Fn() -> Fake) -> OpenMeasured {
    open::drive(plan, rate, |_| {
        let fake = make();
        async move { Ok(fake) }
    })
    .await
    .expect("an open-loop run")
}

#[tokio::test(start_paused = true)]
async fn open_loop_counts_a_stall_against_every_request_due_during_it() {
    // 100 requests due 10 ms apart on one connection; the 21st takes 500 ms. The ~50 requests
    // due meanwhile wait for it, and their latencies say so.
    let measured = open_run(plan(1, 0, 1000), 100.0, || Fake::stalling(20, 500)).await;
    assert_eq!(measured.scheduled, 100);
    assert_eq!(measured.corrected.requests, 100);
    assert_eq!(measured.unsent, 0);
    // Every due request was answered: the rate held, however late some answers were.
    assert!(measured.kept_up, "{measured:?}");
    assert_eq!(measured.achieved_rps, 100.0);
    let corrected = &measured.corrected.latency;
    assert!(corrected.p90_ms >= 300.0, "{corrected:?}");
    assert!(corrected.max_ms >= 499.0, "{corrected:?}");
    // Measured from the actual send, only the stalled request itself is slow.
    assert!(measured.from_send.p90_ms <= 1.01, "{measured:?}");
}

#[tokio::test(start_paused = true)]
async fn closed_loop_hides_the_same_stall() {
    // Why the open loop exists: the closed loop waits out the stall and records it once.
    let measured = closed::drive(plan(1, 0, 1000), |_| async { Ok(Fake::stalling(20, 500)) })
        .await
        .expect("a closed-loop run");
    assert!(measured.requests > 400, "{measured:?}");
    assert!(measured.latency.p99_ms <= 1.01, "{measured:?}");
    assert!(measured.latency.max_ms >= 499.0, "{measured:?}");
}

#[tokio::test(start_paused = true)]
async fn open_loop_holds_the_offered_rate_when_the_side_keeps_up() {
    let measured = open_run(plan(4, 500, 1000), 200.0, || Fake::steady(1)).await;
    assert_eq!(measured.scheduled, 200);
    assert_eq!(measured.corrected.requests, 200);
    assert_eq!(measured.unsent, 0);
    assert!(measured.kept_up);
    assert_eq!(measured.achieved_rps, 200.0);
    assert_eq!(measured.corrected.latency.p99_ms, 1.0);
    assert_eq!(measured.from_send.p99_ms, 1.0);
}

#[tokio::test(start_paused = true)]
async fn open_loop_says_so_when_the_side_cannot_keep_up() {
    // One connection at 10 ms per answer serves 100/s; 200/s are offered.
    let measured = open_run(plan(1, 0, 1000), 200.0, || Fake::steady(10)).await;
    assert_eq!(measured.scheduled, 200);
    assert!(!measured.kept_up, "{measured:?}");
    assert!(measured.achieved_rps < 110.0, "{measured:?}");
    assert!(
        (90..=110).contains(&measured.unsent),
        "unsent {}",
        measured.unsent
    );
    // The backlog grew all along: the last requests had waited about half the run.
    assert!(measured.corrected.latency.p99_ms >= 400.0, "{measured:?}");
}

#[tokio::test(start_paused = true)]
async fn open_loop_refuses_a_rate_it_cannot_bound() {
    let fake = |_| async { Ok(Fake::steady(1)) };
    assert!(open::drive(plan(1, 0, 1000), 0.0, fake).await.is_err());
    assert!(open::drive(plan(1, 0, 1000), f64::NAN, fake).await.is_err());
    let small = Plan {
        max_requests: 50,
        ..plan(1, 0, 1000)
    };
    assert!(open::drive(small, 100.0, fake).await.is_err());
}
