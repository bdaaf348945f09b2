//! A one-shot reply from the writer thread to one appender. An appender waits for its
//! acknowledgement for about one `fdatasync`; a channel's blocking receive spins and yields
//! before it sleeps, and sixteen appenders doing that on two cores took the CPU the writer and
//! the other appenders needed (perf: a quarter of the time in task switches and `sched_yield`).
//! This slot sleeps on a condition variable at once.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

enum Slot<T> {
    Waiting,
    Ready(T),
    /// The writer dropped its end without answering (it stopped).
    Abandoned,
}

struct Shared<T> {
    slot: Mutex<Slot<T>>,
    ready: Condvar,
}

/// The writer's end: answers once.
pub(crate) struct Replier<T> {
    shared: Option<Arc<Shared<T>>>,
}

/// The appender's end: waits for the answer.
pub(crate) struct Waiter<T> {
    shared: Arc<Shared<T>>,
}

/// A new reply slot.
pub(crate) fn reply_slot<T>() -> (Replier<T>, Waiter<T>) {
    let shared = Arc::new(Shared {
        slot: Mutex::new(Slot::Waiting),
        ready: Condvar::new(),
    });
    (
        Replier {
            shared: Some(shared.clone()),
        },
        Waiter { shared },
    )
}

fn lock<T>(shared: &Shared<T>) -> MutexGuard<'_, Slot<T>> {
    // The slot holds plain data; a panic elsewhere cannot leave it inconsistent.
    shared
        .slot
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
}

impl<T> Replier<T> {
    pub fn send(mut self, value: T) {
        if let Some(shared) = self.shared.take() {
            *lock(&shared) = Slot::Ready(value);
            shared.ready.notify_one();
        }
    }
}

impl<T> Drop for Replier<T> {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            *lock(&shared) = Slot::Abandoned;
            shared.ready.notify_one();
        }
    }
}

impl<T> Waiter<T> {
    /// The answer, or `None` if the writer stopped without giving one.
    pub fn wait(self) -> Option<T> {
        let mut slot = lock(&self.shared);
        loop {
            match std::mem::replace(&mut *slot, Slot::Waiting) {
                Slot::Ready(value) => return Some(value),
                Slot::Abandoned => return None,
                Slot::Waiting => {
                    slot = self
                        .shared
                        .ready
                        .wait(slot)
                        .unwrap_or_else(|poison| poison.into_inner());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::reply_slot;

    #[test]
    fn a_waiter_gets_the_answer_sent_from_another_thread() {
        let (replier, waiter) = reply_slot();
        let thread = std::thread::spawn(move || replier.send(42));
        assert_eq!(waiter.wait(), Some(42));
        thread.join().unwrap();
    }

    #[test]
    fn a_waiter_is_released_when_the_writer_drops_its_end_unanswered() {
        let (replier, waiter) = reply_slot::<u8>();
        let thread = std::thread::spawn(move || drop(replier));
        assert_eq!(waiter.wait(), None);
        thread.join().unwrap();
    }
}
