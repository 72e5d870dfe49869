//! Serving connections: what `axum::serve` does (accept, one task per connection, graceful
//! shutdown, the peer's address as `ConnectInfo`), with each connection's task polled through
//! [`Repoll`].
//!
//! Why not `axum::serve` itself: hyper's HTTP/1 connection wakes *itself* while a handler reads
//! the request body (the body channel tells the connection, which polls the handler inline,
//! that it may read on). Tokio takes a task that wakes itself for a task that yields, requeues
//! it and wakes an idle worker with a futex in case it wants to steal; on a small machine that
//! is a second thread woken, finding nothing and parking again on nearly every gateway call.
//! [`Repoll`] turns a wake-up that arrives while the task is being polled into one more poll
//! on the spot (docs/PERFORMANCE.md has the measurements).

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    task::{Context, Poll, Wake, Waker},
};

use axum::{Extension, Router, extract::ConnectInfo, serve::Listener};
use futures::task::AtomicWaker;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tower::Layer;

/// How long, after the signal to stop, open connections get to finish what they are serving.
/// Event streams (a session's GET stream, a legacy SSE connection) never finish by themselves,
/// and stopping the upstream processes and writing the last activity rows must not wait on
/// them.
const GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown` resolves, then lets every open connection
/// finish the requests it is serving, for up to [`GRACE`]. (Dropping the returned future also
/// asks every connection to finish and close.)
pub async fn serve<L>(mut listener: L, router: Router, shutdown: impl Future<Output = ()>)
where
    L: Listener<Addr = SocketAddr>,
{
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        // `Listener::accept` retries failed accepts itself (pausing a second after an error
        // that is not about one connection, such as running out of descriptors).
        let (io, remote) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let service = Extension(ConnectInfo(remote)).layer(router.clone());
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(Repoll::new(async move {
            if let Err(err) = connection.await {
                tracing::trace!(error = %err, "connection ended with an error");
            }
        }));
    }
    drop(listener);
    if tokio::time::timeout(GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!(
            "connections still open {} s after the signal to stop (event streams): no longer waiting for them",
            GRACE.as_secs()
        );
    }
}

/// Polls a future again, at once, when it is woken while being polled (by itself, or by a
/// socket or another thread at that moment), instead of handing the wake-up to the scheduler.
/// Wake-ups while it waits go to the scheduler as usual.
///
/// Fairness is bounded rather than unchanged: after [`Repoll::IN_A_ROW`] polls in a row, or
/// once Tokio's per-task budget is spent, the task yields to the scheduler.
pub struct Repoll<F> {
    inner: Pin<Box<F>>,
    signal: Arc<Signal>,
    waker: Waker,
}

/// Where a wake-up finds the task.
const IDLE: u8 = 0;
const POLLING: u8 = 1;
const WOKEN_WHILE_POLLING: u8 = 2;

struct Signal {
    state: AtomicU8,
    task: AtomicWaker,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let noted = self.state.compare_exchange(
            POLLING,
            WOKEN_WHILE_POLLING,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        // Not being polled: the scheduler's turn. (A wake-up racing with the start of a poll
        // may cost one spare poll, never a lost one.)
        if noted == Err(IDLE) {
            self.task.wake();
        }
    }
}

impl<F: Future> Repoll<F> {
    const IN_A_ROW: usize = 8;

    pub fn new(inner: F) -> Self {
        let signal = Arc::new(Signal {
            state: AtomicU8::new(IDLE),
            task: AtomicWaker::new(),
        });
        Repoll {
            inner: Box::pin(inner),
            waker: Waker::from(signal.clone()),
            signal,
        }
    }
}

impl<F: Future> Future for Repoll<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        this.signal.task.register(cx.waker());
        let mut inner_cx = Context::from_waker(&this.waker);
        for _ in 0..Self::IN_A_ROW {
            this.signal.state.store(POLLING, Ordering::Release);
            if let Poll::Ready(out) = this.inner.as_mut().poll(&mut inner_cx) {
                this.signal.state.store(IDLE, Ordering::Release);
                return Poll::Ready(out);
            }
            let woken = this.signal.state.compare_exchange(
                POLLING,
                IDLE,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            if woken.is_ok() {
                // Nobody woke it during the poll: it waits for something outside.
                return Poll::Pending;
            }
            if !tokio::task::coop::has_budget_remaining() {
                break;
            }
        }
        this.signal.state.store(IDLE, Ordering::Release);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts the polls of a future that wakes itself `times` times before finishing.
    struct WakesItself {
        times: usize,
        polls: Arc<AtomicUsize>,
    }

    impl Future for WakesItself {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.fetch_add(1, Ordering::Relaxed);
            if self.times == 0 {
                return Poll::Ready(());
            }
            self.times -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    /// Counts how often the task's own waker was used.
    struct CountingWaker(AtomicUsize);
    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Polls, once, a future that wakes itself `times` times through [`Repoll`]: whether it
    /// finished, how often the inner future was polled, how often the scheduler was asked.
    fn poll_once(times: usize) -> (bool, usize, usize) {
        let polls = Arc::new(AtomicUsize::new(0));
        let mut future = Box::pin(Repoll::new(WakesItself {
            times,
            polls: polls.clone(),
        }));
        let scheduler = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(scheduler.clone());
        let ready = future
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready();
        let polled = polls.load(Ordering::Relaxed);
        (ready, polled, scheduler.0.load(Ordering::Relaxed))
    }

    #[test]
    fn a_future_that_wakes_itself_is_polled_again_without_the_scheduler() {
        assert_eq!(poll_once(3), (true, 4, 0));
    }

    #[test]
    fn a_future_that_keeps_waking_itself_still_yields_to_the_scheduler() {
        let in_a_row = Repoll::<WakesItself>::IN_A_ROW;
        assert_eq!(
            poll_once(100),
            (false, in_a_row, 1),
            "it asked to be polled again"
        );
    }

    #[test]
    fn a_wake_up_while_it_waits_reaches_the_scheduler() {
        let (tx, rx) = futures::channel::oneshot::channel::<u32>();
        let mut future = Box::pin(Repoll::new(rx));
        let scheduler = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(scheduler.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(future.as_mut().poll(&mut cx).is_pending());
        std::thread::spawn(move || tx.send(7).unwrap())
            .join()
            .unwrap();
        assert_eq!(scheduler.0.load(Ordering::Relaxed), 1, "the task was woken");
        assert_eq!(future.as_mut().poll(&mut cx), Poll::Ready(Ok(7)));
    }
}
