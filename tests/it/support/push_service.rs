//! A fake Web Push service, as a browser's push service would receive sessctl's messages: it
//! hands out subscriptions (an endpoint on itself, and a device's key pair and auth secret),
//! and for each POST checks the VAPID token (RFC 8292: ES256 signature against the `k=` key,
//! audience its own origin, expiry in the future and within 24 hours) and decrypts the body
//! with the device's private key (RFC 8291 over RFC 8188's `aes128gcm`).
//!
//! The decryption here is the tests' own, written from the RFCs with p256, hkdf and aes-gcm,
//! and shown right on RFC 8291's worked example; sessctl encrypts with web-push-native, so a
//! mistake shared by both is unlikely to hide.
//!
//! It listens on 127.0.0.1 in the network namespace the server runs in, over http, or over
//! https with a certificate from a certificate authority of its own ([`PushService::serve_tls`]),
//! as a self-hosted push service with a private CA does.

use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Router;
use base64ct::{Base64UrlUnpadded, Encoding};
use hkdf::Hkdf;
use p256::ecdsa::signature::Verifier;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use rustls::pki_types::PrivatePkcs8KeyDer;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::loopback::{self, Loopback};

/// One message the service received, as checked and decrypted.
#[derive(Debug, Clone)]
pub struct Received {
    /// Which subscription it was for (the endpoint's last segment).
    pub device: String,
    /// `Err` names what was wrong with the VAPID token.
    pub vapid: Result<(), String>,
    /// The decrypted bytes, exactly as a browser's push service hands them to the service
    /// worker, or what failed.
    pub plaintext: Result<Vec<u8>, String>,
    /// [`Received::plaintext`] read as JSON, or what failed.
    pub payload: Result<Value, String>,
    pub topic: Option<String>,
    pub urgency: Option<String>,
    pub ttl: Option<String>,
    /// When it arrived.
    #[allow(
        dead_code,
        reason = "benches/waiting.rs times the notices; the tests do not"
    )]
    pub at: Instant,
}

/// A device's half of a subscription: its private key and auth secret.
struct Device {
    name: String,
    secret: p256::SecretKey,
    auth: [u8; 16],
}

#[derive(Default)]
struct Shared {
    origin: String,
    devices: Vec<Device>,
    received: Vec<Received>,
    /// What every POST is answered with (201 unless a test says otherwise).
    answer: Option<StatusCode>,
}

/// A running fake push service; it stops when dropped.
pub struct PushService {
    shared: Arc<Mutex<Shared>>,
    _server: Loopback,
}

impl PushService {
    /// A service on 127.0.0.1 in network namespace `netns` (the test's own when `None`).
    pub fn serve(netns: Option<BorrowedFd<'_>>) -> PushService {
        PushService::start(netns, None)
    }

    /// [`PushService::serve`] over https, with a certificate for 127.0.0.1 issued by a new
    /// certificate authority; also that CA's certificate (PEM), for the server to trust.
    pub fn serve_tls(netns: Option<BorrowedFd<'_>>) -> (PushService, String) {
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        // A name of its own: a certificate verifier finds an issuer by its name.
        static MADE: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "sessctl tests' push service CA {}",
            MADE.fetch_add(1, Ordering::Relaxed)
        );
        ca.distinguished_name.push(rcgen::DnType::CommonName, name);
        let ca_key = rcgen::KeyPair::generate().expect("a CA key");
        let ca = rcgen::CertifiedIssuer::self_signed(ca, ca_key).expect("the CA certificate");
        let key = rcgen::KeyPair::generate().expect("a key");
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
            .expect("params")
            .signed_by(&key, &ca)
            .expect("the service's certificate");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
            )
            .expect("a TLS config");
        (PushService::start(netns, Some(Arc::new(config))), ca.pem())
    }

    fn start(netns: Option<BorrowedFd<'_>>, tls: Option<Arc<rustls::ServerConfig>>) -> PushService {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = Router::new().fallback(receive).with_state(shared.clone());
        let scheme = if tls.is_some() { "https" } else { "http" };
        let server = loopback::serve("the push service", netns, app, tls);
        // Nothing reaches the service before a device has its endpoint, which names this.
        shared.lock().expect("the push service").origin =
            format!("{scheme}://127.0.0.1:{}", server.port);
        PushService {
            shared,
            _server: server,
        }
    }

    /// A new device's subscription, as its `PushSubscription.toJSON()` gives it.
    pub fn subscribe(&self, name: &str) -> Value {
        let seed = Sha256::digest(format!("push-service-test-device:{name}").as_bytes());
        let secret = p256::SecretKey::from_slice(&seed).expect("a P-256 private key");
        let auth: [u8; 16] = seed[..16].try_into().expect("16 bytes");
        let public = secret.public_key().to_encoded_point(false);
        let mut shared = self.shared.lock().expect("the push service");
        let endpoint = format!("{}/push/{name}", shared.origin);
        shared.devices.push(Device {
            name: name.to_string(),
            secret,
            auth,
        });
        json!({
            "endpoint": endpoint,
            "expirationTime": null,
            "keys": {
                "p256dh": Base64UrlUnpadded::encode_string(public.as_bytes()),
                "auth": Base64UrlUnpadded::encode_string(&auth),
            },
        })
    }

    /// Every message received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.shared
            .lock()
            .expect("the push service")
            .received
            .clone()
    }

    /// The messages for `device`, oldest first.
    pub fn for_device(&self, device: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.device == device)
            .collect()
    }

    /// Answers every POST from now on with `status` (410: the subscription is gone).
    pub fn answer(&self, status: StatusCode) {
        self.shared.lock().expect("the push service").answer = Some(status);
    }
}

