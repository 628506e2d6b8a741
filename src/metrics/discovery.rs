//! Prometheus file-based service discovery: one file per node, `DIR/<node_id>.json`.
//!
//! Several nodes on one host each bind their own port, often a free one picked by the
//! kernel. Each writes, once it knows its id, a file naming its address:
//!
//! ```json
//! [{"targets":["127.0.0.1:40123"],"labels":{"node":"n1"}}]
//! ```
//!
//! and a Prometheus whose `file_sd_configs` reads `DIR/*.json` finds every node of a run
//! without knowing ports in advance. The file is written to a hidden temporary name and
//! renamed into place, so Prometheus (which watches the directory) never reads half a file.
//! It is removed when the [`Publication`] is dropped, on a clean exit; a node killed with
//! SIGKILL (as Maelstrom ends a test) leaves it behind, and Prometheus shows the target down.

use std::fs;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// The address to publish for a listener bound to `bound`: an unspecified address
/// (`0.0.0.0`, `::`) is reachable on the loopback of the same host.
pub fn target_addr(bound: SocketAddr) -> SocketAddr {
    let ip = match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bound.port())
}

/// The file name for `node_id`: characters other than ASCII letters, digits, `-` and `_`
/// become `_`, so an id can neither leave the directory nor hide the file.
///
/// ```
/// use mionode::metrics::discovery::file_name;
/// assert_eq!(file_name("n1"), "n1.json");
/// assert_eq!(file_name("../x y"), "___x_y.json");
/// ```
pub fn file_name(node_id: &str) -> String {
    let stem: String = node_id
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c,
            _ => '_',
        })
        .collect();
    format!("{stem}.json")
}

/// The content of the file: one target group with a `node` label.
pub fn contents(node_id: &str, target: SocketAddr) -> String {
    let group = serde_json::json!([{
        "targets": [target.to_string()],
        "labels": { "node": node_id },
    }]);
    format!("{group}\n")
}

/// A discovery file written by this process; removed when dropped.
#[derive(Debug)]
pub struct Publication {
    path: PathBuf,
}

impl Publication {
    /// Writes `DIR/<node_id>.json` naming `target`, atomically, creating `dir` if needed.
    pub fn write(dir: &Path, node_id: &str, target: SocketAddr) -> io::Result<Publication> {
        fs::create_dir_all(dir)?;
        let name = file_name(node_id);
        let path = dir.join(&name);
        let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let written = (|| {
            let mut file = fs::File::create(&temp)?;
            file.write_all(contents(node_id, target).as_bytes())?;
            file.sync_all()?;
            fs::rename(&temp, &path)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
        Ok(Publication { path })
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Publication {
    fn drop(&mut self) {
        match fs::remove_file(&self.path) {
            Ok(()) => log::debug!("removed {}", self.path.display()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => log::warn!("cannot remove {}: {e}", self.path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mionode-sd-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn file_is_written_whole_and_removed_on_drop() {
        let dir = temp_dir("write");
        let target: SocketAddr = "127.0.0.1:9123".parse().unwrap();
        let publication = Publication::write(&dir.join("sd"), "n1", target).unwrap();
        let path = publication.path().to_owned();
        assert_eq!(path, dir.join("sd/n1.json"));
        let v: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            v,
            serde_json::json!([{"targets":["127.0.0.1:9123"],"labels":{"node":"n1"}}])
        );
        let names: Vec<_> = fs::read_dir(dir.join("sd"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["n1.json"], "no temporary file left");
        drop(publication);
        assert!(!path.exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unspecified_bind_address_is_published_as_loopback() {
        let any: SocketAddr = "0.0.0.0:80".parse().unwrap();
        assert_eq!(target_addr(any), "127.0.0.1:80".parse().unwrap());
        let any6: SocketAddr = "[::]:80".parse().unwrap();
        assert_eq!(target_addr(any6), "[::1]:80".parse().unwrap());
        let some: SocketAddr = "192.0.2.3:80".parse().unwrap();
        assert_eq!(target_addr(some), some);
    }

    #[test]
    fn odd_node_ids_stay_inside_the_directory() {
        assert_eq!(file_name("n1"), "n1.json");
        assert_eq!(file_name(".hidden"), "_hidden.json");
        assert_eq!(file_name("a/b"), "a_b.json");
    }
}
