//! `sockio-chat`: see `--help`, the README and `PROTOCOL.md`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use sockio_chat::{AppConfig, ChatConfig, Store};

/// The chat of the Flask-SocketIO tutorials, on sockio: accounts, rooms with
/// history, live messages, user lists and polls. Open http://127.0.0.1:PORT/.
#[derive(Debug, Parser)]
#[command(name = "sockio-chat", version)]
struct Cli {
    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 3001)]
    port: u16,
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    host: String,
    /// Database: sqlite://FILE (created if missing) or postgres://USER@HOST/DB.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://chat.db")]
    database_url: String,
    /// Redis URL (redis://HOST:PORT), to run several servers as one chat behind
    /// a load balancer; every server must use the same database.
    #[arg(long, env = "REDIS_URL")]
    redis_url: Option<String>,
    /// Directory holding the npm packages with the browser clients.
    #[arg(long, env = "CHAT_CLIENT_DIR")]
    client_dir: Option<PathBuf>,
    /// Longest message, in characters.
    #[arg(long, env = "CHAT_MAX_MESSAGE_CHARS", default_value_t = 2000)]
    max_message_chars: usize,
    /// Messages sent to a socket that joins a room.
    #[arg(long, default_value_t = 50)]
    history: usize,
    /// Polls sent to a socket that joins a room.
    #[arg(long, default_value_t = 20)]
    poll_history: usize,
    /// Most names in a `user-list` event (`count` has the total).
    #[arg(long, default_value_t = 100)]
    max_user_list: usize,
    /// Milliseconds that coalesce a room's presence changes into one `user-list`.
    #[arg(long, default_value_t = 50)]
    user_list_delay_ms: u64,
    /// Commands waiting for the database writer; past it requests get `busy`.
    #[arg(long, default_value_t = 4096)]
    write_queue: usize,
    /// Most messages (or votes) stored in one transaction.
    #[arg(long, default_value_t = 256)]
    write_batch: usize,
    /// Days a login token (kept by the page to log in again after a reload) stays valid.
    #[arg(long, default_value_t = 30)]
    token_ttl_days: u64,
    /// Most options in a poll.
    #[arg(long, default_value_t = 10)]
    max_poll_options: usize,
    /// Database connections in the pool.
    #[arg(long, default_value_t = 5)]
    db_connections: u32,
    /// Milliseconds to wait for the other servers' members (with --redis-url).
    #[arg(long, default_value_t = 1000)]
    cluster_timeout_ms: u64,
    /// Largest Engine.IO payload accepted, bytes.
    #[arg(long, default_value_t = 100_000)]
    max_payload: u64,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    if let Err(e) = run(cli).await {
        eprintln!("sockio-chat: {e}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let defaults = ChatConfig::default();
    let chat = ChatConfig {
        max_message_chars: cli.max_message_chars,
        history: cli.history,
        poll_history: cli.poll_history,
        max_user_list: cli.max_user_list,
        user_list_delay: Duration::from_millis(cli.user_list_delay_ms),
        write_queue: cli.write_queue,
        write_batch: cli.write_batch,
        token_ttl: Duration::from_secs(cli.token_ttl_days * 24 * 3600),
        max_poll_options: cli.max_poll_options,
        cluster_timeout: Duration::from_millis(cli.cluster_timeout_ms),
        ..defaults
    };
    let store = Store::connect(&cli.database_url, cli.db_connections)
        .await
        .map_err(|e| format!("{}: {e}", cli.database_url))?;
    tracing::info!(backend = store.backend(), url = %redact(&cli.database_url), "database ready");
    let cfg = AppConfig {
        chat,
        client_dir: cli
            .client_dir
            .unwrap_or_else(sockio_chat::web::default_client_dir),
        max_payload: cli.max_payload,
        redis_url: cli.redis_url.clone(),
    };
    let app = sockio_chat::build(store.clone(), cfg).await?;
    let listener = tokio::net::TcpListener::bind((cli.host.as_str(), cli.port))
        .await
        .map_err(|e| format!("cannot listen on {}:{}: {e}", cli.host, cli.port))?;
    let addr = listener.local_addr()?;
    let cluster = match &cli.redis_url {
        Some(url) => format!(", cluster over {}", redact(url)),
        None => String::new(),
    };
    println!(
        "sockio-chat on http://{addr}/ ({} database{cluster})",
        store.backend()
    );
    let io = app.io.clone();
    axum::serve(listener, app.router)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            io.close().await;
        })
        .await?;
    app.chat.flush().await;
    store.close().await;
    Ok(())
}

/// The URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = ctrl_c.await;
            return;
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
}
