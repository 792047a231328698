//! A store read from an object-store URL. A store folder copied to S3 as it is (moto's S3 server on 127.0.0.1
//! stands in for S3; `.ci/peers.sh` installs it beside the peers) is analysed there with the local run's
//! results, on this machine and on a cluster whose processes read it themselves; writing to such a store is
//! refused with the way to do it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{analyze_outputs, assert_same_outputs, echolens, run};

const BUCKET: &str = "echolens-test";

/// moto's S3 server, stopped when dropped.
struct S3 {
    child: Child,
    endpoint: String,
    python: PathBuf,
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl S3 {
    fn start(python: &Path, dir: &Path) -> S3 {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = std::fs::File::create(dir.join("moto.log")).unwrap();
        let child = Command::new(python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start moto's server");
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto did not listen: {}",
                std::fs::read_to_string(dir.join("moto.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        S3 { child, endpoint: format!("http://127.0.0.1:{port}"), python: python.to_owned() }
    }

    /// What every echolens process that reads the store is given.
    fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// Copy `folder` to `s3://BUCKET/prefix/` file by file, as `aws s3 sync` would, leaving out `skip`.
    fn upload(&self, folder: &Path, prefix: &str, skip: &[&str]) {
        let script = r#"
import os, sys, boto3
endpoint, bucket, folder, prefix, skip = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                  region_name="us-east-1")
if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
    s3.create_bucket(Bucket=bucket)
n = 0
for root, _, files in os.walk(folder):
    for name in files:
        path = os.path.join(root, name)
        rel = os.path.relpath(path, folder).replace(os.sep, "/")
        if rel in skip:
            continue
        s3.upload_file(path, bucket, prefix + "/" + rel)
        n += 1
print(n)
"#;
        let out = Command::new(&self.python)
            .arg("-c")
            .arg(script)
            .args([&self.endpoint, BUCKET])
            .arg(folder)
            .arg(prefix)
            .args(skip)
            .output()
            .unwrap();
        assert!(out.status.success(), "upload failed: {}", String::from_utf8_lossy(&out.stderr));
        let files: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert!(files > 5, "{files} files uploaded");
    }
}

/// `analyze` of the store `store` into `dir/name` (no input: a store at a URL is analysed as it is).
fn analyze(dir: &Path, name: &str, store: &str, env: &[(String, String)], cluster: Option<&str>) -> Command {
    let mut cmd = echolens();
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd.arg("analyze").arg("--out").arg(dir.join(name)).args(["--store", store, "--tz", "Asia/Tehran"]);
    if let Some(url) = cluster {
        cmd.args(["--cluster", url]);
    }
    cmd
}

/// [`analyze_outputs`] without what only an ingest says (the local run ingested the demo corpus; a run on a
/// store at a URL ingests nothing).
fn outputs_but_ingest(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut outputs = analyze_outputs(dir);
    for (path, bytes) in &mut outputs {
        if path == Path::new("summary.json") {
            let mut v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            let map = v.as_object_mut().unwrap();
            assert!(map.remove("demo").is_some() && map.remove("ingest").is_some(), "summary.json says both");
            *bytes = v.to_string().into_bytes();
        }
    }
    outputs
}

#[test]
fn a_store_copied_to_s3_is_analysed_there_as_it_is() {
    let Some(python) = crate::common::peer_python("moto[server]") else { return };
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let s3 = S3::start(&python, dir);
    let env = s3.env();

    // The demo corpus analysed into a local store under a fixed key, so that the runs' pseudonyms compare.
    let local_store = dir.join("local-store");
    std::fs::create_dir_all(&local_store).unwrap();
    std::fs::write(local_store.join("pseudonym.key"), format!("{:064}\n", 7)).unwrap();
    let mut local = echolens();
    local.arg("analyze").arg("--out").arg(dir.join("local")).arg("--store").arg(&local_store);
    run(local.args(["--tz", "Asia/Tehran"]));
    // A folder name with a space, as users name them: the URL says `%20`, the objects' names a space.
    s3.upload(&local_store, "stores/demo 1", &["echolens.lock"]);
    let url = format!("s3://{BUCKET}/stores/demo 1");

    let remote = analyze(dir, "remote", &url, &env, None).output().unwrap();
    assert!(remote.status.success(), "analyze of {url} failed:\n{}", String::from_utf8_lossy(&remote.stderr));
    let expected = outputs_but_ingest(&dir.join("local"));
    assert!(expected.len() > 30, "{}", expected.len());
    assert_same_outputs(&expected, &outputs_but_ingest(&dir.join("remote")), "a local store and its copy on S3");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("remote/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["ingest"]["records"], 0, "nothing was ingested");
    assert_eq!(summary["demo"], false);

    // A command of its own reads it too: the store's figures are the local store's.
    let stats = |store: &str| {
        let out = run(echolens().envs(env.iter().map(|(k, v)| (k, v))).args(["stats", "--json", "--store", store]));
        let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v.as_object_mut().unwrap().remove("store");
        v
    };
    let local_stats = stats(local_store.to_str().unwrap());
    assert!(local_stats["messages"].as_u64().unwrap() > 1000, "{local_stats}");
    assert_eq!(stats(&url), local_stats);

    // Nothing writes to it: an import is refused before anything is read or written.
    let input = dir.join("local/demo-corpus");
    let out = echolens()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .arg("ingest")
        .arg(&input)
        .args(["--store", &url])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("only reads") && stderr.contains("aws s3 sync"), "{stderr}");
    assert_eq!(stats(&url), local_stats, "the store is as it was");

    // Not a store: said so, with what to do (not `ingest`, which a URL refuses).
    let out = echolens()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(["stats", "--store", &format!("s3://{BUCKET}/stores/none")])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("not an echolens store") && stderr.contains("copy a store's folder"),
        "{stderr}"
    );

    // A copy without its pseudonymisation key is refused by whatever would pseudonymise, saying so.
    s3.upload(&local_store, "stores/nokey", &["echolens.lock", "pseudonym.key"]);
    let out = analyze(dir, "nokey", &format!("s3://{BUCKET}/stores/nokey"), &env, None).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("pseudonym"), "{stderr}");
    assert!(!dir.join("nokey/report.html").exists());

    // On a cluster, the scheduler and the executors reach the store themselves, from their environment.
    #[cfg(feature = "cluster")]
    {
        let cluster = crate::cluster::start_with(dir, 2, &env);
        let out = analyze(dir, "remote-cluster", &url, &env, Some(&cluster.url)).output().unwrap();
        assert!(
            out.status.success(),
            "analyze --cluster of {url} failed:\n{}\nscheduler:\n{}",
            String::from_utf8_lossy(&out.stderr),
            crate::cluster::log(dir, "scheduler.log")
        );
        assert_same_outputs(&expected, &outputs_but_ingest(&dir.join("remote-cluster")), "a local run and a cluster's");
        assert!(
            (0..2).map(|i| crate::cluster::jobs(dir, i)).sum::<usize>() > 0,
            "the executors ran no task:\n{}",
            crate::cluster::log(dir, "executor0.log")
        );
    }
}

#[test]
fn writing_to_an_object_store_url_is_refused_with_the_way_to_do_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = crate::common::samples().join("telegram-desktop-tgif");
    for args in [vec!["ingest"], vec!["analyze", "--out"]] {
        let mut cmd = echolens();
        cmd.args(&args);
        if args[0] == "analyze" {
            cmd.arg(dir.path().join("out"));
        }
        let out = cmd.arg(&input).args(["--store", "s3://some-bucket/store"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            stderr.contains("s3://some-bucket/store is at an object-store URL, which echolens only reads")
                && stderr.contains("copy its folder there"),
            "{args:?}: {stderr}"
        );
    }
    let out = echolens().args(["stats", "--store", "s3://some-bucket/st*re"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("glob characters"), "{stderr}");
}
