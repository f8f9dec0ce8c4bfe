//! Web Push (RFC 8030) to the browsers that subscribed on the dashboard: the server's VAPID
//! key pair (RFC 8292), a browser's `PushSubscription` and its checks, and sending one
//! message, encrypted for that browser alone (RFC 8291, `aes128gcm`), to its push service.
//!
//! The key pair is made on first use and kept 0600 in the file the caller names (the
//! dashboard's state, `dashboard/push-vapid.pem`); its public half is what a browser
//! subscribes with, so a new key pair would orphan every subscription. A push service sees
//! the endpoint's origin, the VAPID token, the headers and an encrypted body, nothing else.
//!
//! web-push-native encrypts and builds the request; the VAPID token is signed here with its
//! jwt-simple, because its own signer drops the endpoint's port from the token's audience
//! (RFC 8292 says the audience is the push resource's origin, port included), which a push
//! service on a port of its own (a self-hosted one, the tests') refuses. ureq posts it,
//! trusting the system's certificate roots ([`AGENT`]).
//!
//! Adapters layer: the only module that names web_push_native, jwt-simple and ureq. May
//! import: `store`, `error`.

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use base64ct::{Base64UrlUnpadded, Encoding};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ureq::tls::{RootCerts, TlsConfig};
use web_push_native::jwt_simple::prelude::{
    Claims, ECDSAP256KeyPairLike, ECDSAP256PublicKeyLike, ES256KeyPair,
};
use web_push_native::{p256, Auth, WebPushBuilder};

use crate::error::quoted;
use crate::store;

/// Who runs this application server, as the VAPID token's `sub` names it for a push
/// service that needs to reach its operator. A self-hosted sessctl has no operator address
/// to give, so it names itself.
pub const CONTACT: &str = "mailto:sessctl@localhost";
/// How long the VAPID token holds (RFC 8292 allows at most 24 hours).
const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// How long a push service keeps a notice for a device that is offline: a wait older
/// than this is better seen on the list than on a lock screen.
const TTL: Duration = Duration::from_secs(4 * 3600);
/// How long one POST to a push service may take, connection included.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// How many characters of a refused endpoint an error shows.
const SHOWN: usize = 40;

/// The server's VAPID key pair.
pub struct Keys {
    pair: ES256KeyPair,
}

impl Keys {
    /// The key pair in `file`, made (0600) when there is none. A file others can read is
    /// refused rather than trusted.
    pub fn load_or_create(file: &Path) -> Result<Keys> {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)
                .and_then(|()| {
                    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                })
                .with_context(|| format!("creating {}", dir.display()))?;
        }
        if !file.exists() {
            let made = ES256KeyPair::generate()
                .to_pem()
                .map_err(|err| anyhow!("making a VAPID key pair: {err}"))?;
            // Link-or-fail: of two servers starting together, one key pair wins.
            store::create_private(file, made.as_bytes())?;
        }
        let mode = std::fs::metadata(file)
            .with_context(|| format!("reading {}", file.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "{} is readable by others (mode {:03o}); run `chmod 600 {}`",
                file.display(),
                mode & 0o777,
                file.display()
            );
        }
        let pem =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let pair = ES256KeyPair::from_pem(&pem).map_err(|err| {
            anyhow!(
                "{} holds no VAPID key pair ({err}); remove it and a new one is made, then subscribe again on each device",
                file.display()
            )
        })?;
        Ok(Keys { pair })
    }

    /// The public key a browser subscribes with: the uncompressed P-256 point, base64url
    /// without padding (the `applicationServerKey` of `PushManager.subscribe`).
    pub fn public(&self) -> String {
        Base64UrlUnpadded::encode_string(
            &self.pair.public_key().public_key().to_bytes_uncompressed(),
        )
    }

    /// `Authorization: vapid t=<token>, k=<public key>` for a push service at `origin`.
    fn authorization(&self, origin: &str) -> Result<String> {
        let claims = Claims::create(TOKEN_LIFETIME.into())
            .with_audience(origin)
            .with_subject(CONTACT);
        let token = self
            .pair
            .sign(claims)
            .map_err(|err| anyhow!("signing the VAPID token for {origin}: {err}"))?;
        Ok(format!("vapid t={token}, k={}", self.public()))
    }
}

/// A browser's `PushSubscription`, as its `toJSON()` gives it (`expirationTime` is not
/// kept: a push service that ends a subscription answers 404 or 410, and it is dropped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub endpoint: String,
    pub keys: SubscriptionKeys,
}

/// The browser's half of the encryption: its P-256 public key and its auth secret,
/// base64url.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionKeys {
    pub p256dh: String,
    pub auth: String,
}

/// How soon a device should wake for a notice (RFC 8030's `Urgency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    Normal,
    High,
}

