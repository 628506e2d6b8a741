//! The client of `lin-tso`, Maelstrom's timestamp oracle.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::context::{Context, MsgId};
use crate::error::Error;

/// The client of `lin-tso`: a linearizable source of timestamps, integers that start at 0
/// and grow by one per `ts` request the service answers, across all nodes.
///
/// ```
/// use std::time::Duration;
/// use mionode::kv::Tso;
/// use mionode::{App, NoFlags, Routes};
/// use serde_json::json;
///
/// /// Answers `stamp` with a fresh timestamp.
/// struct Stamper;
///
/// impl App for Stamper {
///     type Flags = NoFlags;
///     fn new(_: &NoFlags) -> Self { Stamper }
///     fn routes(routes: &mut Routes<Self>) {
///         routes.on("stamp", |_, ctx, req| {
///             let to = req.reply_to();
///             Tso::ts(ctx, Duration::from_secs(1), move |_, ctx, result| match result {
///                 Ok(ts) => ctx.reply_later(&to, &json!({"type": "stamp_ok", "ts": ts})),
///                 Err(e) => ctx.reply_error(&to, &e),
///             });
///             Ok(())
///         });
///     }
/// }
///
/// let mut node = mionode::testing::TestNode::<Stamper>::started("n1", &["n1"]);
/// let sent = node.request("c1", json!({"type": "stamp", "msg_id": 1}));
/// assert_eq!(sent["dest"], "lin-tso");
/// assert_eq!(sent["body"]["type"], "ts");
/// let id = &sent["body"]["msg_id"];
/// let out = node.request("lin-tso", json!({"type": "ts_ok", "ts": 41, "in_reply_to": id}));
/// assert_eq!(out["body"]["ts"], 41);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tso;

impl Tso {
    /// The service's node id.
    pub const SERVICE: &'static str = "lin-tso";

    /// Asks for a timestamp: `Ok(ts)`, greater than every timestamp the service handed out
    /// before it received this request; or the runtime's [`Error`] (a timeout, code 0; the
    /// service's own error; 13 for a reply without a readable `ts`). Returns the request's
    /// `msg_id`.
    pub fn ts<A, F>(ctx: &mut Context<A>, timeout: Duration, cb: F) -> MsgId
    where
        A: App,
        F: FnOnce(&mut A, &mut Context<A>, Result<u64, Error>) + 'static,
    {
        ctx.rpc(
            Self::SERVICE,
            &TsRequest { kind: "ts" },
            timeout,
            move |app, ctx, result| {
                let ts = result.and_then(|reply| super::expect(&reply, "ts_ok")?.body::<TsOk>());
                cb(app, ctx, ts.map(|ok| ok.ts))
            },
        )
    }
}

#[derive(Serialize)]
struct TsRequest {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Deserialize)]
struct TsOk {
    ts: u64,
}
