//! `messages.svg`: a Lamport diagram of the first messages of a run.
//!
//! One vertical line per process (nodes, then clients, then services), time running down, and
//! one arrow per message from where it was sent to where it was delivered. The vertical axis
//! is the order of events, not a time scale: every send and every delivery gets its own row,
//! so that a burst of messages within a microsecond is as readable as a slow exchange, and
//! the time of every fifth row is written on the left. A message the network dropped ends in
//! a cross part of the way to its receiver; one still in flight when the run ended, in an open
//! circle. Nemesis periods are shaded bands across every line. Hovering an arrow shows its
//! `<title>`: the network's id, `msg_id`, `in_reply_to` and the times.

use std::fmt::Write;

use super::escape::{time, xml};
use super::run::Run;
use crate::harness::record::{MessageEvent, Nanos};

/// Height of one event row, in pixels.
const ROW: usize = 12;
/// Width of one process's column, in pixels.
const COLUMN: usize = 120;
/// Room on the left for the times.
const LEFT: usize = 80;
/// Room on the right.
const RIGHT: usize = 40;
/// Room above the first row: the caption and the column heads.
const TOP: usize = 80;
/// The narrowest diagram, so that the caption fits.
const MIN_WIDTH: usize = 820;
/// Room below the last row: the column heads again.
const BOTTOM: usize = 36;
/// The time is written on every this many rows.
const TIME_EVERY: usize = 5;
/// How far towards its receiver a message that never arrived is drawn.
const LOST_REACH: f64 = 0.6;
/// The names of the processes are repeated over their lines every this many rows, so that a
/// long diagram can be read anywhere.
const HEAD_EVERY: usize = 50;
/// How far a message to oneself bulges out of its line at least, and per row it spans (up to
/// [`MAX_BULGE`]): nested loops get wider, so a burst of them reads like brackets.
const BULGE: f64 = 20.0;
const BULGE_PER_ROW: f64 = 4.0;
/// The widest loop, within its column.
const MAX_BULGE: f64 = 84.0;

/// The diagram and how many messages it draws.
pub(super) struct Diagram {
    pub(super) svg: String,
    pub(super) drawn: usize,
}

