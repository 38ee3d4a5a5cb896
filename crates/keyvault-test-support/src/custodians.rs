//! The real custodians the provider tests run against: an AES key made on a PKCS#11 token (as an
//! administrator would, with `C_GenerateKey`), and administrator calls to a local KMS (moto,
//! which does not check signatures).

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use serde_json::Value;

/// A logged-in read-write session on the token labelled `token`.
pub fn token_session(module: &str, token: &str, pin: &str) -> Session {
    let context = Pkcs11::new(module).unwrap();
    let _ = context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let slot = context
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|slot| context.get_token_info(*slot).unwrap().label().trim_end() == token)
        .unwrap();
    let session = context.open_rw_session(slot).unwrap();
    // Logins are per process: another session of this test may have logged in already.
    let _ = session.login(UserType::User, Some(&AuthPin::from(pin.to_owned())));
    session
}

/// Make a 256-bit AES key labelled `label` on the token: sensitive, not extractable.
pub fn make_aes_key(session: &Session, label: &str) -> ObjectHandle {
    session
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::ValueLen(32.into()),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
                Attribute::Label(label.as_bytes().to_vec()),
            ],
        )
        .unwrap()
}

/// An administrator's call `action` to the local KMS at `endpoint`; its JSON answer.
pub fn kms_admin(endpoint: &str, action: &str, body: &Value) -> Value {
    let mut response = ureq::post(&format!("{endpoint}/"))
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", &format!("TrentService.{action}"))
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/kms/aws4_request, \
             SignedHeaders=host, Signature=0",
        )
        .send(body.to_string().as_bytes())
        .unwrap();
    serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
}
