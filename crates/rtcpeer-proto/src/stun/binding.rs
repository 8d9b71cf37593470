//! One Binding transaction to a STUN server: server-reflexive address discovery (RFC 8489 §6.2.1).
//!
//! The request goes out at once; without an answer it is retransmitted after `rto`, then after
//! twice that, and so on until `max_attempts` requests were sent. After the last one the
//! transaction waits one more doubled interval and then fails with [`BindingError::Timeout`].
//! With the defaults (500 ms, 3 attempts) requests leave at 0, 0.5 and 1.5 s and the transaction
//! gives up at 3.5 s, short enough for candidate gathering.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::error::StunError;
use super::message::{peek_header, Class, Message, Method, TransactionId};

/// Retransmission settings of a [`StunBinding`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StunBindingConfig {
    /// The first retransmission timeout; each further one doubles it.
    pub rto: Duration,
    /// How many requests are sent in total (at least 1).
    pub max_attempts: u32,
}

impl Default for StunBindingConfig {
    fn default() -> Self {
        StunBindingConfig {
            rto: Duration::from_millis(500),
            max_attempts: 3,
        }
    }
}

/// Why a Binding transaction produced no address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    /// No response after every attempt.
    #[error("no response from the STUN server after {0} requests")]
    Timeout(u32),
    /// The server answered with an error response.
    #[error("the STUN server answered {code} {reason}")]
    ErrorResponse {
        /// The ERROR-CODE number (0 if the response had none).
        code: u16,
        /// Its reason phrase.
        reason: String,
    },
    /// The success response had no (XOR-)MAPPED-ADDRESS.
    #[error("the success response carries no mapped address")]
    NoMappedAddress,
}

/// A sans-IO Binding transaction: feed it the server's datagrams and the time, send what
/// [`StunBinding::poll_transmit`] returns to the server, and read [`StunBinding::result`].
#[derive(Debug)]
pub struct StunBinding {
    config: StunBindingConfig,
    transaction_id: TransactionId,
    request: Vec<u8>,
    attempts: u32,
    interval: Duration,
    deadline: Instant,
    pending_transmit: bool,
    result: Option<Result<SocketAddr, BindingError>>,
}

impl StunBinding {
    /// Starts a transaction at `now`; the first request is ready in [`StunBinding::poll_transmit`].
    pub fn new(now: Instant, config: StunBindingConfig) -> Result<StunBinding, StunError> {
        let transaction_id = TransactionId::random();
        let request = Message::new(Class::Request, Method::BINDING, transaction_id).encode_with(None, true)?;
        Ok(StunBinding {
            config,
            transaction_id,
            request,
            attempts: 1,
            interval: config.rto,
            deadline: now + config.rto,
            pending_transmit: true,
            result: None,
        })
    }

    /// The transaction id of the requests, to route responses when several transactions share a socket.
    pub fn transaction_id(&self) -> TransactionId {
        self.transaction_id
    }

