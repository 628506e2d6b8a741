//! What an application gives the runtime: its state, its flags, and a handler per message
//! type.

use crate::context::Context;
use crate::error::Error;
use crate::request::Request;

/// An application: its state, its flags, its handlers.
///
/// The runtime owns one value of the app per node and lends it, with the node's
/// [`Context`], to every handler, RPC callback and timer: `(&mut A, &mut Context<A>)`. State
/// has one owner; nothing is shared behind `Rc` or `RefCell`.
///
/// ```
/// use mionode::{App, Context, Error, NoFlags, Request, Routes};
/// use serde::Deserialize;
///
/// #[derive(Default)]
/// struct Counter { total: u64 }
///
/// #[derive(Deserialize)]
/// struct Add { delta: u64 }
///
/// impl App for Counter {
///     type Flags = NoFlags;
///     fn new(_: &NoFlags) -> Self { Counter::default() }
///     fn routes(routes: &mut Routes<Self>) {
///         routes.on("add", |app, ctx, req| {
///             let Add { delta } = req.body()?;
///             app.total += delta;
///             ctx.reply(req, &serde_json::json!({"type": "add_ok"}));
///             Ok(())
///         });
///     }
/// }
///
/// let mut node = mionode::testing::TestNode::<Counter>::started("n1", &["n1"]);
/// let out = node.deliver("c1", serde_json::json!({"type": "add", "msg_id": 1, "delta": 2}));
/// assert_eq!(out[0]["body"]["type"], "add_ok");
/// assert_eq!(node.app().total, 2);
/// ```
pub trait App: Sized + 'static {
    /// The app's own command-line flags, merged by [`run`](crate::run()) with the runtime's
    /// (`--log-level`, `--metrics-addr`, `--metrics-sd-dir`, `--seed`, ...) through clap's
    /// `#[command(flatten)]`. [`NoFlags`] when there are none. `Default` is what tests and
    /// the simulator use.
    type Flags: clap::Args + clap::FromArgMatches + Clone + Default + 'static;

    /// Histograms the app records through the `metrics` facade that need buckets of their
    /// own, by full metric name. A histogram whose name ends in `_seconds` gets the runtime's
    /// latency buckets ([`LATENCY_BUCKETS`](crate::metrics::LATENCY_BUCKETS)) without being
    /// listed; any other histogram not listed here is rendered as a summary.
    const HISTOGRAM_BUCKETS: &'static [(&'static str, &'static [f64])] = &[];

    /// Builds the app's state, once per node, before any message. The metrics recorder (if
    /// metrics are on) is installed already, so metric handles registered here are live.
    fn new(flags: &Self::Flags) -> Self;

    /// Checks, before the node starts, that the app's flags work with the runtime's settings:
    /// typically that every retry schedule fits inside
    /// [`Config::op_deadline`](crate::Config::op_deadline). An `Err` stops
    /// [`run`](crate::run()) with its text and exit code 2, as a bad flag does. Default: `Ok`.
    fn check(flags: &Self::Flags, config: &crate::Config) -> Result<(), String> {
        let _ = (flags, config);
        Ok(())
    }

    /// Registers a handler per message type. Called once per node, before any message.
    fn routes(routes: &mut Routes<Self>);

    /// Runs once, right after the runtime has answered `init`: the node knows its id and
    /// peers. Default: nothing.
    fn on_init(&mut self, ctx: &mut Context<Self>) {
        let _ = ctx;
    }
}

/// The flags of an app that has none.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct NoFlags {}

/// A handler: reads the request, answers it (now, or later through
/// [`Request::reply_to`]), or returns `Err` to have the runtime answer with that error.
///
/// The runtime guarantees a handler runs only after `init` and only for requests (messages
/// with a `msg_id` and no `in_reply_to`) of the type it was registered for. It does not
/// check that the handler answers: a request left unanswered stays unanswered.
pub type Handler<A> = for<'a> fn(&mut A, &mut Context<A>, &Request<'a>) -> Result<(), Error>;

/// The handlers of an app, one per message type.
pub struct Routes<A> {
    entries: Vec<(&'static str, Handler<A>)>,
}

impl<A: App> Routes<A> {
    /// The routes `A` registers.
    pub(crate) fn of_app() -> Routes<A> {
        let mut routes = Routes {
            entries: Vec::new(),
        };
        A::routes(&mut routes);
        routes
    }

    /// Routes requests of type `kind` to `handler`.
    ///
    /// # Panics
    ///
    /// If `kind` is registered twice, or is `init` (the runtime answers `init` itself).
    ///
    /// ```
    /// use mionode::{App, NoFlags, Routes};
    /// use serde::Deserialize;
    /// use serde_json::value::RawValue;
    ///
    /// struct Echo;
    ///
    /// #[derive(Deserialize)]
    /// struct EchoBody<'a> {
    ///     #[serde(borrow)]
    ///     echo: &'a RawValue,
    /// }
    ///
    /// impl App for Echo {
    ///     type Flags = NoFlags;
    ///     fn new(_: &NoFlags) -> Self { Echo }
    ///     fn routes(routes: &mut Routes<Self>) {
    ///         routes.on("echo", |_, ctx, req| {
    ///             let EchoBody { echo } = req.body()?;
    ///             ctx.reply(req, &serde_json::json!({"type": "echo_ok", "echo": echo}));
    ///             Ok(())
    ///         });
    ///     }
    /// }
    ///
    /// let mut node = mionode::testing::TestNode::<Echo>::started("n1", &["n1"]);
    /// let out = node.deliver("c1", serde_json::json!({"type": "echo", "msg_id": 1, "echo": [1]}));
    /// assert_eq!(out[0]["body"]["echo"], serde_json::json!([1]));
    /// // Unknown types get error 10, malformed bodies error 12, from the runtime.
    /// let out = node.deliver("c1", serde_json::json!({"type": "cas", "msg_id": 2}));
    /// assert_eq!(out[0]["body"]["code"], 10);
    /// let out = node.deliver("c1", serde_json::json!({"type": "echo", "msg_id": 3}));
    /// assert_eq!(out[0]["body"]["code"], 12);
    /// ```
    pub fn on(&mut self, kind: &'static str, handler: Handler<A>) -> &mut Self {
        assert!(kind != "init", "init is answered by the runtime");
        assert!(
            self.entries.iter().all(|(k, _)| *k != kind),
            "message type {kind:?} registered twice"
        );
        self.entries.push((kind, handler));
        self
    }

    /// The registered types and their handlers, in registration order.
    pub(crate) fn entries(&self) -> &[(&'static str, Handler<A>)] {
        &self.entries
    }
}
