//! HTTP workers for the load generator: each holds one hyper HTTP/1 connection and may only talk
//! to 127.0.0.1.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::Worker;

/// One HTTP/1 connection to a loopback address.
pub struct Conn {
    address: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    pub async fn open(address: SocketAddr) -> anyhow::Result<Conn> {
        anyhow::ensure!(
            address.ip() == std::net::Ipv4Addr::LOCALHOST,
            "the load generator only talks to 127.0.0.1, not {address}"
        );
        let stream = TcpStream::connect(address)
            .await
            .with_context(|| format!("connecting to {address}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP/1 handshake")?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Conn { address, sender })
    }

    /// Sends and reads the whole answer; reconnects once when the connection was closed.
    pub async fn send(&mut self, request: Request<Full<Bytes>>) -> anyhow::Result<Response<Bytes>> {
        if self.sender.is_closed() {
            *self = Conn::open(self.address).await?;
        }
        self.sender.ready().await.context("connection not ready")?;
        let response = self
            .sender
            .send_request(request)
            .await
            .context("sending the request")?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .context("reading the answer")?
            .to_bytes();
        Ok(Response::from_parts(parts, body))
    }
}

/// Builds the `seq`-th request of worker `index` (request line, headers, body).
pub type MakeRequest = dyn Fn(usize, u64, &mut fastrand::Rng) -> Request<Full<Bytes>> + Send + Sync;

/// A worker that sends what `make` builds and expects `expect` back.
pub struct HttpWorker {
    conn: Conn,
    index: usize,
    rng: fastrand::Rng,
    make: Arc<MakeRequest>,
    expect: StatusCode,
}

impl HttpWorker {
    pub async fn open(
        address: SocketAddr,
        index: usize,
        make: Arc<MakeRequest>,
        expect: StatusCode,
    ) -> anyhow::Result<HttpWorker> {
        Ok(HttpWorker {
            conn: Conn::open(address).await?,
            index,
            rng: fastrand::Rng::with_seed(0x5eed ^ index as u64),
            make,
            expect,
        })
    }
}

impl Worker for HttpWorker {
    async fn call(&mut self, seq: u64) -> Result<(), String> {
        let request = (self.make)(self.index, seq, &mut self.rng);
        let what = format!("{} {}", request.method(), request.uri());
        match self.conn.send(request).await {
            Ok(response) if response.status() == self.expect => Ok(()),
            Ok(response) => Err(format!(
                "{what} answered {}: {}",
                response.status(),
                String::from_utf8_lossy(&response.body()[..response.body().len().min(300)])
            )),
            Err(err) => Err(format!("{what}: {err:#}")),
        }
    }
}
