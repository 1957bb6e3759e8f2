//! The trunk entry point: mounts the dashboard.

fn main() {
    quotecast_frontend::start();
}
