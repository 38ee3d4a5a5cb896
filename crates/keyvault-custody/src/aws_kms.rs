//! A vault slot key wrapped by AWS KMS (`Encrypt` / `Decrypt` under a KMS key), with an
//! encryption context naming the vault and slot.
//!
//! Requests are KMS's JSON protocol over HTTPS (rustls, certificates verified), signed with
//! AWS Signature Version 4 (`aws-sigv4`). Credentials and region come from the standard AWS
//! environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`
//! or `AWS_DEFAULT_REGION`), else the shared files (`~/.aws/credentials` and `~/.aws/config`, or
//! `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE`, profile `AWS_PROFILE` or `default`). The
//! endpoint is `https://kms.REGION.amazonaws.com` unless `AWS_ENDPOINT_URL_KMS` or
//! `AWS_ENDPOINT_URL` says otherwise (a local KMS in tests). Every request is bounded in time.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use base64ct::{Base64, Encoding};
use keyvault_crypto::{SecretKey, Zeroizing};
use keyvault_store::ExternalWrapper;
use serde_json::{Value, json};

use crate::error::{CustodyError, Result};

const PROVIDER: &str = "aws-kms";
/// The whole of one request, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer read from KMS (its answers are a few hundred bytes).
const MAX_RESPONSE: u64 = 64 * 1024;

/// AWS credentials: an access key and its secret, and a session token for temporary ones. Held
/// as AWS's own signing credentials (secrets wiped on drop, redacted from `Debug`), built once.
#[derive(Debug)]
pub struct AwsCredentials(aws_credential_types::Credentials);

impl AwsCredentials {
    /// Credentials given directly.
    #[must_use]
    pub fn new(access_key_id: &str, secret_access_key: &str, session_token: Option<&str>) -> Self {
        AwsCredentials(aws_credential_types::Credentials::new(
            access_key_id,
            secret_access_key,
            session_token.map(str::to_owned),
            None,
            "keyvault",
        ))
    }
}

/// A KMS key that wraps vault slot keys.
pub struct AwsKmsWrapper {
    key_id: String,
    region: String,
    endpoint: String,
    credentials: AwsCredentials,
    agent: ureq::Agent,
}