/// Fixed parts of the drawing: styles and arrow heads.
const STYLE: &str = r##"<style>
text { font-family: sans-serif; font-size: 11px; fill: #222; }
.caption { font-size: 12px; fill: #444; }
.head { font-weight: bold; font-size: 13px; text-anchor: middle; }
.head-again { fill: #888; font-size: 11px; text-anchor: middle; paint-order: stroke; stroke: #fff; stroke-width: 3px; }
.time { fill: #777; font-size: 10px; text-anchor: end; }
.life { stroke: #333; stroke-width: 1.2; }
.life-client { stroke: #aaa; stroke-width: 1.2; }
.life-service { stroke: #7b4fa8; stroke-width: 1.2; stroke-dasharray: 4 3; }
.req { stroke: #1f77b4; stroke-width: 1.3; fill: none; }
.reply { stroke: #2ca02c; stroke-width: 1.3; fill: none; }
.lost { stroke: #d62728; stroke-width: 1.3; fill: none; stroke-dasharray: 5 3; }
.cross { stroke: #d62728; stroke-width: 2; fill: none; }
.flight { stroke: #888; stroke-width: 1.3; fill: none; stroke-dasharray: 2 3; }
.open { stroke: #888; stroke-width: 1.3; fill: #fff; }
.label { font-size: 10px; text-anchor: middle; paint-order: stroke; stroke: #fff; stroke-width: 3px; }
.band { fill: #d62728; fill-opacity: 0.1; }
.band-label { fill: #a11; font-size: 11px; paint-order: stroke; stroke: #fff; stroke-width: 3px; }
</style>
<defs>
<marker id="head-req" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#1f77b4"/></marker>
<marker id="head-reply" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#2ca02c"/></marker>
</defs>
"##;

/// Draws the first `max` messages of `run`.
pub(super) fn diagram(run: &Run, max: usize) -> Diagram {
    let shown = &run.messages[..run.messages.len().min(max)];
    let columns = columns(shown);
    let rows = Rows::new(shown);
    let width = (LEFT + COLUMN * columns.len() + RIGHT).max(MIN_WIDTH);
    let height = TOP + ROW * rows.times.len().max(1) + BOTTOM;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">"#
    );
    svg.push_str(STYLE);
    let _ = writeln!(svg, r##"<rect width="100%" height="100%" fill="#fff"/>"##);
    for (line, text) in caption(run, shown.len()).iter().enumerate() {
        let y = 18 + 16 * line;
        let _ = writeln!(
            svg,
            r#"<text class="caption" x="8" y="{y}">{}</text>"#,
            xml(text)
        );
    }
    bands(&mut svg, run, &rows, width, height);
    lifelines(&mut svg, &columns, height);
    times(&mut svg, &rows);
    for (i, m) in shown.iter().enumerate() {
        arrow(&mut svg, m, &columns, rows.send[i], rows.end[i]);
    }
    heads_again(&mut svg, &columns, rows.times.len());
    svg.push_str("</svg>\n");
    Diagram {
        svg,
        drawn: shown.len(),
    }
}

fn caption(run: &Run, shown: usize) -> [String; 2] {
    let total = run.message_count;
    let which = if shown < total {
        format!("The first {shown} of {total} messages")
    } else {
        format!("All {total} messages")
    };
    [
        format!("{which}, time running down (one row per send or delivery, not to scale)."),
        "Blue: request, green: reply, red ending in ×: dropped, grey ending in ○: never \
         delivered. Shaded: nemesis. Hover an arrow for its ids."
            .to_string(),
    ]
}

/// Whether an id is a node (`n3`), a client (`c12`) or something else (a service), and its
/// number: the order columns go in.
fn column_key(id: &str) -> (u8, u64, &str) {
    let number = |prefix: char| {
        id.strip_prefix(prefix)
            .filter(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|rest| rest.parse::<u64>().ok())
    };
    match (number('n'), number('c')) {
        (Some(n), _) => (0, n, id),
        (_, Some(c)) => (1, c, id),
        _ => (2, 0, id),
    }
}

/// Every process the messages name, nodes first, then clients, then services.
fn columns(messages: &[MessageEvent]) -> Vec<String> {
    let mut ids: Vec<&str> = messages
        .iter()
        .flat_map(|m| [m.src.as_str(), m.dest.as_str()])
        .collect();
    ids.sort_by(|a, b| column_key(a).cmp(&column_key(b)));
    ids.dedup();
    ids.into_iter().map(String::from).collect()
}

fn column_x(columns: &[String], id: &str) -> f64 {
    let i = columns.iter().position(|c| c == id).unwrap_or(0);
    (LEFT + COLUMN * i + COLUMN / 2) as f64
}

fn row_y(row: usize) -> f64 {
    (TOP + ROW * row + ROW / 2) as f64
}

/// The rows of the diagram: each message's send and end (its delivery, or just after its send
/// when it never arrived) get one row each, in the order they happened.
struct Rows {
    /// The time of each row.
    times: Vec<Nanos>,
    /// The row of each message's send.
    send: Vec<usize>,
    /// The row of each message's end.
    end: Vec<usize>,
}

impl Rows {
    fn new(messages: &[MessageEvent]) -> Rows {
        // (time, message, is its end): an end that never happened sorts right after its send.
        let mut events: Vec<(Nanos, usize, bool)> = Vec::with_capacity(messages.len() * 2);
        for (i, m) in messages.iter().enumerate() {
            events.push((m.sent, i, false));
            events.push((m.delivered.unwrap_or(m.sent), i, true));
        }
        events.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut rows = Rows {
            times: Vec::with_capacity(events.len()),
            send: vec![0; messages.len()],
            end: vec![0; messages.len()],
        };
        for (row, (t, i, is_end)) in events.into_iter().enumerate() {
            rows.times.push(t);
            if is_end {
                rows.end[i] = row;
            } else {
                rows.send[i] = row;
            }
        }
        rows
    }

    /// The first row at or after `t`.
    fn at(&self, t: Nanos) -> usize {
        self.times.partition_point(|&x| x < t)
    }
}

/// Shades each nemesis period that overlaps the events drawn.
fn bands(svg: &mut String, run: &Run, rows: &Rows, width: usize, height: usize) {
    let (Some(&first), Some(&last)) = (rows.times.first(), rows.times.last()) else {
        return;
    };
    for p in &run.nemesis {
        if p.start > last || p.end.is_some_and(|end| end < first) {
            continue;
        }
        let top = (TOP + ROW * rows.at(p.start)) as f64;
        let bottom = match p.end {
            Some(end) => (TOP + ROW * rows.at(end)) as f64,
            None => (height - BOTTOM) as f64,
        };
        let _ = writeln!(
            svg,
            r#"<g><title>{kind} from {start} to {end}: {detail}</title><rect class="band" x="{LEFT}" y="{top}" width="{w}" height="{h}"/><text class="band-label" x="{lx}" y="{ly}">{kind} {detail}</text></g>"#,
            kind = xml(&p.kind),
            detail = xml(&p.detail),
            start = time(p.start),
            end = p.end.map_or_else(|| "the end".to_string(), time),
            w = width - LEFT - RIGHT / 2,
            h = (bottom - top).max(3.0),
            lx = LEFT + 4,
            ly = top + 11.0,
        );
    }
}

/// A line per process, with its name above and below.
fn lifelines(svg: &mut String, columns: &[String], height: usize) {
    for id in columns {
        let x = column_x(columns, id);
        let class = match column_key(id).0 {
            0 => "life",
            1 => "life-client",
            _ => "life-service",
        };
        let (top, bottom) = (TOP - 10, height - BOTTOM + 4);
        let id = xml(id);
        let _ = writeln!(
            svg,
            r#"<line class="{class}" x1="{x}" y1="{top}" x2="{x}" y2="{bottom}"/><text class="head" x="{x}" y="{}">{id}</text><text class="head" x="{x}" y="{}">{id}</text>"#,
            TOP - 16,
            height - BOTTOM + 20,
        );
    }
}

/// The names of the processes over their lines every [`HEAD_EVERY`] rows, drawn over the
/// arrows.
fn heads_again(svg: &mut String, columns: &[String], rows: usize) {
    for row in (HEAD_EVERY..rows).step_by(HEAD_EVERY) {
        for id in columns {
            let _ = writeln!(
                svg,
                r#"<text class="head-again" x="{}" y="{}">{}</text>"#,
                column_x(columns, id),
                TOP + ROW * row,
                xml(id)
            );
        }
    }
}

/// The time of every [`TIME_EVERY`]-th row, on the left.
fn times(svg: &mut String, rows: &Rows) {
    for (row, &t) in rows.times.iter().enumerate().step_by(TIME_EVERY) {
        let _ = writeln!(
            svg,
            r#"<text class="time" x="{}" y="{}">{}</text>"#,
            LEFT - 8,
            row_y(row) + 3.0,
            time(t)
        );
    }
}

/// One message: a group holding its title, its line and its label.
fn arrow(svg: &mut String, m: &MessageEvent, columns: &[String], send: usize, end: usize) {
    let (x1, y1) = (column_x(columns, &m.src), row_y(send));
    let (mut x2, y2) = (column_x(columns, &m.dest), row_y(end));
    let delivered = m.delivered.is_some();
    let class = match (delivered, m.dropped, m.in_reply_to.is_some()) {
        (true, _, false) => "req",
        (true, _, true) => "reply",
        (false, true, _) => "lost",
        (false, false, _) => "flight",
    };
    if !delivered {
        x2 = x1 + (x2 - x1) * LOST_REACH;
    }
    let _ = write!(
        svg,
        r#"<g class="msg {class}-msg"><title>{}</title>"#,
        xml(&title(m))
    );
    let head = if delivered {
        format!(r#" marker-end="url(#head-{class})""#)
    } else {
        String::new()
    };
    let (lx, ly) = if m.src == m.dest {
        let span = end.saturating_sub(send) as f64;
        let bulge = x1 + (BULGE + BULGE_PER_ROW * span).min(MAX_BULGE);
        let _ = write!(
            svg,
            r#"<path class="{class}" d="M{x1},{y1} C{bulge},{y1} {bulge},{y2} {x1},{y2}"{head}/>"#
        );
        (bulge + 4.0, (y1 + y2) / 2.0 + 3.0)
    } else {
        let _ = write!(
            svg,
            r#"<line class="{class}" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}"{head}/>"#
        );
        ((x1 + x2) / 2.0, (y1 + y2) / 2.0 - 2.0)
    };
    match class {
        "lost" => {
            let _ = write!(
                svg,
                r#"<path class="cross" d="M{a},{b} L{c},{d} M{a},{d} L{c},{b}"/>"#,
                a = x2 - 4.0,
                b = y2 - 4.0,
                c = x2 + 4.0,
                d = y2 + 4.0
            );
        }
        "flight" => {
            let _ = write!(svg, r#"<circle class="open" cx="{x2}" cy="{y2}" r="3"/>"#);
        }
        _ => {}
    }
    let anchor = if m.src == m.dest {
        r#" style="text-anchor: start""#
    } else {
        ""
    };
    let _ = writeln!(
        svg,
        r#"<text class="label" x="{lx}" y="{ly}"{anchor}>{}</text></g>"#,
        xml(&m.kind)
    );
}

/// What hovering a message shows.
fn title(m: &MessageEvent) -> String {
    let mut s = format!("{} {} → {} (network id {})", m.kind, m.src, m.dest, m.id);
    if let Some(id) = m.msg_id {
        let _ = write!(s, "\nmsg_id {id}");
    }
    if let Some(id) = m.in_reply_to {
        let _ = write!(s, "\nin_reply_to {id}");
    }
    let _ = write!(s, "\nsent at {}", time(m.sent));
    match (m.delivered, m.dropped) {
        (Some(t), _) => {
            let _ = write!(
                s,
                ", delivered at {} (after {})",
                time(t),
                time(t.saturating_sub(m.sent))
            );
        }
        (None, true) => s.push_str(", dropped by the network"),
        (None, false) => s.push_str(", never delivered (in flight at the end)"),
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(
        id: u64,
        src: &str,
        dest: &str,
        sent: Nanos,
        delivered: Option<Nanos>,
    ) -> MessageEvent {
        MessageEvent {
            id,
            src: src.into(),
            dest: dest.into(),
            kind: "echo".into(),
            msg_id: Some(id),
            in_reply_to: None,
            sent,
            delivered,
            dropped: delivered.is_none(),
        }
    }

    #[test]
    fn columns_go_nodes_then_clients_then_services() {
        let ms = [
            message(1, "c10", "n10", 0, Some(1)),
            message(2, "n2", "lin-kv", 0, Some(1)),
            message(3, "c2", "n0", 0, Some(1)),
        ];
        assert_eq!(columns(&ms), ["n0", "n2", "n10", "c2", "c10", "lin-kv"]);
    }

    #[test]
    fn every_event_has_its_own_row_in_time_order() {
        let ms = [
            message(1, "c1", "n0", 10, Some(50)),
            message(2, "n0", "n1", 20, None),
            message(3, "n1", "n0", 20, Some(30)),
        ];
        let rows = Rows::new(&ms);
        assert_eq!(rows.times, [10, 20, 20, 20, 30, 50]);
        assert_eq!(
            (&rows.send[..], &rows.end[..]),
            (&[0, 1, 3][..], &[5, 2, 4][..])
        );
        assert_eq!(
            (rows.at(0), rows.at(20), rows.at(31), rows.at(99)),
            (0, 1, 5, 6)
        );
    }
}
