//! Secrets at rest: environment variable values and upstream credentials are sealed with
//! XChaCha20-Poly1305 under one key, bound to the row they belong to so a sealed value cannot
//! be moved to another row. Tokens are stored only as SHA-256 digests.

use std::path::Path;

use anyhow::{Context, bail};
use base64::{Engine, engine::general_purpose::STANDARD};
use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("a sealed secret could not be opened (wrong key, or the value was tampered with)")]
pub struct OpenError;

impl SecretBox {
    pub fn from_key(key: &[u8; 32]) -> Self {
        SecretBox {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// A box with a random key, for tests and throwaway instances.
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self::from_key(&key)
    }

    /// The key from `GATEHOUSE_SECRET_KEY` (base64 of 32 bytes; replicas sharing a database
    /// must share it), else from `secret.key` in the data directory, created on first use.
    pub fn load(configured: Option<&SecretString>, data_dir: &Path) -> anyhow::Result<Self> {
        if let Some(encoded) = configured {
            let bytes = STANDARD
                .decode(encoded.expose_secret().trim())
                .context("GATEHOUSE_SECRET_KEY is not base64")?;
            let key: [u8; 32] = bytes.try_into().map_err(|_| {
                anyhow::anyhow!("GATEHOUSE_SECRET_KEY must decode to exactly 32 bytes")
            })?;
            return Ok(Self::from_key(&key));
        }
        let path = data_dir.join("secret.key");
        if path.exists() {
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice()) else {
                bail!("{} is not a 32-byte key", path.display());
            };
            return Ok(Self::from_key(&key));
        }
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        std::fs::create_dir_all(data_dir)?;
        write_private(&path, &key)?;
        tracing::info!(path = %path.display(), "created a new secret key");
        Ok(Self::from_key(&key))
    }

    /// Seals `plaintext`, bound to `context` (say, the server id and variable name).
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != VERSION {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = sealed[1..].split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| OpenError)
    }
}

/// SHA-256 of a bearer token: what the database stores and the gateway looks up.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A random token: `prefix` followed by 32 bytes of randomness, URL-safe base64.
pub fn new_token(prefix: &str) -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    SecretString::from(format!("{prefix}{body}"))
}

fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_context() {
        let sb = SecretBox::random();
        let sealed = sb.seal(b"hunter2", b"server-1/API_KEY");
        assert_eq!(sb.open(&sealed, b"server-1/API_KEY").unwrap(), b"hunter2");
        assert!(
            sb.open(&sealed, b"server-2/API_KEY").is_err(),
            "moved to another row"
        );
        assert!(
            !sealed.windows(7).any(|w| w == b"hunter2"),
            "plaintext is not visible"
        );
    }

    #[test]
    fn another_key_cannot_open_it() {
        let sealed = SecretBox::random().seal(b"x", b"c");
        assert!(SecretBox::random().open(&sealed, b"c").is_err());
    }

    #[test]
    fn the_key_file_is_created_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("gh-key-{}", uuid::Uuid::new_v4().simple()));
        let first = SecretBox::load(None, &dir).unwrap();
        let second = SecretBox::load(None, &dir).unwrap();
        let sealed = first.seal(b"v", b"c");
        assert_eq!(second.open(&sealed, b"c").unwrap(), b"v");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn tokens_are_long_random_and_prefixed() {
        let a = new_token("gh_pat_");
        let b = new_token("gh_pat_");
        assert!(a.expose_secret().starts_with("gh_pat_"));
        assert!(a.expose_secret().len() > 40);
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(token_digest("x"), token_digest("x"));
    }
}
