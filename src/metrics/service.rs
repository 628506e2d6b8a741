//! The metrics listener as a [`Service`] of the poll loop.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{
    BuildError, Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use mio::{Registry, Token};

use super::discovery::{self, Publication};
use super::http::{HttpConfig, HttpServer};
use super::{Metrics, LATENCY_BUCKETS};
use crate::app::App;
use crate::context::Context;
use crate::event_loop::Service;
use crate::node::Node;

/// How often the recorder's upkeep runs off the timer wheel. Each histogram sample waits in a
/// buffer (8 bytes) until upkeep or a render drains it into its buckets, so the buffer holds
/// one interval's samples: 800 KB at 100,000 RPCs a second. An upkeep costs microseconds.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Where and how to serve metrics.
#[derive(Debug, Clone)]
pub struct MetricsOptions {
    /// Address to listen on; port 0 picks a free port.
    pub addr: SocketAddr,
    /// Directory for the service-discovery file, if any.
    pub sd_dir: Option<PathBuf>,
    /// Limits of the HTTP responder.
    pub http: HttpConfig,
}

/// A Prometheus recorder configured for mionode: histograms with buckets, not summaries
/// (summaries cannot be aggregated across nodes, and their quantiles go stale after idle
/// periods). Every histogram named `*_seconds` gets [`LATENCY_BUCKETS`]; `buckets` names
/// others (an app's [`App::HISTOGRAM_BUCKETS`]).
pub fn recorder_builder(buckets: &[(&str, &[f64])]) -> Result<PrometheusBuilder, BuildError> {
    let mut builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)?;
    for (name, values) in buckets {
        builder = builder.set_buckets_for_metric(Matcher::Full((*name).into()), values)?;
    }
    Ok(builder)
}

/// Serves `GET /metrics` from the node's poll loop, runs the recorder's upkeep, and publishes
/// the service-discovery file once the node knows its id.
pub struct MetricsService {
    http: HttpServer,
    metrics: Metrics,
    handle: PrometheusHandle,
    addr: SocketAddr,
    sd_dir: Option<PathBuf>,
    publication: Option<Publication>,
}

impl MetricsService {
    /// Installs the global recorder with `A`'s histogram buckets. Do it before building the
    /// app, so the metric handles it registers are live. Call at most once per process:
    /// there is one global recorder.
    pub fn install_recorder<A: App>() -> io::Result<PrometheusHandle> {
        recorder_builder(A::HISTOGRAM_BUCKETS)
            .and_then(PrometheusBuilder::install_recorder)
            .map_err(io::Error::other)
    }

    /// Binds the listener and attaches to `node`, with the global recorder `handle` (from
    /// [`install_recorder`](Self::install_recorder)): from now on the node records RPC
    /// latencies, and upkeep runs every [`UPKEEP_INTERVAL`].
    pub fn install<A: App>(
        node: &mut Node<A>,
        options: MetricsOptions,
        handle: PrometheusHandle,
    ) -> io::Result<MetricsService> {
        let http = HttpServer::bind(options.addr, options.http.clone())?;
        let metrics = Metrics::register(node.context().message_types());
        Ok(Self::attach(node, http, &options, metrics, handle))
    }

    /// Like [`install`](Self::install), with `recorder` instead of the global one (tests, or
    /// several nodes in one process).
    pub fn with_recorder<A: App>(
        node: &mut Node<A>,
        options: MetricsOptions,
        recorder: &PrometheusRecorder,
    ) -> io::Result<MetricsService> {
        let http = HttpServer::bind(options.addr, options.http.clone())?;
        let types = node.context().message_types().clone();
        let metrics = metrics::with_local_recorder(recorder, || Metrics::register(&types));
        Ok(Self::attach(
            node,
            http,
            &options,
            metrics,
            recorder.handle(),
        ))
    }

    fn attach<A: App>(
        node: &mut Node<A>,
        http: HttpServer,
        options: &MetricsOptions,
        metrics: Metrics,
        handle: PrometheusHandle,
    ) -> MetricsService {
        let addr = http.local_addr().unwrap_or(options.addr);
        log::info!("serving metrics on http://{addr}/metrics");
        node.set_rpc_histogram(metrics.rpc_duration());
        let (_, ctx) = node.parts();
        schedule_upkeep(ctx, metrics.clone(), handle.clone());
        MetricsService {
            http,
            metrics,
            handle,
            addr,
            sd_dir: options.sd_dir.clone(),
            publication: None,
        }
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The service-discovery file, once written.
    pub fn discovery_file(&self) -> Option<&Path> {
        self.publication.as_ref().map(Publication::path)
    }

    /// The metrics text, with the node's counters copied in first.
    pub fn render<A: App>(&self, ctx: &Context<A>) -> Vec<u8> {
        render(&self.metrics, &self.handle, ctx)
    }

    /// Writes the discovery file once the node has its id. A failure is logged once and not
    /// retried: the node serves on regardless.
    fn publish<A: App>(&mut self, node: &Node<A>) {
        let node_id = node.context().node_id();
        let Some(dir) = self.sd_dir.as_ref().filter(|_| !node_id.is_empty()) else {
            return;
        };
        let target = discovery::target_addr(self.addr);
        match Publication::write(dir, node_id, target) {
            Ok(publication) => {
                log::info!(
                    "wrote service discovery file {}",
                    publication.path().display()
                );
                self.publication = Some(publication);
            }
            Err(e) => log::error!(
                "cannot write a service discovery file in {}: {e}",
                dir.display()
            ),
        }
        self.sd_dir = None;
    }
}

fn render<A: App>(metrics: &Metrics, handle: &PrometheusHandle, ctx: &Context<A>) -> Vec<u8> {
    metrics.sync(ctx);
    let mut text = Vec::new();
    // Rendering into a Vec cannot fail.
    let _ = handle.render_to_write(&mut text);
    text
}

/// Runs upkeep after [`UPKEEP_INTERVAL`], then again, for as long as the node runs.
fn schedule_upkeep<A: App>(ctx: &mut Context<A>, metrics: Metrics, handle: PrometheusHandle) {
    ctx.after(UPKEEP_INTERVAL, move |_, ctx| {
        metrics.sync(ctx);
        handle.run_upkeep();
        schedule_upkeep(ctx, metrics, handle);
    });
}

impl<A: App> Service<A> for MetricsService {
    fn register(&mut self, registry: &Registry, first: Token) -> io::Result<usize> {
        self.http.register(registry, first)
    }

    fn ready(&mut self, registry: &Registry, token: Token, node: &mut Node<A>, now: Instant) {
        let MetricsService {
            http,
            metrics,
            handle,
            ..
        } = self;
        http.ready(registry, token, now, &mut || {
            render(metrics, handle, node.context())
        });
    }

    fn tick(&mut self, registry: &Registry, node: &mut Node<A>, now: Instant) {
        self.http.expire(registry, now);
        if self.sd_dir.is_some() {
            self.publish(node);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.http.next_deadline()
    }
}
