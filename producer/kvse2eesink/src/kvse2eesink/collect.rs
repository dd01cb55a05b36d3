//! Interleaves the buffers of the video and the audio pad in timestamp order
//! before they reach the engine, as `GstCollectPads` does for `kvssink`: each
//! pad holds at most one buffer; a pad's streaming thread waits until its
//! buffer is taken, and a buffer is taken only when every other live pad has
//! one queued (or is at EOS), the earliest first. Memory stays at one buffer
//! a pad, nothing is dropped or reordered, and a pad at EOS no longer holds
//! the other back.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// Which of the element's pads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PadKind {
    /// The `video_%u` pad.
    Video,
    /// The `audio_%u` pad.
    Audio,
}

impl PadKind {
    const ALL: [PadKind; 2] = [PadKind::Video, PadKind::Audio];

    fn index(self) -> usize {
        match self {
            PadKind::Video => 0,
            PadKind::Audio => 1,
        }
    }
}

/// One pad's slot.
#[derive(Debug)]
struct Slot<T> {
    /// Whether the pad exists (requested and not released).
    active: bool,
    eos: bool,
    /// The buffer waiting to be taken, with its ordering key (ns).
    queued: Option<(u64, T)>,
    /// The key of the pad's last buffer: a buffer without timestamps keeps it.
    last_key: u64,
    /// Buffers queued and taken so far: a pusher waits until its number is taken.
    pushed: u64,
    taken: u64,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self {
            active: false,
            eos: false,
            queued: None,
            last_key: 0,
            pushed: 0,
            taken: 0,
        }
    }
}

impl<T> Slot<T> {
    /// Whether this pad lets the others go on: it has a buffer, or never will.
    fn ready(&self) -> bool {
        !self.active || self.eos || self.queued.is_some()
    }
}

#[derive(Debug)]
struct Inner<T> {
    slots: [Slot<T>; 2],
    flushing: bool,
    /// The first failure of the consumer; every pusher returns it.
    failed: Option<gst::FlowError>,
}

/// Why a push did not go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// Flushing or stopping: drop the buffer quietly.
    Flushing,
    /// The consumer failed (on this thread or another).
    Failed(gst::FlowError),
}

/// The interleaver; `T` is the buffer type.
#[derive(Debug)]
pub(super) struct Collector<T> {
    inner: Mutex<Inner<T>>,
    cond: Condvar,
}

impl<T> Default for Collector<T> {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                slots: [Slot::default(), Slot::default()],
                flushing: false,
                failed: None,
            }),
            cond: Condvar::new(),
        }
    }
}

impl<T> Collector<T> {
    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A pad was requested.
    pub fn add_pad(&self, kind: PadKind) {
        let mut g = self.lock();
        g.slots[kind.index()] = Slot {
            active: true,
            ..Slot::default()
        };
    }

    /// A pad was released: it no longer holds the other back (its queued
    /// buffer, if any, is dropped with it).
    pub fn remove_pad(
        &self,
        kind: PadKind,
        consume: impl FnMut(PadKind, T) -> Result<(), gst::FlowError>,
    ) {
        let mut g = self.lock();
        let slot = &mut g.slots[kind.index()];
        slot.active = false;
        slot.queued = None;
        slot.taken = slot.pushed;
        self.drain(&mut g, consume);
    }

    /// Back to a clean start (new session, or after a flush): no buffers, no
    /// EOS, no failure; the pads stay.
    pub fn reset(&self) {
        let mut g = self.lock();
        g.flushing = false;
        g.failed = None;
        for slot in &mut g.slots {
            slot.eos = false;
            slot.queued = None;
            slot.taken = slot.pushed;
        }
        self.cond.notify_all();
    }

    /// Flush start or stop: waiting pushers return [`Refused::Flushing`] and
    /// queued buffers are dropped.
    pub fn flush_start(&self) {
        let mut g = self.lock();
        g.flushing = true;
        // The waiting pushers see `flushing` and return; their buffers go.
        for slot in &mut g.slots {
            slot.queued = None;
        }
        self.cond.notify_all();
    }

