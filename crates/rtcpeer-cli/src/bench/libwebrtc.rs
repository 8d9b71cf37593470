//! The libwebrtc comparison: `benches/libwebrtc/bench.js`, a Node script driving Google's libwebrtc through
//! the `@roamhq/wrtc` binding, installed with `npm ci` on first use.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::peers::{run_for_fields, skip_all};
use super::report::Comparison;

/// The comparison key of this stack.
pub const NAME: &str = "libwebrtc";

/// The Node script, ready or not.
#[derive(Debug, Clone)]
pub enum Libwebrtc {
    /// `node` can run the script with its package installed.
    Ready {
        /// The script.
        script: PathBuf,
    },
    /// Every comparison with libwebrtc is skipped, for this reason.
    Unavailable(String),
}

impl Libwebrtc {
    /// Checks for `node`, and installs the package in `dir` (`benches/libwebrtc`) with `npm ci` when its
    /// `node_modules` lacks it.
    pub fn prepare(dir: &Path) -> Libwebrtc {
        let script = dir.join("bench.js");
        if !script.is_file() {
            return Libwebrtc::Unavailable(format!("{} not found", script.display()));
        }
        match Command::new("node").arg("--version").output() {
            Ok(output) if output.status.success() => {}
            _ => return Libwebrtc::Unavailable("node is not installed".into()),
        }
        if !dir.join("node_modules/@roamhq/wrtc").is_dir() {
            eprintln!("rtcpeer bench: installing @roamhq/wrtc (npm ci in {})…", dir.display());
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(dir)
                .status();
            match status {
                Ok(status) if status.success() => {}
                Ok(status) => return Libwebrtc::Unavailable(format!("npm ci failed ({status})")),
                Err(error) => return Libwebrtc::Unavailable(format!("cannot run npm: {error}")),
            }
        }
        Libwebrtc::Ready { script }
    }

    /// Runs `bench` with `args` and reads the number fields `fields` of its last output line.
    pub fn run_fields(&self, bench: &str, args: &[String], fields: &[&str]) -> Vec<Comparison> {
        match self {
            Libwebrtc::Ready { script } => run_for_fields(
                Command::new("node").arg(script).arg(bench).args(args),
                &format!("{NAME} {bench}"),
                fields,
            ),
            Libwebrtc::Unavailable(why) => skip_all(fields, why),
        }
    }
}

/// `benches/libwebrtc` beside the comparison peers' `benches/peers/Cargo.toml`.
pub fn dir_beside(peers_manifest: &Path) -> PathBuf {
    peers_manifest
        .parent()
        .and_then(Path::parent)
        .map_or_else(|| PathBuf::from("benches"), Path::to_path_buf)
        .join("libwebrtc")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_lives_beside_the_peers() {
        assert_eq!(
            dir_beside(Path::new("/src/benches/peers/Cargo.toml")),
            PathBuf::from("/src/benches/libwebrtc")
        );
    }

    #[test]
    fn a_missing_script_skips_with_its_reason() {
        let missing = Libwebrtc::prepare(Path::new("/nonexistent/benches/libwebrtc"));
        let Libwebrtc::Unavailable(why) = &missing else {
            panic!("prepared a missing script: {missing:?}");
        };
        assert!(why.contains("bench.js not found"), "{why}");
        assert_eq!(
            missing.run_fields("connect-time", &[], &["median_ms", "p95_ms"]),
            vec![Comparison::Skipped(why.clone()), Comparison::Skipped(why.clone())]
        );
    }
}
