//! The one clock of Roster's own time-based behaviour: the write transaction's timestamp, rule
//! grace periods, lifecycle dates and the scheduler all read [`Clock::now`].
//!
//! It is the system clock plus an offset, shared by every clone of a [`Store`](crate::Store):
//! tests (and rehearsals of a year of HR changes) move time forward with [`Clock::advance`]
//! instead of sleeping, and `ROSTER_CLOCK_OFFSET_SECS` starts a server with an offset (so a
//! restarted server keeps the moved time). The offset never makes time go backwards within a
//! process: [`Clock::now`] never returns less than it returned before.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{NaiveDateTime, TimeDelta};

/// System time plus an adjustable offset (microseconds), shared by clones.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_us: Arc<AtomicI64>,
    last_us: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock (offset zero).
    pub fn system() -> Clock {
        Clock::default()
    }

    /// The current instant, truncated to microseconds (both backends store that exactly), and
    /// never earlier than an instant this clock returned before.
    pub fn now(&self) -> NaiveDateTime {
        let real = crate::write::now();
        let t = real + TimeDelta::microseconds(self.offset_us.load(Ordering::SeqCst));
        let us = t.and_utc().timestamp_micros();
        let prev = self.last_us.fetch_max(us, Ordering::SeqCst);
        if prev > us {
            chrono::DateTime::from_timestamp_micros(prev)
                .map(|d| d.naive_utc())
                .unwrap_or(t)
        } else {
            t
        }
    }

    /// Moves the clock forward by `by` (negative values are ignored).
    pub fn advance(&self, by: TimeDelta) {
        let us = by.num_microseconds().unwrap_or(0).max(0);
        self.offset_us.fetch_add(us, Ordering::SeqCst);
    }

    /// Sets the offset from the system clock (e.g. from configuration at start).
    pub fn set_offset(&self, offset: TimeDelta) {
        self.offset_us
            .store(offset.num_microseconds().unwrap_or(0), Ordering::SeqCst);
    }

    /// The current offset from the system clock.
    pub fn offset(&self) -> TimeDelta {
        TimeDelta::microseconds(self.offset_us.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_now_and_clones_share_it() {
        let c = Clock::system();
        let other = c.clone();
        let before = c.now();
        other.advance(TimeDelta::days(10));
        let after = c.now();
        assert!(after - before >= TimeDelta::days(10));
        assert!(after - before < TimeDelta::days(10) + TimeDelta::seconds(5));
        assert_eq!(c.offset(), TimeDelta::days(10));
    }

    #[test]
    fn now_never_goes_back() {
        let c = Clock::system();
        c.set_offset(TimeDelta::days(1));
        let ahead = c.now();
        c.set_offset(TimeDelta::zero());
        assert!(c.now() >= ahead);
    }
}
