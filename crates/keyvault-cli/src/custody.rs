//! External keyslot providers: which are built in, and how the CLI reaches them.
//!
//! AWS KMS (cargo feature `aws-kms`): the key id and region come from the slot, credentials and
//! the endpoint from the standard AWS environment and shared files.
//!
//! PKCS#11 (cargo feature `pkcs11`): the module comes from `--module` when a slot is added and
//! from `KEYVAULT_PKCS11_MODULE` when the vault is opened, never from the vault file (a vault
//! must not be able to name a library for keyvault to load); the token and key labels come from
//! the slot; the PIN from `KEYVAULT_PKCS11_PIN_FILE`, `KEYVAULT_PKCS11_PIN` or a prompt.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use keyvault_store::ExternalWrapper;

use crate::args::{AddAwsKmsArgs, AddPkcs11Args};

/// The variable naming the PKCS#11 module to open vaults with.
pub(crate) const PKCS11_MODULE_ENV: &str = "KEYVAULT_PKCS11_MODULE";

/// A connected PKCS#11 key for a new slot.
pub(crate) fn pkcs11_for_new_slot(args: &AddPkcs11Args) -> Result<Box<dyn ExternalWrapper>> {
    imp::connect(&args.module, &args.token, &args.key)
}

/// The PKCS#11 key that opens the vault at `path`, when `KEYVAULT_PKCS11_MODULE` is set and the
/// vault has a PKCS#11 slot; `Ok(None)` otherwise.
pub(crate) fn pkcs11_for_vault(path: &Path) -> Result<Option<Box<dyn ExternalWrapper>>> {
    let Some(module) = std::env::var_os(PKCS11_MODULE_ENV).filter(|m| !m.is_empty()) else {
        return Ok(None);
    };
    let Some(settings) = provider_settings(path, "pkcs11")? else {
        return Ok(None);
    };
    let label = |name: &str| settings.get(name).cloned().unwrap_or_default();
    imp::connect(Path::new(&module), &label("token"), &label("key")).map(Some)
}

/// A KMS key for a new slot.
pub(crate) fn aws_kms_for_new_slot(args: &AddAwsKmsArgs) -> Result<Box<dyn ExternalWrapper>> {
    kms::connect(&args.key_id, None)
}

/// The KMS key that opens the vault at `path`, when it has an AWS KMS slot; `Ok(None)`
/// otherwise.
pub(crate) fn aws_kms_for_vault(path: &Path) -> Result<Option<Box<dyn ExternalWrapper>>> {
    let Some(settings) = provider_settings(path, "aws-kms")? else {
        return Ok(None);
    };
    let key_id = settings.get("key_id").cloned().unwrap_or_default();
    kms::connect(&key_id, settings.get("region").map(String::as_str)).map(Some)
}

/// The settings of the vault's first slot held by `provider`, read from its header without
/// opening it.
fn provider_settings(path: &Path, provider: &str) -> Result<Option<BTreeMap<String, String>>> {
    let backend = keyvault_store::FileBackend::open(path)?;
    Ok(keyvault_store::Vault::slots_of(&backend)?
        .into_iter()
        .find_map(|slot| match slot.slot {
            keyvault_store::SlotDescription::External {
                provider: name,
                settings,
            } if name == provider => Some(settings),
            _ => None,
        }))
}

/// The provider that opens the vault at `path` without a prompt: its PKCS#11 slot when
/// `KEYVAULT_PKCS11_MODULE` is set, else its AWS KMS slot when AWS credentials are in the
/// environment; `Ok(None)` when neither applies.
pub(crate) fn unattended(path: &Path) -> Result<Option<Box<dyn ExternalWrapper>>> {
    if let Some(wrapper) = pkcs11_for_vault(path)? {
        return Ok(Some(wrapper));
    }
    if aws_configured() {
        return aws_kms_for_vault(path);
    }
    Ok(None)
}

/// Whether AWS credentials are named in the environment (so a vault with a KMS slot may open
/// through it unattended).
fn aws_configured() -> bool {
    cfg!(feature = "aws-kms")
        && [
            "AWS_ACCESS_KEY_ID",
            "AWS_PROFILE",
            "AWS_SHARED_CREDENTIALS_FILE",
        ]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()))
}

#[cfg(feature = "aws-kms")]
mod kms {
    use anyhow::{Context as _, Result};
    use keyvault_custody::AwsKmsWrapper;
    use keyvault_store::ExternalWrapper;

    pub(super) fn connect(key_id: &str, region: Option<&str>) -> Result<Box<dyn ExternalWrapper>> {
        let wrapper = AwsKmsWrapper::from_environment(key_id, region)
            .context("cannot reach the AWS KMS key")?;
        Ok(Box::new(wrapper))
    }
}

#[cfg(not(feature = "aws-kms"))]
mod kms {
    use anyhow::Result;
    use keyvault_store::ExternalWrapper;

    pub(super) fn connect(_: &str, _: Option<&str>) -> Result<Box<dyn ExternalWrapper>> {
        Err(crate::exit::Failure::usage(
            "this keyvault was built without AWS KMS support (cargo feature aws-kms)",
        )
        .into())
    }
}

#[cfg(feature = "pkcs11")]
mod imp {
    use std::path::Path;

    use anyhow::{Context as _, Result};
    use keyvault_custody::{Pkcs11Key, Pkcs11Wrapper};
    use keyvault_store::ExternalWrapper;

    use crate::password::Source;

    pub(super) fn connect(
        module: &Path,
        token: &str,
        key: &str,
    ) -> Result<Box<dyn ExternalWrapper>> {
        let pin = Source::pkcs11_pin().existing()?;
        // One copy, moved straight into the wiping PIN type.
        let pin = std::str::from_utf8(&pin)
            .map_err(|_| crate::exit::Failure::usage("the token PIN is not text"))?
            .to_owned();
        let wrapper = Pkcs11Wrapper::connect(
            module,
            Pkcs11Key {
                token: token.to_owned(),
                key: key.to_owned(),
            },
            &pin.into(),
        )
        .context("cannot reach the PKCS#11 key")?;
        Ok(Box::new(wrapper))
    }
}

#[cfg(not(feature = "pkcs11"))]
mod imp {
    use std::path::Path;

    use anyhow::Result;
    use keyvault_store::ExternalWrapper;

    pub(super) fn connect(_: &Path, _: &str, _: &str) -> Result<Box<dyn ExternalWrapper>> {
        Err(crate::exit::Failure::usage(
            "this keyvault was built without PKCS#11 support (cargo feature pkcs11)",
        )
        .into())
    }
}
