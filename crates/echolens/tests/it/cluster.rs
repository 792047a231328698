//! `analyze --cluster` on a real Ballista cluster: a scheduler and two executors started as separate processes
//! on 127.0.0.1 with `echolens cluster`, on ephemeral ports. The results equal a local run's, table for table;
//! an executor killed during a run costs the run nothing or fails it with an error, never a partial report.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{analyze_outputs, assert_same_outputs, demo_sides, echolens, run};

/// A port nothing listens on, and (for an executor, whose task service takes the next one) the one after it.
fn free_port(pair: bool) -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if !pair || port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

/// The cluster's processes, stopped when dropped.
pub(crate) struct Cluster {
    pub(crate) url: String,
    scheduler: Child,
    executors: Vec<Child>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.executors.iter_mut().chain([&mut self.scheduler]) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn(cmd: &mut Command, log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    cmd.stdout(Stdio::null()).stderr(log).spawn().expect("start echolens")
}

/// A scheduler and `executors` executors, each with its log under `dir`; ready once the scheduler accepts
/// connections (executors register as they start; jobs wait for them).
fn start(dir: &Path, executors: usize) -> Cluster {
    start_with(dir, executors, &[])
}

/// [`start`], each process with the environment variables `env` set.
pub(crate) fn start_with(dir: &Path, executors: usize, env: &[(String, String)]) -> Cluster {
    let port = free_port(false);
    let scheduler = spawn(
        echolens().envs(env.iter().map(|(k, v)| (k, v))).args([
            "cluster",
            "scheduler",
            "--port",
            &port.to_string(),
            "--executor-timeout",
            "6",
        ]),
        &dir.join("scheduler.log"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the scheduler did not listen: {}", log(dir, "scheduler.log"));
        std::thread::sleep(Duration::from_millis(100));
    }
    let executors = (0..executors)
        .map(|i| {
            let work = dir.join(format!("executor{i}"));
            std::fs::create_dir_all(&work).unwrap();
            spawn(
                echolens()
                    .envs(env.iter().map(|(k, v)| (k, v)))
                    .args(["cluster", "executor", "--scheduler", &format!("127.0.0.1:{port}")])
                    .args(["--port", &free_port(true).to_string(), "--concurrent-tasks", "2", "--work-dir"])
                    .arg(&work),
                &dir.join(format!("executor{i}.log")),
            )
        })
        .collect();
    Cluster { url: format!("df://127.0.0.1:{port}"), scheduler, executors }
}

/// The jobs executor `i` has run a task of (each leaves a folder in its work folder).
pub(crate) fn jobs(dir: &Path, i: usize) -> usize {
    std::fs::read_dir(dir.join(format!("executor{i}"))).map_or(0, |entries| entries.count())
}

pub(crate) fn log(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

/// `analyze` of the demo corpus into `out`, with its store beside it under a fixed pseudonymisation key so
/// that two runs' pseudonyms compare; days in Tehran's time (a function made from a parameter, which the
/// cluster's processes are sent) and the demo's two sides compared.
fn analyze(dir: &Path, name: &str, cluster: Option<&str>) -> Command {
    let store = dir.join(format!("{name}-store"));
    std::fs::create_dir_all(&store).unwrap();
    std::fs::write(store.join("pseudonym.key"), format!("{:064}\n", 7)).unwrap();
    let mut cmd = echolens();
    cmd.arg("analyze").arg("--out").arg(dir.join(name)).arg("--store").arg(&store).args(["--tz", "Asia/Tehran"]);
    cmd.args(demo_sides());
    if let Some(url) = cluster {
        cmd.args(["--cluster", url]);
    }
    cmd
}

#[test]
fn analyze_on_a_cluster_equals_the_local_run() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = start(dir.path(), 2);
    run(&mut analyze(dir.path(), "local", None));
    let out = analyze(dir.path(), "cluster", Some(&cluster.url)).output().unwrap();
    assert!(
        out.status.success(),
        "analyze --cluster failed:\n{}\nscheduler:\n{}",
        String::from_utf8_lossy(&out.stderr),
        log(dir.path(), "scheduler.log")
    );
    let local = analyze_outputs(&dir.path().join("local"));
    assert!(local.len() > 30, "{}", local.len());
    assert!(local.iter().any(|(p, _)| p.starts_with("sides")), "sides compared too");
    assert_same_outputs(&local, &analyze_outputs(&dir.path().join("cluster")), "local and cluster");
    // Keyness of the whole store, its words and phrases counted on the executors, equals the local count.
    let keyness = |name: &str, cluster: Option<&str>| {
        let mut cmd = echolens();
        cmd.args(["keyness", "--target", "platform=telegram", "--ngrams", "1..3", "--min-count", "3", "--store"])
            .arg(dir.path().join("cluster-store"))
            .arg("--out")
            .arg(dir.path().join(name));
        if let Some(url) = cluster {
            cmd.args(["--cluster", url]);
        }
        run(&mut cmd);
        std::fs::read(dir.path().join(name).join("terms.csv")).unwrap()
    };
    let local_terms = keyness("keyness-local", None);
    assert!(local_terms.split(|&b| b == b'\n').count() > 100);
    assert!(local_terms.split(|&b| b == b'\n').any(|l| l.ends_with(b",3")), "three-word phrases were counted");
    assert!(local_terms == keyness("keyness-cluster", Some(&cluster.url)), "keyness on the cluster differs");
    // And week by week (a fold of the (week, word) counts on the executors).
    let by_week = |name: &str, cluster: Option<&str>| {
        let mut cmd = echolens();
        cmd.args(["keyness", "--by", "week", "--store"])
            .arg(dir.path().join("cluster-store"))
            .arg("--out")
            .arg(dir.path().join(name));
        if let Some(url) = cluster {
            cmd.args(["--cluster", url]);
        }
        run(&mut cmd);
        std::fs::read(dir.path().join(name).join("terms_by.csv")).unwrap()
    };
    let local_weeks = by_week("by-week-local", None);
    assert!(local_weeks.split(|&b| b == b'\n').count() > 20);
    assert!(local_weeks == by_week("by-week-cluster", Some(&cluster.url)), "keyness by week on the cluster differs");
    // The plans ran on the executors: both kept intermediate results of jobs in their work folders.
    for i in 0..2 {
        assert!(jobs(dir.path(), i) > 0, "executor {i} ran no task:\n{}", log(dir.path(), &format!("executor{i}.log")));
    }
}

#[test]
fn a_lost_executor_fails_the_run_cleanly_or_costs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = start(dir.path(), 2);
    let mut child = spawn(&mut analyze(dir.path(), "cluster", Some(&cluster.url)), &dir.path().join("analyze.log"));
    // Once the analyses are under way (executor 0 has run tasks of a few jobs), executor 0 goes.
    let deadline = Instant::now() + Duration::from_secs(120);
    while jobs(dir.path(), 0) < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(child.try_wait().unwrap().is_none(), "the run was still going when the executor was killed");
    cluster.executors[0].kill().unwrap();
    cluster.executors[0].wait().unwrap();
    // The run ends either way, and within minutes: a lost executor never leaves it waiting.
    let deadline = Instant::now() + Duration::from_secs(600);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("analyze --cluster still running 10 minutes after an executor was lost");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = child.wait().unwrap();
    let report = dir.path().join("cluster/report.html");
    if status.success() {
        eprintln!("the run completed without the lost executor");
        run(&mut analyze(dir.path(), "local", None));
        assert_same_outputs(
            &analyze_outputs(&dir.path().join("local")),
            &analyze_outputs(&dir.path().join("cluster")),
            "a local run and a cluster run that lost an executor",
        );
    } else {
        let stderr = log(dir.path(), "analyze.log");
        eprintln!("the run failed: {stderr}");
        assert!(stderr.contains("the run on the cluster at df://127.0.0.1:"), "says where it failed:\n{stderr}");
        assert!(stderr.contains("no report was written"), "{stderr}");
        assert!(stderr.contains("executor"), "the error names the lost executor:\n{stderr}");
        assert!(!report.exists(), "no report from a failed run");
    }
}
