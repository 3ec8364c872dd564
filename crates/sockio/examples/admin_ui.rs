//! A server watched by the Socket.IO admin UI and by Prometheus: the admin
//! namespace `/admin` (basic auth, user `admin`, the password from
//! `ADMIN_PASSWORD`, default `admin`; `--no-auth` for none), the UI's
//! static build served at `/admin-ui/` from `--ui-dir` (the npm package's
//! `ui/dist`), and `/metrics`. Namespace `/chat` has the events `join`
//! (a room) and `message` (broadcast to the room).
//!
//! ```text
//! npm install @socket.io/admin-ui
//! cargo run -p sockio --example admin_ui -- --port 3000 \
//!     --ui-dir node_modules/@socket.io/admin-ui/ui/dist
//! # open http://127.0.0.1:3000/admin-ui/ and connect to http://127.0.0.1:3000
//! ```

use clap::Parser as _;
use sockio::admin::AdminUi;
use sockio::{Data, Socket, SocketIo};

#[derive(clap::Parser)]
struct Opts {
    /// Port to listen on (127.0.0.1).
    #[arg(long, env = "PORT", default_value_t = 3000)]
    port: u16,
    /// The admin UI's static build (`@socket.io/admin-ui/ui/dist`).
    #[arg(long)]
    ui_dir: Option<std::path::PathBuf>,
    /// No authentication on the admin namespace.
    #[arg(long)]
    no_auth: bool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let opts = Opts::parse();
    let admin = if opts.no_auth {
        AdminUi::new().no_auth()
    } else {
        let password = std::env::var("ADMIN_PASSWORD").unwrap_or_else(|_| "admin".into());
        AdminUi::new().basic_auth("admin", bcrypt::hash(password, 8)?)
    };
    let io = SocketIo::builder()
        .cors_allowed_origins(["*"])
        .metrics(true)
        .admin_ui(admin)
        .build()?;
    let chat = io.of("/chat");
    chat.on("join", |s: Socket, Data(room): Data<String>| async move {
        s.join(room);
    });
    chat.on(
        "message",
        |s: Socket, Data((room, text)): Data<(String, String)>| async move {
            s.emit_to(room, "message", &text).await
        },
    );
    let mut server = sockio::serve(io, ("127.0.0.1", opts.port));
    if let Some(dir) = opts.ui_dir {
        server = server.mount_dir("/admin-ui", dir);
    }
    println!("listening on 127.0.0.1:{}", opts.port);
    server.await?;
    Ok(())
}
