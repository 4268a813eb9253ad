//! Running app code that may await, panic or never finish: [`guarded`].

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::AppError;

/// A future whose panics become an output instead of unwinding into the
/// actor that polls it.
struct CatchPanic<'a, T>(Pin<Box<dyn Future<Output = T> + 'a>>);

impl<T> Future for CatchPanic<'_, T> {
    type Output = Result<T, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Nothing the app's future left half-done is looked at again: a
        // panicked handler's state is rolled back from its last JSON.
        match panic::catch_unwind(AssertUnwindSafe(|| self.0.as_mut().poll(cx))) {
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

/// Runs app code that may await: its output, or why it has none (it
/// panicked, or ran past `limit` and was dropped where it stood).
pub(crate) async fn bounded<'a, T>(
    limit: Duration,
    run: impl Future<Output = T> + 'a,
) -> Result<T, Unfinished> {
    let caught = CatchPanic(Box::pin(run));
    match tokio::time::timeout(limit, caught).await {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(())) => Err(Unfinished::Panicked),
        Err(_) => Err(Unfinished::TimedOut),
    }
}

/// Why app code gave no output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unfinished {
    /// It panicked.
    Panicked,
    /// It ran past its limit.
    TimedOut,
}

/// Runs a handler's future: its result, or `handler_error` if it panicked
/// or ran past `limit` (then it is dropped where it stands).
pub(crate) async fn guarded<'a, T>(
    what: &str,
    limit: Duration,
    run: impl Future<Output = Result<T, AppError>> + 'a,
) -> Result<T, AppError> {
    match bounded(limit, run).await {
        Ok(result) => result,
        Err(Unfinished::Panicked) => Err(AppError::handler(format!("the {what} panicked"))),
        Err(Unfinished::TimedOut) => Err(AppError::handler(format!(
            "the {what} ran past its {} ms limit",
            limit.as_millis()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn a_panic_or_a_timeout_becomes_a_handler_error_and_a_result_passes_through() {
        let ok = guarded("handler", Duration::from_secs(1), async { Ok(()) }).await;
        assert_eq!(ok, Ok(()));
        let refused: Result<(), AppError> = guarded("handler", Duration::from_secs(1), async {
            Err(AppError::invalid_payload("no"))
        })
        .await;
        assert_eq!(refused, Err(AppError::invalid_payload("no")));
        let panicked = guarded("handler", Duration::from_secs(1), async {
            if ok.is_ok() {
                panic!("boom");
            }
            Ok(())
        })
        .await;
        assert_eq!(
            panicked.map_err(|e| e.message),
            Err("the handler panicked".to_owned())
        );
        tokio::time::pause();
        let slow = guarded("handler", Duration::from_millis(50), async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        })
        .await;
        assert_eq!(
            slow.map_err(|e| e.message),
            Err("the handler ran past its 50 ms limit".to_owned())
        );
    }

    #[actix_rt::test]
    async fn a_handler_that_never_finishes_is_dropped_at_its_limit_and_not_before() {
        const LIMIT: Duration = Duration::from_millis(50);
        // The timer wheel's resolution.
        const MS: Duration = Duration::from_millis(1);
        tokio::time::pause();
        let running = actix_rt::spawn(guarded(
            "handler",
            LIMIT,
            std::future::pending::<Result<(), AppError>>(),
        ));
        // Yields let the spawned guard run without moving the paused clock.
        let settle = || async {
            for _ in 0..16 {
                tokio::task::yield_now().await;
            }
        };
        settle().await;
        tokio::time::advance(LIMIT - MS).await;
        settle().await;
        assert!(
            !running.is_finished(),
            "still running just before its limit"
        );
        tokio::time::advance(2 * MS).await;
        settle().await;
        assert!(running.is_finished(), "dropped just after its limit");
        let result = running.await.expect("the guard does not panic");
        assert_eq!(
            result.map_err(|e| e.message),
            Err("the handler ran past its 50 ms limit".to_owned())
        );
    }
}
