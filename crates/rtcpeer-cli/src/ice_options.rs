//! The ICE server options every command that makes peers takes.

use std::io::Read;
use std::path::{Path, PathBuf};

use rtcpeer::{CertificateDer, IceTransportPolicy, RTCConfiguration, RTCIceServer};
use rustls::pki_types::pem::PemObject;

/// The largest `--turn-ca` file read (a CA bundle is a few hundred KiB at most).
pub const MAX_TURN_CA_BYTES: u64 = 1024 * 1024;

/// `--ice-server`, `--username`, `--credential`, `--relay-only`, `--turn-ca`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct IceOptions {
    /// A STUN or TURN server URL (repeatable), e.g. `stun:192.0.2.1:3478` or
    /// `turn:192.0.2.1:3478?transport=tcp`.
    #[arg(long = "ice-server", value_name = "URL")]
    pub ice_servers: Vec<String>,
    /// The TURN username (for every `--ice-server`).
    #[arg(long)]
    pub username: Option<String>,
    /// The TURN credential (for every `--ice-server`).
    #[arg(long)]
    pub credential: Option<String>,
    /// Use relayed (TURN) candidates only: `iceTransportPolicy: "relay"`.
    #[arg(long)]
    pub relay_only: bool,
    /// Also trust the CA certificates in this PEM file (repeatable) for `turns:` servers, besides
    /// the built-in Mozilla roots: a private TURN deployment's own CA.
    #[arg(long = "turn-ca", value_name = "FILE", value_parser = TurnCa::read)]
    pub turn_ca: Vec<TurnCa>,
}

/// The certificates of one `--turn-ca` file, read when the command line is parsed.
#[derive(Debug, Clone)]
pub struct TurnCa {
    /// The file they came from.
    pub path: PathBuf,
    /// Its `CERTIFICATE` blocks, in order (DER).
    pub certificates: Vec<CertificateDer<'static>>,
}

/// Why a `--turn-ca` file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TurnCaError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What reading it said.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_TURN_CA_BYTES`].
    #[error("{path}: larger than {MAX_TURN_CA_BYTES} bytes; not a CA file")]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The file is not PEM.
    #[error("{path}: not a PEM file: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What the PEM reader said.
        reason: String,
    },
    /// The file is PEM but holds no `CERTIFICATE` block.
    #[error("{path}: no PEM CERTIFICATE block in it")]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
}

