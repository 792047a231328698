//! Stores at object-store URLs: `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix` (and the
//! other spellings object_store knows: `s3a`, `azure`, `abfs`, `abfss`, `adl`).
//!
//! Such a store is read only. echolens's one-writer rule rests on the operating system's file lock, which ends
//! with its holder however it ends; an object store has no lock a killed process gives back, so echolens writes
//! stores on file systems (local or shared) and reads them anywhere: a store folder copied to a bucket as it is
//! (`aws s3 sync`, `gcloud storage rsync`, `azcopy sync`) is a store, its tables' paths being relative.
//!
//! Credentials and endpoints come from the environment, as object_store's builders read them: `AWS_*`
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT_URL`,
//! `AWS_ALLOW_HTTP`), `GOOGLE_*` (`GOOGLE_SERVICE_ACCOUNT`, `GOOGLE_APPLICATION_CREDENTIALS`) and `AZURE_*`
//! (`AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_STORAGE_ACCOUNT_KEY`, `AZURE_STORAGE_SAS_KEY`, ...). Every process that
//! reads the store (a client, each executor of a cluster) needs them.

use std::path::Path;
use std::sync::{Arc, Once};

use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use deltalake::DeltaTable;
use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, ObjectStoreScheme};
use url::Url;

use crate::{Error, Result};

/// The URL schemes of the object stores echolens reads.
const SCHEMES: &[&str] = &["s3", "s3a", "gs", "az", "azure", "abfs", "abfss", "adl"];

/// Whether `scheme` (a URL's, any case) is one of an object store echolens reads.
pub(crate) fn is_object_store_scheme(scheme: &str) -> bool {
    SCHEMES.iter().any(|s| s.eq_ignore_ascii_case(scheme))
}

/// The URL `location` names when it is an object-store URL (`s3://bucket/store`), with a trailing slash;
/// `None` when it is a path. A URL with glob characters is refused: the tables' files are listed by URL.
pub fn store_url(location: &Path) -> Option<Result<Url>> {
    let text = location.to_str()?;
    let (scheme, _) = text.split_once("://")?;
    if !is_object_store_scheme(scheme) {
        return None;
    }
    let bad = || Error::Remote { url: text.to_owned(), reason: "expected SCHEME://BUCKET/PREFIX".into() };
    if text.contains(['*', '?', '[', ']', '{', '}']) {
        return Some(Err(Error::Remote {
            url: text.to_owned(),
            reason: "a store's URL cannot hold glob characters (* ? [ ] { })".into(),
        }));
    }
    let with_slash = if text.ends_with('/') { text.to_owned() } else { format!("{text}/") };
    Some(Url::parse(&with_slash).ok().filter(|u| u.host_str().is_some_and(|h| !h.is_empty())).ok_or_else(bad))
}

/// Whether `location` names an object-store URL rather than a folder.
pub fn is_remote(location: &Path) -> bool {
    store_url(location).is_some()
}

/// The object store that holds `url`, rooted at its bucket (or container), configured from the environment.
pub fn object_store_for(url: &Url) -> Result<Arc<dyn ObjectStore>> {
    use object_store::aws::AmazonS3Builder;
    use object_store::azure::MicrosoftAzureBuilder;
    use object_store::gcp::GoogleCloudStorageBuilder;
    let failed = |e: object_store::Error| Error::Remote { url: url.to_string(), reason: e.to_string() };
    let (scheme, _) = ObjectStoreScheme::parse(url).map_err(|e| failed(e.into()))?;
    let store: Arc<dyn ObjectStore> = match scheme {
        ObjectStoreScheme::AmazonS3 => {
            Arc::new(AmazonS3Builder::from_env().with_url(url.as_str()).build().map_err(failed)?)
        }
        ObjectStoreScheme::GoogleCloudStorage => {
            Arc::new(GoogleCloudStorageBuilder::from_env().with_url(url.as_str()).build().map_err(failed)?)
        }
        ObjectStoreScheme::MicrosoftAzure => {
            Arc::new(MicrosoftAzureBuilder::from_env().with_url(url.as_str()).build().map_err(failed)?)
        }
        other => {
            return Err(Error::Remote {
                url: url.to_string(),
                reason: format!("{other:?} is not an object store echolens reads"),
            });
        }
    };
    Ok(store)
}

