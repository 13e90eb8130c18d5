//! What bounds each Redis call in time: a sleep from the caller's async runtime.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

/// A sleep from an async runtime, which the fleet primitives race against each Redis call so
/// that every call has a timeout whatever connection it is given.
///
/// The crate's runtime features supply one ([`TokioTimer`] with `tokio-comp`, `SmolTimer`
/// with `smol-comp`); another runtime implements this.
///
/// ```
/// use std::future::Future;
/// use std::pin::Pin;
/// use std::time::Duration;
/// use stanchion_redis::Timer;
///
/// /// A timer that never fires: calls are bounded only by the connection's own timeout.
/// struct Never;
/// impl Timer for Never {
///     fn sleep(&self, _: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
///         Box::pin(std::future::pending())
///     }
/// }
/// ```
pub trait Timer: Send + Sync + 'static {
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// Tokio's timer (`tokio::time::sleep`); calls must run inside a Tokio runtime with time
/// enabled.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use stanchion_redis::{Timer, TokioTimer};
/// TokioTimer.sleep(std::time::Duration::from_millis(1)).await;
/// # }
/// ```
#[cfg(feature = "tokio-comp")]
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioTimer;

#[cfg(feature = "tokio-comp")]
impl Timer for TokioTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// async-io's timer, the one smol runs on.
///
/// ```
/// use stanchion_redis::{SmolTimer, Timer};
/// async_io::block_on(SmolTimer.sleep(std::time::Duration::from_millis(1)));
/// ```
#[cfg(feature = "smol-comp")]
#[derive(Clone, Copy, Debug, Default)]
pub struct SmolTimer;

#[cfg(feature = "smol-comp")]
impl Timer for SmolTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            async_io::Timer::after(duration).await;
        })
    }
}

/// The timer of the runtime feature that is on: Tokio's, else smol's, else none.
pub(crate) fn default_timer() -> Option<std::sync::Arc<dyn Timer>> {
    #[cfg(feature = "tokio-comp")]
    return Some(std::sync::Arc::new(TokioTimer));
    #[cfg(all(feature = "smol-comp", not(feature = "tokio-comp")))]
    return Some(std::sync::Arc::new(SmolTimer));
    #[cfg(not(any(feature = "tokio-comp", feature = "smol-comp")))]
    return None;
}

/// `call`'s output, or `None` if `deadline` completes first. Polls `call` first, so an
/// answer that is ready wins over a deadline that is too.
pub(crate) async fn within<F: Future>(
    call: F,
    deadline: impl Future<Output = ()>,
) -> Option<F::Output> {
    let mut call = std::pin::pin!(call);
    let mut deadline = std::pin::pin!(deadline);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = call.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        if deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// Runs `work` to completion while polling `side` alongside it; `side`'s output, if it
/// completed first, comes back with the work's. `side` is dropped when the work is done.
pub(crate) async fn alongside<W: Future, S: Future>(
    work: W,
    side: S,
) -> (W::Output, Option<S::Output>) {
    let mut work = std::pin::pin!(work);
    let mut side = std::pin::pin!(side);
    let mut side_output = None;
    std::future::poll_fn(|cx| {
        if side_output.is_none() {
            if let Poll::Ready(output) = side.as_mut().poll(cx) {
                side_output = Some(output);
            }
        }
        match work.as_mut().poll(cx) {
            Poll::Ready(output) => Poll::Ready((output, side_output.take())),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Runs every future at once and returns their outputs in order.
pub(crate) async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(outputs.iter_mut().filter_map(Option::take).collect())
        }
    })
    .await
}
