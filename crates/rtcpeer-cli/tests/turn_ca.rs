//! `--turn-ca`: `rtcpeer demo` through coturn over TLS (`turns:`), the server's certificate
//! signed by a CA of the test's own: with `--turn-ca` naming that CA the relay-only peers
//! connect through TLS allocations; without it, the certificate is refused and the demo fails
//! with an `icecandidateerror` 701 naming the TLS error.

#[path = "../../rtcpeer/tests/common/coturn.rs"]
mod coturn;

use std::path::PathBuf;
use std::process::{Command, Output};

use coturn::{make_pki, Coturn, Options, PASS, USER};

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("rtcpeer-cli-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `rtcpeer demo` with relay-only peers through `turns:` `server`, plus `extra` arguments.
fn demo(server: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rtcpeer"))
        .args(["demo", "--messages", "20", "--relay-only", "--ice-server", server])
        .args(["--username", USER, "--credential", PASS])
        .args(extra)
        .output()
        .expect("run rtcpeer demo")
}

#[test]
fn demo_connects_through_coturn_over_tls_with_the_ca_given_by_turn_ca() {
    let pki = make_pki(&["localhost", "127.0.0.1"]);
    let server = Coturn::start_with(Options {
        tls: Some(pki.clone()),
        // Its log names each session's TLS method.
        verbose: true,
        ..Options::default()
    });
    let url = format!("turns:{}", server.tls_addr().expect("a TLS listener"));
    // The server's chain is its certificate, then the CA's: the CA is the last block.
    let ca_pem = pki
        .chain_pem
        .rfind("-----BEGIN CERTIFICATE-----")
        .map(|start| &pki.chain_pem[start..])
        .expect("the CA's block");
    let dir = TempDir::new("turn-ca");
    let ca_file = dir.0.join("ca.pem");
    std::fs::write(&ca_file, ca_pem).expect("write the CA");

    let run = demo(
        &url,
        &["--timeout", "20", "--turn-ca", ca_file.to_str().expect("a UTF-8 path")],
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "{stdout}\n{stderr}\ncoturn log:\n{}",
        server.log()
    );
    assert!(stdout.contains("demo passed"), "{stdout}");
    assert!(stdout.contains(" typ relay "), "no relayed candidate:\n{stdout}");
    assert!(!stdout.contains("icecandidateerror"), "{stdout}");
    // coturn made both allocations on TLS sessions.
    let log = server.log();
    let tls_sessions = log
        .lines()
        .filter(|l| l.contains("new, realm=<example.org>, username=<test>") && l.contains("method=TLS"))
        .count();
    assert_eq!(tls_sessions, 2, "{log}");

    // Without the CA the certificate chains to no root: 701 naming the TLS error, no relay, no demo.
    let run = demo(&url, &["--timeout", "4"]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(!run.status.success(), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("icecandidateerror") && l.contains(" 701 ") && l.contains("UnknownIssuer")),
        "{stdout}"
    );
    assert!(!stdout.contains(" typ relay "), "{stdout}");
}
