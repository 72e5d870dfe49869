//! Cross-site request forgery protection for cookie-authenticated writes.
//!
//! Browsers label every request with `Sec-Fetch-Site` (or at least `Origin` on a POST), so a
//! state-changing request is refused when a browser says it came from another site. Requests
//! with neither header do not come from a browser page and cannot carry a forged form. This is
//! the scheme of Go's `http.CrossOriginProtection`, paired with SameSite=Lax session cookies.
//! Endpoints meant for other origins (MCP, OAuth token/registration) are exempt: they do not
//! authenticate with cookies.

use axum::{
    extract::{Request, State},
    http::{HeaderMap, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

/// Path prefixes called cross-origin by design, authenticated by bearer tokens, never cookies.
const EXEMPT_PREFIXES: &[&str] = &["/mcp/", "/oauth/token", "/oauth/register", "/oauth/revoke"];

#[derive(Clone)]
pub struct AllowedOrigin(pub String);

pub async fn protect(State(allowed): State<AllowedOrigin>, req: Request, next: Next) -> Response {
    if is_safe(req.method())
        || EXEMPT_PREFIXES
            .iter()
            .any(|p| req.uri().path().starts_with(p))
    {
        return next.run(req).await;
    }
    match verdict(req.headers(), &allowed.0) {
        Ok(()) => next.run(req).await,
        Err(reason) => {
            tracing::warn!(path = %req.uri().path(), reason, "refused a cross-origin request");
            (StatusCode::FORBIDDEN, "Cross-origin request refused.").into_response()
        }
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Decides from the headers alone; `public_origin` is `scheme://host[:port]`.
fn verdict(headers: &HeaderMap, public_origin: &str) -> Result<(), &'static str> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return match site {
            "same-origin" | "none" => Ok(()),
            _ => Err("sec-fetch-site is not same-origin"),
        };
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    if origin.eq_ignore_ascii_case(public_origin) {
        return Ok(());
    }
    // Reached directly (not through the public URL): accept the origin the request names itself.
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    if !host.is_empty() && origin_host.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err("origin does not match")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    const ORIGIN: &str = "https://gh.example.com";

    #[test]
    fn same_origin_browser_posts_pass() {
        assert!(verdict(&headers(&[("sec-fetch-site", "same-origin")]), ORIGIN).is_ok());
        assert!(verdict(&headers(&[("origin", ORIGIN)]), ORIGIN).is_ok());
    }

    #[test]
    fn cross_site_browser_posts_are_refused() {
        assert!(verdict(&headers(&[("sec-fetch-site", "cross-site")]), ORIGIN).is_err());
        assert!(verdict(&headers(&[("sec-fetch-site", "same-site")]), ORIGIN).is_err());
        assert!(verdict(&headers(&[("origin", "https://evil.example")]), ORIGIN).is_err());
        assert!(
            verdict(
                &headers(&[("origin", "null"), ("host", "gh.example.com")]),
                ORIGIN
            )
            .is_err(),
            "sandboxed frames send Origin: null"
        );
    }

    #[test]
    fn direct_access_through_another_host_name_passes() {
        let h = headers(&[
            ("origin", "http://127.0.0.1:3000"),
            ("host", "127.0.0.1:3000"),
        ]);
        assert!(verdict(&h, ORIGIN).is_ok());
    }

    #[test]
    fn non_browser_clients_pass() {
        assert!(verdict(&HeaderMap::new(), ORIGIN).is_ok());
    }
}
