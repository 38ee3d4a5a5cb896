//! A vault slot key wrapped by an AES key on a PKCS#11 token (an HSM, a smart card, SoftHSM2).
//!
//! The token's key never leaves it: wrapping is `C_Encrypt` with CKM_AES_GCM (a random 96-bit IV,
//! the slot's context as associated data, a 128-bit tag), unwrapping `C_Decrypt`. The slot
//! stores `IV || ciphertext || tag` and the token and key labels, never the module path or the
//! PIN: the module is a shared library that the caller names each time, so a vault file cannot
//! make keyvault load code.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as Pkcs11Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use keyvault_crypto::{SecretKey, Zeroizing, random};
use keyvault_store::{ExternalWrapper, StoreError};

use crate::error::{CustodyError, Result};

/// The provider name stored in slots.
const PROVIDER: &str = "pkcs11";
const IV_LEN: usize = 12;
const TAG_BITS: u64 = 128;

/// Which key on which token, as a slot records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pkcs11Key {
    /// The token's label (`softhsm2-util --init-token --label ...`).
    pub token: String,
    /// The AES key's label (CKA_LABEL).
    pub key: String,
}

impl Pkcs11Key {
    /// The token and key labels a vault's PKCS#11 slot records (from
    /// `SlotDescription::External { settings, .. }`), if these settings are one's.
    #[must_use]
    pub fn from_settings(provider: &str, settings: &BTreeMap<String, String>) -> Option<Self> {
        (provider == PROVIDER).then_some(())?;
        Some(Pkcs11Key {
            token: settings.get("token")?.clone(),
            key: settings.get("key")?.clone(),
        })
    }
}

/// A logged-in session with a token and the handle of its wrapping key.
pub struct Pkcs11Wrapper {
    key: Pkcs11Key,
    session: Mutex<Session>,
    handle: ObjectHandle,
}

impl std::fmt::Debug for Pkcs11Wrapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Wrapper")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Wrapper {
    /// Load `module`, find the token labelled `key.token`, log in with `pin` and find the AES
    /// key labelled `key.key`.
    ///
    /// # Errors
    /// [`CustodyError::Module`], [`CustodyError::TokenMissing`], [`CustodyError::WrongPin`],
    /// [`CustodyError::KeyMissing`], or [`CustodyError::Device`] for other failures.
    pub fn connect(module: &Path, key: Pkcs11Key, pin: &AuthPin) -> Result<Self> {
        let context = Pkcs11::new(module).map_err(|err| CustodyError::Module {
            module: module.display().to_string(),
            reason: err.to_string(),
        })?;
        match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(Pkcs11Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(err) => return Err(device("initialise the module", &err)),
        }
        let slot = context
            .get_slots_with_token()
            .map_err(|err| device("list the tokens", &err))?
            .into_iter()
            .find(|slot| {
                context
                    .get_token_info(*slot)
                    .is_ok_and(|info| info.label().trim_end() == key.token)
            })
            .ok_or_else(|| CustodyError::TokenMissing(key.token.clone()))?;
        let session = context
            .open_ro_session(slot)
            .map_err(|err| device("open a session", &err))?;
        match session.login(UserType::User, Some(pin)) {
            Ok(()) | Err(Pkcs11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(Pkcs11Error::Pkcs11(RvError::PinIncorrect | RvError::PinLenRange, _)) => {
                return Err(CustodyError::WrongPin(key.token.clone()));
            }
            Err(err) => return Err(device("log in", &err)),
        }
        let handle = session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Label(key.key.as_bytes().to_vec()),
            ])
            .map_err(|err| device("search for the key", &err))?
            .into_iter()
            .next()
            .ok_or_else(|| CustodyError::KeyMissing {
                token: key.token.clone(),
                key: key.key.clone(),
            })?;
        Ok(Pkcs11Wrapper {
            key,
            session: Mutex::new(session),
            handle,
        })
    }

    fn session(&self) -> keyvault_store::Result<std::sync::MutexGuard<'_, Session>> {
        self.session.lock().map_err(|_| StoreError::Poisoned)
    }
}

impl ExternalWrapper for Pkcs11Wrapper {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    fn settings(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("token".to_owned(), self.key.token.clone()),
            ("key".to_owned(), self.key.key.clone()),
            ("mechanism".to_owned(), "aes-gcm".to_owned()),
        ])
    }

    fn wrap(&self, key: &SecretKey, context: &[u8]) -> keyvault_store::Result<Vec<u8>> {
        let iv = random::bytes::<IV_LEN>()?;
        let mut params_iv = iv;
        let params = GcmParams::new(&mut params_iv, context, TAG_BITS.into())
            .map_err(|err| device("prepare AES-GCM", &err))?;
        let sealed = self
            .session()?
            .encrypt(&Mechanism::AesGcm(params), self.handle, key.expose_secret())
            .map_err(|err| device("wrap with the token's key", &err))?;
        let mut out = Vec::with_capacity(IV_LEN + sealed.len());
        out.extend_from_slice(&iv);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn unwrap(&self, wrapped: &[u8], context: &[u8]) -> keyvault_store::Result<SecretKey> {
        let (iv, sealed) = wrapped.split_at_checked(IV_LEN).ok_or_else(malformed)?;
        let mut iv = <[u8; IV_LEN]>::try_from(iv).map_err(|_| malformed())?;
        let params = GcmParams::new(&mut iv, context, TAG_BITS.into())
            .map_err(|err| device("prepare AES-GCM", &err))?;
        let opened = Zeroizing::new(
            self.session()?
                .decrypt(&Mechanism::AesGcm(params), self.handle, sealed)
                .map_err(|err| CustodyError::Refused {
                    provider: PROVIDER,
                    reason: err.to_string(),
                })?,
        );
        Ok(SecretKey::from_slice(&opened)?)
    }
}

fn malformed() -> StoreError {
    StoreError::Provider {
        provider: PROVIDER.to_owned(),
        reason: "the slot's wrapped key is too short".to_owned(),
        kind: keyvault_core::ErrorKind::Integrity,
    }
}

fn device(what: &str, err: &Pkcs11Error) -> CustodyError {
    CustodyError::Device {
        provider: PROVIDER,
        reason: format!("cannot {what}: {err}"),
    }
}