impl std::fmt::Debug for AwsKmsWrapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsKmsWrapper")
            .field("key_id", &self.key_id)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl AwsKmsWrapper {
    /// The KMS key `key_id` (an id, ARN or alias) in `region` (else the configured one), with
    /// credentials and endpoint from the standard AWS environment and shared files.
    ///
    /// # Errors
    /// [`CustodyError::Device`] when no credentials or no region are configured.
    pub fn from_environment(key_id: &str, region: Option<&str>) -> Result<Self> {
        let profile = Profile::load();
        let credentials = profile.credentials().ok_or_else(|| {
            config_error(
                "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a \
                 profile in ~/.aws/credentials",
            )
        })?;
        let region = region
            .map(str::to_owned)
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .or_else(|| profile.config.get("region").cloned())
            .ok_or_else(|| config_error("no AWS region: set AWS_REGION"))?;
        let endpoint = env("AWS_ENDPOINT_URL_KMS").or_else(|| env("AWS_ENDPOINT_URL"));
        Ok(AwsKmsWrapper::new(key_id, &region, endpoint, credentials))
    }

    /// The KMS key `key_id` in `region`, reached at `endpoint` (KMS's own when `None`).
    #[must_use]
    pub fn new(
        key_id: &str,
        region: &str,
        endpoint: Option<String>,
        credentials: AwsCredentials,
    ) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .http_status_as_error(false)
            .build();
        AwsKmsWrapper {
            key_id: key_id.to_owned(),
            region: region.to_owned(),
            endpoint: endpoint
                .map(|endpoint| endpoint.trim_end_matches('/').to_owned())
                .unwrap_or_else(|| format!("https://kms.{region}.amazonaws.com")),
            credentials,
            agent: ureq::Agent::new_with_config(config),
        }
    }

    /// One signed KMS call: `TrentService.<action>` with a JSON body; the answer's JSON text.
    fn call(&self, action: &str, body: &Value) -> Result<Zeroizing<String>> {
        let body = Zeroizing::new(serde_json::to_vec(body).map_err(|err| device(&err))?);
        let url = format!("{}/", self.endpoint);
        let target = format!("TrentService.{action}");
        let headers = [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target.as_str()),
        ];
        let signed = self.sign(&url, &headers, &body)?;
        let mut request = self.agent.post(&url);
        for (name, value) in headers.iter().copied().chain(
            signed
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
        ) {
            request = request.header(name, value);
        }
        let mut response = request
            .send(&body[..])
            .map_err(|err| CustodyError::Device {
                provider: PROVIDER,
                reason: format!("cannot reach KMS at {}: {err}", self.endpoint),
            })?;
        let status = response.status();
        let text = Zeroizing::new(
            response
                .body_mut()
                .with_config()
                .limit(MAX_RESPONSE)
                .read_to_string()
                .map_err(|err| device(&err))?,
        );
        if status.is_success() {
            return Ok(text);
        }
        let value: Value = serde_json::from_str(&text).map_err(|_| CustodyError::Device {
            provider: PROVIDER,
            reason: format!("KMS answered {status} with a body that is not JSON"),
        })?;
        let code = value
            .get("__type")
            .and_then(Value::as_str)
            .unwrap_or("UnknownError");
        // Types may come qualified (`com.amazonaws.kms#NotFoundException`).
        let code = code.rsplit('#').next().unwrap_or(code).to_owned();
        let message = value
            .get("message")
            .or_else(|| value.get("Message"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .chars()
            .take(300)
            .collect();
        Err(CustodyError::Kms { code, message })
    }

    /// Refuse a key that is not enabled (disabled, pending deletion or import, unavailable) with
    /// KMS's own error types, before asking it to decrypt. KMS refuses such keys itself; asking
    /// first names the state, and holds for local KMS implementations that do not check it.
    /// Callers without `kms:DescribeKey` permission skip the check.
    fn check_enabled(&self) -> Result<()> {
        let answer = match self.call("DescribeKey", &json!({ "KeyId": self.key_id })) {
            Ok(answer) => answer,
            Err(CustodyError::Kms { code, .. }) if code == "AccessDeniedException" => {
                return Ok(());
            }
            Err(err) => return Err(err),
        };
        let answer: Value = serde_json::from_str(&answer)
            .map_err(|_| config_error("KMS answered DescribeKey with a body that is not JSON"))?;
        let state = answer
            .pointer("/KeyMetadata/KeyState")
            .and_then(Value::as_str)
            .unwrap_or("Enabled");
        let code = match state {
            "Enabled" => return Ok(()),
            "Disabled" => "DisabledException",
            _ => "KMSInvalidStateException",
        };
        Err(CustodyError::Kms {
            code: code.to_owned(),
            message: format!("the KMS key {} is {state}", self.key_id),
        })
    }

    /// The SigV4 headers for a POST of `body` to `url`.
    fn sign(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Vec<(String, String)>> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        // A cheap handle on the same credentials (no copy of the secret per request).
        let identity = self.credentials.0.clone().into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("kms")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|err| device(&err))?
            .into();
        let request = SignableRequest::new(
            "POST",
            url,
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|err| device(&err))?;
        let (instructions, _) = sign(request, &params)
            .map_err(|err| device(&err))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect())
    }

    /// KMS's encryption context for a slot: the context the vault gives, as text.
    fn context(context: &[u8]) -> Value {
        json!({ "keyvault-keyslot": String::from_utf8_lossy(context) })
    }
}

