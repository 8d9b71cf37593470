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
//!
//! ```
//! use std::time::Instant;
//! use rtcpeer_proto::dtls::{Certificate, DtlsEvent, DtlsRole, DtlsState, DtlsTransport};
//!
//! # fn main() -> Result<(), rtcpeer_proto::dtls::DtlsError> {
//! let (a_cert, b_cert) = (Certificate::generate()?, Certificate::generate()?);
//! let now = Instant::now();
//! // `a=setup:active` side is the client; each side knows the other's `a=fingerprint`.
//! let mut a = DtlsTransport::new(&a_cert, DtlsRole::Client, vec![b_cert.fingerprint()], now)?;
//! let mut b = DtlsTransport::new(&b_cert, DtlsRole::Server, vec![a_cert.fingerprint()], now)?;
//! for _ in 0..10 {
//!     while let Some(d) = a.poll_transmit() { b.handle_receive(now, &d); }
//!     while let Some(d) = b.poll_transmit() { a.handle_receive(now, &d); }
//! }
//! assert_eq!((a.state(), b.state()), (DtlsState::Connected, DtlsState::Connected));
//! assert!(matches!(a.poll_event(), Some(DtlsEvent::Connected { srtp: Some(_) })));
//! a.send(b"an SCTP packet")?;
//! while let Some(d) = a.poll_transmit() { b.handle_receive(now, &d); }
//! assert!(matches!(b.poll_event(), Some(DtlsEvent::Connected { .. })));
//! assert_eq!(b.poll_event(), Some(DtlsEvent::Data(b"an SCTP packet".to_vec())));
//! # Ok(())
//! # }
//! ```

mod certificate;
mod config;
mod error;
mod fingerprint;
mod pem;
mod srtp;
mod transport;
mod validity;

pub use certificate::Certificate;
pub use config::{DtlsConfig, DtlsVersions};
pub use error::DtlsError;
pub use fingerprint::{Fingerprint, FingerprintError, HashAlgorithm};
pub(crate) use pem::encode_base64;
pub use pem::{PemError, MAX_PEM_LEN};
pub use srtp::{SrtpKeyingMaterial, SrtpMasterKey, SrtpProfile};
pub use transport::{DtlsEvent, DtlsRole, DtlsState, DtlsTransport, DtlsVersion, MAX_APPLICATION_DATA};
pub use validity::ValidityError;
