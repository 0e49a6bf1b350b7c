//! HTTP-level tests: each starts the real app on port 0 and talks HTTP to it, once per database.

mod helpers;

mod auth;
mod belts_create;
mod belts_list;
mod belts_read;
mod belts_update_delete;
mod binary;
mod bulk;
mod contention;
mod crash;
mod dry_run;
mod dry_run_walk;
mod errors;
mod history;
mod hostile_input;
mod invoke;
mod invoke_limits;
mod invoke_venvs;
mod kill_points;
mod logs_follow;
mod outage;
mod policy;
mod query_flags_walk;
mod reconciler;
mod registry;
mod registry_hostile;
mod replica_output;
mod retention;
mod revisions;
mod running;
mod service;
mod store_writes;
mod streams;
mod tenancy_documents;
mod watch;
