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
use super::{
    Metrics, BATCH_DURATION, BATCH_SIZE, BATCH_SIZE_BUCKETS, LATENCY_BUCKETS, RPC_DURATION,
};
use crate::context::Context;
use crate::event_loop::Service;
use crate::Node;

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
/// periods).
pub fn recorder_builder() -> Result<PrometheusBuilder, BuildError> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(RPC_DURATION.into()), &LATENCY_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(BATCH_DURATION.into()), &LATENCY_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(BATCH_SIZE.into()), &BATCH_SIZE_BUCKETS)
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
    /// Installs the global recorder, binds the listener and attaches to `node`: from now on
    /// the node records latencies, and upkeep runs every [`UPKEEP_INTERVAL`].
    ///
    /// Call at most once per process: there is one global recorder.
    pub fn install(node: &mut Node, options: MetricsOptions) -> io::Result<MetricsService> {
        let http = HttpServer::bind(options.addr, options.http.clone())?;
        let handle = recorder_builder()
            .and_then(PrometheusBuilder::install_recorder)
            .map_err(io::Error::other)?;
        Ok(Self::attach(
            node,
            http,
            &options,
            Metrics::register(),
            handle,
        ))
    }

    /// Like [`install`](Self::install), with `recorder` instead of the global one (tests, or
    /// several nodes in one process).
    pub fn with_recorder(
        node: &mut Node,
        options: MetricsOptions,
        recorder: &PrometheusRecorder,
    ) -> io::Result<MetricsService> {
        let http = HttpServer::bind(options.addr, options.http.clone())?;
        let metrics = metrics::with_local_recorder(recorder, Metrics::register);
        Ok(Self::attach(
            node,
            http,
            &options,
            metrics,
            recorder.handle(),
        ))
    }

    fn attach(
        node: &mut Node,
        http: HttpServer,
        options: &MetricsOptions,
        metrics: Metrics,
        handle: PrometheusHandle,
    ) -> MetricsService {
        let addr = http.local_addr().unwrap_or(options.addr);
        log::info!("serving metrics on http://{addr}/metrics");
        node.ctx.set_histograms(metrics.histograms());
        schedule_upkeep(node, metrics.clone(), handle.clone());
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
    pub fn render(&self, ctx: &Context) -> Vec<u8> {
        render(&self.metrics, &self.handle, ctx)
    }

    /// Writes the discovery file once the node has its id. A failure is logged once and not
    /// retried: the node serves on regardless.
    fn publish(&mut self, node: &Node) {
        let (Some(dir), Some(identity)) = (&self.sd_dir, node.ctx.identity()) else {
            return;
        };
        let target = discovery::target_addr(self.addr);
        match Publication::write(dir, &identity.node_id, target) {
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

fn render(metrics: &Metrics, handle: &PrometheusHandle, ctx: &Context) -> Vec<u8> {
    metrics.sync(ctx);
    let mut text = Vec::new();
    // Rendering into a Vec cannot fail.
    let _ = handle.render_to_write(&mut text);
    text
}

/// Runs upkeep after [`UPKEEP_INTERVAL`], then again, for as long as the node runs.
fn schedule_upkeep(node: &mut Node, metrics: Metrics, handle: PrometheusHandle) {
    node.ctx.after(UPKEEP_INTERVAL, move |node| {
        metrics.sync(&node.ctx);
        handle.run_upkeep();
        schedule_upkeep(node, metrics, handle);
    });
}

impl Service for MetricsService {
    fn register(&mut self, registry: &Registry, first: Token) -> io::Result<usize> {
        self.http.register(registry, first)
    }

    fn ready(&mut self, registry: &Registry, token: Token, node: &mut Node, now: Instant) {
        let MetricsService {
            http,
            metrics,
            handle,
            ..
        } = self;
        http.ready(registry, token, now, &mut || {
            render(metrics, handle, &node.ctx)
        });
    }

    fn tick(&mut self, registry: &Registry, node: &mut Node, now: Instant) {
        self.http.expire(registry, now);
        if self.sd_dir.is_some() {
            self.publish(node);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.http.next_deadline()
    }
}
