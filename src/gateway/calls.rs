//! Where the gateway polices: `tools/list` shows only what the caller's group may call, and
//! `tools/call` of a restricted tool is answered `permission_denied` without reaching the
//! upstream. Every `tools/call` becomes an activity row, whether it was forwarded, denied,
//! refused, timed out or failed.

use std::time::Instant;

use chrono::Utc;
use rmcp::{
    ErrorData, RoleServer,
    model::{
        CallToolRequest, CallToolRequestParams, CallToolResponse, CallToolResult, ClientRequest, ContentBlock,
        ListToolsResult, MetaObject, PaginatedRequestParams, RequestOptionalParam, ResultType, ServerResult,
    },
    service::RequestContext,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    handler::{GatewayHandler, Refusal, forward_error},
    upstream::ForwardError,
};
use crate::activity::{
    CallStatus,
    recorder::{CallRecord, cap_json},
};

/// The `_meta` key under which the gateway explains what it decided.
pub const META_KEY: &str = "dev.gatehouse/call";

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
        return Err(ErrorData::internal_error("the upstream answered tools/list with something else", None));
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
        result.tools.retain(|tool| !restricted.contains(tool.name.as_ref()));
    }
    result.result_type.get_or_insert(ResultType::COMPLETE);
    Ok(result)
}

pub async fn call_tool(
    handler: &GatewayHandler,
    params: CallToolRequestParams,
    ctx: RequestContext<RoleServer>,
) -> Result<CallToolResponse, ErrorData> {
    let clock = Instant::now();
    let shared = &handler.runtime.shared;
    let limit = shared.settings.max_logged_bytes;
    let (client_name, client_version) = handler.client_name_version(&ctx);
    let arguments = params.arguments.clone().map(Value::Object).unwrap_or(Value::Null);
    let (input, _) = cap_json(arguments, limit);
    let mut row = CallRecord {
        id: Uuid::new_v4(),
        server_id: handler.runtime.server_id,
        deployment_id: None,
        user_id: None,
        client_name,
        client_version,
        tool_name: params.name.to_string(),
        input: Some(input),
        output: None,
        output_truncated: false,
        status: CallStatus::InProgress,
        error: None,
        latency_ms: None,
        started_at: Utc::now(),
        ended_at: None,
    };
    let finish = |mut row: CallRecord, status: CallStatus, output: Option<Value>, error: Option<String>| {
        let (output, truncated) = match output {
            Some(output) => {
                let (capped, truncated) = cap_json(output, limit);
                (Some(capped), truncated)
            }
            None => (None, false),
        };
        row.status = status;
        row.output = output;
        row.output_truncated = truncated;
        row.error = error;
        row.latency_ms = Some(clock.elapsed().as_millis().min(i32::MAX as u128) as i32);
        row.ended_at = Some(Utc::now());
        shared.recorder.record(row);
    };

    let entered = match handler.enter(&ctx).await {
        Ok(entered) => entered,
        Err(refusal) => {
            // A refusal is logged when we know who called which server.
            if let Refusal::Disabled(server, principal) | Refusal::Unavailable(server, principal, _) = &refusal {
                row.user_id = Some(principal.user_id);
                row.deployment_id = server.deployment.as_ref().map(|d| d.id);
                let message = refusal.message();
                finish(row, CallStatus::Error, None, Some(message.clone()));
                return Ok(gateway_error(&message, refusal.reason()).into());
            }
            return Err(refusal.into_error());
        }
    };
    row.user_id = Some(entered.principal.user_id);
    row.deployment_id = entered.server.deployment.as_ref().map(|d| d.id);

    let restricted = shared
        .cache
        .restrictions(entered.principal.group_id, entered.server.id)
        .await
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
    if restricted.contains(params.name.as_ref()) {
        let message = format!("The tool {} is restricted by your admin.", params.name);
        finish(row, CallStatus::PermissionDenied, None, Some(message.clone()));
        return Ok(gateway_error(&message, "permission_denied").into());
    }

    shared.recorder.record(row.clone());
    let timeout = entered.server.call_timeout;
    let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
    match entered.upstream.forward(request, &ctx, Some(timeout)).await {
        Ok(ServerResult::CallToolResult(mut result)) => {
            result.result_type.get_or_insert(ResultType::COMPLETE);
            let failed = result.is_error == Some(true);
            let error = failed.then(|| first_text(&result).unwrap_or_else(|| "The tool reported an error.".to_owned()));
            let output = serde_json::to_value(&result).ok();
            finish(row, if failed { CallStatus::Error } else { CallStatus::Success }, output, error);
            Ok(CallToolResponse::Complete(result))
        }
        Ok(ServerResult::InputRequiredResult(result)) => {
            finish(row, CallStatus::Success, serde_json::to_value(&result).ok(), None);
            Ok(CallToolResponse::InputRequired(result))
        }
        Ok(ServerResult::CreateTaskResult(result)) => {
            finish(row, CallStatus::Success, serde_json::to_value(&result).ok(), None);
            Ok(CallToolResponse::Task(result))
        }
        Ok(other) => {
            let message = "The upstream answered tools/call with something other than a tool result.".to_owned();
            finish(row, CallStatus::Error, serde_json::to_value(&other).ok(), Some(message.clone()));
            Err(ErrorData::internal_error(message, None))
        }
        Err(ForwardError::Timeout(limit)) => {
            let message = format!(
                "The tool {} did not answer within {} s and was cancelled.",
                row.tool_name,
                limit.as_secs_f64()
            );
            finish(row, CallStatus::Timeout, None, Some(message.clone()));
            Ok(gateway_error(&message, "timeout").into())
        }
        Err(ForwardError::Upstream(error)) => {
            let output = serde_json::to_value(&error).ok();
            finish(row, CallStatus::Error, output, Some(error.message.to_string()));
            Err(error)
        }
        Err(ForwardError::Cancelled) => {
            finish(row, CallStatus::Error, None, Some("Cancelled by the client.".to_owned()));
            Err(ErrorData::internal_error("cancelled", None))
        }
        Err(ForwardError::Closed(why)) => {
            let message = format!("{} is unavailable: {why}", entered.server.name);
            finish(row, CallStatus::Error, None, Some(message.clone()));
            Ok(gateway_error(&message, "upstream_unavailable").into())
        }
    }
}

/// A tool result the gateway wrote itself: an error the model can read, with the reason in
/// `_meta` for programs.
fn gateway_error(message: &str, reason: &str) -> CallToolResult {
    let mut meta = MetaObject::new();
    meta.insert(META_KEY.to_owned(), json!({ "status": reason, "reason": message }));
    CallToolResult::error(vec![ContentBlock::text(message.to_owned())]).with_meta(Some(meta))
}

fn first_text(result: &CallToolResult) -> Option<String> {
    result.content.iter().find_map(|c| c.as_text().map(|t| t.text.clone()))
}