impl TurnCa {
    /// Reads the PEM file at `path`: every `-----BEGIN CERTIFICATE-----` block in it (other
    /// blocks, such as a key, are passed over). Whether each is a usable CA is checked when a
    /// connection with a `turns:` server is made (a `SyntaxError` then).
    pub fn read(path: &str) -> Result<TurnCa, TurnCaError> {
        let path = PathBuf::from(path);
        let text = read_bounded(&path).map_err(|source| TurnCaError::Read {
            path: path.clone(),
            source,
        })?;
        if text.len() as u64 > MAX_TURN_CA_BYTES {
            return Err(TurnCaError::TooLarge { path });
        }
        let certificates = CertificateDer::pem_slice_iter(&text)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TurnCaError::Pem {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        if certificates.is_empty() {
            return Err(TurnCaError::NoCertificate { path });
        }
        Ok(TurnCa { path, certificates })
    }
}

/// At most one byte more than [`MAX_TURN_CA_BYTES`] of the file.
fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_TURN_CA_BYTES + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

impl IceOptions {
    /// `config` with these servers and policy.
    pub fn apply(&self, config: RTCConfiguration) -> RTCConfiguration {
        let ice_servers = self
            .ice_servers
            .iter()
            .map(|url| RTCIceServer {
                urls: vec![url.clone()],
                username: self.username.clone(),
                credential: self.credential.clone(),
            })
            .collect();
        let mut turn_tls_roots = config.turn_tls_roots.clone();
        for ca in &self.turn_ca {
            tracing::debug!(file = %ca.path.display(), count = ca.certificates.len(), "trusting for turns:");
            turn_tls_roots.extend(ca.certificates.iter().cloned());
        }
        RTCConfiguration {
            ice_servers,
            ice_transport_policy: if self.relay_only {
                IceTransportPolicy::Relay
            } else {
                IceTransportPolicy::All
            },
            turn_tls_roots,
            ..config
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_url_gets_the_credentials_and_relay_only_sets_the_policy() {
        let options = IceOptions {
            ice_servers: vec!["stun:127.0.0.1".into(), "turn:127.0.0.1?transport=tcp".into()],
            username: Some("u".into()),
            credential: Some("c".into()),
            relay_only: true,
            turn_ca: Vec::new(),
        };
        let config = options.apply(RTCConfiguration::default());
        assert_eq!(config.ice_servers.len(), 2);
        assert_eq!(config.ice_servers[1].urls, ["turn:127.0.0.1?transport=tcp"]);
        assert_eq!(config.ice_servers[1].credential.as_deref(), Some("c"));
        assert_eq!(config.ice_transport_policy, IceTransportPolicy::Relay);
        let plain = IceOptions::default().apply(RTCConfiguration::default());
        assert!(plain.ice_servers.is_empty());
        assert_eq!(plain.ice_transport_policy, IceTransportPolicy::All);
    }

    /// A file in a fresh temporary directory, removed with it.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, contents: &[u8]) -> TempFile {
            let dir = std::env::temp_dir().join(format!("rtcpeer-turn-ca-{}-{name}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(name);
            std::fs::write(&path, contents).unwrap();
            TempFile(path)
        }
        fn path(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            if let Some(dir) = self.0.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }

    /// The flags as a command takes them.
    #[derive(Debug, clap::Parser)]
    struct Command {
        #[command(flatten)]
        ice: IceOptions,
    }

    #[test]
    fn turn_ca_files_give_their_certificates_to_turn_tls_roots() {
        let (first, second) = (
            rtcpeer_proto::dtls::Certificate::generate().unwrap(),
            rtcpeer_proto::dtls::Certificate::generate().unwrap(),
        );
        // Each to_pem is a CERTIFICATE and a PRIVATE KEY block: the key is passed over.
        let bundle = TempFile::new(
            "bundle.pem",
            format!("{}{}", first.to_pem(), second.to_pem()).as_bytes(),
        );
        let single = TempFile::new("single.pem", first.to_pem().as_bytes());
        let parsed = <Command as clap::Parser>::try_parse_from([
            "cmd",
            "--ice-server",
            "turns:localhost:5349",
            "--turn-ca",
            bundle.path(),
            "--turn-ca",
            single.path(),
        ])
        .expect("parses");
        let config = parsed.ice.apply(RTCConfiguration::default());
        let roots: Vec<&[u8]> = config.turn_tls_roots.iter().map(|c| c.as_ref()).collect();
        assert_eq!(roots, [first.der(), second.der(), first.der()]);
        assert_eq!(config.ice_servers[0].urls, ["turns:localhost:5349"]);
    }

    #[test]
    fn unusable_turn_ca_files_are_refused_when_the_command_line_is_parsed() {
        let parse = |path: &str| {
            <Command as clap::Parser>::try_parse_from(["cmd", "--turn-ca", path])
                .expect_err("refused")
                .to_string()
        };
        let missing = std::env::temp_dir().join("rtcpeer-no-such-ca.pem");
        let error = parse(missing.to_str().unwrap());
        assert!(error.contains("rtcpeer-no-such-ca.pem"), "{error}");

        let key_only = rtcpeer_proto::dtls::Certificate::generate().unwrap().to_pem();
        let key_only = key_only
            .split_inclusive('\n')
            .skip_while(|l| !l.contains("PRIVATE KEY"));
        let key_only = TempFile::new("key.pem", key_only.collect::<String>().as_bytes());
        assert!(matches!(
            TurnCa::read(key_only.path()),
            Err(TurnCaError::NoCertificate { .. })
        ));
        let text = TempFile::new("text.pem", b"just some text\n");
        assert!(matches!(
            TurnCa::read(text.path()),
            Err(TurnCaError::NoCertificate { .. })
        ));
        assert!(parse(text.path()).contains("no PEM CERTIFICATE block"));

        let unterminated = TempFile::new("cut.pem", b"-----BEGIN CERTIFICATE-----\nMIIB\n");
        assert!(matches!(
            TurnCa::read(unterminated.path()),
            Err(TurnCaError::Pem { .. })
        ));
        let huge = TempFile::new("huge.pem", &vec![b'A'; MAX_TURN_CA_BYTES as usize + 1]);
        assert!(matches!(TurnCa::read(huge.path()), Err(TurnCaError::TooLarge { .. })));
    }
}
