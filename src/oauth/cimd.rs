//! Client ID Metadata Documents: a client whose `client_id` is an HTTPS URL publishes its
//! metadata there, and Gatehouse fetches it. Fetching a URL a stranger names is how servers are
//! tricked into reaching their own network (SSRF), so the fetch is fenced: HTTPS only, the
//! host's addresses must all be public and the connection goes to the address that was
//! checked (no DNS rebinding between check and connect), no redirects, a short timeout and a
//! small size limit. A development setting lifts the address and HTTPS rules, never the rest.

use std::{net::IpAddr, time::Duration};

use futures::StreamExt;
use serde::Deserialize;
use url::{Host, Url};

/// Documents larger than this are refused (the CIMD draft suggests 5 kB).
pub const MAX_BYTES: usize = 5 * 1024;
const TIMEOUT: Duration = Duration::from_secs(5);

/// Whether `client_id` is meant as a metadata document URL (and must then be fetched).
pub fn is_document_url(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// The fields Gatehouse reads from a document.
#[derive(Debug, Deserialize)]
pub struct Document {
    pub client_id: String,
    #[serde(default)]
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub client_uri: Option<String>,
    #[serde(default)]
    pub logo_uri: Option<String>,
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
}

/// Fetches and checks the document at `client_id`. The error is a sentence for the person on
/// the error page.
pub async fn fetch(
    client_id: &str,
    allow_private: bool,
) -> Result<(Document, serde_json::Value), String> {
    let url = Url::parse(client_id).map_err(|_| "The client ID is not a valid URL.".to_owned())?;
    if url.scheme() != "https" && !(allow_private && url.scheme() == "http") {
        return Err("A client metadata document must be served over HTTPS.".to_owned());
    }
    if url.path() == "/" || url.path().is_empty() {
        return Err("A client metadata document URL must have a path.".to_owned());
    }
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(
            "A client metadata document URL may not carry a fragment or credentials.".to_owned(),
        );
    }
    let host = url
        .host_str()
        .ok_or("The client ID has no host.")?
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let addresses: Vec<IpAddr> = match url.host() {
        Some(Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
        Some(Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
        _ => tokio::time::timeout(TIMEOUT, tokio::net::lookup_host((host.as_str(), port)))
            .await
            .map_err(|_| format!("Looking up {host} took too long."))?
            .map_err(|_| format!("{host} could not be found."))?
            .map(|addr| addr.ip())
            .collect(),
    };
    if addresses.is_empty() {
        return Err(format!("{host} could not be found."));
    }
    if !allow_private && let Some(ip) = addresses.iter().find(|ip| !is_public(ip)) {
        return Err(format!(
            "{host} resolves to {ip}, a private, loopback or link-local address; client metadata is only fetched from public addresses."
        ));
    }
    let pinned = std::net::SocketAddr::new(addresses[0], port);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .resolve(&host, pinned)
        .user_agent("Gatehouse")
        .build()
        .map_err(|e| format!("The document could not be fetched: {e}"))?;
    let response = client
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "The client metadata document took too long to load.".to_owned()
            } else {
                "The client metadata document could not be fetched.".to_owned()
            }
        })?;
    if response.status().is_redirection() {
        return Err(
            "The client metadata document URL redirects; redirects are not followed.".to_owned(),
        );
    }
    if !response.status().is_success() {
        return Err(format!(
            "The client metadata document answered {}.",
            response.status()
        ));
    }
    if response
        .content_length()
        .is_some_and(|len| len as usize > MAX_BYTES)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|_| "The client metadata document could not be read.".to_owned())?;
        if body.len() + chunk.len() > MAX_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    let raw: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|_| "The client metadata document is not valid JSON.".to_owned())?;
    let document: Document = serde_json::from_value(raw.clone())
        .map_err(|e| format!("The client metadata document is not valid client metadata: {e}."))?;
    if document.client_id != client_id {
        return Err(
            "The client metadata document names a different client_id than its own URL.".to_owned(),
        );
    }
    if document.client_secret.is_some()
        || document
            .token_endpoint_auth_method
            .as_deref()
            .is_some_and(|m| m != "none")
    {
        return Err("Clients identified by a metadata document authenticate with PKCE alone (token_endpoint_auth_method \"none\").".to_owned());
    }
    if document.redirect_uris.is_empty() {
        return Err("The client metadata document lists no redirect_uris.".to_owned());
    }
    Ok((document, raw))
}

fn too_large() -> String {
    format!("The client metadata document is larger than {MAX_BYTES} bytes.")
}

/// Whether `ip` is on the public internet: not loopback, private, link-local, unique-local,
/// shared (CGNAT), documentation, multicast, broadcast or unspecified — and the same for the
/// IPv4 address inside an IPv4-mapped IPv6 one.
pub fn is_public(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0)
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(&IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8
                || first == 0x0064 && v6.segments()[1] == 0xff9b)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_and_link_local_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(!is_public(&ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::6810:85e5", "8.8.8.8"] {
            assert!(is_public(&ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn documents_on_private_addresses_or_over_http_are_refused_before_any_fetch() {
        for url in [
            "https://127.0.0.1/client.json",
            "https://10.0.0.7/client.json",
            "https://[::1]/client.json",
            "https://169.254.169.254/latest/meta-data",
        ] {
            let err = fetch(url, false).await.unwrap_err();
            assert!(
                err.contains("private, loopback or link-local"),
                "{url}: {err}"
            );
        }
        let err = fetch("http://93.184.216.34/client.json", false)
            .await
            .unwrap_err();
        assert!(err.contains("HTTPS"), "{err}");
        let err = fetch("https://93.184.216.34/", false).await.unwrap_err();
        assert!(err.contains("path"), "{err}");
    }
}
