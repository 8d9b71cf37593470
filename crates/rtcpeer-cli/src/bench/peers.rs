//! The comparison peers: `benches/peers`, a separate cargo workspace whose binary `rtcpeer-bench-peers`
//! runs the same transfers through webrtc-rs or str0m and prints one JSON object.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::report::Comparison;

/// The other stacks, by the name the binary and the JSON use.
pub const STACKS: [&str; 2] = ["webrtc", "str0m"];

/// The built comparison binary, or why there is none.
#[derive(Debug, Clone)]
pub enum Peers {
    /// Ready to run.
    Built(PathBuf),
    /// Every comparison through it is skipped, for this reason.
    Unavailable(String),
}

impl Peers {
    /// Builds `benches/peers` (release) with cargo; `Unavailable` if the manifest or cargo is missing or
    /// the build fails.
    pub fn build(manifest: &Path) -> Peers {
        if !manifest.is_file() {
            return Peers::Unavailable(format!("{} not found", manifest.display()));
        }
        eprintln!("rtcpeer bench: building the comparison peers ({})…", manifest.display());
        let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["build", "--release", "--quiet", "--manifest-path"])
            .arg(manifest)
            .status();
        match status {
            Ok(status) if status.success() => {}
            Ok(status) => return Peers::Unavailable(format!("building benches/peers failed ({status})")),
            Err(error) => return Peers::Unavailable(format!("cannot run cargo: {error}")),
        }
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| manifest.with_file_name("target"));
        let binary = target.join("release").join("rtcpeer-bench-peers");
        if binary.is_file() {
            Peers::Built(binary)
        } else {
            Peers::Unavailable(format!("{} missing after the build", binary.display()))
        }
    }

    /// Runs `bench` with `args` for `stack` and reads the field `field` of its JSON output.
    pub fn run(&self, bench: &str, stack: &str, args: &[String], field: &str) -> Comparison {
        self.run_fields(bench, stack, args, &[field]).swap_remove(0)
    }

    /// Like [`run`](Self::run), reading several fields of the one output line.
    pub fn run_fields(&self, bench: &str, stack: &str, args: &[String], fields: &[&str]) -> Vec<Comparison> {
        match self {
            Peers::Built(binary) => run_for_fields(
                Command::new(binary).arg(bench).args(["--stack", stack]).args(args),
                &format!("{stack} {bench}"),
                fields,
            ),
            Peers::Unavailable(why) => skip_all(fields, why),
        }
    }
}

/// Every one of `fields` skipped for `why`.
pub(super) fn skip_all(fields: &[&str], why: &str) -> Vec<Comparison> {
    fields.iter().map(|_| Comparison::Skipped(why.to_owned())).collect()
}

/// Runs `command` and reads the number `fields` of the last line it prints; when it cannot run, fails
/// or prints no such line, every field is skipped with the reason (`label`, the stack and the bench,
/// names the run in it).
pub(super) fn run_for_fields(command: &mut Command, label: &str, fields: &[&str]) -> Vec<Comparison> {
    let output = match command.output() {
        Ok(output) => output,
        Err(error) => {
            let program = Path::new(command.get_program()).display().to_string();
            return skip_all(fields, &format!("cannot run {program}: {error}"));
        }
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("no message").trim();
        return skip_all(fields, &format!("{label} failed: {last}"));
    }
    parse_fields(&String::from_utf8_lossy(&output.stdout), fields)
        .unwrap_or_else(|why| skip_all(fields, &format!("{label}: {why}")))
}

/// Reads number `fields` from the last JSON line of `stdout`.
fn parse_fields(stdout: &str, fields: &[&str]) -> Result<Vec<Comparison>, String> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or("printed nothing")?;
    let value: Value = serde_json::from_str(line).map_err(|e| format!("output is not JSON: {e}"))?;
    fields
        .iter()
        .map(|field| {
            value
                .get(field)
                .and_then(Value::as_f64)
                .map(Comparison::Value)
                .ok_or_else(|| format!("no number `{field}` in {line}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_named_numbers_of_the_last_line() {
        let out = "warming up\n{\"value\": 12.5, \"unit\": \"MB/s\", \"p95\": 3}\n";
        assert_eq!(
            parse_fields(out, &["value", "p95"]),
            Ok(vec![Comparison::Value(12.5), Comparison::Value(3.0)])
        );
        assert!(parse_fields(out, &["median"]).is_err());
        assert!(parse_fields("", &["value"]).is_err());
    }

    #[test]
    fn an_unavailable_binary_skips_with_its_reason() {
        let peers = Peers::Unavailable("not built".into());
        assert_eq!(
            peers.run("connect-time", "str0m", &[], "value"),
            Comparison::Skipped("not built".into())
        );
    }
}
