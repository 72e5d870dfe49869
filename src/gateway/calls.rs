//! Where the gateway polices: `tools/list` shows only what the caller's group may call, and
//! `tools/call` of a restricted tool is answered `permission_denied` without reaching the
//! upstream. Every `tools/call` becomes an activity row, whether it was forwarded, denied,
//! refused, timed out or failed. The rules here serve both the rmcp path and the fast path.

use std::{sync::Arc, time::Instant};

use chrono::Utc;
use rmcp::{
    ErrorData, RoleServer,
    model::{
        CallToolRequest, CallToolRequestParams, CallToolResponse, CallToolResult, ClientRequest,
        ContentBlock, ListToolsResult, MetaObject, PaginatedRequestParams, RequestOptionalParam,
        ResultType, ServerResult,
    },
    service::RequestContext,
};
use serde_json::json;
use uuid::Uuid;

use super::{
    Shared,
    cache::ServerEntry,
    handler::{GatewayHandler, Refusal, forward_error},
    principal::Principal,
    upstream::ForwardError,
};
use crate::activity::{
    CallStatus,
    recorder::{CallRecord, cap_json},
};

/// The `_meta` key under which the gateway explains what it decided.
pub const META_KEY: &str = "dev.gatehouse/call";

/// One `tools/call` being accounted for: who, what, when — logged when it starts and once
/// more when it ends. A started call whose log is dropped unfinished (the client hung up
/// mid-call, the request's task was cut off) still has its row ended, so no call stays
/// `in_progress` for ever; one dropped before it started (a refusal that is not the caller's
/// to see in their activity) leaves no row.
pub(super) struct CallLog {
    shared: Arc<Shared>,
    /// Taken when the row is finished.
    row: Option<CallRecord>,
    clock: Instant,
    /// Whether the row was recorded as `in_progress`.
    visible: bool,
}

impl Drop for CallLog {
    fn drop(&mut self) {
        if self.visible {
            self.close(
                CallStatus::Error,
                None,
                Some("Abandoned before the upstream answered: the client went away.".to_owned()),
            );
        }
    }
}

impl CallLog {
    pub fn begin(
        shared: &Arc<Shared>,
        server_id: Uuid,
        tool: &str,
        input_json: Option<String>,
        client: (Option<String>, Option<String>),
    ) -> Self {
        let input = input_json.map(Arc::from);
        CallLog {
            shared: shared.clone(),
            clock: Instant::now(),
            visible: false,
            row: Some(CallRecord {
                id: Uuid::new_v4(),
                server_id,
                deployment_id: None,
                user_id: None,
                client_name: client.0,
                client_version: client.1,
                tool_name: tool.to_owned(),
                input,
                output: None,
                output_truncated: false,
                status: CallStatus::InProgress,
                error: None,
                latency_ms: None,
                started_at: Utc::now(),
                ended_at: None,
            }),
        }
    }

    fn row(&self) -> &CallRecord {
        self.row
            .as_ref()
            .expect("a call log is only finished by value")
    }

    pub fn caller(&mut self, principal: &Principal, server: &ServerEntry) {
        if let Some(row) = &mut self.row {
            row.user_id = Some(principal.user_id);
            row.deployment_id = server.deployment.as_ref().map(|d| d.id);
        }
    }

    pub fn tool(&self) -> &str {
        &self.row().tool_name
    }

    /// Makes the call visible as `in_progress` while it runs.
    pub fn started(&mut self) {
        self.visible = true;
        self.shared.recorder.record(self.row().clone());
    }

    pub fn finish(
        mut self,
        status: CallStatus,
        output_json: Option<String>,
        error: Option<String>,
    ) {
        self.close(status, output_json, error);
    }

    fn close(&mut self, status: CallStatus, output_json: Option<String>, error: Option<String>) {
        let Some(mut row) = self.row.take() else {
            return;
        };
        let (output, truncated) = match output_json {
            Some(json) => {
                let (capped, truncated) =
                    cap_json(json, self.shared.settings.max_logged_output_bytes);
                (Some(capped), truncated)
            }
            None => (None, false),
        };
        if self.visible {
            // The start record carried the input; the writer keeps it from there.
            row.input = None;
        }
        row.status = status;
        row.output = output;
        row.output_truncated = truncated;
        row.error = error;
        row.latency_ms = Some(self.clock.elapsed().as_millis().min(i32::MAX as u128) as i32);
        row.ended_at = Some(Utc::now());
        self.shared.recorder.record(row);
    }
}

/// The answer when `principal` may not call `tool` on `server`, if so.
pub(super) async fn denial(
    shared: &Shared,
    principal: &Principal,
    server: &ServerEntry,
    tool: &str,
) -> Result<Option<String>, ErrorData> {
    let restricted = shared
        .cache
        .restrictions(principal.group_id, server.id)
        .await
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
    Ok(restricted
        .contains(tool)
        .then(|| format!("The tool {tool} is restricted by your admin.")))
}

/// A tool result the gateway wrote itself: an error the model can read, with the reason in
/// `_meta` for programs.
pub(super) fn gateway_error(message: &str, reason: &str) -> CallToolResult {
    let mut meta = MetaObject::new();
    meta.insert(
        META_KEY.to_owned(),
        json!({ "status": reason, "reason": message }),
    );
    CallToolResult::error(vec![ContentBlock::text(message.to_owned())]).with_meta(Some(meta))
}

pub(super) fn timeout_message(tool: &str, limit: std::time::Duration) -> String {
    format!(
        "The tool {tool} did not answer within {} s and was cancelled.",
        limit.as_secs_f64()
    )
}