impl ExternalWrapper for AwsKmsWrapper {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    fn settings(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("key_id".to_owned(), self.key_id.clone()),
            ("region".to_owned(), self.region.clone()),
        ])
    }

    fn wrap(&self, key: &SecretKey, context: &[u8]) -> keyvault_store::Result<Vec<u8>> {
        self.check_enabled()?;
        let plaintext = Zeroizing::new(Base64::encode_string(key.expose_secret()));
        let answer = self.call(
            "Encrypt",
            &json!({
                "KeyId": self.key_id,
                "Plaintext": plaintext.as_str(),
                "EncryptionContext": AwsKmsWrapper::context(context),
            }),
        )?;
        let answer: Value = serde_json::from_str(&answer)
            .map_err(|_| config_error("KMS answered Encrypt with a body that is not JSON"))?;
        let blob = answer
            .get("CiphertextBlob")
            .and_then(Value::as_str)
            .ok_or_else(|| config_error("KMS answered Encrypt without a CiphertextBlob"))?;
        Ok(Base64::decode_vec(blob)
            .map_err(|_| config_error("KMS answered Encrypt with a blob that is not base64"))?)
    }

    fn unwrap(&self, wrapped: &[u8], context: &[u8]) -> keyvault_store::Result<SecretKey> {
        self.check_enabled()?;
        let answer = self.call(
            "Decrypt",
            &json!({
                "KeyId": self.key_id,
                "CiphertextBlob": Base64::encode_string(wrapped),
                "EncryptionContext": AwsKmsWrapper::context(context),
            }),
        )?;
        // Only the plaintext field is kept, moved straight into a wiping buffer.
        #[derive(serde::Deserialize)]
        struct Decrypted {
            #[serde(rename = "Plaintext")]
            plaintext: String,
        }
        let plaintext = Zeroizing::new(
            serde_json::from_str::<Decrypted>(&answer)
                .map_err(|_| config_error("KMS answered Decrypt without a Plaintext"))?
                .plaintext,
        );
        let bytes = Zeroizing::new(
            Base64::decode_vec(&plaintext)
                .map_err(|_| config_error("KMS answered Decrypt with text that is not base64"))?,
        );
        Ok(SecretKey::from_slice(&bytes)?)
    }
}

/// The shared credentials and config files' settings for the active profile.
struct Profile {
    credentials: BTreeMap<String, String>,
    config: BTreeMap<String, String>,
}

impl Profile {
    fn load() -> Self {
        let name = env("AWS_PROFILE").unwrap_or_else(|| "default".to_owned());
        let home = env("HOME").map(PathBuf::from).unwrap_or_default();
        let read = |variable: &str, default: &str, section: &str| {
            let path = env(variable).map_or_else(|| home.join(".aws").join(default), PathBuf::from);
            std::fs::read_to_string(path)
                .map(|text| ini_section(&text, section))
                .unwrap_or_default()
        };
        let config_section = if name == "default" {
            name.clone()
        } else {
            format!("profile {name}")
        };
        Profile {
            credentials: read("AWS_SHARED_CREDENTIALS_FILE", "credentials", &name),
            config: read("AWS_CONFIG_FILE", "config", &config_section),
        }
    }

    /// The environment's credentials, else the profile's.
    fn credentials(&self) -> Option<AwsCredentials> {
        if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            return Some(AwsCredentials::new(
                &id,
                &secret,
                env("AWS_SESSION_TOKEN").as_deref(),
            ));
        }
        Some(AwsCredentials::new(
            self.credentials.get("aws_access_key_id")?,
            self.credentials.get("aws_secret_access_key")?,
            self.credentials
                .get("aws_session_token")
                .map(String::as_str),
        ))
    }
}

/// The `key = value` lines of `[section]` in an INI file (the AWS shared files' format).
fn ini_section(text: &str, section: &str) -> BTreeMap<String, String> {
    let mut current = None;
    let mut values = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.trim() == section);
        } else if current == Some(true)
            && let Some((key, value)) = line.split_once('=')
        {
            values.insert(key.trim().to_owned(), value.trim().to_owned());
        }
    }
    values
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

fn config_error(reason: &str) -> CustodyError {
    CustodyError::Device {
        provider: PROVIDER,
        reason: reason.to_owned(),
    }
}

fn device(err: &dyn std::fmt::Display) -> CustodyError {
    CustodyError::Device {
        provider: PROVIDER,
        reason: err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_read_from_their_section_only() {
        let text = "[default]\naws_access_key_id = A\n[profile ops]\nregion = eu-west-1\n\
                    [ops]\naws_access_key_id = B\naws_secret_access_key = S\n";
        assert_eq!(
            ini_section(text, "default")
                .get("aws_access_key_id")
                .map(String::as_str),
            Some("A")
        );
        let ops = ini_section(text, "ops");
        assert_eq!(ops.get("aws_access_key_id").map(String::as_str), Some("B"));
        assert_eq!(
            ini_section(text, "profile ops")
                .get("region")
                .map(String::as_str),
            Some("eu-west-1")
        );
    }

    #[test]
    fn credentials_never_show_their_secret() {
        let credentials = AwsCredentials::new("AKIDEXAMPLE", "very-secret", Some("token-secret"));
        let shown = format!("{credentials:?}");
        assert!(shown.contains("AKIDEXAMPLE"));
        assert!(!shown.contains("very-secret") && !shown.contains("token-secret"));
    }
}
