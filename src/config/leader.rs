//! Several replicas on PostgreSQL: how the one that runs the controllers is chosen
//! (docs/api.md#several-replicas).

use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Args)]
pub struct LeaderConfig {
    /// With PostgreSQL: `lock` (a session advisory lock in the database, anywhere) or `lease` (a
    /// `coordination.k8s.io/v1` Lease in the belt namespace; the Kubernetes runtime only). On
    /// SQLite the one process always leads.
    #[arg(long, env = "BELT_LEADER_ELECTION", value_enum, default_value_t = LeaderElection::Lock)]
    pub leader_election: LeaderElection,

    /// The Lease that `lease` election holds.
    #[arg(long, env = "BELT_LEADER_LEASE", default_value = "belt-api-leader")]
    pub leader_lease: String,

    /// How long a Lease that is not renewed keeps the other replicas out (renewed every second).
    #[arg(long, env = "BELT_LEADER_LEASE_SECS", default_value_t = 15)]
    pub leader_lease_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LeaderElection {
    Lock,
    Lease,
}
