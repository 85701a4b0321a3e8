//! The Kubernetes KMS v2 gRPC API (`k8s.io/kms/apis/v2`, package `v2`,
//! service `KeyManagementService`) written by hand: the prost messages of
//! `proto/api.proto` and the tonic glue a code generator would write (a
//! server that routes the three methods, and a client). No protoc and no
//! build script; the test at the bottom checks every field's name and
//! number against `proto/api.proto`.
//!
//! The two messages that carry a plaintext (the DEK seed kube-apiserver asks
//! to wrap) zeroize it on drop and print `[redacted]` in `Debug`.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::codegen::{http, Body, BoxFuture, StdError};
use zeroize::Zeroize as _;

/// The gRPC service name (`package.Service`).
pub const SERVICE_NAME: &str = "v2.KeyManagementService";
pub const STATUS_PATH: &str = "/v2.KeyManagementService/Status";
pub const ENCRYPT_PATH: &str = "/v2.KeyManagementService/Encrypt";
pub const DECRYPT_PATH: &str = "/v2.KeyManagementService/Decrypt";

#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusRequest {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusResponse {
    #[prost(string, tag = "1")]
    pub version: String,
    #[prost(string, tag = "2")]
    pub healthz: String,
    #[prost(string, tag = "3")]
    pub key_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DecryptRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub ciphertext: Vec<u8>,
    #[prost(string, tag = "2")]
    pub uid: String,
    #[prost(string, tag = "3")]
    pub key_id: String,
    #[prost(map = "string, bytes", tag = "4")]
    pub annotations: HashMap<String, Vec<u8>>,
}

/// Holds a plaintext: no Clone, no derived Debug, zeroized on drop.
#[derive(prost::Message)]
#[prost(skip_debug)]
pub struct DecryptResponse {
    #[prost(bytes = "vec", tag = "1")]
    pub plaintext: Vec<u8>,
}

/// Holds a plaintext: no Clone, no derived Debug, zeroized on drop.
#[derive(prost::Message)]
#[prost(skip_debug)]
pub struct EncryptRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub plaintext: Vec<u8>,
    #[prost(string, tag = "2")]
    pub uid: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EncryptResponse {
    #[prost(bytes = "vec", tag = "1")]
    pub ciphertext: Vec<u8>,
    #[prost(string, tag = "2")]
    pub key_id: String,
    #[prost(map = "string, bytes", tag = "3")]
    pub annotations: HashMap<String, Vec<u8>>,
}

impl Drop for DecryptResponse {
    fn drop(&mut self) {
        self.plaintext.zeroize();
    }
}

impl Drop for EncryptRequest {
    fn drop(&mut self) {
        self.plaintext.zeroize();
    }
}

impl std::fmt::Debug for DecryptResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptResponse")
            .field("plaintext", &"[redacted]")
            .finish()
    }
}

impl std::fmt::Debug for EncryptRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptRequest")
            .field("plaintext", &"[redacted]")
            .field("uid", &self.uid)
            .finish()
    }
}

/// What a KMS v2 plugin implements (the server side of the service).
pub trait KeyManagementService: Send + Sync + 'static {
    fn status(
        &self,
        request: tonic::Request<StatusRequest>,
    ) -> impl Future<Output = Result<tonic::Response<StatusResponse>, tonic::Status>> + Send;
    fn decrypt(
        &self,
        request: tonic::Request<DecryptRequest>,
    ) -> impl Future<Output = Result<tonic::Response<DecryptResponse>, tonic::Status>> + Send;
    fn encrypt(
        &self,
        request: tonic::Request<EncryptRequest>,
    ) -> impl Future<Output = Result<tonic::Response<EncryptResponse>, tonic::Status>> + Send;
}

/// The tower service tonic's router serves: routes the three method paths
/// to a [`KeyManagementService`], answers any other path `Unimplemented`.
pub struct KeyManagementServiceServer<T> {
    inner: Arc<T>,
    max_decoding_message_size: usize,
}

