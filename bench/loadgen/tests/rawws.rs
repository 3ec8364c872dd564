//! End to end: the load generator drives the raw WebSocket peer through every
//! WebSocket scenario for half a second and reports sane results.

use std::io::Read;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(port: u16) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_sockio-rawws"))
        .env("PORT", port.to_string())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sockio-rawws");
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "rawws did not listen"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Server(child)
}

fn loadgen(port: u16, pid: u32, args: &[&str]) -> serde_json::Value {
    let url = format!("http://127.0.0.1:{port}");
    let pid = pid.to_string();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockio-loadgen"));
    cmd.args(args)
        .args([
            "--url",
            &url,
            "--server-pid",
            &pid,
            "--duration",
            "0.5",
            "--warmup",
            "0.2",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    json_result(cmd.spawn().expect("start loadgen"))
}

/// Waits for a loadgen started with `--json` and stdout piped: its one result.
fn json_result(mut child: Child) -> serde_json::Value {
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(child.wait().unwrap().success(), "loadgen failed");
    serde_json::from_str(out.trim()).expect("one JSON result")
}

#[test]
fn scenarios_run_against_rawws() {
    let port = 21077;
    let srv = start(port);
    let pid = srv.0.id();

    let r = loadgen(port, pid, &["echo", "--clients", "4", "--inflight", "2"]);
    assert!(r["messages"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["errors"], 0);
    assert!(r["p99_us"].as_f64().is_some());

    let r = loadgen(port, pid, &["broadcast", "--receivers", "20"]);
    assert!(r["messages"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["lost"], 0, "{r}");

    let r = loadgen(
        port,
        pid,
        &["broadcast", "--receivers", "20", "--rate", "50"],
    );
    assert_eq!(r["scenario"], "broadcast-rate");
    assert_eq!(r["lost"], 0, "{r}");

    let r = loadgen(port, pid, &["idle", "--conns", "50", "--source-addrs", "2"]);
    assert_eq!(r["connections"], 50, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert!(r["rss_per_conn_kib"].as_f64().is_some());
}

/// The split run of bench/cluster.sh --procs: two receiver processes and a
/// sender process, coordinated by the ready and stop files, count every delivery.
#[test]
fn a_broadcast_split_over_processes_counts_every_delivery() {
    let port = 21078;
    let srv = start(port);
    let pid = srv.0.id();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let stop = dir.path().join("stop");
    let receivers: Vec<_> = (0..2)
        .map(|i| {
            let ready = dir.path().join(format!("ready.{i}"));
            let child = Command::new(env!("CARGO_BIN_EXE_sockio-loadgen"))
                .args(["broadcast", "--role", "receivers", "--wall-clock"])
                .args(["--receivers", "15", "--source-addrs", "2", "--url", &url])
                .arg("--ready-file")
                .arg(&ready)
                .arg("--stop-file")
                .arg(&stop)
                .arg("--json")
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("start a receivers process");
            (child, ready)
        })
        .collect();
    let t0 = Instant::now();
    while !receivers.iter().all(|(_, ready)| ready.exists()) {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "receivers not ready"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let s = loadgen(
        port,
        pid,
        &[
            "broadcast",
            "--role",
            "sender",
            "--wall-clock",
            "--rate",
            "40",
        ],
    );
    let sent = s["params"]["sent"].as_u64().unwrap();
    assert!(sent > 0, "{s}");
    std::fs::write(&stop, sent.to_string()).unwrap();
    let mut delivered = 0;
    for (child, _) in receivers {
        let r = json_result(child);
        assert_eq!(r["lost"], 0, "{r}");
        assert_eq!(r["params"]["sent"], sent, "{r}");
        let pairs = r["params"]["latency"].as_array().unwrap();
        let samples: u64 = pairs.iter().map(|p| p[1].as_u64().unwrap()).sum();
        assert_eq!(samples, sent * 15, "one latency per delivery: {r}");
        delivered += r["params"]["delivered"].as_u64().unwrap();
    }
    assert_eq!(delivered, sent * 30);
}
