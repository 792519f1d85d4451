//! An OTLP/HTTP receiver on 127.0.0.1 in the collector's place (no collector can be installed
//! here): it decodes each export with the protocol's own types (`opentelemetry-proto`) and keeps
//! it, with the path and headers it came with. It runs on a thread of its own, so tests that block
//! (starting, stopping the binary) do not stop it from answering.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// One export as received.
#[derive(Clone)]
pub struct Export {
    pub path: String,
    pub headers: HeaderMap,
    pub request: ExportTraceServiceRequest,
}

/// A span with the attributes of the resource it was sent under.
#[derive(Clone, Debug)]
pub struct Received {
    pub resource: HashMap<String, String>,
    pub span: Span,
}

impl Received {
    /// A span attribute as text (integers in decimal), if it has it.
    pub fn attribute(&self, key: &str) -> Option<String> {
        attributes(&self.span.attributes).remove(key)
    }

    pub fn trace_id(&self) -> String {
        hex::encode(&self.span.trace_id)
    }

    pub fn span_id(&self) -> String {
        hex::encode(&self.span.span_id)
    }

    pub fn parent_span_id(&self) -> String {
        hex::encode(&self.span.parent_span_id)
    }

    /// Every attribute value of the span and of its events, as text.
    pub fn all_values(&self) -> Vec<String> {
        let events = self.span.events.iter().flat_map(|e| attributes(&e.attributes).into_values());
        attributes(&self.span.attributes).into_values().chain(events).collect()
    }
}

type Exports = Arc<Mutex<Vec<Export>>>;

pub struct Collector {
    port: u16,
    exports: Exports,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Collector {
    pub fn start() -> Collector {
        let exports = Exports::default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the collector");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let app = Router::new().fallback(receive).with_state(exports.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let stopped = async move {
                    let _ = stopped.await;
                };
                axum::serve(listener, app).with_graceful_shutdown(stopped).await.unwrap();
            });
        });
        Collector { port, exports, stop: Some(stop) }
    }

    /// What `tracing.otlp.endpoint` is set to.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn exports(&self) -> Vec<Export> {
        self.exports.lock().unwrap().clone()
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Received> {
        let mut spans = Vec::new();
        for export in self.exports() {
            for resource_spans in export.request.resource_spans {
                let resource = resource_spans.resource.map(|r| attributes(&r.attributes)).unwrap_or_default();
                for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
                    spans.push(Received { resource: resource.clone(), span });
                }
            }
        }
        spans
    }

    /// The first span `pick` finds among those received, waiting up to 10 s for it.
    pub fn wait_for(&self, what: &str, pick: impl Fn(&Received) -> bool) -> Received {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let spans = self.spans();
            if let Some(span) = spans.iter().find(|s| pick(s)) {
                return span.clone();
            }
            let names: Vec<&str> = spans.iter().map(|s| s.span.name.as_str()).collect();
            assert!(Instant::now() < deadline, "no span {what} was received; received: {names:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Any path, any method: what Berth sends is checked by the tests, not refused here.
async fn receive(State(exports): State<Exports>, uri: Uri, headers: HeaderMap, body: Bytes) -> (StatusCode, Vec<u8>) {
    match ExportTraceServiceRequest::decode(body) {
        Ok(request) => {
            exports.lock().unwrap().push(Export { path: uri.path().to_owned(), headers, request });
            (StatusCode::OK, ExportTraceServiceResponse::default().encode_to_vec())
        }
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string().into_bytes()),
    }
}

fn attributes(list: &[KeyValue]) -> HashMap<String, String> {
    list.iter().filter_map(|kv| Some((kv.key.clone(), text(kv.value.as_ref()?)?))).collect()
}

fn text(value: &AnyValue) -> Option<String> {
    match value.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        any_value::Value::DoubleValue(d) => Some(d.to_string()),
        _ => None,
    }
}