    /// Queues `item` (ordering key `key`, ns; `None`: the pad's previous key)
    /// for `kind` and waits until it has been handed to `consume` — by this
    /// thread or the other pad's. `consume` runs under the collector's lock,
    /// one buffer at a time, in key order (ties: video first).
    pub fn push(
        &self,
        kind: PadKind,
        key: Option<u64>,
        item: T,
        mut consume: impl FnMut(PadKind, T) -> Result<(), gst::FlowError>,
    ) -> Result<(), Refused> {
        let i = kind.index();
        let mut g = self.lock();
        // The pad's previous buffer is always taken before its thread returns,
        // so the slot is free unless a flush raced with us.
        loop {
            Self::check(&g)?;
            if g.slots[i].queued.is_none() {
                break;
            }
            g = self.cond.wait(g).unwrap_or_else(PoisonError::into_inner);
        }
        let key = key.unwrap_or(g.slots[i].last_key);
        g.slots[i].last_key = key;
        g.slots[i].queued = Some((key, item));
        g.slots[i].pushed += 1;
        let mine = g.slots[i].pushed;
        loop {
            self.drain(&mut g, &mut consume);
            if g.slots[i].taken >= mine {
                // Ours went through; report a failure it may have caused.
                return match g.failed {
                    Some(e) => Err(Refused::Failed(e)),
                    None => Ok(()),
                };
            }
            if let Err(e) = Self::check(&g) {
                g.slots[i].queued = None;
                g.slots[i].taken = g.slots[i].pushed;
                return Err(e);
            }
            g = self.cond.wait(g).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// EOS on `kind`: the other pad goes on alone. Returns true for the call
    /// that leaves every pad at EOS (the stream is complete), once.
    pub fn eos(
        &self,
        kind: PadKind,
        consume: impl FnMut(PadKind, T) -> Result<(), gst::FlowError>,
    ) -> bool {
        let mut g = self.lock();
        let slot = &mut g.slots[kind.index()];
        if slot.eos || !slot.active {
            return false;
        }
        slot.eos = true;
        self.drain(&mut g, consume);
        g.slots.iter().all(|s| !s.active || s.eos)
    }

    fn check(g: &Inner<T>) -> Result<(), Refused> {
        if g.flushing {
            return Err(Refused::Flushing);
        }
        match g.failed {
            Some(e) => Err(Refused::Failed(e)),
            None => Ok(()),
        }
    }

    /// Hands queued buffers to `consume`, earliest first, while every live
    /// pad has one queued or is at EOS; wakes the waiting pushers.
    fn drain(
        &self,
        g: &mut Inner<T>,
        mut consume: impl FnMut(PadKind, T) -> Result<(), gst::FlowError>,
    ) {
        while !g.flushing && g.failed.is_none() && g.slots.iter().all(Slot::ready) {
            let next = PadKind::ALL
                .into_iter()
                .filter_map(|k| g.slots[k.index()].queued.as_ref().map(|(key, _)| (*key, k)))
                .min_by_key(|(key, k)| (*key, k.index()));
            let Some((_, kind)) = next else {
                break;
            };
            let slot = &mut g.slots[kind.index()];
            let Some((_, item)) = slot.queued.take() else {
                break;
            };
            slot.taken += 1;
            if let Err(e) = consume(kind, item) {
                g.failed = Some(e);
            }
        }
        self.cond.notify_all();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    type Log = Arc<Mutex<Vec<(PadKind, u64)>>>;

    fn record(log: &Log) -> impl FnMut(PadKind, u64) -> Result<(), gst::FlowError> + '_ {
        move |k, v| {
            log.lock().unwrap().push((k, v));
            Ok(())
        }
    }

    /// Pushes `keys` on `kind` from a new thread, then EOS.
    fn feeder(
        c: &Arc<Collector<u64>>,
        log: &Log,
        kind: PadKind,
        keys: Vec<u64>,
    ) -> std::thread::JoinHandle<bool> {
        let (c, log) = (c.clone(), log.clone());
        std::thread::spawn(move || {
            for k in keys {
                c.push(kind, Some(k), k, record(&log)).unwrap();
            }
            c.eos(kind, record(&log))
        })
    }

    /// Waits (bounded) until `kind`'s pusher has queued its buffer.
    fn wait_until_queued(c: &Collector<u64>, kind: PadKind) {
        for _ in 0..500 {
            if c.lock().slots[kind.index()].queued.is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("{kind:?} never queued its buffer");
    }

    #[test]
    fn two_pads_come_out_in_timestamp_order_and_nothing_is_lost() {
        let c = Arc::new(Collector::default());
        c.add_pad(PadKind::Video);
        c.add_pad(PadKind::Audio);
        let log: Log = Arc::default();
        // 30 fps video against 21.33 ms AAC frames, over 3 s.
        let video: Vec<u64> = (0..90).map(|i| i * 33_333_333).collect();
        let audio: Vec<u64> = (0..140).map(|i| i * 21_333_333).collect();
        let v = feeder(&c, &log, PadKind::Video, video.clone());
        let a = feeder(&c, &log, PadKind::Audio, audio.clone());
        let ends = [v.join().unwrap(), a.join().unwrap()];
        assert_eq!(
            ends.iter().filter(|e| **e).count(),
            1,
            "one call completes the stream"
        );
        let log = log.lock().unwrap();
        assert_eq!(log.len(), video.len() + audio.len());
        assert!(log.windows(2).all(|w| w[0].1 <= w[1].1), "in key order");
        let of = |kind| {
            log.iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, v)| *v)
                .collect::<Vec<_>>()
        };
        assert_eq!((of(PadKind::Video), of(PadKind::Audio)), (video, audio));
    }

    #[test]
    fn the_faster_pad_waits_until_the_other_has_a_buffer_or_ends() {
        let c = Arc::new(Collector::default());
        c.add_pad(PadKind::Video);
        c.add_pad(PadKind::Audio);
        let log: Log = Arc::default();
        let v = feeder(&c, &log, PadKind::Video, vec![0, 10, 20]);
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            log.lock().unwrap().is_empty(),
            "video blocks while audio has nothing"
        );
        assert!(!v.is_finished());
        assert!(!c.eos(PadKind::Audio, record(&log)));
        assert!(v.join().unwrap(), "video's EOS completes the stream");
        assert_eq!(log.lock().unwrap().len(), 3);
    }

