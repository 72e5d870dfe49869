//! The legacy HTTP+SSE transport (MCP 2024-11-05), which rmcp no longer ships, for clients
//! that still speak it: `GET /mcp/{slug}/sse` opens an event stream whose first `endpoint`
//! event names where to POST messages; every reply travels back on the stream. Each stream is
//! one session run by the same [`GatewayHandler`] as Streamable HTTP.

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json,
    body::to_bytes,
    extract::{Path, Query, Request, State},
    http::{StatusCode, header},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures::{SinkExt, StreamExt, channel::mpsc};
use rmcp::model::{ClientJsonRpcMessage, GetExtensions, JsonRpcMessage, ServerJsonRpcMessage};
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{
    Gateway, find_server, handler::GatewayHandler, hidden_from, principal, sessions::SessionClosed,
};

struct Session {
    server_id: Uuid,
    owner: Uuid,
    inbox: mpsc::Sender<ClientJsonRpcMessage>,
    /// Fired when the event stream goes away; the session's running calls then cancel upstream.
    closed: SessionClosed,
}

#[derive(Clone, Default)]
pub struct Sessions(Arc<Mutex<HashMap<String, Session>>>);

/// Removes the session and stops its handler when the client goes away.
struct Ended {
    sessions: Sessions,
    id: String,
    cancel: CancellationToken,
}

impl Drop for Ended {
    fn drop(&mut self) {
        self.sessions
            .0
            .lock()
            .expect("sessions lock")
            .remove(&self.id);
        self.cancel.cancel();
    }
}

fn origin_allowed(gateway: &Gateway, request: &Request) -> bool {
    match request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    {
        None => true,
        Some(origin) => gateway
            .shared
            .settings
            .allowed_origins
            .iter()
            .any(|allowed| {
                match allowed.strip_suffix(":*") {
                    // `scheme://host:*` allows any port of that host.
                    Some(base) => origin.strip_prefix(base).is_some_and(|rest| {
                        rest.is_empty()
                            || rest
                                .strip_prefix(':')
                                .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
                    }),
                    None => allowed.eq_ignore_ascii_case(origin),
                }
            }),
    }
}

fn forbidden_origin() -> Response {
    (StatusCode::FORBIDDEN, Json(json!({ "error": "forbidden", "error_description": "This Origin may not call the gateway." })))
        .into_response()
}

