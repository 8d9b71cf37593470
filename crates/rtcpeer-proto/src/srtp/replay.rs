//! The sliding replay window of RFC 3711 §3.3.2, one per SSRC.

/// How many packets behind the highest accepted index are still accepted
/// (if not seen before). RFC 3711 asks for at least 64.
pub const REPLAY_WINDOW: u64 = 128;

/// What [`ReplayWindow::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplayCheck {
    /// Never seen and inside or ahead of the window.
    Fresh,
    /// Already accepted.
    Replayed,
    /// Behind the window.
    TooOld,
}

/// The highest accepted index and a bitmap of the [`REPLAY_WINDOW`] indexes
/// up to it (bit `n` set: index `highest - n` was accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReplayWindow {
    highest: u64,
    seen: u128,
}

impl ReplayWindow {
    /// A window whose first accepted index is `index`.
    pub(crate) fn starting_at(index: u64) -> ReplayWindow {
        ReplayWindow {
            highest: index,
            seen: 1,
        }
    }

    /// The highest index accepted so far.
    pub(crate) fn highest(&self) -> u64 {
        self.highest
    }

    /// Whether `index` may be accepted. Does not change the window: call
    /// [`accept`](Self::accept) once the packet has authenticated.
    pub(crate) fn check(&self, index: u64) -> ReplayCheck {
        if index > self.highest {
            return ReplayCheck::Fresh;
        }
        let behind = self.highest - index;
        if behind >= REPLAY_WINDOW {
            ReplayCheck::TooOld
        } else if self.seen & (1u128 << behind) != 0 {
            ReplayCheck::Replayed
        } else {
            ReplayCheck::Fresh
        }
    }

    /// Records `index` as accepted, sliding the window if it is the new highest.
    pub(crate) fn accept(&mut self, index: u64) {
        if index > self.highest {
            let ahead = index - self.highest;
            self.seen = if ahead >= REPLAY_WINDOW { 0 } else { self.seen << ahead };
            self.seen |= 1;
            self.highest = index;
        } else {
            let behind = self.highest - index;
            if behind < REPLAY_WINDOW {
                self.seen |= 1u128 << behind;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_each_index_once_and_forgets_beyond_the_window() {
        let mut w = ReplayWindow::starting_at(1000);
        assert_eq!(w.check(1000), ReplayCheck::Replayed);
        assert_eq!(w.check(999), ReplayCheck::Fresh, "reordered but inside the window");
        w.accept(999);
        assert_eq!(w.check(999), ReplayCheck::Replayed);
        assert_eq!(w.check(1000 - REPLAY_WINDOW + 1), ReplayCheck::Fresh);
        assert_eq!(w.check(1000 - REPLAY_WINDOW), ReplayCheck::TooOld);

        w.accept(1005);
        assert_eq!(w.highest(), 1005);
        assert_eq!(w.check(1000), ReplayCheck::Replayed, "bits move with the window");
        assert_eq!(w.check(999), ReplayCheck::Replayed);
        assert_eq!(w.check(1001), ReplayCheck::Fresh);

        w.accept(1005 + 10 * REPLAY_WINDOW);
        assert_eq!(w.check(1005 + 10 * REPLAY_WINDOW - 1), ReplayCheck::Fresh);
        assert_eq!(w.check(1005), ReplayCheck::TooOld);
    }
}
