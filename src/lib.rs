//! Belt API: the control plane for belts — user Python functions that consume Kafka event types and
//! emit profile updates. Requests flow one way: `http` → `belts` (the use cases) → `domain`, `store`,
//! `runtime` (docs/architecture.md).
#![forbid(unsafe_code)]

pub mod app;
pub mod auth;
pub mod belts;
pub mod broker;
pub mod config;
pub mod domain;
pub mod http;
pub mod invoke;
pub mod leader;
pub mod metrics;
pub mod reconcile;
pub mod registry;
pub mod runtime;
pub mod store;
pub mod telemetry;
pub mod trace_context;
