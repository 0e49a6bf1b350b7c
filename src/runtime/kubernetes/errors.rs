//! Kubernetes API failures as the API reports them (docs/api.md#errors): a cluster that does not
//! answer is a 503, an object held by someone else a 424, anything else a 500.

use std::future::Future;
use std::time::Duration;

use crate::runtime::RuntimeError;

/// Bounds one API call. kube's client has no read timeout (watches stay open for minutes), so a
/// cluster that accepts the connection and never answers would otherwise hang a request forever.
/// A timeout becomes a service error, which is how kube reports its own connect timeouts.
pub async fn within<T>(
    limit: Duration,
    call: impl Future<Output = kube::Result<T>>,
) -> kube::Result<T> {
    tokio::time::timeout(limit, call)
        .await
        .unwrap_or_else(|elapsed| Err(kube::Error::Service(Box::new(elapsed))))
}

pub fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 404)
}

pub fn runtime_error(err: kube::Error) -> RuntimeError {
    match &err {
        kube::Error::Api(status) if status.code == 409 => {
            RuntimeError::InUse(format!("Kubernetes API: {}", status.message))
        }
        kube::Error::Api(status) if status.code == 429 || status.code >= 500 => {
            RuntimeError::Unavailable(format!("Kubernetes API answered {}", status.code))
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => {
            RuntimeError::Unavailable(format!("Kubernetes API: {err}"))
        }
        _ => RuntimeError::Other(anyhow::Error::new(err).context("Kubernetes API call failed")),
    }
}

#[cfg(test)]
mod tests {
    use kube::core::Status;

    use super::*;

    fn api(code: u16) -> kube::Error {
        kube::Error::Api(Status::failure("m", "r").with_code(code).boxed())
    }

    #[test]
    fn errors_map_to_what_the_api_answers() {
        assert!(matches!(runtime_error(api(409)), RuntimeError::InUse(_)));
        for code in [429, 500, 503, 504] {
            assert!(matches!(
                runtime_error(api(code)),
                RuntimeError::Unavailable(_)
            ));
        }
        for code in [400, 403, 422] {
            assert!(matches!(runtime_error(api(code)), RuntimeError::Other(_)));
        }
        assert!(is_not_found(&api(404)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_never_answers_is_unavailable() {
        let never = std::future::pending::<kube::Result<()>>();
        let err = within(Duration::from_secs(5), never).await.unwrap_err();
        assert!(matches!(runtime_error(err), RuntimeError::Unavailable(_)));
    }
}
