//! Where a message a node wrote goes, as Maelstrom's reader for that node decides
//! (`process.clj`, `net.clj`): to a node or a service through the network, to a client, or,
//! when Maelstrom's reader would throw, nowhere ever again.
//!
//! Maelstrom's reader thread for a node stops at the first line it cannot send: a line that
//! is not JSON or not a message, a `src` or `dest` the network does not know (not a node, a
//! live client or a service). Everything the node writes afterwards is lost. Both drivers
//! apply these rules through [`Endpoints`]; the violation names its cause
//! ([`Endpoints::unknown_cause`]) and the driver mutes the node.
//!
//! Maelstrom is lenient about the rest, so these rules are too: any id it knows is accepted as
//! `src` (and links are cut by the `src` written), and bodies between nodes are not checked.

use crate::harness::clients::{client_number, Clients, Closed};
use crate::harness::service::ServiceKind;

/// Where a destination id leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    /// Node `j` (its index in the node ids).
    Node(usize),
    /// A service.
    Service(ServiceKind),
    /// Workload client slot `k`.
    Client(usize),
    /// `c<i>`, which sent `init` to node `i` and is still open.
    Init(usize),
    /// The client of setup request `s` (`c<N+s>`), still waiting for its reply.
    Setup(usize),
}

/// The ids the network knows at one instant: the nodes, the open init clients, the live
/// workload clients, the services.
#[derive(Debug, Clone, Copy)]
pub struct Endpoints<'a> {
    /// The node ids, `n0..n{N-1}` or `--nodes`.
    pub nodes: &'a [String],
    /// The workload clients.
    pub clients: &'a Clients,
    /// Whether init client `c<i>` is still open (node `i` has not finished its setup).
    pub init_open: &'a [bool],
    /// Whether the client of setup request `s`, `c<N+s>`, still waits for its reply: for a
    /// driver that sends each setup message from a client of its own (mionode-load); empty
    /// when the init client sends them (the simulator).
    pub setup_open: &'a [bool],
}

impl Endpoints<'_> {
    /// The index of node `id`.
    pub fn node(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n == id)
    }

    /// Where a message to `dest` goes; `None` when Maelstrom does not know `dest`.
    pub fn dest(&self, dest: &str) -> Option<Dest> {
        if let Some(j) = self.node(dest) {
            return Some(Dest::Node(j));
        }
        if let Some(s) = ServiceKind::from_id(dest) {
            return Some(Dest::Service(s));
        }
        if let Some(k) = self.clients.lookup(dest) {
            return Some(Dest::Client(k));
        }
        let c = client_number(dest)?;
        if self.init_open.get(c).copied().unwrap_or(false) {
            return Some(Dest::Init(c));
        }
        let s = c.checked_sub(self.nodes.len())?;
        self.setup_open
            .get(s)
            .copied()
            .unwrap_or(false)
            .then_some(Dest::Setup(s))
    }

    /// Whether node `from` may write `src`: its own id or any id the network knows.
    pub fn src_known(&self, from: usize, src: &str) -> bool {
        self.nodes.get(from).is_some_and(|me| me == src) || self.dest(src).is_some()
    }

    /// Why `dest` is unknown, as precisely as can be told.
    pub fn unknown_cause(&self, dest: &str) -> String {
        let n = self.nodes.len();
        match (client_number(dest), self.clients.closed(dest)) {
            (Some(c), _) if c < n => format!(
                "the init client of {}, closed once its requests were answered",
                self.nodes[c]
            ),
            (_, Some(Closed::Crashed)) => "a client that was closed after its request timed \
                out or ended indeterminate (Jepsen opens a new client with a new id; a late \
                reply hits an unknown destination)"
                .to_string(),
            (_, Some(Closed::Exited)) => {
                "a client that was closed when the clients stopped at the time limit".to_string()
            }
            (Some(c), _) if c < n + self.setup_open.len() => {
                "a setup client, closed once its request was answered".to_string()
            }
            _ => "neither a node, a live client nor a service".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::clients::Schedule;

    #[test]
    fn every_kind_of_destination_and_the_unknown_ones() {
        let nodes = vec!["n0".to_string(), "n1".to_string()];
        let mut clients = Clients::new(2, 2, Schedule::Closed, 1);
        let init_open = [false, true];
        let e = Endpoints {
            nodes: &nodes,
            clients: &clients,
            init_open: &init_open,
            setup_open: &[],
        };
        assert_eq!(e.dest("n1"), Some(Dest::Node(1)));
        assert_eq!(e.dest("lin-kv"), Some(Dest::Service(ServiceKind::LinKv)));
        assert_eq!(e.dest("c3"), Some(Dest::Client(1)));
        assert_eq!(e.dest("c1"), Some(Dest::Init(1)));
        assert_eq!(e.dest("c0"), None, "n0's init client is closed");
        assert!(e.unknown_cause("c0").contains("init client of n0"));
        assert!(e.unknown_cause("n9").contains("neither"));
        assert!(e.src_known(0, "n0") && e.src_known(0, "c2") && !e.src_known(0, "x"));
        clients.crash(1);
        let inv = crate::harness::workload::Invocation {
            f: "echo",
            value: serde_json::Value::Null,
            body: serde_json::Map::new(),
            timeout: 1,
            final_read: false,
        };
        clients.begin(1, 0, inv, None);
        let e = Endpoints {
            nodes: &nodes,
            clients: &clients,
            init_open: &init_open,
            setup_open: &[],
        };
        assert_eq!(e.dest("c3"), None, "replaced");
        assert!(e
            .unknown_cause("c3")
            .contains("closed after its request timed out"));
        assert_eq!(e.dest("c4"), Some(Dest::Client(1)));
    }

    /// From mionode-load's copy: one client per setup request, after the init clients, and
    /// the clients closed at the time limit named as such.
    #[test]
    fn setup_clients_and_exited_clients() {
        let nodes = vec!["n0".to_string(), "n1".to_string()];
        let mut clients = Clients::numbered_from(2, 4, 1, Schedule::Closed, 1);
        let init_open = [false, false];
        let setup_open = [true, false];
        let e = Endpoints {
            nodes: &nodes,
            clients: &clients,
            init_open: &init_open,
            setup_open: &setup_open,
        };
        assert_eq!(e.dest("c2"), Some(Dest::Setup(0)));
        assert_eq!(e.dest("c3"), None, "answered");
        assert!(e.unknown_cause("c3").contains("a setup client"));
        assert_eq!(e.dest("c4"), Some(Dest::Client(0)));
        clients.stop();
        clients.exit();
        let e = Endpoints {
            nodes: &nodes,
            clients: &clients,
            init_open: &init_open,
            setup_open: &setup_open,
        };
        assert_eq!(e.dest("c4"), None);
        assert!(e.unknown_cause("c4").contains("when the clients stopped"));
        assert!(e.unknown_cause("c1").contains("init client of n1"));
    }
}
