//! The server's routes: the demo page, JSON offer/answer, WHIP and the session count.

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, StatusCode};
use rtcpeer::SessionDescriptionInit;
use tracing::debug;

use super::http::{self, Reply};
use super::sdpfrag::SdpFrag;
use super::session::{SessionError, Sessions};

/// The demo page served at `/`.
const PAGE: &str = include_str!("page.html");

/// The path prefix of WHIP session resources.
const WHIP_RESOURCE: &str = "/whip/";

/// What every route needs.
#[derive(Debug, Clone)]
pub struct Routes {
    /// The session table.
    pub sessions: Arc<Sessions>,
    /// How long a request body may take to arrive.
    pub body_timeout: Duration,
}

impl Routes {
    /// Answers one request; never fails (every problem is a response).
    pub async fn handle(&self, request: Request<Incoming>) -> Reply {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path().to_string();
        let method = parts.method.clone();
        debug!(%method, %path, "request");
        match path.as_str() {
            "/" | "/index.html" => match method {
                Method::GET | Method::HEAD => http::reply(StatusCode::OK, "text/html; charset=utf-8", PAGE),
                Method::OPTIONS => http::preflight("GET, HEAD, OPTIONS"),
                _ => http::method_not_allowed(&method, "GET, HEAD, OPTIONS"),
            },
            // Browsers ask for it with every page; an empty answer keeps their console quiet.
            "/favicon.ico" => http::empty(StatusCode::NO_CONTENT),
            "/sessions" => match method {
                Method::GET => http::reply(
                    StatusCode::OK,
                    "application/json",
                    serde_json::json!({ "sessions": self.sessions.len() }).to_string(),
                ),
                Method::OPTIONS => http::preflight("GET, OPTIONS"),
                _ => http::method_not_allowed(&method, "GET, OPTIONS"),
            },
            "/offer" => match method {
                Method::POST => match http::read_text(&parts.headers, body, self.body_timeout).await {
                    Ok(text) => self.offer(&text).await,
                    Err(refusal) => refusal.into_reply(),
                },
                Method::OPTIONS => http::preflight("POST, OPTIONS"),
                _ => http::method_not_allowed(&method, "POST, OPTIONS"),
            },
            "/whip" => match method {
                Method::POST => {
                    if let Err(refusal) = http::require_media_type(&parts.headers, "application/sdp") {
                        return refusal.into_reply();
                    }
                    match http::read_text(&parts.headers, body, self.body_timeout).await {
                        Ok(text) => self.whip_post(text).await,
                        Err(refusal) => refusal.into_reply(),
                    }
                }
                Method::OPTIONS => {
                    let mut reply = http::preflight("POST, OPTIONS");
                    reply
                        .headers_mut()
                        .insert("accept-post", HeaderValue::from_static("application/sdp"));
                    reply
                }
                _ => http::method_not_allowed(&method, "POST, OPTIONS"),
            },
            _ => match path.strip_prefix(WHIP_RESOURCE) {
                Some(id) if !id.is_empty() && !id.contains('/') => match method {
                    Method::PATCH => {
                        if let Err(refusal) =
                            http::require_media_type(&parts.headers, "application/trickle-ice-sdpfrag")
                        {
                            return refusal.into_reply();
                        }
                        match http::read_text(&parts.headers, body, self.body_timeout).await {
                            Ok(text) => self.whip_patch(id, &text).await,
                            Err(refusal) => refusal.into_reply(),
                        }
                    }
                    Method::DELETE => match self.sessions.close(id).await {
                        Ok(()) => http::empty(StatusCode::OK),
                        Err(error) => session_error(error),
                    },
                    Method::OPTIONS => http::preflight("PATCH, DELETE, OPTIONS"),
                    _ => http::method_not_allowed(&method, "PATCH, DELETE, OPTIONS"),
                },
                _ => http::text(StatusCode::NOT_FOUND, format!("no such path: {path}")),
            },
        }
    }

    /// `POST /offer`: `{"type":"offer","sdp":…}` in, `{"type":"answer","sdp":…}` out.
    async fn offer(&self, body: &str) -> Reply {
        let offer = match SessionDescriptionInit::from_json(body) {
            Ok(offer) => offer,
            Err(error) => return http::text(StatusCode::BAD_REQUEST, error.to_string()),
        };
        match self.sessions.open(offer).await {
            Ok((_, answer)) => http::reply(StatusCode::OK, "application/json", answer.to_json()),
            Err(error) => session_error(error),
        }
    }

    /// `POST /whip`: an SDP offer in, `201` with the answer and the session's `Location` out.
    async fn whip_post(&self, body: String) -> Reply {
        match self.sessions.open(SessionDescriptionInit::offer(body)).await {
            Ok((id, answer)) => {
                let mut reply = http::reply(StatusCode::CREATED, "application/sdp", answer.sdp);
                if let Ok(location) = HeaderValue::from_str(&format!("{WHIP_RESOURCE}{id}")) {
                    reply.headers_mut().insert(header::LOCATION, location);
                }
                reply
            }
            Err(error) => session_error(error),
        }
    }

    /// `PATCH /whip/<id>`: trickled candidates (RFC 8840 fragment) for the session.
    async fn whip_patch(&self, id: &str, body: &str) -> Reply {
        let frag = match SdpFrag::parse(body) {
            Ok(frag) => frag,
            Err(error) => return http::text(StatusCode::BAD_REQUEST, format!("bad sdpfrag: {error}")),
        };
        let remote_ufrag = match self.sessions.remote_ufrag(id).await {
            Ok(ufrag) => ufrag,
            Err(error) => return session_error(error),
        };
        if let (Some(theirs), Some(known)) = (frag.ufrag(), remote_ufrag.as_deref()) {
            if theirs != known {
                return http::text(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("ICE restart (ufrag {theirs:?} instead of {known:?}) is not supported"),
                );
            }
        }
        let mut candidates: Vec<_> = frag.candidate_inits().into_iter().map(Some).collect();
        if frag.has_end_of_candidates() {
            candidates.push(None);
        }
        match self.sessions.add_candidates(id, candidates).await {
            Ok(()) => http::empty(StatusCode::NO_CONTENT),
            Err(error) => session_error(error),
        }
    }
}

/// The response for a session error: the client's fault is `4xx`, the server's `5xx`.
fn session_error(error: SessionError) -> Reply {
    let status = match &error {
        SessionError::Full(_) => StatusCode::SERVICE_UNAVAILABLE,
        SessionError::NotAnOffer(_) | SessionError::Rejected(_) => StatusCode::BAD_REQUEST,
        SessionError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        SessionError::Unknown(_) => StatusCode::NOT_FOUND,
    };
    http::text(status, error.to_string())
}