impl<T> KeyManagementServiceServer<T> {
    /// `max_decoding_message_size`: a larger request message is refused
    /// before it is decoded (tonic answers `OutOfRange`).
    pub fn new(inner: Arc<T>, max_decoding_message_size: usize) -> Self {
        Self {
            inner,
            max_decoding_message_size,
        }
    }
}

impl<T> Clone for KeyManagementServiceServer<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            max_decoding_message_size: self.max_decoding_message_size,
        }
    }
}

impl<T> tonic::server::NamedService for KeyManagementServiceServer<T> {
    const NAME: &'static str = SERVICE_NAME;
}

/// A closure as a tonic unary service.
struct Unary<F>(F);

impl<Req, Res, F, Fut> tonic::server::UnaryService<Req> for Unary<F>
where
    F: FnMut(tonic::Request<Req>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<Res>, tonic::Status>> + Send + 'static,
{
    type Response = Res;
    type Future = Fut;
    fn call(&mut self, request: tonic::Request<Req>) -> Fut {
        (self.0)(request)
    }
}

/// Decodes the request, runs `f`, encodes the answer (or the status).
async fn unary<Req, Res, B, F, Fut>(
    req: http::Request<B>,
    max_decoding_message_size: usize,
    f: F,
) -> http::Response<tonic::body::Body>
where
    Req: prost::Message + Default + Send + 'static,
    Res: prost::Message + Send + 'static,
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
    F: FnMut(tonic::Request<Req>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<Res>, tonic::Status>> + Send + 'static,
{
    let codec = tonic_prost::ProstCodec::<Res, Req>::default();
    let mut grpc =
        tonic::server::Grpc::new(codec).max_decoding_message_size(max_decoding_message_size);
    grpc.unary(Unary(f), req).await
}

impl<T, B> tonic::codegen::Service<http::Request<B>> for KeyManagementServiceServer<T>
where
    T: KeyManagementService,
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let inner = Arc::clone(&self.inner);
        let max = self.max_decoding_message_size;
        match req.uri().path() {
            STATUS_PATH => Box::pin(async move {
                Ok(unary(req, max, move |r| {
                    let s = Arc::clone(&inner);
                    async move { s.status(r).await }
                })
                .await)
            }),
            ENCRYPT_PATH => Box::pin(async move {
                Ok(unary(req, max, move |r| {
                    let s = Arc::clone(&inner);
                    async move { s.encrypt(r).await }
                })
                .await)
            }),
            DECRYPT_PATH => Box::pin(async move {
                Ok(unary(req, max, move |r| {
                    let s = Arc::clone(&inner);
                    async move { s.decrypt(r).await }
                })
                .await)
            }),
            _ => Box::pin(async move {
                let mut response = http::Response::new(tonic::body::Body::default());
                let headers = response.headers_mut();
                headers.insert(
                    tonic::Status::GRPC_STATUS,
                    (tonic::Code::Unimplemented as i32).into(),
                );
                headers.insert(
                    http::header::CONTENT_TYPE,
                    tonic::metadata::GRPC_CONTENT_TYPE,
                );
                Ok(response)
            }),
        }
    }
}

/// A client of the service over a unix socket: what kube-apiserver does,
/// for the tests and for `strongroom kms-plugin check`.
pub struct KeyManagementServiceClient {
    inner: tonic::client::Grpc<tonic::transport::Channel>,
}

impl KeyManagementServiceClient {
    /// Connects to the plugin's unix socket.
    pub async fn connect_unix(socket: impl Into<PathBuf>) -> Result<Self, tonic::transport::Error> {
        let socket: PathBuf = socket.into();
        // The URI is required and ignored: the connector dials the socket.
        let channel = tonic::transport::Endpoint::from_static("http://[::]:50051")
            .connect_with_connector(tower::service_fn(move |_: http::Uri| {
                let socket = socket.clone();
                async move {
                    let stream = tokio::net::UnixStream::connect(socket).await?;
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
                }
            }))
            .await?;
        Ok(Self {
            inner: tonic::client::Grpc::new(channel),
        })
    }