    #[test]
    fn a_failure_reaches_both_pads_and_flushing_releases_a_waiter() {
        let c = Arc::new(Collector::<u64>::default());
        c.add_pad(PadKind::Video);
        c.add_pad(PadKind::Audio);
        let waiter = {
            let c = c.clone();
            std::thread::spawn(move || c.push(PadKind::Video, Some(5), 5, |_, _| Ok(())))
        };
        wait_until_queued(&c, PadKind::Video);
        // Audio's buffer is earlier: it goes first and fails.
        let r = c.push(PadKind::Audio, Some(1), 1, |_, _| {
            Err(gst::FlowError::Error)
        });
        assert_eq!(r, Err(Refused::Failed(gst::FlowError::Error)));
        // Video's was not consumed after the failure; its pusher learns it.
        assert_eq!(
            waiter.join().unwrap(),
            Err(Refused::Failed(gst::FlowError::Error))
        );
        c.reset();
        let waiter = {
            let c = c.clone();
            std::thread::spawn(move || c.push(PadKind::Video, Some(5), 5, |_, _| Ok(())))
        };
        wait_until_queued(&c, PadKind::Video);
        c.flush_start();
        assert_eq!(waiter.join().unwrap(), Err(Refused::Flushing));
    }

    #[test]
    fn a_single_pad_never_waits() {
        let c = Collector::default();
        c.add_pad(PadKind::Video);
        let log: Log = Arc::default();
        for k in [3, 1, 2] {
            c.push(PadKind::Video, Some(k), k, record(&log)).unwrap();
        }
        // One pad: arrival order (the pad's own order is never changed).
        assert_eq!(
            log.lock()
                .unwrap()
                .iter()
                .map(|(_, v)| *v)
                .collect::<Vec<_>>(),
            [3, 1, 2]
        );
        assert!(c.eos(PadKind::Video, record(&log)));
    }
}
