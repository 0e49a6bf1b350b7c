//! What Belt API's tests share, written once (issue 19): the fake Kubernetes API server every
//! fake-API test talks to (`fake_kube`, in-process or over HTTP for spawned processes, which also
//! records each request as the RBAC verb the API server would authorize), a fresh database on
//! the test PostgreSQL (`postgres`), and the real `belt-api` program spawned on a free port
//! (`binary`).
//!
//! It knows nothing of belt-api's own types: scenario builders (a belt's `ReplicaSpec`, the
//! fixtures) stay with the tests that use them, so the CLI's tests can depend on this crate
//! without compiling the service's library.

#![forbid(unsafe_code)]

pub mod binary;
pub mod fake_kube;
pub mod postgres;