async fn receive(
    State(shared): State<Arc<Mutex<Shared>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let at = Instant::now();
    let mut shared = shared.lock().expect("the push service");
    let device = uri.path().rsplit('/').next().unwrap_or("").to_string();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let plaintext = match shared.devices.iter().find(|d| d.name == device) {
        None => Err(format!("no device {device}")),
        Some(_) if header("content-encoding").as_deref() != Some("aes128gcm") => {
            Err("the content encoding is not aes128gcm".to_string())
        }
        Some(d) => decrypt(&body, &d.secret, &d.auth),
    };
    let payload = plaintext
        .clone()
        .and_then(|plain| serde_json::from_slice(&plain).map_err(|err| format!("not JSON: {err}")));
    let vapid = check_vapid(header("authorization").as_deref(), &shared.origin);
    shared.received.push(Received {
        device,
        vapid,
        plaintext,
        payload,
        topic: header("topic"),
        urgency: header("urgency"),
        ttl: header("ttl"),
        at,
    });
    shared.answer.unwrap_or(StatusCode::CREATED)
}

fn b64(text: &str) -> Result<Vec<u8>, String> {
    Base64UrlUnpadded::decode_vec(text).map_err(|err| format!("not base64url ({err}): {text}"))
}

/// Checks `Authorization: vapid t=JWT, k=KEY` (RFC 8292 §3) for a service at `origin`.
pub fn check_vapid(authorization: Option<&str>, origin: &str) -> Result<(), String> {
    let value = authorization.ok_or("no Authorization header")?;
    let rest = value
        .strip_prefix("vapid ")
        .ok_or_else(|| format!("not a vapid authorization: {value}"))?;
    let mut token = None;
    let mut key = None;
    for part in rest.split(',').map(str::trim) {
        match part.split_once('=') {
            Some(("t", v)) => token = Some(v),
            Some(("k", v)) => key = Some(v),
            _ => return Err(format!("an unknown part {part:?}")),
        }
    }
    let (token, key) = token.zip(key).ok_or("t= or k= is missing")?;
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&b64(key)?)
        .map_err(|err| format!("k= is no P-256 key: {err}"))?;
    let [head, claims, signature] = token.split('.').collect::<Vec<_>>()[..] else {
        return Err(format!("not a JWT: {token}"));
    };
    let signature = p256::ecdsa::Signature::from_slice(&b64(signature)?)
        .map_err(|err| format!("not an ES256 signature: {err}"))?;
    key.verify(format!("{head}.{claims}").as_bytes(), &signature)
        .map_err(|_| "the signature does not verify against k=".to_string())?;
    let head: Value = serde_json::from_slice(&b64(head)?).map_err(|e| e.to_string())?;
    if head["alg"] != "ES256" {
        return Err(format!("alg is not ES256: {head}"));
    }
    let claims: Value = serde_json::from_slice(&b64(claims)?).map_err(|e| e.to_string())?;
    if claims["aud"] != origin {
        return Err(format!("aud is not {origin}: {claims}"));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let exp = claims["exp"].as_u64().ok_or("no exp")?;
    if exp <= now || exp > now + 24 * 3600 {
        return Err(format!("exp {exp} is not within 24 h of now {now}"));
    }
    let sub = claims["sub"].as_str().unwrap_or("");
    if !(sub.starts_with("mailto:") || sub.starts_with("https://")) {
        return Err(format!("sub is no mailto: or https: contact: {claims}"));
    }
    Ok(())
}

