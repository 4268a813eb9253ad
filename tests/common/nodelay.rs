//! A real actix-web server with TCP_NODELAY, as the binary serves, on its
//! own thread. `actix_test::start` leaves Nagle's algorithm on, which adds
//! ~40 ms delayed-ACK stalls: fine for correctness tests, wrong for timing.

use std::net::SocketAddr;
use std::thread::JoinHandle;

use actix_web::dev::ServerHandle;
use actix_web::{web, App as WebApp, HttpServer};

/// A running server; stop it with [`NoDelayServer::stop`].
pub struct NoDelayServer {
    addr: SocketAddr,
    handle: ServerHandle,
    thread: JoinHandle<()>,
}

impl NoDelayServer {
    /// Serves `routes` (e.g. `hub.configure()`) on a free loopback port
    /// with one worker.
    pub fn start<F>(routes: F) -> NoDelayServer
    where
        F: FnOnce(&mut web::ServiceConfig) + Clone + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let server = HttpServer::new(move || WebApp::new().configure(routes.clone()))
                    .tcp_nodelay(true)
                    .workers(1)
                    .disable_signals()
                    .bind(("127.0.0.1", 0))
                    .unwrap();
                let addr = server.addrs()[0];
                let server = server.run();
                tx.send((addr, server.handle())).unwrap();
                server.await.unwrap();
            });
        });
        let (addr, handle) = rx.recv().unwrap();
        NoDelayServer {
            addr,
            handle,
            thread,
        }
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The socket URL for `tab_id`.
    pub fn socket_url(&self, tab_id: &str) -> String {
        format!(
            "http://{}/socket/websocket?vsn=2.0.0&tab_id={tab_id}",
            self.addr
        )
    }

    /// Stops the server and joins its thread.
    pub async fn stop(self) {
        self.handle.stop(false).await;
        let _ = self.thread.join();
    }
}
