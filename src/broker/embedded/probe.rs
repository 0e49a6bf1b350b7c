//! Is the broker serving? A TCP connect first (cheap, and quiet while the port is not open yet),
//! then a real Kafka request: a metadata round trip that names at least one broker.

use std::net::SocketAddr;
use std::time::Duration;

use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

/// Whether the broker at `address` answers a metadata request within `limit`.
pub(crate) async fn answers(address: SocketAddr, limit: Duration) -> bool {
    let connect = tokio::net::TcpStream::connect(address);
    if !matches!(tokio::time::timeout(limit, connect).await, Ok(Ok(_))) {
        return false;
    }
    let bootstrap = address.to_string();
    tokio::task::spawn_blocking(move || metadata_names_a_broker(&bootstrap, limit))
        .await
        .unwrap_or(false)
}

fn metadata_names_a_broker(bootstrap: &str, limit: Duration) -> bool {
    let client: Result<AdminClient<DefaultClientContext>, _> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("client.id", "belt-api-probe")
        .create();
    let Ok(client) = client else {
        return false;
    };
    client
        .inner()
        .fetch_metadata(None, limit)
        .is_ok_and(|metadata| !metadata.brokers().is_empty())
}
