//! Event streams from the connection task to the application, and the receive
//! backlog that bounds them.
//!
//! Every stream is an unbounded `mpsc` channel whose items are *accounted*: each
//! carries a cost (its payload size, at least 1), and all streams of one connection
//! share one [`Backlog`]. When the events the application has not read yet add up to
//! [`RECEIVE_BACKLOG_LIMIT`] bytes, the connection task stops reading its sockets
//! until the application catches up. The peer then sees no acknowledgements and
//! slows down (SCTP congestion control); nothing that was accepted is dropped. A
//! connection whose application stops reading for longer than ICE consent freshness
//! allows (30 s) fails like a connection whose network went away.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, Notify};

/// How many bytes of unread events a connection holds before it stops reading the network.
pub const RECEIVE_BACKLOG_LIMIT: usize = 16 * 1024 * 1024;

/// An event a stream carries, and how it waits in the stream's queue.
///
/// A queue allocates room for 32 waiting events at once, even for a connection that never has
/// more than a few. Connection events are rare and up to about 100 bytes, so they wait boxed, which
/// keeps an idle connection's queue at 0.5 KiB instead of 3.5 KiB; data-channel events (messages)
/// wait as they are, so a message costs no allocation of its own.
pub trait Queued: Sized + sealed::Sealed {
    /// How the event waits.
    #[doc(hidden)]
    type Slot: Send;
    /// Into the queue.
    #[doc(hidden)]
    fn into_slot(self) -> Self::Slot;
    /// Out of the queue.
    #[doc(hidden)]
    fn from_slot(slot: Self::Slot) -> Self;
}

pub(crate) mod sealed {
    /// Only this crate's event types are [`Queued`](super::Queued).
    pub trait Sealed {}
}

/// The unread bytes of all event streams of one connection.
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    queued: AtomicUsize,
    drained: Notify,
}

impl Backlog {
    /// Whether the application has fallen so far behind that the network should not be read.
    pub(crate) fn is_full(&self) -> bool {
        self.queued.load(Ordering::Acquire) >= RECEIVE_BACKLOG_LIMIT
    }

    /// Resolves once the backlog has dropped under the limit (a wake-up is never lost:
    /// `Notify` keeps a permit when nobody waits).
    pub(crate) async fn drained(&self) {
        self.drained.notified().await
    }

    fn add(&self, cost: usize) {
        self.queued.fetch_add(cost, Ordering::AcqRel);
    }

    fn release(&self, cost: usize) {
        let before = self.queued.fetch_sub(cost, Ordering::AcqRel);
        if before >= RECEIVE_BACKLOG_LIMIT && before - cost < RECEIVE_BACKLOG_LIMIT {
            self.drained.notify_one();
        }
    }

    #[cfg(test)]
    fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }
}

/// The task's end of one event stream.
#[derive(Debug)]
pub(crate) struct EventSender<T: Queued> {
    tx: mpsc::UnboundedSender<(usize, T::Slot)>,
    backlog: Arc<Backlog>,
}

impl<T: Queued> EventSender<T> {
    /// Queues an event of `cost` bytes; returns false when the application has dropped the stream.
    pub(crate) fn send(&self, cost: usize, event: T) -> bool {
        let cost = cost.max(1);
        self.backlog.add(cost);
        if self.tx.send((cost, event.into_slot())).is_err() {
            self.backlog.release(cost);
            return false;
        }
        true
    }
}

/// A stream of events of one connection or one data channel.
///
/// Read it with [`recv`](Self::recv). Events the application leaves unread count
/// against the connection's [`RECEIVE_BACKLOG_LIMIT`]; dropping the stream discards
/// them and every later event.
#[derive(Debug)]
pub struct Events<T: Queued> {
    rx: mpsc::UnboundedReceiver<(usize, T::Slot)>,
    backlog: Arc<Backlog>,
}

impl<T: Queued> Events<T> {
    /// The next event, or `None` once the stream has ended (the connection or channel is closed).
    pub async fn recv(&mut self) -> Option<T> {
        let (cost, event) = self.rx.recv().await?;
        self.backlog.release(cost);
        Some(T::from_slot(event))
    }

    /// The next event if one is waiting, without waiting.
    pub fn try_recv(&mut self) -> Option<T> {
        let (cost, event) = self.rx.try_recv().ok()?;
        self.backlog.release(cost);
        Some(T::from_slot(event))
    }
}

impl<T: Queued> Drop for Events<T> {
    fn drop(&mut self) {
        self.rx.close();
        while let Ok((cost, _)) = self.rx.try_recv() {
            self.backlog.release(cost);
        }
    }
}

/// A new event stream that accounts into `backlog`.
pub(crate) fn stream<T: Queued>(backlog: &Arc<Backlog>) -> (EventSender<T>, Events<T>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        EventSender {
            tx,
            backlog: backlog.clone(),
        },
        Events {
            rx,
            backlog: backlog.clone(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    impl sealed::Sealed for u32 {}
    impl Queued for u32 {
        type Slot = u32;
        fn into_slot(self) -> u32 {
            self
        }
        fn from_slot(slot: u32) -> u32 {
            slot
        }
    }

    #[tokio::test]
    async fn reading_releases_the_backlog_and_wakes_the_task() {
        let backlog = Arc::new(Backlog::default());
        let (tx, mut rx) = stream::<u32>(&backlog);
        assert!(tx.send(RECEIVE_BACKLOG_LIMIT - 10, 1));
        assert!(!backlog.is_full());
        assert!(tx.send(100, 2));
        assert!(backlog.is_full());
        assert_eq!(rx.recv().await, Some(1));
        assert!(!backlog.is_full());
        // The wake-up was stored even though nobody waited yet.
        tokio::time::timeout(std::time::Duration::from_secs(1), backlog.drained())
            .await
            .expect("drained() resolves after the backlog fell under the limit");
        assert_eq!(backlog.queued(), 100);
    }

    #[tokio::test]
    async fn a_dropped_stream_gives_back_what_it_held_and_refuses_more() {
        let backlog = Arc::new(Backlog::default());
        let (tx, rx) = stream::<u32>(&backlog);
        tx.send(5000, 1);
        tx.send(0, 2);
        assert_eq!(backlog.queued(), 5001);
        drop(rx);
        assert_eq!(backlog.queued(), 0);
        assert!(!tx.send(10, 3));
        assert_eq!(backlog.queued(), 0);
    }
}