    /// The request to send to the server, if one is due.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.pending_transmit && self.result.is_none() {
            self.pending_transmit = false;
            Some(self.request.clone())
        } else {
            None
        }
    }

    /// When [`StunBinding::handle_timeout`] should be called next; `None` once finished.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.result.is_none().then_some(self.deadline)
    }

    /// Retransmits or gives up when the deadline has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.result.is_some() || now < self.deadline {
            return;
        }
        if self.attempts >= self.config.max_attempts.max(1) {
            tracing::debug!(attempts = self.attempts, "STUN binding timed out");
            self.result = Some(Err(BindingError::Timeout(self.attempts)));
            return;
        }
        self.attempts += 1;
        self.interval = self.interval.saturating_mul(2);
        self.deadline = now + self.interval;
        self.pending_transmit = true;
    }

    /// Offers a datagram from the server. Returns `true` if it was this transaction's response
    /// (then [`StunBinding::result`] is set), `false` if it is not ours and should go elsewhere.
    pub fn handle_receive(&mut self, datagram: &[u8]) -> bool {
        let Ok((class, method, tid)) = peek_header(datagram) else {
            return false;
        };
        if tid != self.transaction_id || method != Method::BINDING || self.result.is_some() {
            return false;
        }
        let message = match Message::decode(datagram) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(error = %e, "malformed STUN binding response dropped");
                return true;
            }
        };
        if message.has_fingerprint() && message.check_fingerprint().is_err() {
            tracing::debug!("STUN binding response with a bad FINGERPRINT dropped");
            return true;
        }
        self.result = match class {
            Class::SuccessResponse => Some(message.mapped_address().ok_or(BindingError::NoMappedAddress)),
            Class::ErrorResponse => {
                let (code, reason) = message.error().unwrap_or((0, ""));
                Some(Err(BindingError::ErrorResponse {
                    code,
                    reason: reason.to_string(),
                }))
            }
            Class::Request | Class::Indication => return false,
        };
        true
    }

    /// The outcome: the server-reflexive address or why there is none; `None` while still waiting.
    pub fn result(&self) -> Option<&Result<SocketAddr, BindingError>> {
        self.result.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stun::Attribute;

    fn response(tid: TransactionId, class: Class, attr: Attribute) -> Vec<u8> {
        Message::new(class, Method::BINDING, tid)
            .with(attr)
            .encode_with(None, true)
            .unwrap()
    }

    #[test]
    fn success_yields_the_xor_mapped_address() {
        let now = Instant::now();
        let mut b = StunBinding::new(now, StunBindingConfig::default()).unwrap();
        let request = Message::decode(&b.poll_transmit().unwrap()).unwrap();
        assert_eq!((request.class, request.method), (Class::Request, Method::BINDING));
        assert!(b.poll_transmit().is_none());
        let addr: SocketAddr = "203.0.113.7:40000".parse().unwrap();
        // Someone else's response is not ours.
        let other = response(
            TransactionId::new([9; 12]),
            Class::SuccessResponse,
            Attribute::XorMappedAddress(addr),
        );
        assert!(!b.handle_receive(&other));
        assert!(b.result().is_none());
        let ours = response(
            request.transaction_id,
            Class::SuccessResponse,
            Attribute::XorMappedAddress(addr),
        );
        assert!(b.handle_receive(&ours));
        assert_eq!(b.result(), Some(&Ok(addr)));
        assert_eq!(b.poll_timeout(), None);
    }

    #[test]
    fn retransmits_with_doubling_then_times_out() {
        let t0 = Instant::now();
        let config = StunBindingConfig {
            rto: Duration::from_millis(500),
            max_attempts: 4,
        };
        let mut b = StunBinding::new(t0, config).unwrap();
        let first = b.poll_transmit().unwrap();
        let mut sent_at = vec![Duration::ZERO];
        while let Some(deadline) = b.poll_timeout() {
            b.handle_timeout(deadline);
            if let Some(again) = b.poll_transmit() {
                assert_eq!(again, first, "a retransmission is the same request");
                sent_at.push(deadline - t0);
            }
            if b.result().is_some() {
                assert_eq!(deadline - t0, Duration::from_millis(7500));
            }
        }
        let ms: Vec<u128> = sent_at.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, [0, 500, 1500, 3500]);
        assert_eq!(b.result(), Some(&Err(BindingError::Timeout(4))));
    }

    #[test]
    fn early_timeout_calls_do_nothing() {
        let t0 = Instant::now();
        let mut b = StunBinding::new(t0, StunBindingConfig::default()).unwrap();
        b.poll_transmit().unwrap();
        b.handle_timeout(t0 + Duration::from_millis(499));
        assert!(b.poll_transmit().is_none());
        assert!(b.result().is_none());
    }

    #[test]
    fn error_response_is_reported() {
        let now = Instant::now();
        let mut b = StunBinding::new(now, StunBindingConfig::default()).unwrap();
        let tid = b.transaction_id();
        let err = response(
            tid,
            Class::ErrorResponse,
            Attribute::ErrorCode {
                code: 400,
                reason: "Bad Request".into(),
            },
        );
        assert!(b.handle_receive(&err));
        assert_eq!(
            b.result(),
            Some(&Err(BindingError::ErrorResponse {
                code: 400,
                reason: "Bad Request".into()
            }))
        );
        let mut b = StunBinding::new(now, StunBindingConfig::default()).unwrap();
        let empty = response(
            b.transaction_id(),
            Class::SuccessResponse,
            Attribute::Software("x".into()),
        );
        assert!(b.handle_receive(&empty));
        assert_eq!(b.result(), Some(&Err(BindingError::NoMappedAddress)));
    }

    #[test]
    fn garbage_is_not_taken_for_a_response() {
        let now = Instant::now();
        let mut b = StunBinding::new(now, StunBindingConfig::default()).unwrap();
        for junk in [&b""[..], b"\x00\x01", &[0x40; 40]] {
            assert!(!b.handle_receive(junk));
        }
        assert!(b.result().is_none());
    }
}
