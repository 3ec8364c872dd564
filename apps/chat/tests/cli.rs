//! The binary's command line: the flags `--help` lists, the Redis flag's clear
//! refusal until sockio has a Redis adapter, a bad database URL.

use std::process::Command;

fn chat() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sockio-chat"))
}

#[test]
fn help_lists_the_flags_and_their_environment_variables() {
    let out = chat().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--port",
        "[env: PORT=]",
        "--database-url",
        "[env: DATABASE_URL=]",
        "sqlite://chat.db",
        "--redis-url",
        "[env: REDIS_URL=]",
        "--max-message-chars",
        "[default: 2000]",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

#[test]
fn an_unreachable_redis_is_refused_with_a_clear_error() {
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let out = chat()
        .current_dir(dir.path())
        .env("REDIS_URL", format!("redis://127.0.0.1:{port}"))
        .env("PORT", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "cannot connect to Redis at redis://127.0.0.1:{port}"
        )),
        "{err}"
    );
}

#[test]
fn a_bad_database_url_is_refused_with_a_clear_error() {
    let out = chat()
        .args(["--database-url", "mysql://localhost/x", "--port", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unsupported database URL"), "{err}");
}
