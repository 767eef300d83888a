//! Blobs in any S3-compatible object store (AWS S3, MinIO, Ceph, ...)
//! through the `object_store` crate, the well-kept choice for this.

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::{BlobEntry, BlobKey, BlobStore};
use crate::{Result, StorageError};

/// Where and how to reach the bucket.
#[derive(Debug, Clone)]
pub struct S3Config {
    pub bucket: String,
    /// e.g. `http://minio:9000`; `None` for AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Keys go under this prefix (may be empty).
    pub prefix: String,
}

impl S3Config {
    /// Parses `s3://bucket/prefix?endpoint=http://host:9000&region=us-east-1`;
    /// credentials come from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`.
    pub fn from_url(url: &str) -> Result<Self> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| {
            StorageError::Blob(format!("blob store URL {url:?} must start with s3://"))
        })?;
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
        if bucket.is_empty() {
            return Err(StorageError::Blob(format!(
                "blob store URL {url:?} names no bucket"
            )));
        }
        let mut config = S3Config {
            bucket: bucket.to_owned(),
            endpoint: None,
            region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
            access_key_id: std::env::var("AWS_ACCESS_KEY_ID").ok(),
            secret_access_key: std::env::var("AWS_SECRET_ACCESS_KEY").ok(),
            prefix: prefix.trim_matches('/').to_owned(),
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "endpoint" => config.endpoint = Some(v.to_owned()),
                "region" => config.region = v.to_owned(),
                other => {
                    return Err(StorageError::Blob(format!(
                        "unknown blob store option {other:?} (use endpoint, region)"
                    )));
                }
            }
        }
        Ok(config)
    }
}

pub struct S3BlobStore {
    store: AmazonS3,
    prefix: String,
}

impl S3BlobStore {
    pub fn new(config: &S3Config) -> Result<Self> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region);
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        if let (Some(id), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
            builder = builder
                .with_access_key_id(id)
                .with_secret_access_key(secret);
        }
        let store = builder
            .build()
            .map_err(|e| StorageError::Blob(format!("S3 configuration: {e}")))?;
        Ok(Self {
            store,
            prefix: config.prefix.clone(),
        })
    }

    fn location(&self, key: &BlobKey) -> ObjectPath {
        ObjectPath::from(self.full(&key.path()))
    }

    fn full(&self, path: &str) -> String {
        if self.prefix.is_empty() {
            path.to_owned()
        } else {
            format!("{}/{path}", self.prefix)
        }
    }
}

fn s3_error(e: object_store::Error) -> StorageError {
    StorageError::Blob(format!("S3: {e}"))
}

#[async_trait]
impl BlobStore for S3BlobStore {
    /// An S3 PUT is durable when it returns.
    async fn put(&self, key: &BlobKey, bytes: Bytes) -> Result<()> {
        self.store
            .put(&self.location(key), PutPayload::from_bytes(bytes))
            .await
            .map_err(s3_error)?;
        Ok(())
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<Bytes>> {
        match self.store.get(&self.location(key)).await {
            Ok(result) => {
                let bytes = result.bytes().await.map_err(s3_error)?;
                super::verified(key, bytes).map(Some)
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(s3_error(e)),
        }
    }

    async fn delete(&self, key: &BlobKey) -> Result<()> {
        match self.store.delete(&self.location(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(s3_error(e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<BlobEntry>> {
        let full = self.full(prefix);
        // Listing takes a folder-like prefix; filter the rest by string.
        let folder = full.rsplit_once('/').map(|(f, _)| f).unwrap_or("");
        let folder = (!folder.is_empty()).then(|| ObjectPath::from(folder));
        let objects: Vec<_> = self
            .store
            .list(folder.as_ref())
            .try_collect()
            .await
            .map_err(s3_error)?;
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        Ok(objects
            .into_iter()
            .filter_map(|meta| {
                let path = meta
                    .location
                    .as_ref()
                    .strip_prefix(strip.as_str())?
                    .to_owned();
                if !path.starts_with(prefix) {
                    return None;
                }
                Some(BlobEntry {
                    key: BlobKey::from_path(&path)?,
                    modified_ms: meta.last_modified.timestamp_millis(),
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let c = S3Config::from_url(
            "s3://samples/studio?endpoint=http://127.0.0.1:9000&region=eu-west-1",
        )
        .unwrap();
        assert_eq!(c.bucket, "samples");
        assert_eq!(c.prefix, "studio");
        assert_eq!(c.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(c.region, "eu-west-1");
        assert!(S3Config::from_url("s3://").is_err());
        assert!(S3Config::from_url("http://x").is_err());
        assert!(S3Config::from_url("s3://b?color=red").is_err());
    }
}
