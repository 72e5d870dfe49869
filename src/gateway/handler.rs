//! The gateway as an MCP server: one [`GatewayHandler`] per downstream session (or per request
//! in the stateless revision). Tools are policed (see `calls`); everything else is forwarded to
//! the upstream as it came, and the answer returned as it went.

// Logging, resource subscriptions, sampling and roots are deprecated in the newest revision but
// still spoken by clients and servers of the older ones; the gateway relays them all.
#![allow(deprecated)]

use std::sync::{Arc, Mutex, OnceLock};

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CancelTaskParams, ClientRequest, CompleteRequest,
        CompleteRequestParams, CompleteResult, CustomNotification, CustomRequest, CustomResult,
        DiscoverResult, GetPromptRequest, GetPromptRequestParams, GetPromptResponse, GetTaskParams,
        GetTaskResult, Implementation, InitializeRequestParams, InitializeResult,
        ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
        PaginatedRequestParams, ProtocolVersion, ReadResourceRequest, ReadResourceRequestParams,
        ReadResourceResponse, RequestOptionalParam, ResultType, ServerCapabilities, ServerConfig,
        ServerResult, SetLevelRequest, SetLevelRequestParams, SubscribeRequest,
        SubscribeRequestParams, SubscriptionFilter, Tool, UnsubscribeRequest,
        UnsubscribeRequestParams, UpdateTaskParams,
    },
    service::{NotificationContext, RequestContext, SubscriptionContext},
};

use super::{
    cache::ServerEntry,
    calls,
    principal::Principal,
    runtime::{Era, ServerRuntime},
    upstream::{ForwardError, SessionGuard, Upstream},
};
use crate::servers::ServerStatus;

pub struct GatewayHandler {
    pub(super) runtime: Arc<ServerRuntime>,
    session: Session,
}

#[derive(Default)]
struct Session {
    /// What the client said it is at `initialize`.
    client: OnceLock<Implementation>,
    /// What this session was told about the server at `initialize`.
    config: OnceLock<ServerConfig>,
    /// Keeps the session subscribed to the upstream's notifications.
    subscription: Mutex<Option<SessionGuard>>,
}

/// Everything a request needs once it is let through.
pub(super) struct Entered {
    pub principal: Principal,
    pub server: Arc<ServerEntry>,
    pub upstream: Arc<Upstream>,
}

/// Why a request is not let through.
pub(super) enum Refusal {
    NoPrincipal,
    Gone,
    Disabled(Arc<ServerEntry>, Principal),
    Unavailable(Arc<ServerEntry>, Principal, String),
    Internal(String),
}

impl Refusal {
    pub fn message(&self) -> String {
        match self {
            Refusal::NoPrincipal => "Not signed in.".to_owned(),
            Refusal::Gone => "This server was deleted and can no longer be used.".to_owned(),
            Refusal::Disabled(server, _) => format!(
                "{} is disabled by your admin. Calls fail until it is enabled again.",
                server.name
            ),
            Refusal::Unavailable(_, _, why) => why.clone(),
            Refusal::Internal(why) => why.clone(),
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::NoPrincipal => "unauthenticated",
            Refusal::Gone => "server_deleted",
            Refusal::Disabled(..) => "server_disabled",
            Refusal::Unavailable(..) => "upstream_unavailable",
            Refusal::Internal(..) => "internal",
        }
    }

    pub fn into_error(self) -> ErrorData {
        let data = Some(serde_json::json!({ "reason": self.reason() }));
        match self {
            Refusal::Internal(_) | Refusal::Unavailable(..) => {
                ErrorData::internal_error(self.message(), data)
            }
            _ => ErrorData::invalid_request(self.message(), data),
        }
    }
}

impl GatewayHandler {
    pub fn new(runtime: Arc<ServerRuntime>) -> Self {
        GatewayHandler {
            runtime,
            session: Session::default(),
        }
    }

