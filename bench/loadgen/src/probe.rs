//! Reading CPU time and memory of the server under test (`/proc/<pid>/stat`,
//! `/proc/<pid>/status`) and of the load generator itself (`getrusage`).

use std::time::Duration;

/// CPU time and wall-clock snapshots of one process, read from `/proc`.
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    pid: u32,
    ticks_per_s: f64,
}

impl Probe {
    /// A probe for `pid`; fails if the process does not exist.
    pub fn new(pid: u32) -> std::io::Result<Self> {
        std::fs::metadata(format!("/proc/{pid}/stat"))?;
        // SAFETY: sysconf has no preconditions.
        let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Ok(Self {
            pid,
            ticks_per_s: if t > 0 { t as f64 } else { 100.0 },
        })
    }

    /// utime + stime of all the process's threads, in seconds (tick resolution).
    pub fn cpu_s(&self) -> Option<f64> {
        self.cpu_split_s().map(|(user, kernel)| user + kernel)
    }

    /// utime and stime (user space, kernel) of all the process's threads, in
    /// seconds (tick resolution).
    pub fn cpu_split_s(&self) -> Option<(f64, f64)> {
        let s = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        // The command name (field 2) may contain spaces: split after its closing ')'.
        let rest = &s[s.rfind(')')? + 2..];
        let mut fields = rest.split(' ');
        // rest starts at field 3 (state); utime is field 14, stime 15.
        let utime: u64 = fields.nth(11)?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        Some((
            utime as f64 / self.ticks_per_s,
            stime as f64 / self.ticks_per_s,
        ))
    }

    /// Resident set size (VmRSS) in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        s.lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }
}

/// The load generator's own CPU time (user + system), from `getrusage(RUSAGE_SELF)`.
pub fn self_cpu() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct we pass; RUSAGE_SELF is valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}
