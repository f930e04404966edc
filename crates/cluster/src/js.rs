//! The few JetStream operations the cluster needs, spoken as JetStream's
//! JSON API (`$JS.API.*`) over async-nats's core client: making a stream,
//! publishing to it and waiting for its acknowledgement, and key-value
//! buckets (streams in the `KV_` layout, so `nats kv` can read them) with
//! an atomic create-if-absent and revision-checked updates and deletes.
//!
//! Why not async-nats's typed JetStream API: the release that builds here
//! (0.42) cannot parse the replies of the NATS 2.9 servers Debian ships
//! ("data did not match any variant of untagged enum Response" on the
//! first bucket), while the JSON API itself has been stable since 2.2.
//! Only the calls below are used, each with its documented fields.
//!
//! Must not hold any chat logic; every call is bounded by a timeout.

use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum JsError {
    /// NATS did not answer in time, or could not be reached.
    #[error("NATS did not answer: {0}")]
    Unreachable(String),
    /// JetStream refused: its error code (`err_code`) and description.
    #[error("JetStream refused ({code}): {description}")]
    Api { code: u64, description: String },
    #[error("JetStream answered something unreadable: {0}")]
    Garbled(String),
}

/// JetStream's `err_code` for "wrong last sequence" (an expected
/// revision that is not the current one).
const WRONG_LAST_SEQUENCE: u64 = 10071;
/// "stream name already in use" (with another configuration).
const STREAM_NAME_IN_USE: u64 = 10058;
/// "no message found".
const NO_MESSAGE: u64 = 10037;

#[derive(Clone)]
pub struct Js {
    client: async_nats::Client,
    timeout: Duration,
}

/// What the stream said on storing a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PubAck {
    pub seq: u64,
    /// It had stored a message with the same `Nats-Msg-Id` already.
    pub duplicate: bool,
}