pub async fn open(
    State(gateway): State<Gateway>,
    Path(slug): Path<String>,
    request: Request,
) -> Response {
    if !origin_allowed(&gateway, &request) {
        return forbidden_origin();
    }
    let server = match find_server(&gateway, &slug).await {
        Ok(server) => server,
        Err(response) => return response,
    };
    let principal = match principal::authenticate(
        &gateway.shared.cache,
        request.headers(),
        request.uri(),
        server.id,
        || gateway.resource_metadata(&server.slug),
    )
    .await
    {
        Ok(principal) => principal,
        Err(failure) => return failure.into_response(),
    };
    gateway.shared.usage.touch(principal.token_id);
    if let Some(hidden) = hidden_from(&gateway, &principal, &server).await {
        return hidden;
    }
    let runtime = gateway.runtime(&server);

    let id = Uuid::new_v4().simple().to_string();
    let (inbox, inbox_rx) = mpsc::channel::<ClientJsonRpcMessage>(64);
    let (outbox, outbox_rx) = mpsc::channel::<ServerJsonRpcMessage>(64);
    let cancel = CancellationToken::new();
    gateway.legacy.0.lock().expect("sessions lock").insert(
        id.clone(),
        Session {
            server_id: server.id,
            owner: principal.user_id,
            inbox,
            closed: SessionClosed(cancel.clone()),
        },
    );
    let handler = GatewayHandler::new(runtime);
    let stop = cancel.clone();
    tokio::spawn(async move {
        // Runs the handshake (the client's first POST) and then the session.
        let service = tokio::select! {
            service = rmcp::serve_server(handler, (outbox, inbox_rx)) => service,
            () = stop.cancelled() => return,
        };
        match service {
            Ok(service) => {
                let ct = service.cancellation_token();
                tokio::select! {
                    _ = service.waiting() => {}
                    () = stop.cancelled() => ct.cancel(),
                }
            }
            Err(err) => {
                tracing::info!(error = %err, "a legacy SSE session ended before its handshake")
            }
        }
    });

    let ended = Ended {
        sessions: gateway.legacy.clone(),
        id: id.clone(),
        cancel,
    };
    let endpoint = format!("/mcp/{slug}/message?sessionId={id}");
    let first = futures::stream::once(async move {
        Ok::<_, Infallible>(Event::default().event("endpoint").data(endpoint))
    });
    let messages = outbox_rx.map(move |message| {
        let _keep = &ended;
        let data = serde_json::to_string(&message).unwrap_or_default();
        Ok::<_, Infallible>(Event::default().event("message").data(data))
    });
    Sse::new(first.chain(messages))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

#[derive(Deserialize)]
pub struct MessageQuery {
    #[serde(rename = "sessionId")]
    session_id: Option<String>,
}

pub async fn message(
    State(gateway): State<Gateway>,
    Path(slug): Path<String>,
    Query(query): Query<MessageQuery>,
    request: Request,
) -> Response {
    if !origin_allowed(&gateway, &request) {
        return forbidden_origin();
    }
    let server = match find_server(&gateway, &slug).await {
        Ok(server) => server,
        Err(response) => return response,
    };
    let (mut parts, body) = request.into_parts();
    let principal = match principal::authenticate(
        &gateway.shared.cache,
        &parts.headers,
        &parts.uri,
        server.id,
        || gateway.resource_metadata(&server.slug),
    )
    .await
    {
        Ok(principal) => principal,
        Err(failure) => return failure.into_response(),
    };
    if let Some(hidden) = hidden_from(&gateway, &principal, &server).await {
        return hidden;
    }
    let Some(session_id) = query.session_id else {
        return bad_request("The sessionId query parameter is missing.");
    };
    let session = {
        let sessions = gateway.legacy.0.lock().expect("sessions lock");
        match sessions.get(&session_id) {
            Some(session) if session.server_id != server.id => None,
            Some(session) if session.owner != principal.user_id => {
                return super::someone_elses_session();
            }
            Some(session) => Some((session.inbox.clone(), session.closed.clone())),
            None => None,
        }
    };
    let Some((mut inbox, closed)) = session else {
        return (StatusCode::NOT_FOUND, Json(json!({ "error": "not_found", "error_description": "Unknown or expired session; open a new event stream." })))
            .into_response();
    };
    let content_type_ok = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case("application/json")
        });
    if !content_type_ok {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Send JSON-RPC messages as application/json.",
        )
            .into_response();
    }
    // Answered as on the Streamable HTTP endpoint: JSON-RPC errors with the codes for an
    // unreadable body (-32700) and for JSON that is not a message (-32600).
    let bytes = match to_bytes(body, gateway.shared.settings.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(err) if super::is_too_large(&err) => {
            let limit = gateway.shared.settings.max_body_bytes / (1024 * 1024);
            return super::jsonrpc_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                -32600,
                &format!("The message is larger than {limit} MiB."),
            );
        }
        Err(_) => {
            return super::jsonrpc_error(
                StatusCode::BAD_REQUEST,
                -32600,
                "The message could not be read.",
            );
        }
    };
    let mut message: ClientJsonRpcMessage = match serde_json::from_slice(&bytes) {
        Ok(message) => message,
        Err(_) if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_err() => {
            return super::jsonrpc_error(
                StatusCode::BAD_REQUEST,
                -32700,
                "Parse error: the body is not valid JSON.",
            );
        }
        Err(err) => {
            return super::jsonrpc_error(
                StatusCode::BAD_REQUEST,
                -32600,
                &format!("Invalid Request: the body is not a JSON-RPC message ({err})."),
            );
        }
    };
    gateway.shared.usage.touch(principal.token_id);
    parts.extensions.insert(principal);
    parts.extensions.insert(closed);
    match &mut message {
        JsonRpcMessage::Request(request) => {
            request.request.extensions_mut().insert(parts);
        }
        JsonRpcMessage::Notification(notification) => {
            notification.notification.extensions_mut().insert(parts);
        }
        _ => {}
    }
    if inbox.send(message).await.is_err() {
        return (StatusCode::NOT_FOUND, "The session has ended.").into_response();
    }
    (StatusCode::ACCEPTED, "Accepted").into_response()
}

fn bad_request(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": "invalid_request", "error_description": message })),
    )
        .into_response()
}