    async fn unary<Req, Res>(&mut self, req: Req, path: &'static str) -> Result<Res, tonic::Status>
    where
        Req: prost::Message + Send + Sync + 'static,
        Res: prost::Message + Default + Send + Sync + 'static,
    {
        self.inner
            .ready()
            .await
            .map_err(|e| tonic::Status::unavailable(format!("the plugin is not ready: {e}")))?;
        let codec = tonic_prost::ProstCodec::<Req, Res>::default();
        let path = http::uri::PathAndQuery::from_static(path);
        Ok(self
            .inner
            .unary(tonic::Request::new(req), path, codec)
            .await?
            .into_inner())
    }

    pub async fn status(&mut self) -> Result<StatusResponse, tonic::Status> {
        self.unary(StatusRequest {}, STATUS_PATH).await
    }

    pub async fn encrypt(&mut self, req: EncryptRequest) -> Result<EncryptResponse, tonic::Status> {
        self.unary(req, ENCRYPT_PATH).await
    }

    pub async fn decrypt(&mut self, req: DecryptRequest) -> Result<DecryptResponse, tonic::Status> {
        self.unary(req, DECRYPT_PATH).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use prost::Message as _;
    use std::collections::BTreeMap;

    /// `message NAME { TYPE FIELD = N; }` of proto/api.proto:
    /// message → field → (type, number).
    fn reference() -> BTreeMap<String, BTreeMap<String, (String, u32)>> {
        let text = include_str!("../proto/api.proto");
        let mut out = BTreeMap::new();
        let mut current: Option<String> = None;
        for line in text.lines().map(|l| l.split("//").next().unwrap().trim()) {
            if let Some(rest) = line.strip_prefix("message ") {
                let name = rest.split_whitespace().next().unwrap().to_string();
                out.insert(name.clone(), BTreeMap::new());
                // `message StatusRequest {}` opens and closes on one line.
                current = (!rest.contains('}')).then_some(name);
            } else if line == "}" {
                current = None;
            } else if let (Some(m), Some((decl, num))) = (&current, line.split_once('=')) {
                let (ty, field) = decl.trim().rsplit_once(' ').unwrap();
                let num = num.trim().trim_end_matches(';').parse().unwrap();
                out.get_mut(m)
                    .unwrap()
                    .insert(field.to_string(), (ty.to_string(), num));
            }
        }
        out
    }

    /// The top-level fields of an encoded message: number → (wire type, bytes).
    fn wire(mut b: &[u8]) -> BTreeMap<u32, Vec<(u8, Vec<u8>)>> {
        let mut out: BTreeMap<u32, Vec<(u8, Vec<u8>)>> = BTreeMap::new();
        while !b.is_empty() {
            let key = prost::encoding::decode_varint(&mut b).unwrap();
            let (num, wt) = ((key >> 3) as u32, (key & 7) as u8);
            assert_eq!(wt, 2, "only length-delimited fields in this API");
            let len = prost::encoding::decode_varint(&mut b).unwrap() as usize;
            out.entry(num).or_default().push((wt, b[..len].to_vec()));
            b = &b[len..];
        }
        out
    }

    /// Each field of `encoded` carries the value named after the field in
    /// the reference: `field` → the bytes set in the Rust struct.
    fn check(message: &str, encoded: Vec<u8>, set: &[(&str, &[u8])]) {
        let reference = reference();
        let fields = &reference[message];
        assert_eq!(fields.len(), set.len(), "{message}: field count");
        let w = wire(&encoded);
        for (field, value) in set {
            let (ty, num) = fields
                .get(*field)
                .unwrap_or_else(|| panic!("{message}.{field} is not in proto/api.proto"));
            let got = &w[num];
            if ty.starts_with("map<") {
                // A map entry is a message: key = 1, value = 2.
                let entry = wire(&got[0].1);
                assert_eq!(entry[&1][0].1, b"k.example.com", "{message}.{field} key");
                assert_eq!(&entry[&2][0].1, value, "{message}.{field} value");
            } else {
                assert_eq!(&got[0].1, value, "{message}.{field} (= {num})");
            }
        }
    }

    #[test]
    fn matches_the_reference_proto() {
        let r = reference();
        assert_eq!(
            r.keys().collect::<Vec<_>>(),
            [
                "DecryptRequest",
                "DecryptResponse",
                "EncryptRequest",
                "EncryptResponse",
                "StatusRequest",
                "StatusResponse"
            ]
        );
        assert!(r["StatusRequest"].is_empty());
        assert!(StatusRequest {}.encode_to_vec().is_empty());
        let status = StatusResponse {
            version: "v".into(),
            healthz: "h".into(),
            key_id: "k".into(),
        };
        check(
            "StatusResponse",
            status.encode_to_vec(),
            &[("version", b"v"), ("healthz", b"h"), ("key_id", b"k")],
        );
        let ann = HashMap::from([("k.example.com".to_string(), b"a".to_vec())]);
        let d = DecryptRequest {
            ciphertext: b"c".to_vec(),
            uid: "u".into(),
            key_id: "k".into(),
            annotations: ann.clone(),
        };
        check(
            "DecryptRequest",
            d.encode_to_vec(),
            &[
                ("ciphertext", b"c"),
                ("uid", b"u"),
                ("key_id", b"k"),
                ("annotations", b"a"),
            ],
        );
        let d = DecryptResponse {
            plaintext: b"p".to_vec(),
        };
        check("DecryptResponse", d.encode_to_vec(), &[("plaintext", b"p")]);
        let e = EncryptRequest {
            plaintext: b"p".to_vec(),
            uid: "u".into(),
        };
        check(
            "EncryptRequest",
            e.encode_to_vec(),
            &[("plaintext", b"p"), ("uid", b"u")],
        );
        let e = EncryptResponse {
            ciphertext: b"c".to_vec(),
            key_id: "k".into(),
            annotations: ann,
        };
        check(
            "EncryptResponse",
            e.encode_to_vec(),
            &[
                ("ciphertext", b"c"),
                ("key_id", b"k"),
                ("annotations", b"a"),
            ],
        );
        // The three methods, named as the service declares them.
        let text = include_str!("../proto/api.proto");
        assert!(text.contains("package v2;"));
        assert!(text.contains("service KeyManagementService {"));
        for (path, rpc) in [
            (
                STATUS_PATH,
                "rpc Status(StatusRequest) returns (StatusResponse)",
            ),
            (
                ENCRYPT_PATH,
                "rpc Encrypt(EncryptRequest) returns (EncryptResponse)",
            ),
            (
                DECRYPT_PATH,
                "rpc Decrypt(DecryptRequest) returns (DecryptResponse)",
            ),
        ] {
            assert!(text.contains(rpc), "{rpc}");
            let method = rpc[4..].split('(').next().unwrap();
            assert_eq!(path, format!("/{SERVICE_NAME}/{method}"));
        }
    }

    #[test]
    fn plaintexts_are_not_printed() {
        let e = EncryptRequest {
            plaintext: b"canary-seed".to_vec(),
            uid: "u1".into(),
        };
        let d = DecryptResponse {
            plaintext: b"canary-seed".to_vec(),
        };
        for s in [format!("{e:?}"), format!("{d:?}")] {
            assert!(!s.contains("canary"), "{s}");
            assert!(s.contains("[redacted]"), "{s}");
        }
        // And they decode as usual.
        let back = EncryptRequest::decode(e.encode_to_vec().as_slice()).unwrap();
        assert_eq!(back.plaintext, b"canary-seed");
        assert_eq!(back.uid, "u1");
    }
}