/// HKDF-SHA-256 (RFC 5869), `len` bytes of `info` from `ikm` salted with `salt`.
fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, &mut out)
        .expect("a short HKDF output");
    out
}

/// Decrypts a Web Push message body for the device holding `secret` and `auth`: RFC 8188's
/// header (salt, record size, key id = the sender's public key), RFC 8291 §3.4's key
/// derivation, then each record with AES-128-GCM, stripped of its padding and delimiter.
pub fn decrypt(body: &[u8], secret: &p256::SecretKey, auth: &[u8]) -> Result<Vec<u8>, String> {
    if body.len() < 21 {
        return Err("shorter than an aes128gcm header".into());
    }
    let salt = &body[..16];
    let rs = u32::from_be_bytes(body[16..20].try_into().expect("4 bytes")) as usize;
    let idlen = body[20] as usize;
    let sender = body.get(21..21 + idlen).ok_or("the key id is cut short")?;
    let records = &body[21 + idlen..];
    if rs < 18 {
        return Err(format!("record size {rs} is too small"));
    }
    let sender_key = p256::PublicKey::from_sec1_bytes(sender)
        .map_err(|_| "the key id is no P-256 public key".to_string())?;
    let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), sender_key.as_affine());
    let receiver = secret.public_key().to_encoded_point(false);
    let key_info = [b"WebPush: info\0", receiver.as_bytes(), sender].concat();
    let ikm = hkdf(auth, shared.raw_secret_bytes().as_slice(), &key_info, 32);
    let cek = hkdf(salt, &ikm, b"Content-Encoding: aes128gcm\0", 16);
    let base_nonce = hkdf(salt, &ikm, b"Content-Encoding: nonce\0", 12);
    let cipher = Aes128Gcm::new_from_slice(&cek).map_err(|e| e.to_string())?;
    let mut plain = Vec::new();
    let chunks: Vec<&[u8]> = records.chunks(rs).collect();
    for (seq, chunk) in chunks.iter().enumerate() {
        let mut nonce = base_nonce.clone();
        for (byte, s) in nonce[4..].iter_mut().zip((seq as u64).to_be_bytes()) {
            *byte ^= s;
        }
        let mut record = cipher
            .decrypt(Nonce::from_slice(&nonce), *chunk)
            .map_err(|_| format!("record {seq} does not decrypt"))?;
        while record.last() == Some(&0) {
            record.pop();
        }
        let last = seq + 1 == chunks.len();
        match (record.pop(), last) {
            (Some(2), true) | (Some(1), false) => plain.extend(record),
            (delimiter, _) => return Err(format!("record {seq} ends in {delimiter:?}")),
        }
    }
    Ok(plain)
}

/// RFC 8291 Appendix A: the user agent's keys, the auth secret and the message body given
/// there decrypt to the example's plaintext, and its header holds the sender's key.
#[test]
fn the_decryption_reads_rfc_8291s_example() {
    let d = |s: &str| Base64UrlUnpadded::decode_vec(s).expect("base64url");
    let ua_private = d("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94");
    let ua_public = d(
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
    );
    let as_public = d(
        "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8",
    );
    let auth = d("BTBZMqHH6r4Tts7J_aSIgg");
    let body = d(concat!(
        "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml",
        "mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT",
        "pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
    ));
    let secret = p256::SecretKey::from_slice(&ua_private).expect("the UA's private key");
    assert_eq!(
        secret.public_key().to_encoded_point(false).as_bytes(),
        &ua_public[..]
    );
    assert_eq!(&body[..16], &d("DGv6ra1nlYgDCS1FRnbzlw")[..]);
    assert_eq!(&body[21..86], &as_public[..]);
    let plain = decrypt(&body, &secret, &auth).expect("the example decrypts");
    assert_eq!(
        String::from_utf8(plain).expect("utf-8"),
        "When I grow up, I want to be a watermelon"
    );
    // One flipped bit of the ciphertext, or the wrong auth secret, and nothing decrypts.
    let mut bent = body.clone();
    *bent.last_mut().expect("a byte") ^= 1;
    assert!(decrypt(&bent, &secret, &auth).is_err());
    assert!(decrypt(&body, &secret, &[0; 16]).is_err());
}