    pub(super) fn principal(ctx: &RequestContext<RoleServer>) -> Option<Principal> {
        ctx.extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Principal>())
            .cloned()
    }

    /// Lets a request through: the caller is known, the server is active, and its upstream is
    /// connected. Whether the caller owns the session was checked before the request got here
    /// (`sessions`, and the legacy transport's own session map).
    pub(super) async fn enter(&self, ctx: &RequestContext<RoleServer>) -> Result<Entered, Refusal> {
        let principal = Self::principal(ctx).ok_or(Refusal::NoPrincipal)?;
        let server = self.current_server().await?;
        if server.status == ServerStatus::Disabled {
            return Err(Refusal::Disabled(server, principal));
        }
        // Stateless requests name their revision in `_meta`; session requests (and `initialize`
        // itself, whatever version it asks for) do not.
        let era = Era::of(ctx.meta.protocol_version().as_ref());
        match self.runtime.upstream(&server, era).await {
            Ok(upstream) => Ok(Entered {
                principal,
                server,
                upstream,
            }),
            Err(err) => Err(Refusal::Unavailable(server, principal, err.0)),
        }
    }

    /// The server as it is now (not as it was when the session began).
    pub(super) async fn current_server(&self) -> Result<Arc<ServerEntry>, Refusal> {
        let slug = self.runtime.slug();
        match self.runtime.shared.cache.server(&slug).await {
            Ok(Some(server)) if server.id == self.runtime.server_id => Ok(server),
            Ok(_) => Err(Refusal::Gone),
            Err(err) => Err(Refusal::Internal(err.to_string())),
        }
    }

    pub(super) fn client_name_version(
        &self,
        ctx: &RequestContext<RoleServer>,
    ) -> (Option<String>, Option<String>) {
        let client = self
            .session
            .client
            .get()
            .cloned()
            .or_else(|| ctx.client_info());
        match client {
            Some(c) => (Some(c.name), Some(c.version)),
            None => (None, None),
        }
    }

    async fn forward(
        &self,
        request: ClientRequest,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        let entered = self.enter(ctx).await.map_err(Refusal::into_error)?;
        entered
            .upstream
            .forward(request, ctx, Some(entered.server.call_timeout))
            .await
            .map_err(forward_error)
    }

    /// What the client is told about the server: the upstream's own capabilities, name and
    /// instructions, as last seen.
    fn mirrored_config(&self) -> ServerConfig {
        match self.runtime.info() {
            Some(info) => {
                let mut config = ServerConfig::new(info.capabilities.clone());
                config.server_info = info
                    .server_info
                    .clone()
                    .unwrap_or_else(|| Implementation::new("gatehouse", env!("CARGO_PKG_VERSION")));
                config.instructions = info.instructions.clone();
                config
            }
            None => ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
                .with_server_info(Implementation::new("gatehouse", env!("CARGO_PKG_VERSION"))),
        }
    }
}

/// The gateway's own failures become JSON-RPC errors; the upstream's pass through unchanged.
pub(super) fn forward_error(err: ForwardError) -> ErrorData {
    match err {
        ForwardError::Upstream(error) => error,
        other => ErrorData::internal_error(other.to_string(), None),
    }
}

fn unexpected(result: ServerResult) -> ErrorData {
    let kind = serde_json::to_value(&result)
        .ok()
        .and_then(|v| {
            v.as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>().join(","))
        })
        .unwrap_or_default();
    ErrorData::internal_error(
        format!("the upstream answered with an unexpected result ({kind})"),
        None,
    )
}

fn paginated<M: Default>(
    params: Option<PaginatedRequestParams>,
) -> RequestOptionalParam<M, PaginatedRequestParams> {
    RequestOptionalParam {
        method: M::default(),
        params,
        extensions: Default::default(),
    }
}

/// Forwards a request and takes the result variant it should come back as.
macro_rules! forward_as {
    ($self:ident, $ctx:ident, $request:expr, $variant:ident) => {
        match $self.forward($request, &$ctx).await? {
            ServerResult::$variant(mut result) => {
                result.result_type.get_or_insert(ResultType::COMPLETE);
                Ok(result)
            }
            other => Err(unexpected(other)),
        }
    };
}

