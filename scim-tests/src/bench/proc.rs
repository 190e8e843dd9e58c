//! Server resource sampling from `/proc/PID` (Linux): CPU seconds and peak RSS.

use anyhow::{anyhow, Context, Result};

/// Clock ticks per second of `/proc/PID/stat` times (`USER_HZ`, 100 on every Linux ABI Roster
/// targets; the kernel exports it as `CLK_TCK` and never changes it at run time).
const USER_HZ: f64 = 100.0;

/// One sample of a process.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    /// utime + stime, seconds, all threads.
    pub cpu_s: f64,
    /// `VmHWM` (peak resident set), KiB.
    pub hwm_kib: u64,
    /// `VmRSS` (current resident set), KiB.
    pub rss_kib: u64,
}

pub fn sample(pid: u32) -> Result<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("read /proc/{pid}/stat"))?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("malformed /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15 (1-based).
    let utime: f64 = fields.get(11).ok_or_else(|| anyhow!("no utime"))?.parse()?;
    let stime: f64 = fields.get(12).ok_or_else(|| anyhow!("no stime"))?.parse()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(Sample {
        cpu_s: (utime + stime) / USER_HZ,
        hwm_kib: kib("VmHWM:"),
        rss_kib: kib("VmRSS:"),
    })
}