/// One message for one subscription.
pub struct Message<'a> {
    /// What a push service collapses undelivered messages by ([`topic`]).
    pub topic: &'a str,
    pub urgency: Urgency,
    /// What the service worker reads; encrypted before it leaves.
    pub payload: &'a [u8],
}

/// What the push service made of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Accepted,
    /// 404 or 410: the subscription has ended, and is to be dropped.
    Gone,
}

impl Subscription {
    /// A subscription from the JSON a page posts, checked ([`Subscription::check`]).
    pub fn from_json(body: &[u8]) -> Result<Subscription> {
        let subscription: Subscription = serde_json::from_slice(body).map_err(|err| {
            anyhow!("the body is no PushSubscription ({err}); send `subscription.toJSON()`")
        })?;
        subscription.check()?;
        Ok(subscription)
    }

    /// Where its push service is, for a log line: the endpoint's origin (the rest of an
    /// endpoint is the device's secret address).
    pub fn service(&self) -> String {
        origin(&self.endpoint).unwrap_or_else(|_| quoted(&shown(&self.endpoint)))
    }

    /// Refuses an endpoint that is neither https nor http on loopback, and keys that do
    /// not decode.
    pub fn check(&self) -> Result<()> {
        origin(&self.endpoint)?;
        self.decoded().map(|_| ())
    }

    fn decoded(&self) -> Result<(p256::PublicKey, Auth)> {
        let p256dh = decode(&self.keys.p256dh)
            .ok()
            .filter(|bytes| bytes.len() == 65)
            .and_then(|bytes| p256::PublicKey::from_sec1_bytes(&bytes).ok())
            .ok_or_else(|| {
                anyhow!(
                    "the subscription's keys.p256dh {} is no P-256 public key (65 bytes, base64url); send the browser's `subscription.toJSON()` unchanged",
                    quoted(&shown(&self.keys.p256dh))
                )
            })?;
        let auth = decode(&self.keys.auth)
            .ok()
            .filter(|bytes| bytes.len() == 16)
            .ok_or_else(|| {
                anyhow!(
                    "the subscription's keys.auth {} is no 16-byte secret (base64url); send the browser's `subscription.toJSON()` unchanged",
                    quoted(&shown(&self.keys.auth))
                )
            })?;
        Ok((p256dh, Auth::clone_from_slice(&auth)))
    }
}

/// What posts to push services: one for the process, so that the trusted roots are read once
/// and a push service's connection is kept between messages. It trusts the system's roots,
/// not a list built into sessctl: a self-hosted push service with a private certificate
/// authority is trusted as the user's other programs trust it (the system store, or
/// `SSL_CERT_FILE` / `SSL_CERT_DIR`, read as OpenSSL reads them).
static AGENT: LazyLock<ureq::Agent> = LazyLock::new(|| {
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::PlatformVerifier)
        .build();
    ureq::Agent::config_builder()
        .timeout_global(Some(POST_TIMEOUT))
        .http_status_as_error(false)
        .tls_config(tls)
        .build()
        .into()
});

/// The Topic header for `product`'s notices: the first 32 characters of
/// base64url(SHA-256("sessctl:" + product)), inside RFC 8030's limit whatever the name.
pub fn topic(product: &str) -> String {
    let digest = Sha256::digest(format!("sessctl:{product}").as_bytes());
    Base64UrlUnpadded::encode_string(&digest)[..32].to_string()
}

/// Encrypts `message` for `subscription`, signs it with `keys` and posts it to the
/// subscription's push service.
pub fn send(keys: &Keys, subscription: &Subscription, message: &Message) -> Result<Sent> {
    let origin = origin(&subscription.endpoint)?;
    let (p256dh, auth) = subscription.decoded()?;
    let endpoint = subscription.endpoint.parse().with_context(|| {
        format!(
            "reading endpoint {}",
            quoted(&shown(&subscription.endpoint))
        )
    })?;
    let mut request = WebPushBuilder::new(endpoint, p256dh, auth)
        .with_valid_duration(TTL)
        .build(message.payload)
        .map_err(|err| anyhow!("encrypting a push message: {err}"))?;
    let headers = request.headers_mut();
    let mut set = |name: &'static str, value: String| -> Result<()> {
        headers.insert(name, value.parse().context("a push header")?);
        Ok(())
    };
    set("authorization", keys.authorization(&origin)?)?;
    set("topic", message.topic.to_string())?;
    set(
        "urgency",
        match message.urgency {
            Urgency::Normal => "normal",
            Urgency::High => "high",
        }
        .to_string(),
    )?;
    let answer = AGENT
        .run(request)
        .with_context(|| format!("posting a push message to {origin}"))?;
    match answer.status().as_u16() {
        200..=299 => Ok(Sent::Accepted),
        404 | 410 => Ok(Sent::Gone),
        status => {
            let mut body = answer.into_body();
            let text = body
                .with_config()
                .limit(500)
                .read_to_string()
                .unwrap_or_default();
            bail!(
                "the push service at {origin} refused a message: {status} {}",
                quoted(text.trim())
            )
        }
    }
}

