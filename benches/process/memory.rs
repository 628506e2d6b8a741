//! `memory`: peak RSS with 1,000,000 RPCs pending, minus an idle node's.

use std::io;
use std::path::Path;

use crate::batches::{batch_line, values};
use crate::loopback::NODE_ID;
use crate::measure::{median, peak_rss, TIME};
use crate::workloads::{init_line, write_input, Row, Scale, MIONODE};

pub fn memory(scale: &Scale, rows: &mut Vec<Row>) -> io::Result<()> {
    if !Path::new(TIME).exists() && !scale.judged {
        println!("memory: skipped, {TIME} is not installed");
        return Ok(());
    }
    let n = scale.pending_rpcs;
    let init = || init_line(r#"["n1","n2"]"#);
    let idle = write_input("idle.jsonl", std::iter::once(init()))?;
    // The intended tool: one send_fire_forget per RPC, to a peer that never answers. The
    // node flushes between reads, so what it holds at the end is the pending RPCs.
    let fire_forget = write_input(
        &format!("fire-forget-{n}.jsonl"),
        std::iter::once(init()).chain((0..n).map(|i| {
            format!(
                r#"{{"src":"c1","dest":"{NODE_ID}","body":{{"type":"send_fire_forget","msg_id":{},"target":"n2","payload":{{"type":"echo","echo":{i}}}}}}}"#,
                i + 2
            )
        })),
    )?;
    // For comparison: one batch_echo whose echoes never come back. Its stored values, and its
    // echo requests waiting in the outbox until the handler returns, count too.
    let batch = write_input(
        &format!("batch-pending-{n}.jsonl"),
        [init(), batch_line(2, &values(0, n)).trim_end().to_string()].into_iter(),
    )?;
    // Every echo on the wire at once (the window at its largest), none timing out before the
    // node reads its end of input and exits.
    let args = [
        "--reaper-threshold-ms",
        "3600000",
        "--rpc-timeout-ms",
        "60000",
        "--op-deadline-ms",
        "60000",
        "--rpc-window",
        "1048576",
        "--max-line-bytes",
        "268435456",
    ];
    let mut rss = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..scale.runs.min(3) {
        for (samples, input) in rss.iter_mut().zip([&idle, &fire_forget, &batch]) {
            samples.push(peak_rss(MIONODE, &args, input)?);
        }
    }
    let [idle, fire_forget, batch] = rss.map(|samples| median(&samples));
    let per = |peak: u64| peak.saturating_sub(idle) as f64 / n as f64;
    let mib = |bytes: u64| bytes as f64 / (1 << 20) as f64;
    println!(
        "memory: peak RSS with {n} RPCs pending, minus an idle node's {:.1} MiB",
        mib(idle)
    );
    println!(
        "  {n} send_fire_forget            {:>7.1} MiB  {:>5.0} bytes per RPC",
        mib(fire_forget),
        per(fire_forget)
    );
    println!(
        "  one batch_echo of {n} values    {:>7.1} MiB  {:>5.0} bytes per value",
        mib(batch),
        per(batch)
    );
    rows.push(Row {
        measure: format!("memory per pending RPC ({n} send_fire_forget)"),
        figure: format!("{:.0} bytes", per(fire_forget)),
        target: "<= 256 bytes".into(),
        met: per(fire_forget) <= 256.0,
    });
    Ok(())
}
