//! DTLS for WebRTC (RFC 8842, RFC 8827 §6.5), through the `dimpl` engine.
//!
//! - [`Certificate`]: the local identity, an ECDSA P-256 self-signed
//!   certificate; its [`Fingerprint`] goes into `a=fingerprint`.
//! - [`Fingerprint`]: parse, print and check `a=fingerprint` values.
//! - [`DtlsTransport`]: one DTLS association, sans-IO. It only reports
//!   [`DtlsEvent::Connected`] once the peer's certificate matched one of the
//!   peer's fingerprints, and hands out the DTLS-SRTP keys
//!   ([`SrtpKeyingMaterial`]) with it.
//!
//! Why dimpl, and what it does and does not do: `docs/decisions/0002-dtls-dimpl.md`.

mod certificate;
mod config;
mod error;
mod fingerprint;
mod pem;
mod srtp;
mod transport;

pub use certificate::Certificate;
pub use config::{DtlsConfig, DtlsVersions};
pub use error::DtlsError;
pub use fingerprint::{Fingerprint, FingerprintError, HashAlgorithm};
pub use pem::{PemError, MAX_PEM_LEN};
pub use srtp::{SrtpKeyingMaterial, SrtpMasterKey, SrtpProfile};
pub use transport::{DtlsEvent, DtlsRole, DtlsState, DtlsTransport, DtlsVersion, MAX_APPLICATION_DATA};