pub(super) fn unavailable_message(server: &ServerEntry, why: &str) -> String {
    format!("{} is unavailable: {why}", server.name)
}

pub async fn list_tools(
    handler: &GatewayHandler,
    request: Option<PaginatedRequestParams>,
    ctx: RequestContext<RoleServer>,
) -> Result<ListToolsResult, ErrorData> {
    let entered = handler.enter(&ctx).await.map_err(Refusal::into_error)?;
    let first_page = request.as_ref().is_none_or(|p| p.cursor.is_none());
    let request = ClientRequest::ListToolsRequest(RequestOptionalParam {
        method: Default::default(),
        params: request,
        extensions: Default::default(),
    });
    let result = entered
        .upstream
        .forward(request, &ctx, Some(entered.server.call_timeout))
        .await
        .map_err(forward_error)?;
    // Anything but a tool list cannot be filtered, so it is not passed on.
    let ServerResult::ListToolsResult(mut result) = result else {
        return Err(ErrorData::internal_error(
            "the upstream answered tools/list with something else",
            None,
        ));
    };
    if first_page {
        handler.runtime.remember_tools(&result.tools);
    }
    let restricted = handler
        .runtime
        .shared
        .cache
        .restrictions(entered.principal.group_id, entered.server.id)
        .await
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
    if !restricted.is_empty() {
        result
            .tools
            .retain(|tool| !restricted.contains(tool.name.as_ref()));
    }
    result.result_type.get_or_insert(ResultType::COMPLETE);
    Ok(result)
}

pub async fn call_tool(
    handler: &GatewayHandler,
    params: CallToolRequestParams,
    ctx: RequestContext<RoleServer>,
) -> Result<CallToolResponse, ErrorData> {
    let shared = &handler.runtime.shared;
    let input = params
        .arguments
        .as_ref()
        .and_then(|a| serde_json::to_string(a).ok());
    let mut log = CallLog::begin(
        shared,
        handler.runtime.server_id,
        &params.name,
        input,
        handler.client_name_version(&ctx),
    );

    let entered = match handler.enter(&ctx).await {
        Ok(entered) => entered,
        Err(refusal) => {
            // A refusal is logged when we know who called which server.
            if let Refusal::Disabled(server, principal)
            | Refusal::Unavailable(server, principal, _) = &refusal
            {
                log.caller(principal, server);
                let message = refusal.message();
                log.finish(CallStatus::Error, None, Some(message.clone()));
                return Ok(gateway_error(&message, refusal.reason()).into());
            }
            return Err(refusal.into_error());
        }
    };
    log.caller(&entered.principal, &entered.server);
    if let Some(message) = denial(shared, &entered.principal, &entered.server, &params.name).await?
    {
        log.finish(CallStatus::PermissionDenied, None, Some(message.clone()));
        return Ok(gateway_error(&message, "permission_denied").into());
    }

    log.started();
    let timeout = entered.server.call_timeout;
    let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
    match entered.upstream.forward(request, &ctx, Some(timeout)).await {
        Ok(ServerResult::CallToolResult(mut result)) => {
            result.result_type.get_or_insert(ResultType::COMPLETE);
            let failed = result.is_error == Some(true);
            let error = failed.then(|| {
                first_text(&result).unwrap_or_else(|| "The tool reported an error.".to_owned())
            });
            let output = serde_json::to_string(&result).ok();
            log.finish(
                if failed {
                    CallStatus::Error
                } else {
                    CallStatus::Success
                },
                output,
                error,
            );
            Ok(CallToolResponse::Complete(result))
        }
        Ok(ServerResult::InputRequiredResult(result)) => {
            log.finish(
                CallStatus::Success,
                serde_json::to_string(&result).ok(),
                None,
            );
            Ok(CallToolResponse::InputRequired(result))
        }
        Ok(ServerResult::CreateTaskResult(result)) => {
            log.finish(
                CallStatus::Success,
                serde_json::to_string(&result).ok(),
                None,
            );
            Ok(CallToolResponse::Task(result))
        }
        Ok(other) => {
            let message =
                "The upstream answered tools/call with something other than a tool result."
                    .to_owned();
            log.finish(
                CallStatus::Error,
                serde_json::to_string(&other).ok(),
                Some(message.clone()),
            );
            Err(ErrorData::internal_error(message, None))
        }
        Err(ForwardError::Timeout(limit)) => {
            let message = timeout_message(log.tool(), limit);
            log.finish(CallStatus::Timeout, None, Some(message.clone()));
            Ok(gateway_error(&message, "timeout").into())
        }
        Err(ForwardError::Upstream(error)) => {
            log.finish(
                CallStatus::Error,
                serde_json::to_string(&error).ok(),
                Some(error.message.to_string()),
            );
            Err(error)
        }
        Err(error @ (ForwardError::Cancelled | ForwardError::SessionEnded)) => {
            let why = match error {
                ForwardError::SessionEnded => "The session ended before the tool answered.",
                _ => "Cancelled by the client.",
            };
            log.finish(CallStatus::Error, None, Some(why.to_owned()));
            Err(ErrorData::internal_error(error.to_string(), None))
        }
        Err(ForwardError::Closed(why)) => {
            let message = unavailable_message(&entered.server, &why);
            log.finish(CallStatus::Error, None, Some(message.clone()));
            Ok(gateway_error(&message, "upstream_unavailable").into())
        }
    }
}

fn first_text(result: &CallToolResult) -> Option<String> {
    result
        .content
        .iter()
        .find_map(|c| c.as_text().map(|t| t.text.clone()))
}
