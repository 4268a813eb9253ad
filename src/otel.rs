//! OpenTelemetry tracing (feature `otel`): tabhub's `tracing` spans
//! exported to a collector over OTLP/HTTP (protobuf), and the W3C trace
//! context (`traceparent`, `tracestate`) sent with every backend call, so
//! an event is one trace from tabhub into the backend.
//!
//! The binary turns it on with `--otlp-endpoint` or the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (`docs/metrics.md`, "Tracing"). An embedder adds
//! [`Tracing::layer`] to its own subscriber:
//!
//! ```no_run
//! use tracing_subscriber::layer::SubscriberExt;
//! use tracing_subscriber::util::SubscriberInitExt;
//!
//! let tracing = tabhub::otel::Tracing::start(Some("http://127.0.0.1:4318"))
//!     .expect("a valid endpoint");
//! tracing_subscriber::registry()
//!     .with(tracing_subscriber::fmt::layer())
//!     .with(tracing.layer())
//!     .init();
//! // ... serve ...
//! tracing.shutdown(); // exports the spans still waiting
//! ```
//!
//! The spans tabhub opens (their fields are the logs'; a key is only ever
//! its short form): `join` (`key`, `tab`: a tab's join, its authorize and
//! the backend's `URL/join`), `event` (`key`, `id`, `event`: one event in
//! its session, the handler and its backend call), `commit` (`steps`,
//! `sessions`: one group commit to the step log) and `backend_call`
//! (`call`, `status`: one HTTP call of the app proxy). A join and an
//! event each start a trace of their own, linked to the connection's or
//! the session's long-lived span.

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry::Context;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::registry::LookupSpan;

/// The standard variables that name a collector without the flag.
const ENDPOINT_VARIABLES: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
];

/// The path of traces under an OTLP/HTTP endpoint.
const TRACES_PATH: &str = "v1/traces";

/// Why the exporter could not be built: an endpoint that is not a URL, or
/// an HTTP client that could not start. Its message says which.
#[derive(Debug)]
pub struct TracingError(String);

impl std::fmt::Display for TracingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OpenTelemetry tracing: {}", self.0)
    }
}

impl std::error::Error for TracingError {}

/// The span export: a tracer provider whose batch exporter posts to a
/// collector on its own thread (every 5 s by default, or
/// `OTEL_BSP_SCHEDULE_DELAY` ms). Call [`Tracing::shutdown`] before the
/// process exits, or the last batch is lost.
pub struct Tracing {
    provider: SdkTracerProvider,
}

impl Tracing {
    /// Whether tracing is asked for: `endpoint` (the flag) is given, or a
    /// standard OTLP endpoint variable is set.
    pub fn wanted(endpoint: Option<&str>) -> bool {
        endpoint.is_some()
            || ENDPOINT_VARIABLES
                .iter()
                .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
    }

    /// Starts the export to `endpoint`, the collector's OTLP/HTTP base URL
    /// (`http://collector:4318`; spans go to its `/v1/traces`). None: the
    /// standard variables (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` plus `/v1/traces`, else
    /// `http://localhost:4318/v1/traces`). The service is named
    /// `OTEL_SERVICE_NAME`, else `tabhub`.
    ///
    /// # Errors
    /// [`TracingError`] when the endpoint is not a valid URL or the HTTP
    /// client cannot be built.
    pub fn start(endpoint: Option<&str>) -> Result<Tracing, TracingError> {
        let mut exporter = SpanExporter::builder().with_http();
        if let Some(endpoint) = endpoint {
            let url = format!("{}/{TRACES_PATH}", endpoint.trim_end_matches('/'));
            exporter = exporter.with_endpoint(url);
        }
        let exporter = exporter.build().map_err(|e| TracingError(e.to_string()))?;
        let named = std::env::var_os("OTEL_SERVICE_NAME").is_some_and(|v| !v.is_empty());
        let resource = if named {
            Resource::builder().build()
        } else {
            Resource::builder().with_service_name("tabhub").build()
        };
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        Ok(Tracing { provider })
    }

    /// The subscriber layer that turns tabhub's spans into OpenTelemetry
    /// spans for this export. Add it beside the log layer.
    pub fn layer<S>(&self) -> impl tracing_subscriber::Layer<S>
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    {
        tracing_opentelemetry::layer().with_tracer(self.provider.tracer("tabhub"))
    }

    /// Exports the spans still waiting and stops the exporter (blocks
    /// until the collector answered, or the exporter's timeout).
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "the last spans were not exported");
        }
    }
}

/// Makes `span` the root of a trace of its own, linked to `from` (the
/// connection's or the session's span, which last far longer than one
/// join or event), with `from`'s fields it needs as `attributes` (the
/// logs show them once, on `from`). Its place in the logs stays under
/// `from`.
pub(crate) fn new_trace(
    span: &tracing::Span,
    from: &tracing::Span,
    attributes: &[(&'static str, &dyn std::fmt::Display)],
) {
    // Without the layer (no export) there is nothing to set.
    if span.set_parent(Context::new()).is_err() {
        return;
    }
    for (name, value) in attributes {
        span.set_attribute(*name, value.to_string());
    }
    let linked = from.context().span().span_context().clone();
    if linked.is_valid() {
        span.add_link(linked);
    }
}

#[cfg(feature = "proxy")]
pub(crate) use propagate::inject_context;

/// The trace context on the app proxy's requests (feature `proxy`).
#[cfg(feature = "proxy")]
mod propagate {
    use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
    use opentelemetry::propagation::{Injector, TextMapPropagator};
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    /// Writes the current span's trace context into `headers` (W3C
    /// `traceparent`, and `tracestate` if any). Nothing without a span being
    /// exported.
    pub(crate) fn inject_context(headers: &mut HeaderMap) {
        let context = tracing::Span::current().context();
        TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
    }

    /// The propagator's view of a request's headers.
    struct HeaderInjector<'a>(&'a mut HeaderMap);

    impl Injector for HeaderInjector<'_> {
        fn set(&mut self, key: &str, value: String) {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(key.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                self.0.insert(name, value);
            }
        }
    }
}
