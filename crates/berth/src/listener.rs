//! The HTTP server: accepts TCP connections (TLS when configured: HTTP/2 or HTTP/1.1 as the
//! client offers, plain connections HTTP/1.1 or prior-knowledge HTTP/2), hands each request to the
//! router with its peer address, caps the connections open at once, and stops gracefully.
//! `axum::serve` does all of that but TLS and the cap.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::origin::Tls;

/// A client that has not finished its TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection refused for the cap is kept to answer it.
const REFUSED_LINGER: Duration = Duration::from_secs(5);
/// At most one log line this often about refused connections.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `stop`, then lets open connections finish their requests.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    max_connections: usize,
    stop: CancellationToken,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // With a timer, hyper closes connections that take over 30 s to send a request's headers.
    builder.http1().timer(TokioTimer::new());
    // HTTP/2's fixed 1 MiB windows would cap a layer pushed across a WAN at 1 MiB per round trip:
    // let hyper size them to the measured bandwidth-delay product.
    builder.http2().timer(TokioTimer::new()).adaptive_window(true);
    let server = Arc::new(Server { app, tls, builder, gate: Gate::new(max_connections) });
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(e) => {
                    // Out of file descriptors, mostly: wait for some to close rather than spin.
                    tracing::error!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let Some(admission) = server.gate.admit() else { continue };
        tokio::spawn(server.clone().connection(stream, peer, admission, graceful.watcher()));
    }
    drop(listener);
    graceful.shutdown().await;
}

struct Server {
    app: Router,
    tls: Option<TlsAcceptor>,
    builder: auto::Builder<TokioExecutor>,
    gate: Gate,
}

impl Server {
    async fn connection(self: Arc<Self>, stream: TcpStream, peer: SocketAddr, admission: Admission, watcher: Watcher) {
        // Without TCP_NODELAY, a response whose body follows its headers in a second write (bodies
        // streamed from S3 or an upstream registry) waits for the client's delayed ACK: 40 ms on
        // a kept-alive connection.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY on a connection");
        }
        let Some(acceptor) = &self.tls else {
            return self.http(stream, peer, admission, watcher, false).await;
        };
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => self.http(stream, peer, admission, watcher, true).await,
            // Scanners and clients that distrust the certificate: theirs to report.
            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
        }
    }

    async fn http<I>(&self, io: I, peer: SocketAddr, admission: Admission, watcher: Watcher, tls: bool)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let io = TokioIo::new(io);
        let served = match admission {
            Admission::Serve(_ticket) => {
                let app = self.app.clone();
                let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                    // What the origin middleware resolves the request's client from.
                    req.extensions_mut().insert(ConnectInfo(peer));
                    if tls {
                        req.extensions_mut().insert(Tls);
                    }
                    app.clone().oneshot(req.map(Body::new))
                });
                watcher.watch(self.builder.serve_connection(io, service)).await
            }
            Admission::Refuse(_ticket) => {
                let service = hyper::service::service_fn(|_| async { Ok::<_, Infallible>(too_many_connections()) });
                let connection = watcher.watch(self.builder.serve_connection(io, service));
                match tokio::time::timeout(REFUSED_LINGER, connection).await {
                    Ok(served) => served,
                    Err(_) => Ok(()),
                }
            }
        };
        if let Err(e) = served {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}

/// The answer on a connection past the cap: registry clients and browsers alike retry a 503.
fn too_many_connections() -> Response<Body> {
    let body = r#"{"errors":[{"code":"UNAVAILABLE","message":"too many open connections: retry shortly"}]}"#;
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Counts open connections against `http.max_connections`.
struct Gate {
    open: Arc<AtomicUsize>,
    max: usize,
    /// Past `max + overflow` connections are closed at once, unanswered: answering costs too.
    overflow: usize,
    refused: AtomicU64,
    logged: Mutex<Option<Instant>>,
}

enum Admission {
    Serve(Ticket),
    Refuse(Ticket),
}

/// One open connection, counted until dropped.
struct Ticket(Arc<AtomicUsize>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Gate {
    fn new(max: usize) -> Gate {
        Gate {
            open: Arc::new(AtomicUsize::new(0)),
            max,
            overflow: (max / 10).max(16),
            refused: AtomicU64::new(0),
            logged: Mutex::new(None),
        }
    }

    /// Whether a new connection is served, answered 503, or (`None`) closed.
    fn admit(&self) -> Option<Admission> {
        let ticket = Ticket(self.open.clone());
        let open = self.open.fetch_add(1, Ordering::SeqCst) + 1;
        if open <= self.max {
            return Some(Admission::Serve(ticket));
        }
        self.log_refusal();
        (open <= self.max + self.overflow).then_some(Admission::Refuse(ticket))
    }

    fn log_refusal(&self) {
        let refused = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let mut logged = self.logged.lock().expect("refusal log lock");
        if logged.is_none_or(|at| at.elapsed() >= REFUSAL_LOG_EVERY) {
            *logged = Some(Instant::now());
            tracing::warn!(
                max_connections = self.max,
                refused_so_far = refused,
                "http.max_connections reached: new connections are answered 503 until some close"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_cap_connections_are_refused_then_closed() {
        let gate = Gate::new(2);
        let served: Vec<_> = (0..2).map(|_| gate.admit()).collect();
        assert!(served.iter().all(|a| matches!(a, Some(Admission::Serve(_)))));
        let refused: Vec<_> = (0..16).map(|_| gate.admit()).collect();
        assert!(refused.iter().all(|a| matches!(a, Some(Admission::Refuse(_)))));
        assert!(gate.admit().is_none(), "past the overflow: closed");
        drop(refused);
        drop(served);
        assert_eq!(gate.open.load(Ordering::SeqCst), 0, "every ticket given back");
        assert!(matches!(gate.admit(), Some(Admission::Serve(_))));
    }
}
