//! The local stack's IAM credentials: writers sign with IAM locally, as on AWS.
//!
//! The public API key (in `/config.json`, so in every browser) may only read. Whatever writes
//! — the in-process consumer, `quotecast publish`, `quotecast loadtest` — signs its requests
//! with SigV4, exactly as the consumer Lambda does on AWS. `quotecast dev` generates a fresh
//! access key at every start, accepts only that one, hands it to its consumer, and writes it
//! with the endpoint to `<data dir>/credentials.json` (mode 0600): tools run by the same user
//! on the same machine find it there, like `~/.aws/credentials`.

use std::io::Write;
use std::path::{Path, PathBuf};

use aws_credential_types::Credentials;
use base64::Engine;
use quotecast_consumer::appsync::Auth;
use serde::{Deserialize, Serialize};

/// The region the local stack signs and verifies for. The server accepts any region in a
/// signature's scope; this is what its own writers put there.
pub use quotecast_aws_local::LOCAL_REGION;

/// File name of the credentials inside the data directory.
pub const CREDENTIALS_FILE: &str = "credentials.json";

/// Why the local credentials could not be had.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error(
        "no local credentials at {0}: start the local stack with `cargo xtask dev` (or `quotecast dev`) first, or pass credentials"
    )]
    Missing(PathBuf),
    #[error("cannot read {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a quotecast credentials file: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("cannot write {path}: {source}")]
    Unwritable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the operating system's random source failed: {0}")]
    Random(String),
}

/// One IAM access key of the local stack, with the endpoint it is good for.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalCredentials {
    pub graphql_url: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for LocalCredentials {
    /// Never prints the secret (logs, panics, test output).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCredentials")
            .field("graphql_url", &self.graphql_url)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], CredentialsError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| CredentialsError::Random(e.to_string()))?;
    Ok(bytes)
}

impl LocalCredentials {
    /// A fresh access key (AWS's shapes: a 20-character id, a 40-character secret) for the
    /// API at `graphql_url`.
    pub fn generate(graphql_url: &str) -> Result<Self, CredentialsError> {
        const ID_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let id: String = random_bytes::<16>()?
            .iter()
            .map(|b| char::from(ID_ALPHABET[usize::from(b % 32)]))
            .collect();
        let secret = base64::engine::general_purpose::STANDARD.encode(random_bytes::<30>()?);
        Ok(LocalCredentials {
            graphql_url: graphql_url.to_owned(),
            region: LOCAL_REGION.to_owned(),
            access_key_id: format!("AKQC{id}"),
            secret_access_key: secret,
        })
    }

    pub fn credentials(&self) -> Credentials {
        Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            None,
            None,
            "quotecast-local",
        )
    }

    /// How a writer signs with these credentials.
    pub fn auth(&self) -> Auth {
        Auth::Iam {
            credentials: self.credentials(),
            region: self.region.clone(),
        }
    }

    /// Writes `<data_dir>/credentials.json`, readable by the owner only, replacing an older
    /// one in one step (a reader never sees half a file).
    pub fn write(&self, data_dir: &Path) -> Result<PathBuf, CredentialsError> {
        let path = data_dir.join(CREDENTIALS_FILE);
        let unwritable = |source| CredentialsError::Unwritable {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(unwritable)?;
        let partial = data_dir.join(format!(".{CREDENTIALS_FILE}.{}", std::process::id()));
        // A leftover from a crash may have other permissions: start from nothing, so the
        // mode below applies.
        let _ = std::fs::remove_file(&partial);
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options.open(&partial).and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&partial, &path)
        });
        if let Err(e) = written {
            let _ = std::fs::remove_file(&partial);
            return Err(unwritable(e));
        }
        Ok(path)
    }

    /// Removes `<data_dir>/credentials.json` if it still holds this key (a stack that stops
    /// takes its key with it; another stack's newer file is left alone).
    pub fn remove_if_current(&self, data_dir: &Path) {
        if LocalCredentials::read(data_dir).is_ok_and(|c| c == *self) {
            let _ = std::fs::remove_file(data_dir.join(CREDENTIALS_FILE));
        }
    }

    /// Reads `<data_dir>/credentials.json`.
    pub fn read(data_dir: &Path) -> Result<Self, CredentialsError> {
        let path = data_dir.join(CREDENTIALS_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CredentialsError::Missing(path));
            }
            Err(source) => return Err(CredentialsError::Unreadable { path, source }),
        };
        serde_json::from_str(&text).map_err(|e| CredentialsError::Invalid {
            path,
            reason: e.to_string(),
        })
    }
}

/// Where the local stack keeps its state when `--data-dir` is not given:
/// `$QUOTECAST_DATA_DIR`, else `$XDG_DATA_HOME/quotecast`, else `~/.local/share/quotecast`,
/// else `.quotecast` in the working directory.
pub fn default_data_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("QUOTECAST_DATA_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = var("XDG_DATA_HOME") {
        return PathBuf::from(dir).join("quotecast");
    }
    if let Some(home) = var("HOME") {
        return PathBuf::from(home).join(".local/share/quotecast");
    }
    PathBuf::from(".quotecast")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "quotecast-credentials-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn generated_keys_have_aws_shapes_and_differ() {
        let a = LocalCredentials::generate("http://127.0.0.1:1/graphql").unwrap();
        let b = LocalCredentials::generate("http://127.0.0.1:1/graphql").unwrap();
        assert_eq!(a.access_key_id.len(), 20);
        assert_eq!(a.secret_access_key.len(), 40);
        assert_ne!(a.access_key_id, b.access_key_id);
        assert_ne!(a.secret_access_key, b.secret_access_key);
        assert!(!format!("{a:?}").contains(&a.secret_access_key));
    }

    #[test]
    fn written_credentials_read_back_and_only_the_owner_may_read_them() {
        let dir = scratch("roundtrip");
        let c = LocalCredentials::generate("http://127.0.0.1:9/graphql").unwrap();
        let path = c.write(&dir).unwrap();
        assert_eq!(LocalCredentials::read(&dir).unwrap(), c);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "mode {mode:o}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_and_broken_files_say_what_is_wrong() {
        let dir = scratch("errors");
        let missing = LocalCredentials::read(&dir).unwrap_err();
        assert!(matches!(missing, CredentialsError::Missing(_)));
        assert!(missing.to_string().contains("cargo xtask dev"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(CREDENTIALS_FILE), "{\"graphqlUrl\": 1}").unwrap();
        assert!(matches!(
            LocalCredentials::read(&dir),
            Err(CredentialsError::Invalid { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
