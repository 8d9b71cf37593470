//! The errors the DTLS module reports.

use super::fingerprint::FingerprintError;
use super::pem::PemError;
use super::validity::ValidityError;

/// Everything that can go wrong in the DTLS module: making or loading a
/// certificate, running the handshake, or sending application data.
///
/// The variants that end a [`DtlsTransport`](super::DtlsTransport) (reported
/// through [`DtlsEvent::Failed`](super::DtlsEvent::Failed)) are
/// [`FingerprintMismatch`](Self::FingerprintMismatch),
/// [`NoPeerCertificate`](Self::NoPeerCertificate),
/// [`HandshakeTimeout`](Self::HandshakeTimeout),
/// [`Protocol`](Self::Protocol) and [`BadKeyingMaterial`](Self::BadKeyingMaterial).
/// The others are returned to the caller and leave the transport as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DtlsError {
    /// rcgen could not make the key pair or the self-signed certificate.
    #[error("certificate generation failed: {0}")]
    CertificateGeneration(String),
    /// A PEM text did not hold a usable certificate and key.
    #[error("bad PEM: {0}")]
    Pem(#[from] PemError),
    /// The private key in the PEM text is not one rcgen/aws-lc can load.
    #[error("bad private key: {0}")]
    BadPrivateKey(String),
    /// The private key does not belong to the certificate it was loaded with.
    #[error("the private key does not match the certificate's public key")]
    KeyMismatch,

    /// The certificate's validity period could not be read.
    #[error("bad certificate: {0}")]
    BadCertificate(#[from] ValidityError),
    /// A fingerprint was malformed.
    #[error("bad fingerprint: {0}")]
    Fingerprint(#[from] FingerprintError),
    /// The transport was created without any remote fingerprint, so no peer
    /// certificate could ever be accepted.
    #[error("no remote fingerprint given: the peer's certificate could never be verified")]
    NoRemoteFingerprint,
    /// The peer's certificate matched none of the fingerprints from its
    /// session description (RFC 8842 §5).
    #[error("the peer's certificate (sha-256 {actual}) matches none of the {expected} remote fingerprint(s)")]
    FingerprintMismatch {
        /// The SHA-256 fingerprint of the certificate the peer presented, as
        /// colon-separated uppercase hex.
        actual: String,
        /// How many fingerprints were accepted.
        expected: usize,
    },
    /// The handshake finished without the peer presenting a certificate.
    #[error("the handshake finished without a peer certificate")]
    NoPeerCertificate,
    /// The handshake did not finish in time (all retransmissions used up or
    /// the overall deadline passed).
    #[error("DTLS handshake timed out: {0}")]
    HandshakeTimeout(String),
    /// The DTLS engine reported a fatal error (bad handshake message, failed
    /// decryption of a handshake record, queue overflow inside the engine, ...).
    #[error("DTLS protocol error: {0}")]
    Protocol(String),
    /// The exported SRTP keying material did not have the length its profile needs.
    #[error("SRTP keying material for {profile} has {found} bytes, expected {expected}")]
    BadKeyingMaterial {
        /// The negotiated profile's name.
        profile: String,
        /// The length the profile needs.
        expected: usize,
        /// The length the engine exported.
        found: usize,
    },
    /// [`send`](super::DtlsTransport::send) was called before the transport
    /// reached [`Connected`](super::DtlsState::Connected), or after it closed or failed.
    #[error("DTLS transport is not connected (state {0:?})")]
    NotConnected(super::DtlsState),
    /// The application data does not fit one DTLS record.
    #[error("application data of {len} bytes exceeds the {max}-byte DTLS record limit")]
    DataTooLarge {
        /// The length that was offered.
        len: usize,
        /// The largest accepted length.
        max: usize,
    },
    /// The outgoing datagram queue is full; drain
    /// [`poll_transmit`](super::DtlsTransport::poll_transmit) and retry.
    #[error("outgoing datagram queue is full ({0} datagrams)")]
    SendQueueFull(usize),
}

impl DtlsError {
    /// Maps a (always fatal) error from dimpl.
    pub(crate) fn from_engine(err: dimpl::Error) -> DtlsError {
        match err {
            dimpl::Error::Timeout(t) => DtlsError::HandshakeTimeout(format!("{t:?}")),
            other => DtlsError::Protocol(other.to_string()),
        }
    }
}
