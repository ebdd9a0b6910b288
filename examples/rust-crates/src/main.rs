//! A Rust service with crates from crates.io: built in its own stage, the
//! final image holds the binary only.
use tiny_http::{Response, Server};

fn main() {
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".to_string());
    let server = Server::http(format!("0.0.0.0:{port}")).expect("listen");
    for request in server.incoming_requests() {
        let _ = request.respond(Response::from_string("Hello from rust-crates\n"));
    }
}
