//! Faults between Roster and the downstream: retries, Retry-After, timeouts, dropped
//! connections, parked failures, the deletion threshold.
