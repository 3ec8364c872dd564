//! The timer hyper uses for one connection's header read timeout.
//!
//! hyper asks its timer for a new sleep each time it starts reading a request
//! head and drops it once the head is in. With tokio's timer behind it, that
//! is an allocation, a timer-wheel insertion and a removal for every request:
//! about 600 instructions per long-polling request (callgrind), where the
//! timeout almost never fires. [`ConnTimer`] keeps one tokio `Sleep` per
//! connection, registered across requests, and moves it only when it fires
//! before the deadline asked for. A connection's deadlines only ever move
//! later (each is "now + header_read_timeout"), so an early wake-up is
//! re-armed to the real deadline, and a sleep never ends late or early: at
//! most one re-arm per timeout period, and one spurious wake-up of an idle
//! connection per period.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::time::Sleep;

type Slot = Arc<Mutex<Option<Pin<Box<Sleep>>>>>;

/// One connection's timer: hands out [`ConnSleep`]s that share the
/// connection's registered tokio `Sleep`.
#[derive(Clone, Default)]
pub(crate) struct ConnTimer {
    idle: Slot,
}

impl hyper::rt::Timer for ConnTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(self.now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let inner = self.idle.lock().unwrap_or_else(|e| e.into_inner()).take();
        Box::pin(ConnSleep {
            deadline: tokio::time::Instant::from_std(deadline),
            inner,
            home: self.idle.clone(),
        })
    }

    fn now(&self) -> Instant {
        // tokio's clock, which tests can pause and advance.
        tokio::time::Instant::now().into_std()
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<ConnSleep>() {
            Some(s) => s.get_mut().deadline = tokio::time::Instant::from_std(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// A sleep until `deadline` on the connection's shared tokio `Sleep`, which
/// it gives back to the connection when dropped.
pub(crate) struct ConnSleep {
    deadline: tokio::time::Instant,
    /// `None` until first polled when the connection had none idle.
    inner: Option<Pin<Box<Sleep>>>,
    home: Slot,
}

impl Future for ConnSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let deadline = this.deadline;
        let sleep = this
            .inner
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        loop {
            // Later than ours (never in hyper's use): it must not end late.
            if sleep.deadline() > deadline {
                sleep.as_mut().reset(deadline);
            }
            match sleep.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) if sleep.deadline() >= deadline => return Poll::Ready(()),
                // Set for an earlier request's deadline: re-armed for ours.
                Poll::Ready(()) => sleep.as_mut().reset(deadline),
            }
        }
    }
}

impl hyper::rt::Sleep for ConnSleep {}

impl Drop for ConnSleep {
    fn drop(&mut self) {
        if let Some(sleep) = self.inner.take() {
            let mut idle = self.home.lock().unwrap_or_else(|e| e.into_inner());
            if idle.is_none() {
                *idle = Some(sleep);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Timer;

    /// Polls `s` once, without a task to wake.
    fn ready(s: &mut Pin<Box<dyn hyper::rt::Sleep>>) -> bool {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        s.as_mut().poll(&mut cx).is_ready()
    }

    /// A sleep of `d` on `t`, polled once (so registered) and then dropped,
    /// as hyper drops it when a request head is in: it goes back to `t`.
    fn registered_then_dropped(t: &ConnTimer, d: Duration) {
        let mut s = t.sleep(d);
        assert!(!ready(&mut s));
    }

    #[tokio::test(start_paused = true)]
    async fn a_sleep_ends_at_its_deadline_on_a_reused_earlier_timer() {
        let t = ConnTimer::default();
        registered_then_dropped(&t, Duration::from_secs(30));
        tokio::time::advance(Duration::from_secs(10)).await;
        // The next request's deadline is 40 s from the start; the reused
        // sleep is still set for 30.
        let mut second = t.sleep(Duration::from_secs(30));
        tokio::time::advance(Duration::from_secs(25)).await; // 35 s
        assert!(!ready(&mut second), "ended at the first request's deadline");
        tokio::time::advance(Duration::from_secs(4)).await; // 39 s
        assert!(!ready(&mut second));
        tokio::time::advance(Duration::from_secs(1)).await; // 40 s
        assert!(ready(&mut second));
    }

    #[tokio::test(start_paused = true)]
    async fn a_sleep_after_an_elapsed_idle_one_waits_its_whole_timeout() {
        let t = ConnTimer::default();
        registered_then_dropped(&t, Duration::from_secs(1));
        tokio::time::advance(Duration::from_secs(5)).await; // the idle one fired
        let mut second = t.sleep(Duration::from_secs(1));
        assert!(!ready(&mut second));
        tokio::time::advance(Duration::from_millis(999)).await;
        assert!(!ready(&mut second));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(ready(&mut second));
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_deadline_than_the_idle_sleep_is_kept() {
        let t = ConnTimer::default();
        registered_then_dropped(&t, Duration::from_secs(60));
        let mut short = t.sleep(Duration::from_secs(2));
        assert!(!ready(&mut short));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(ready(&mut short));
    }

    #[tokio::test(start_paused = true)]
    async fn reset_moves_the_deadline() {
        let t = ConnTimer::default();
        let mut s = t.sleep(Duration::from_secs(5));
        assert!(!ready(&mut s));
        t.reset(&mut s, t.now() + Duration::from_secs(1));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(ready(&mut s));
    }
}