impl ServerHandler for GatewayHandler {
    fn get_info(&self) -> ServerConfig {
        self.session
            .config
            .get()
            .cloned()
            .unwrap_or_else(|| self.mirrored_config())
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        ctx.peer.set_peer_info(request.clone());
        let _ = self.session.client.set(request.client_info.clone());
        let entered = self.enter(&ctx).await.map_err(Refusal::into_error)?;
        *self.session.subscription.lock().expect("subscription lock") =
            Some(entered.upstream.routes().subscribe(ctx.peer.clone()));
        let config = self.mirrored_config();
        let _ = self.session.config.set(config.clone());
        self.negotiate_initialize(&request).map(|mut result| {
            result.capabilities = config.capabilities;
            result
        })
    }

    async fn discover(&self, ctx: RequestContext<RoleServer>) -> Result<DiscoverResult, ErrorData> {
        self.enter(&ctx).await.map_err(Refusal::into_error)?;
        Ok(DiscoverResult::from_server_info(
            self.supported_protocol_versions().into_owned(),
            self.mirrored_config(),
        ))
    }

    fn supported_protocol_versions(&self) -> std::borrow::Cow<'static, [ProtocolVersion]> {
        std::borrow::Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS)
    }

    async fn ping(&self, ctx: RequestContext<RoleServer>) -> Result<(), ErrorData> {
        self.enter(&ctx).await.map_err(Refusal::into_error)?;
        Ok(())
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        calls::list_tools(self, request, ctx).await
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.runtime.tool(name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CallToolResponse, ErrorData> {
        calls::call_tool(self, request, ctx).await
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        forward_as!(
            self,
            ctx,
            ClientRequest::CompleteRequest(CompleteRequest::new(request)),
            CompleteResult
        )
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.forward(
            ClientRequest::SetLevelRequest(SetLevelRequest::new(request)),
            &ctx,
        )
        .await?;
        Ok(())
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        match self
            .forward(
                ClientRequest::GetPromptRequest(GetPromptRequest::new(request)),
                &ctx,
            )
            .await?
        {
            ServerResult::GetPromptResult(mut result) => {
                result.result_type.get_or_insert(ResultType::COMPLETE);
                Ok(result.into())
            }
            ServerResult::InputRequiredResult(result) => Ok(result.into()),
            other => Err(unexpected(other)),
        }
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        forward_as!(
            self,
            ctx,
            ClientRequest::ListPromptsRequest(paginated(request)),
            ListPromptsResult
        )
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        forward_as!(
            self,
            ctx,
            ClientRequest::ListResourcesRequest(paginated(request)),
            ListResourcesResult
        )
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        forward_as!(
            self,
            ctx,
            ClientRequest::ListResourceTemplatesRequest(paginated(request)),
            ListResourceTemplatesResult
        )
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        match self
            .forward(
                ClientRequest::ReadResourceRequest(ReadResourceRequest::new(request)),
                &ctx,
            )
            .await?
        {
            ServerResult::ReadResourceResult(mut result) => {
                result.result_type.get_or_insert(ResultType::COMPLETE);
                Ok(result.into())
            }
            ServerResult::InputRequiredResult(result) => Ok(result.into()),
            other => Err(unexpected(other)),
        }
    }

    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.forward(
            ClientRequest::SubscribeRequest(SubscribeRequest::new(request)),
            &ctx,
        )
        .await?;
        Ok(())
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.forward(
            ClientRequest::UnsubscribeRequest(UnsubscribeRequest::new(request)),
            &ctx,
        )
        .await?;
        Ok(())
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        match self
            .forward(
                ClientRequest::GetTaskRequest(rmcp::model::GetTaskRequest::new(request)),
                &ctx,
            )
            .await?
        {
            ServerResult::GetTaskResult(result) => Ok(result),
            other => Err(unexpected(other)),
        }
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.forward(
            ClientRequest::UpdateTaskRequest(rmcp::model::UpdateTaskRequest::new(request)),
            &ctx,
        )
        .await?;
        Ok(())
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.forward(
            ClientRequest::CancelTaskRequest(rmcp::model::CancelTaskRequest::new(request)),
            &ctx,
        )
        .await?;
        Ok(())
    }

    /// Accepts what the upstream said it can deliver, of what the client asked for.
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let Some(info) = self.runtime.info() else {
            return Some(requested.clone());
        };
        let caps = &info.capabilities;
        let supported =
            |asked: Option<bool>, offered: Option<bool>| asked.filter(|_| offered == Some(true));
        let mut accepted = requested.clone();
        accepted.tools_list_changed = supported(
            requested.tools_list_changed,
            caps.tools.as_ref().and_then(|t| t.list_changed),
        );
        accepted.prompts_list_changed = supported(
            requested.prompts_list_changed,
            caps.prompts.as_ref().and_then(|p| p.list_changed),
        );
        accepted.resources_list_changed = supported(
            requested.resources_list_changed,
            caps.resources.as_ref().and_then(|r| r.list_changed),
        );
        if caps.resources.as_ref().and_then(|r| r.subscribe) != Some(true) {
            accepted.resource_subscriptions = None;
        }
        Some(accepted)
    }

    /// Relays a `subscriptions/listen` stream: the same subscription is opened upstream and
    /// each of its notifications passed on, until either side ends it.
    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let server = self.current_server().await.map_err(Refusal::into_error)?;
        if server.status != ServerStatus::Active {
            return Err(ErrorData::invalid_request(
                format!("{} is not active.", server.name),
                None,
            ));
        }
        let upstream = self
            .runtime
            .upstream(&server, Era::Stateless)
            .await
            .map_err(|e| ErrorData::internal_error(e.0, None))?;
        let mut subscription = upstream
            .peer()
            .listen(context.accepted().clone())
            .await
            .map_err(|e| forward_error(super::upstream::map_service_error(e)))?;
        loop {
            tokio::select! {
                () = context.cancelled() => {
                    let _ = subscription.cancel().await;
                    return Ok(());
                }
                next = subscription.next() => match next {
                    Ok(Some(notification)) => {
                        if matches!(notification, rmcp::model::ServerNotification::ToolListChangedNotification(_)) {
                            self.runtime.forget_tools();
                        }
                        if context.sink().send(notification).await.is_err() {
                            let _ = subscription.cancel().await;
                            return Ok(());
                        }
                    }
                    Ok(None) => return Ok(()),
                    Err(err) => return Err(forward_error(super::upstream::map_service_error(err))),
                },
            }
        }
    }

    async fn on_custom_request(
        &self,
        request: CustomRequest,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        // A tools request that did not parse as one must not slip past the policy.
        if request.method.starts_with("tools/") {
            return Err(ErrorData::invalid_params(
                format!(
                    "malformed {} request: its params do not match the schema",
                    request.method
                ),
                None,
            ));
        }
        let result = self
            .forward(ClientRequest::CustomRequest(request), &ctx)
            .await?;
        serde_json::to_value(result).map(CustomResult).map_err(|e| {
            ErrorData::internal_error(format!("could not relay the result: {e}"), None)
        })
    }

    async fn on_roots_list_changed(&self, ctx: NotificationContext<RoleServer>) {
        if let Some(upstream) = self.upstream_for_notification(&ctx).await {
            let _ = upstream.peer().notify_roots_list_changed().await;
        }
    }

    async fn on_custom_notification(
        &self,
        notification: CustomNotification,
        ctx: NotificationContext<RoleServer>,
    ) {
        if let Some(upstream) = self.upstream_for_notification(&ctx).await {
            let _ = upstream
                .peer()
                .send_notification(rmcp::model::ClientNotification::CustomNotification(
                    notification,
                ))
                .await;
        }
    }
}

impl GatewayHandler {
    /// The upstream a client notification goes to, if the session's server is usable. Only
    /// sessions send notifications.
    async fn upstream_for_notification(
        &self,
        _ctx: &NotificationContext<RoleServer>,
    ) -> Option<Arc<Upstream>> {
        let server = self.current_server().await.ok()?;
        if server.status != ServerStatus::Active {
            return None;
        }
        self.runtime.upstream(&server, Era::Session).await.ok()
    }
}