/// The part of a URL an engine's registry keys its stores by: `scheme://bucket/`.
pub(crate) fn bucket_url(url: &Url) -> Url {
    let mut bucket = url.clone();
    bucket.set_path("/");
    bucket.set_query(None);
    bucket.set_fragment(None);
    bucket
}

/// A DataFusion object-store registry that makes the store of an `s3://`, `gs://` or `az://` URL from the
/// environment the first time a plan names it (what a cluster's executors need: they are sent file URLs,
/// not stores), and otherwise does what DataFusion's default registry does.
#[derive(Debug, Default)]
pub struct ObjectStores {
    known: DefaultObjectStoreRegistry,
}

impl ObjectStoreRegistry for ObjectStores {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        self.known.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        self.known.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        match self.known.get_store(url) {
            Ok(store) => Ok(store),
            Err(e) if !is_object_store_scheme(url.scheme()) => Err(e),
            Err(_) => {
                let store =
                    object_store_for(url).map_err(|e| datafusion::error::DataFusionError::External(e.into()))?;
                self.known.register_store(&bucket_url(url), Arc::clone(&store));
                Ok(store)
            }
        }
    }
}

/// Delta's log store for the object-store schemes: deltalake registers only `file://` and `memory://` itself.
/// Commits through it use the store's conditional put, but echolens never commits to such a store.
struct LogStores;

impl deltalake::logstore::LogStoreFactory for LogStores {
    fn with_options(
        &self,
        prefixed_store: deltalake::logstore::ObjectStoreRef,
        root_store: deltalake::logstore::ObjectStoreRef,
        location: &Url,
        options: &deltalake::logstore::StorageConfig,
    ) -> deltalake::DeltaResult<Arc<dyn deltalake::logstore::LogStore>> {
        Ok(deltalake::logstore::default_logstore(prefixed_store, root_store, location, options))
    }
}

fn register_log_stores() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let factories = deltalake::logstore::logstore_factories();
        for scheme in SCHEMES {
            let url = Url::parse(&format!("{scheme}://")).expect("a scheme makes a URL");
            factories.entry(url).or_insert_with(|| Arc::new(LogStores));
        }
    });
}

/// An opened store at an object-store URL.
pub(crate) struct Remote {
    /// The store's URL, with a trailing slash.
    pub(crate) url: Url,
    /// The bucket's store.
    pub(crate) store: Arc<dyn ObjectStore>,
    /// The pseudonymisation key, read when the store was opened (`None`: the store has none).
    pub(crate) key: Option<String>,
}

impl Remote {
    /// Connect to the store at `url` (`given` as the user wrote it) and check that it is one.
    pub(crate) async fn connect(url: Url, given: &Path) -> Result<Remote> {
        register_log_stores();
        let store = object_store_for(&url)?;
        let mut remote = Remote { url, store, key: None };
        let meta = remote.read(crate::META_FILE).await?.ok_or_else(|| Error::Remote {
            url: given.display().to_string(),
            reason: "not an echolens store (no echolens.json); copy a store's folder there as it is".into(),
        })?;
        crate::check_meta_text(&remote.display(crate::META_FILE), &meta)?;
        remote.key = remote.read(crate::KEY_FILE).await?;
        Ok(remote)
    }

    /// The object `name` (`/`-separated) of the store: its prefix is the URL's path, percent-decoded.
    fn object(&self, name: &str) -> ObjectPath {
        let prefix = ObjectPath::from_url_path(self.url.path()).unwrap_or_default();
        prefix.parts().chain(ObjectPath::from(name).parts()).collect()
    }

