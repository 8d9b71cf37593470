//! HTTP plumbing of the server: responses with CORS headers, bounded body reading.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};

/// The largest request body the server reads; a larger one gets `413`.
pub const MAX_BODY: usize = 256 * 1024;

/// The response type of every route.
pub type Reply = Response<Full<Bytes>>;

/// The methods a browser may use across origins.
const ALLOWED_METHODS: &str = "GET, POST, PATCH, DELETE, OPTIONS";

/// The request headers a browser may send across origins.
const ALLOWED_HEADERS: &str = "Content-Type, If-Match";

/// Adds the CORS headers every response carries: any origin may call the server, and
/// may read the `Location` of a WHIP session.
fn add_cors(headers: &mut HeaderMap) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Location"),
    );
}

/// A response with `status`, a body of `content_type`, and the CORS headers.
pub fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    add_cors(response.headers_mut());
    response
}

/// A plain-text response: the text says what happened (used for every error).
pub fn text(status: StatusCode, message: impl Into<String>) -> Reply {
    let mut message = message.into();
    message.push('\n');
    reply(status, "text/plain; charset=utf-8", message)
}

/// A response without a body.
pub fn empty(status: StatusCode) -> Reply {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    add_cors(response.headers_mut());
    response
}

/// The answer to a CORS preflight (`OPTIONS`): `204` with the allowed methods and headers.
pub fn preflight(allow: &'static str) -> Reply {
    let mut response = empty(StatusCode::NO_CONTENT);
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOWED_METHODS),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOWED_HEADERS),
    );
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    headers.insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// `405` naming the methods `allow`ed on the path.
pub fn method_not_allowed(method: &hyper::Method, allow: &'static str) -> Reply {
    let mut response = text(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} is not allowed here; allowed: {allow}"),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// The media type of a request (`Content-Type` without parameters, lower case), if any.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let media = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    Some(media)
}

/// A request the server refuses before routing it further: the status and the text saying why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The response status.
    pub status: StatusCode,
    /// What was wrong.
    pub message: String,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Refusal {
            status,
            message: message.into(),
        }
    }

    /// The plain-text response.
    pub fn into_reply(self) -> Reply {
        text(self.status, self.message)
    }
}

/// `415` unless the request's media type is `expected`.
pub fn require_media_type(headers: &HeaderMap, expected: &str) -> Result<(), Refusal> {
    match media_type(headers) {
        Some(media) if media == expected => Ok(()),
        Some(media) => Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("expected Content-Type {expected}, got {media}"),
        )),
        None => Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("expected Content-Type {expected}, got none"),
        )),
    }
}

/// Reads the whole body as UTF-8 text: at most [`MAX_BODY`] bytes (else `413`), within
/// `timeout` (else `408`).
pub async fn read_text(headers: &HeaderMap, body: Incoming, timeout: Duration) -> Result<String, Refusal> {
    let too_large = || {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {MAX_BODY} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY as u64) {
        return Err(too_large());
    }
    let collected = tokio::time::timeout(timeout, Limited::new(body, MAX_BODY).collect()).await;
    let bytes = match collected {
        Err(_) => {
            return Err(Refusal::new(
                StatusCode::REQUEST_TIMEOUT,
                format!("the body did not arrive within {} s", timeout.as_secs()),
            ))
        }
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large()),
        Ok(Err(error)) => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                format!("cannot read the body: {error}"),
            ))
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            format!("the body is not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_type_drops_parameters_and_case() {
        let mut headers = HeaderMap::new();
        assert_eq!(media_type(&headers), None);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Application/SDP; charset=utf-8"),
        );
        assert_eq!(media_type(&headers).as_deref(), Some("application/sdp"));
        assert!(require_media_type(&headers, "application/sdp").is_ok());
        let refused = require_media_type(&headers, "application/json").expect_err("wrong type");
        assert_eq!(refused.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(
            refused.message,
            "expected Content-Type application/json, got application/sdp"
        );
    }

    #[test]
    fn every_reply_carries_cors_headers() {
        for response in [
            text(StatusCode::BAD_REQUEST, "x"),
            empty(StatusCode::OK),
            preflight("POST"),
        ] {
            assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
            assert_eq!(response.headers()[header::ACCESS_CONTROL_EXPOSE_HEADERS], "Location");
        }
        let preflight = preflight("POST, OPTIONS");
        assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
        assert!(preflight.headers()[header::ACCESS_CONTROL_ALLOW_METHODS]
            .to_str()
            .unwrap_or_default()
            .contains("PATCH"));
    }
}
