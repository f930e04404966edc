//! Waits for the signals that end the server: Ctrl-C (SIGINT) or SIGTERM.
//! Only waits; the server decides what shutting down means.

use std::future::Future;

/// Installs the handlers now and returns a future that resolves when the
/// process is asked to stop.
///
/// The handlers must be in place before the server prints its addresses:
/// a handler installed lazily (on first poll) leaves a window in which a
/// SIGTERM takes the default action and kills the process without telling
/// anyone. So call this before announcing the server.
pub fn signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                (term, int) => {
                    if let Err(e) = term.as_ref().and(int.as_ref()) {
                        tracing::warn!("cannot listen for SIGTERM/SIGINT: {e}");
                    }
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