    /// `name`'s URL, to name it in errors.
    pub(crate) fn display(&self, name: &str) -> std::path::PathBuf {
        std::path::PathBuf::from(format!("{}{name}", self.url))
    }

    fn error(&self, name: &str, e: &object_store::Error) -> Error {
        Error::Remote { url: format!("{}{name}", self.url), reason: e.to_string() }
    }

    /// The text of the store's file `name`; `None` when there is none.
    async fn read(&self, name: &str) -> Result<Option<String>> {
        match self.store.get(&self.object(name)).await {
            Ok(got) => {
                let bytes = got.bytes().await.map_err(|e| self.error(name, &e))?;
                let text = String::from_utf8(bytes.to_vec())
                    .map_err(|_| Error::Meta(self.display(name), "expected UTF-8 text".into()))?;
                Ok(Some(text))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(name, &e)),
        }
    }

    /// Whether the store has the table `name` (a store made before the table existed has not).
    pub(crate) async fn has_table(&self, name: &str) -> Result<bool> {
        let log = self.object(&format!("{name}/_delta_log"));
        match self.store.list(Some(&log)).next().await {
            None => Ok(false),
            Some(Ok(_)) => Ok(true),
            Some(Err(e)) => Err(self.error(&format!("{name}/_delta_log"), &e)),
        }
    }

    /// Open the table `name`, which must exist.
    pub(crate) async fn open_table(&self, name: &str) -> Result<DeltaTable> {
        let url = self.url.join(&format!("{name}/")).map_err(|e| Error::Remote {
            url: self.url.to_string(),
            reason: format!("cannot name its table {name}: {e}"),
        })?;
        let table = deltalake::DeltaTableBuilder::from_url(url.clone())?
            .with_storage_backend(Arc::clone(&self.store), url.clone())
            .load()
            .await?;
        if table.version().is_none() {
            return Err(Error::Meta(
                self.display(name),
                "this table of the store has no commit; it was never created".into(),
            ));
        }
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_store_urls_are_told_from_paths() {
        let url = |s: &str| store_url(Path::new(s)).map(|r| r.map(|u| u.to_string()).map_err(|e| e.to_string()));
        assert_eq!(url("s3://bucket/stores/ira"), Some(Ok("s3://bucket/stores/ira/".to_owned())));
        assert_eq!(url("gs://bucket/"), Some(Ok("gs://bucket/".to_owned())));
        assert_eq!(url("az://container/a b"), Some(Ok("az://container/a%20b/".to_owned())));
        // Paths, however they look, are paths; a scheme echolens does not read is one too.
        for path in ["echolens-store", "/data/s3/store", "./s3:/x", "http://host/store", "s3:/bucket/x", "C:\\store"] {
            assert_eq!(url(path), None, "{path}");
        }
        let err = url("s3://bucket/st*re").unwrap().unwrap_err();
        assert!(err.contains("glob"), "{err}");
        let err = url("s3:///prefix").unwrap().unwrap_err();
        assert!(err.contains("SCHEME://BUCKET/PREFIX"), "{err}");
        assert!(is_remote(Path::new("abfss://fs@account.dfs.core.windows.net/store")));
    }

    #[test]
    fn the_registry_makes_a_buckets_store_once_and_leaves_other_urls_alone() {
        let registry = ObjectStores::default();
        let file = Url::parse("file:///tmp/x.parquet").unwrap();
        assert!(registry.get_store(&file).is_ok(), "the local file system, as DataFusion's registry");
        let unknown = Url::parse("hdfs://host/x").unwrap();
        assert!(registry.get_store(&unknown).is_err());
        // Made from the environment (no request is sent until a file is read), then kept for the bucket.
        let a = registry.get_store(&Url::parse("s3://bucket/a/x.parquet").unwrap()).unwrap();
        let b = registry.get_store(&Url::parse("s3://bucket/b/y.parquet").unwrap()).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "one store per bucket");
        let other = registry.get_store(&Url::parse("s3://other/y.parquet").unwrap()).unwrap();
        assert!(!Arc::ptr_eq(&a, &other));
    }
}
