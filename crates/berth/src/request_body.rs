//! Request bodies a handler answered without reading to the end. An error is often decided
//! before the body is read (a 401 on a push, a 404 or 405 on an unknown path); the rest of the
//! body is then still on the connection. hyper does not reuse such a connection, but it closed it
//! without saying so, and a client that sent its next request on it saw "server disconnected".
//! So the rest of a small body is read and dropped before the response goes out (the connection
//! stays usable), and a large one (a layer whose push was refused) gets `Connection: close`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body::Frame;
use http_body_util::BodyExt;
use tokio::sync::oneshot;

/// Unread bytes read and dropped at most; past this the connection is closed instead.
const DRAIN_LIMIT: u64 = 1024 * 1024;
/// How long the rest of a body may take to arrive before the connection is closed instead.
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Middleware: lets a handler answer without reading its request body, and keeps the
/// connection honest about it.
pub(crate) async fn finish_unread(req: Request, next: Next) -> Response {
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let (leftover, mut unread) = oneshot::channel();
    let req = req.map(|body| Body::new(Tracked { body: Some(body), leftover: Some(leftover) }));
    let mut response = next.run(req).await;
    // A body the handler dropped unread is here now; one it handed to a task that still reads
    // it is not, and is that task's to finish.
    if let Ok(rest) = unread.try_recv()
        && !drain(rest).await
    {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Reads and drops the rest of `body`: `false` if it is too large or too slow for that.
async fn drain(body: Body) -> bool {
    let mut body = body;
    let mut read = 0u64;
    let all = async {
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            read += frame.data_ref().map_or(0, |d| d.len() as u64);
            if read > DRAIN_LIMIT {
                return false;
            }
        }
        true
    };
    tokio::time::timeout(DRAIN_TIME, all).await.unwrap_or(false)
}

/// A request body that, dropped before its end, gives itself back for [`drain`].
struct Tracked {
    body: Option<Body>,
    leftover: Option<oneshot::Sender<Body>>,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let Some(body) = self.body.as_mut() else { return Poll::Ready(None) };
        let frame = Pin::new(body).poll_frame(cx);
        if let Poll::Ready(None) = frame {
            // Read to the end: nothing is left on the connection.
            self.body = None;
            self.leftover = None;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.as_ref().map(HttpBody::size_hint).unwrap_or_else(|| http_body::SizeHint::with_exact(0))
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let (Some(body), Some(leftover)) = (self.body.take(), self.leftover.take()) {
            // The middleware may be gone (the client hung up): then nobody needs the body.
            let _ = leftover.send(body);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::post;

    use super::*;

    /// A server whose one handler refuses without reading the body, behind the middleware.
    async fn server() -> u16 {
        let app = Router::new()
            .route("/refuse", post(|| async { StatusCode::UNAUTHORIZED }))
            .layer(axum::middleware::from_fn(finish_unread));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        port
    }

    /// Sends a refused POST whose body arrives in two halves (the second after the response is
    /// decided), then a second request on the same connection; the response head of each, or
    /// `None` where the server hung up without a word.
    fn refused_then_next(port: u16, size: usize) -> (String, Option<String>) {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let body = vec![b'x'; size];
        write!(s, "POST /refuse HTTP/1.1\r\nHost: t\r\nContent-Length: {size}\r\n\r\n").unwrap();
        s.write_all(&body[..size / 2]).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        // The server may close early; the next request's outcome says whether it said so.
        let _ = s.write_all(&body[size / 2..]);
        let first = read_head(&mut s).expect("an answer to the refused request");
        if first.to_ascii_lowercase().contains("connection: close") {
            return (first, None);
        }
        let _ = s.write_all(b"POST /refuse HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
        (first, read_head(&mut s))
    }

    fn read_head(s: &mut TcpStream) -> Option<String> {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match s.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => return None,
            }
        }
        Some(String::from_utf8_lossy(&head).into_owned())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_unread_body_is_drained_and_the_connection_reused() {
        let port = server().await;
        for _ in 0..20 {
            let (first, second) =
                tokio::task::spawn_blocking(move || refused_then_next(port, 64 * 1024)).await.unwrap();
            assert!(first.starts_with("HTTP/1.1 401"), "{first}");
            let second = second.expect("the connection was closed without Connection: close");
            assert!(second.starts_with("HTTP/1.1 401"), "{second}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_large_unread_body_closes_the_connection_saying_so() {
        let port = server().await;
        let (first, second) =
            tokio::task::spawn_blocking(move || refused_then_next(port, 4 * 1024 * 1024)).await.unwrap();
        assert!(first.starts_with("HTTP/1.1 401"), "{first}");
        assert!(first.to_ascii_lowercase().contains("connection: close"), "{first}");
        assert_eq!(second, None);
    }
}