/// The endpoint's origin (the VAPID token's audience), if sessctl may post to it: https,
/// or http to a loopback address (a push service of one's own, on this machine).
fn origin(endpoint: &str) -> Result<String> {
    let refuse = || {
        anyhow!(
            "push endpoint {} is refused: it must be an https:// URL, or http:// to a loopback address (127.0.0.1, [::1], localhost) for a push service on this machine; subscribe again from the dashboard's page",
            quoted(&shown(endpoint))
        )
    };
    let uri: http::Uri = endpoint.parse().map_err(|_| refuse())?;
    let (Some(scheme), Some(authority), Some(host)) =
        (uri.scheme_str(), uri.authority(), uri.host())
    else {
        return Err(refuse());
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match scheme {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(refuse()),
    }
    if authority.as_str().contains('@') {
        return Err(refuse());
    }
    Ok(format!("{scheme}://{}", authority.as_str()))
}

/// The first [`SHOWN`] characters of `value`.
fn shown(value: &str) -> String {
    value.chars().take(SHOWN).collect()
}

/// Base64url, with or without its padding.
fn decode(text: &str) -> Result<Vec<u8>> {
    Base64UrlUnpadded::decode_vec(text.trim_end_matches('='))
        .map_err(|err| anyhow!("not base64url: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(endpoint: &str) -> Subscription {
        let secret = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
        let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(
            &secret.public_key(),
            false,
        );
        Subscription {
            endpoint: endpoint.to_string(),
            keys: SubscriptionKeys {
                p256dh: Base64UrlUnpadded::encode_string(point.as_bytes()),
                auth: Base64UrlUnpadded::encode_string(&[1u8; 16]),
            },
        }
    }

    #[test]
    fn an_endpoint_is_https_or_http_on_loopback() {
        for good in [
            "https://fcm.googleapis.com/fcm/send/abc",
            "https://push.example:8443/x",
            "http://127.0.0.1:9000/push/1",
            "http://127.3.4.5/x",
            "http://[::1]:80/x",
            "http://localhost:1234/x",
        ] {
            assert!(subscription(good).check().is_ok(), "{good}");
        }
        assert_eq!(
            origin("http://127.0.0.1:9000/push/1").unwrap(),
            "http://127.0.0.1:9000"
        );
        for bad in [
            "http://example.com/x",
            "ftp://127.0.0.1/x",
            "http://10.0.0.1/",
            "http://127.0.0.1.example.com/",
            "http://user@127.0.0.1/",
            "/relative",
            "",
        ] {
            let err = subscription(bad).check().unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("push endpoint {} is refused", quoted(bad))),
                "{err}"
            );
        }
        let long = format!("ftp://{}\n", "x".repeat(1000));
        let err = subscription(&long).check().unwrap_err().to_string();
        assert!(err.len() < 300, "{err}");
    }

    #[test]
    fn keys_must_decode_to_a_point_and_a_16_byte_secret() {
        let mut bad = subscription("https://push.example/x");
        bad.keys.auth = Base64UrlUnpadded::encode_string(&[1u8; 15]);
        assert!(bad.check().unwrap_err().to_string().contains("keys.auth"));
        let mut bad = subscription("https://push.example/x");
        bad.keys.p256dh = Base64UrlUnpadded::encode_string(&[4u8; 65]);
        assert!(bad.check().unwrap_err().to_string().contains("keys.p256dh"));
        let body = br#"{"endpoint":"https://push.example/x","expirationTime":null,"keys":{"p256dh":"BLn9b-VR0ca83knDNZ32dCHGyjJp-1riX9ZTN40MqV8K_LpQmLqxC_DoHvqvFXO_nGdAB4W9dogZb_sM-uV4JbY","auth":"_ordMnz7uTCmrpBTeUV4Bw"}}"#;
        assert!(Subscription::from_json(body).is_ok());
    }

    #[test]
    fn a_topic_is_32_url_safe_characters_whatever_the_name() {
        let a = topic("web");
        assert_eq!(a.len(), 32);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a, topic("web2"));
    }

    #[test]
    fn the_key_pair_is_made_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dashboard/push-vapid.pem");
        let first = Keys::load_or_create(&file).unwrap().public();
        assert_eq!(Keys::load_or_create(&file).unwrap().public(), first);
        assert_eq!(decode(&first).unwrap().len(), 65);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(Keys::load_or_create(&file).is_err());
    }
}