impl Js {
    pub fn new(client: async_nats::Client, timeout: Duration) -> Js {
        Js { client, timeout }
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    async fn request(
        &self,
        subject: String,
        headers: Option<async_nats::HeaderMap>,
        payload: Bytes,
    ) -> Result<Value, JsError> {
        let mut req = async_nats::Request::new()
            .payload(payload)
            .timeout(Some(self.timeout));
        if let Some(h) = headers {
            req = req.headers(h);
        }
        let reply = self
            .client
            .send_request(subject, req)
            .await
            .map_err(|e| JsError::Unreachable(e.to_string()))?;
        let value: Value =
            serde_json::from_slice(&reply.payload).map_err(|e| JsError::Garbled(format!("{e}")))?;
        if let Some(err) = value.get("error") {
            return Err(JsError::Api {
                code: err.get("err_code").and_then(Value::as_u64).unwrap_or(0),
                description: err
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            });
        }
        Ok(value)
    }

    /// Makes the stream `config["name"]` unless it exists.
    pub async fn ensure_stream(&self, config: Value) -> Result<(), JsError> {
        let name = config
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let body = Bytes::from(config.to_string());
        match self
            .request(format!("$JS.API.STREAM.CREATE.{name}"), None, body)
            .await
        {
            Ok(_) => Ok(()),
            Err(JsError::Api { code, .. }) if code == STREAM_NAME_IN_USE => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Publishes to a stream's subject and waits for the stream to have
    /// stored it.
    pub async fn publish(
        &self,
        subject: String,
        headers: async_nats::HeaderMap,
        payload: Bytes,
    ) -> Result<PubAck, JsError> {
        let v = self.request(subject, Some(headers), payload).await?;
        let seq = v
            .get("seq")
            .and_then(Value::as_u64)
            .ok_or_else(|| JsError::Garbled(v.to_string()))?;
        Ok(PubAck {
            seq,
            duplicate: v.get("duplicate").and_then(Value::as_bool).unwrap_or(false),
        })
    }

    /// The last message on `subject` in `stream`: its sequence, headers'
    /// text and data; `None` when there is none.
    pub async fn last_on(
        &self,
        stream: &str,
        subject: &str,
    ) -> Result<Option<(u64, String, Vec<u8>)>, JsError> {
        let body = Bytes::from(json!({ "last_by_subj": subject }).to_string());
        let v = match self
            .request(format!("$JS.API.STREAM.MSG.GET.{stream}"), None, body)
            .await
        {
            Ok(v) => v,
            Err(JsError::Api { code, .. }) if code == NO_MESSAGE => return Ok(None),
            Err(e) => return Err(e),
        };
        let msg = v
            .get("message")
            .ok_or_else(|| JsError::Garbled(v.to_string()))?;
        let seq = msg.get("seq").and_then(Value::as_u64).unwrap_or(0);
        let b64 = |field: &str| -> Vec<u8> {
            msg.get(field)
                .and_then(Value::as_str)
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                .unwrap_or_default()
        };
        let hdrs = String::from_utf8_lossy(&b64("hdrs")).into_owned();
        Ok(Some((seq, hdrs, b64("data"))))
    }
}

/// A key-value bucket: a stream `KV_<name>` keeping the last value of
/// each key (subject `$KV.<name>.<key>`), as NATS's own KV lays it out.
#[derive(Clone)]
pub struct Bucket {
    js: Js,
    name: String,
}

/// One key's current value and its revision (the stream sequence that
/// wrote it), for a revision-checked update or delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub value: Vec<u8>,
    pub revision: u64,
}

/// Why a write to a bucket did not happen.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// Someone else wrote the key first (create: it exists; update or
    /// delete: its revision moved on).
    #[error("the key was written by someone else first")]
    Lost,
    #[error(transparent)]
    Js(#[from] JsError),
}

impl Bucket {
    /// Opens the bucket, making it if needed; `max_age` bounds how long a
    /// value lives (zero: for ever).
    pub async fn open(
        js: &Js,
        name: &str,
        replicas: usize,
        max_age: Duration,
    ) -> Result<Bucket, JsError> {
        js.ensure_stream(json!({
            "name": format!("KV_{name}"),
            "subjects": [format!("$KV.{name}.>")],
            "retention": "limits",
            "max_msgs_per_subject": 1,
            "max_age": max_age.as_nanos() as u64,
            "discard": "new",
            "storage": "file",
            "num_replicas": replicas.max(1),
            "allow_rollup_hdrs": true,
            "deny_delete": true,
            "allow_direct": true,
        }))
        .await?;
        Ok(Bucket {
            js: js.clone(),
            name: name.to_string(),
        })
    }

    fn subject(&self, key: &str) -> String {
        format!("$KV.{}.{key}", self.name)
    }

    /// Every key written in the bucket (deleted ones included: their
    /// last word is a deletion), from the stream's subjects.
    pub async fn keys(&self) -> Result<Vec<String>, JsError> {
        let stream = format!("KV_{}", self.name);
        let prefix = format!("$KV.{}.", self.name);
        let mut keys = Vec::new();
        let mut offset = 0u64;
        loop {
            let body = json!({ "subjects_filter": format!("{prefix}>"), "offset": offset });
            let v = self
                .js
                .request(
                    format!("$JS.API.STREAM.INFO.{stream}"),
                    None,
                    Bytes::from(body.to_string()),
                )
                .await?;
            let subjects = v
                .pointer("/state/subjects")
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default();
            let got = subjects.len() as u64;
            keys.extend(
                subjects
                    .into_iter()
                    .filter_map(|s| s.strip_prefix(&prefix).map(str::to_string)),
            );
            let total = v.get("total").and_then(Value::as_u64).unwrap_or(0);
            offset += got;
            if got == 0 || offset >= total {
                return Ok(keys);
            }
        }
    }

    /// The key's value and revision; `None` when absent or deleted.
    pub async fn get(&self, key: &str) -> Result<Option<Entry>, JsError> {
        let stream = format!("KV_{}", self.name);
        Ok(self
            .js
            .last_on(&stream, &self.subject(key))
            .await?
            .and_then(|(revision, hdrs, value)| {
                (!is_deletion(&hdrs)).then_some(Entry { value, revision })
            }))
    }

    async fn write(
        &self,
        key: &str,
        value: Vec<u8>,
        expect: u64,
        delete: bool,
    ) -> Result<u64, KvError> {
        let mut h = async_nats::HeaderMap::new();
        h.insert(
            "Nats-Expected-Last-Subject-Sequence",
            expect.to_string().as_str(),
        );
        if delete {
            h.insert("KV-Operation", "DEL");
        }
        match self.js.publish(self.subject(key), h, value.into()).await {
            Ok(ack) => Ok(ack.seq),
            Err(JsError::Api { code, .. }) if code == WRONG_LAST_SEQUENCE => Err(KvError::Lost),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes `value` only if the key is absent (never written, or
    /// deleted): of two nodes creating the same key at once, exactly one
    /// succeeds (the stream checks the expected last sequence under its
    /// own lock). Returns the new revision.
    pub async fn create(&self, key: &str, value: Vec<u8>) -> Result<u64, KvError> {
        match self.write(key, value.clone(), 0, false).await {
            Err(KvError::Lost) => {
                // Absent also when the last word on the key is a deletion.
                let stream = format!("KV_{}", self.name);
                match self.js.last_on(&stream, &self.subject(key)).await? {
                    Some((rev, hdrs, _)) if is_deletion(&hdrs) => {
                        self.write(key, value, rev, false).await
                    }
                    _ => Err(KvError::Lost),
                }
            }
            other => other,
        }
    }

    /// Writes `value` only if the key is still at `revision`.
    pub async fn update(&self, key: &str, value: Vec<u8>, revision: u64) -> Result<u64, KvError> {
        self.write(key, value, revision, false).await
    }

    /// Deletes the key only if it is still at `revision`.
    pub async fn delete(&self, key: &str, revision: u64) -> Result<(), KvError> {
        self.write(key, Vec::new(), revision, true)
            .await
            .map(|_| ())
    }
}

fn is_deletion(headers: &str) -> bool {
    headers.lines().any(|l| {
        let l = l.trim();
        l.eq_ignore_ascii_case("KV-Operation: DEL") || l.eq_ignore_ascii_case("KV-Operation: PURGE")
    })
}
