//! Request bodies: JSON objects read with CSC-style errors for every missing or mistyped field,
//! accepting the v1 field names (`hash`, `hashAlgo`, `PIN`, `OTP`) and the v2 names (`hashes`,
//! `hashAlgorithmOID`, `authData`) on both paths.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use futures_util::StreamExt;
use secrecy::SecretString;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON object body. An empty body reads as `{}`.
#[derive(Default)]
pub struct Body(pub Map<String, Value>);

impl std::fmt::Debug for Body {
    // Bodies carry PINs, OTPs and SADs: show the field names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl FromRequest for Body {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(_req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let mut payload = payload.take();
        Box::pin(async move {
            let mut buf = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|_| ApiError::MalformedBody("unreadable body".into()))?;
                if buf.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(ApiError::BodyTooLarge);
                }
                buf.extend_from_slice(&chunk);
            }
            Self::parse(&buf)
        })
    }
}

impl Body {
    /// Parses a request body: a JSON object, or nothing.
    pub fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        if bytes.len() > MAX_BODY_BYTES {
            return Err(ApiError::BodyTooLarge);
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(ApiError::MalformedBody("not a JSON object".into())),
            Err(e) => Err(ApiError::MalformedBody(format!(
                "invalid JSON at line {} column {}",
                e.line(),
                e.column()
            ))),
        }
    }

    /// The first of `names` present (v2 name first, then v1).
    fn get(&self, names: &[&'static str]) -> Option<(&'static str, &Value)> {
        names
            .iter()
            .find_map(|n| self.0.get(*n).filter(|v| !v.is_null()).map(|v| (*n, v)))
    }

    pub fn opt_str(&self, names: &[&'static str]) -> Result<Option<String>, ApiError> {
        match self.get(names) {
            None => Ok(None),
            Some((_, Value::String(s))) => Ok(Some(s.clone())),
            Some((name, _)) => Err(ApiError::MissingParam {
                name,
                kind: "string",
            }),
        }
    }

    pub fn req_str(&self, names: &[&'static str]) -> Result<String, ApiError> {
        self.opt_str(names)?.ok_or(ApiError::MissingParam {
            name: names.first().copied().unwrap_or("?"),
            kind: "string",
        })
    }

    /// A secret string (PIN, OTP, token): never copied into an ordinary `String`.
    pub fn opt_secret(&self, names: &[&'static str]) -> Result<Option<SecretString>, ApiError> {
        Ok(self.opt_str(names)?.map(SecretString::from))
    }

    pub fn req_secret(&self, name: &'static str) -> Result<SecretString, ApiError> {
        self.opt_secret(&[name])?.ok_or(ApiError::MissingParam {
            name,
            kind: "string",
        })
    }

    pub fn opt_bool(&self, name: &'static str) -> Result<Option<bool>, ApiError> {
        match self.get(&[name]) {
            None => Ok(None),
            Some((_, Value::Bool(b))) => Ok(Some(*b)),
            Some((name, _)) => Err(ApiError::MissingParam {
                name,
                kind: "boolean",
            }),
        }
    }

    pub fn opt_int(&self, name: &'static str) -> Result<Option<i64>, ApiError> {
        match self.get(&[name]) {
            None => Ok(None),
            Some((_, Value::Number(n))) => n.as_i64().map(Some).ok_or(ApiError::MissingParam {
                name,
                kind: "integer",
            }),
            Some((name, _)) => Err(ApiError::MissingParam {
                name,
                kind: "integer",
            }),
        }
    }

    pub fn req_int(&self, name: &'static str) -> Result<i64, ApiError> {
        self.opt_int(name)?.ok_or(ApiError::MissingParam {
            name,
            kind: "integer",
        })
    }

    /// An array of base64 hashes (`hashes` or v1 `hash`), decoded. Standard and URL-safe
    /// alphabets are accepted, padded or not.
    pub fn hashes(&self, required: bool) -> Result<Vec<Vec<u8>>, ApiError> {
        let names = ["hashes", "hash"];
        let Some((name, value)) = self.get(&names) else {
            return if required {
                Err(ApiError::MissingParam {
                    name: "hashes",
                    kind: "array",
                })
            } else {
                Ok(Vec::new())
            };
        };
        let Value::Array(items) = value else {
            return Err(ApiError::MissingParam {
                name,
                kind: "array",
            });
        };
        if required && items.is_empty() {
            return Err(ApiError::InvalidParam(name));
        }
        items
            .iter()
            .map(|v| match v {
                Value::String(s) => decode_b64(s).ok_or(ApiError::InvalidParam(name)),
                _ => Err(ApiError::InvalidParam(name)),
            })
            .collect()
    }

    /// Base64 bytes of an optional string field.
    pub fn opt_b64(&self, names: &[&'static str]) -> Result<Option<Vec<u8>>, ApiError> {
        match self.opt_str(names)? {
            None => Ok(None),
            Some(s) => decode_b64(&s).map(Some).ok_or(ApiError::InvalidParam(
                names.first().copied().unwrap_or("?"),
            )),
        }
    }

    /// A factor from v2 `authData: [{id, value}]`, or the v1 top-level field of the same name.
    pub fn auth_factor(&self, id: &'static str) -> Result<Option<SecretString>, ApiError> {
        if let Some((_, data)) = self.get(&["authData"]) {
            let Value::Array(items) = data else {
                return Err(ApiError::MissingParam {
                    name: "authData",
                    kind: "array",
                });
            };
            for item in items {
                let Value::Object(obj) = item else {
                    return Err(ApiError::InvalidParam("authData"));
                };
                match (obj.get("id"), obj.get("value")) {
                    (Some(Value::String(i)), Some(Value::String(v))) => {
                        if i == id {
                            return Ok(Some(SecretString::from(v.clone())));
                        }
                    }
                    _ => return Err(ApiError::InvalidParam("authData")),
                }
            }
        }
        self.opt_secret(&[id])
    }
}

pub fn decode_b64(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s).ok())
}

pub fn encode_b64(data: &[u8]) -> String {
    STANDARD.encode(data)
}
