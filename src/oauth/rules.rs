//! The rules a redirect URI and a PKCE challenge must follow. Pure functions, so every edge is
//! a unit test.

use base64::Engine;
use sha2::{Digest, Sha256};
use url::{Host, Url};

/// Whether a client may register `raw` as a redirect URI: `https`, `http` only to the loopback
/// interface (native apps, RFC 8252 §7.3), or a private-use scheme such as
/// `cursor://…` (§7.1) — never a fragment, and never a scheme a browser would run.
pub fn check_redirect_uri(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|_| format!("{raw:?} is not an absolute URL."))?;
    if url.fragment().is_some() || raw.contains('#') {
        return Err(format!("{raw:?} has a fragment; redirect URIs may not."));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(format!(
                "{raw:?} uses http on a host other than this computer; use https."
            ));
        }
        "javascript" | "data" | "file" | "vbscript" | "about" | "blob" | "ws" | "wss" => {
            return Err(format!(
                "{raw:?} uses a scheme that cannot be a redirect URI."
            ));
        }
        _ => {}
    }
    if matches!(url.scheme(), "http" | "https") && url.host().is_none() {
        return Err(format!("{raw:?} has no host."));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{raw:?} carries a user name or password."));
    }
    Ok(url)
}

/// Whether the `requested` redirect URI matches one `registered`: exactly, character for
/// character — except that a loopback `http` URI may name any port, since a native app picks a
/// free one each time (RFC 8252 §7.3).
pub fn redirect_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(a), Ok(b)) = (Url::parse(registered), Url::parse(requested)) else {
        return false;
    };
    a.scheme() == "http"
        && b.scheme() == "http"
        && is_loopback(&a)
        && a.host() == b.host()
        && a.path() == b.path()
        && a.query() == b.query()
        && b.fragment().is_none()
        && a.username() == b.username()
        && a.password() == b.password()
        && !requested.contains('#')
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// RFC 7636 §4.1: 43–128 characters of `[A-Za-z0-9-._~]`. Challenges (S256 output) have the
/// same shape.
pub fn is_pkce_value(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `verifier` is the one `challenge` (S256) was made from.
pub fn pkce_verifies(verifier: &str, challenge: &str) -> bool {
    if !is_pkce_value(verifier) {
        return false;
    }
    let computed =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier));
    constant_time_eq(computed.as_bytes(), challenge.as_bytes())
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_loopback_http_and_private_schemes_may_be_registered() {
        for ok in [
            "https://app.example.com/callback",
            "http://127.0.0.1/callback",
            "http://localhost:8080/cb",
            "http://[::1]:9000/cb",
            "cursor://anysphere.cursor-retrieval/oauth/callback",
        ] {
            assert!(check_redirect_uri(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn fragments_remote_http_and_script_schemes_may_not() {
        for bad in [
            "https://app.example.com/cb#frag",
            "http://app.example.com/cb",
            "javascript:alert(1)",
            "data:text/html,hi",
            "file:///etc/passwd",
            "/relative/path",
            "https://user:pw@app.example.com/cb",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redirect_uris_match_exactly_except_the_loopback_port() {
        let registered = "https://app.example.com/callback";
        assert!(redirect_matches(registered, registered));
        for variant in [
            "https://app.example.com/callback/extra",
            "https://app.example.com/callback?x=1",
            "https://evil.example.com/callback",
            "https://app.example.com/callback#x",
            "http://app.example.com/callback",
            "https://app.example.com:8443/callback",
            "https://app.example.com/Callback",
        ] {
            assert!(!redirect_matches(registered, variant), "{variant}");
        }
        let loopback = "http://127.0.0.1/callback";
        assert!(redirect_matches(
            loopback,
            "http://127.0.0.1:53127/callback"
        ));
        assert!(!redirect_matches(loopback, "http://127.0.0.1:53127/other"));
        assert!(!redirect_matches(
            loopback,
            "http://localhost:53127/callback"
        ));
        assert!(!redirect_matches(
            loopback,
            "http://127.0.0.1:53127/callback#f"
        ));
    }

    #[test]
    fn pkce_s256_verifies_only_the_right_verifier() {
        // The example of RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_verifies(verifier, challenge));
        assert!(!pkce_verifies(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX",
            challenge
        ));
        assert!(!pkce_verifies("short", challenge));
        assert!(!pkce_verifies(challenge, challenge));
    }
}
