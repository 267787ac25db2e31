//! Runs disturbed by other load on the machine, and the summaries of
//! repeated runs.
//!
//! A run is disturbed when other processes (or the hypervisor, as steal
//! time) used more than [`DISTURBED_CORES`] of the machine's cores on
//! average while it ran: every other process's CPU time from
//! `/proc/<pid>/stat` (this process's children, an out-of-process runtime,
//! are its own), and the steal time from `/proc/stat`. [`steady`] repeats such a run
//! (up to [`ATTEMPTS`] times) and keeps the least disturbed one.

use std::collections::HashMap;
use std::time::Instant;

use crate::stream::Outcome;

/// Other load, in cores on average over a run, past which it is repeated.
pub(crate) const DISTURBED_CORES: f64 = 0.25;
/// Tries per run before the least disturbed is kept (and reported as such).
pub(crate) const ATTEMPTS: usize = 3;

/// The hypervisor's steal time so far, seconds (the 8th value of the
/// first line of `/proc/stat`, clock ticks at 100 per second). 0 when
/// unreadable.
fn steal_seconds() -> f64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let line = s.lines().next()?;
            let steal: f64 = line.split_whitespace().nth(8)?.parse().ok()?;
            Some(steal / 100.0)
        })
        .unwrap_or_default()
}

/// CPU seconds (user + system) of the process whose `stat` text this is,
/// and its parent's pid.
fn stat_cpu_and_parent(stat: &str) -> Option<(f64, u32)> {
    // After the command's closing parenthesis: state ppid ... utime (12th)
    // stime (13th), in clock ticks (100 per second on Linux).
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let parent: u32 = fields.get(1)?.parse().ok()?;
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some(((user + system) / 100.0, parent))
}

/// CPU seconds used so far by every process but this one and its
/// children (an out-of-process runtime), by pid.
fn others_cpu_seconds() -> HashMap<u32, f64> {
    let me = std::process::id();
    let mut others = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return others;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Kernel threads (children of kthreadd, pid 2) are left out: on a
        // paced run most of their time is the run's own loopback traffic
        // (softirq work deferred to ksoftirqd), not other load.
        if let Some((cpu, parent)) = stat_cpu_and_parent(&stat)
            && pid != me
            && parent != me
            && pid != 2
            && parent != 2
        {
            others.insert(pid, cpu);
        }
    }
    others
}

/// Other processes' CPU time and the steal time at a moment.
///
/// Per process, not from `/proc/stat`'s busy columns: on this project's VM
/// those are sampled at the tick and missed most of a paced run's bursts
/// (0.06 s counted against the 0.87 s the process itself accounted), while
/// the processes' own times are exact.
#[derive(Clone, Debug)]
pub(crate) struct Load {
    others: HashMap<u32, f64>,
    steal: f64,
    at: Instant,
}

impl Load {
    pub(crate) fn now() -> Self {
        Load {
            others: others_cpu_seconds(),
            steal: steal_seconds(),
            at: Instant::now(),
        }
    }

    /// Cores used on average since `self` by other processes (those that
    /// started since count whole) and taken by the hypervisor.
    pub(crate) fn others_since(&self) -> f64 {
        let now = Load::now();
        let elapsed = now.at.duration_since(self.at).as_secs_f64().max(1e-3);
        let others: f64 = now
            .others
            .iter()
            .map(|(pid, cpu)| cpu - self.others.get(pid).copied().unwrap_or(0.0))
            .filter(|d| *d > 0.0)
            .sum();
        let steal = (now.steal - self.steal).max(0.0);
        (others + steal) / elapsed
    }
}

/// Waits (at most 5 s, in 200 ms looks) until other load is below
/// [`DISTURBED_CORES`]: a repeat right into the same load would be
/// disturbed again.
fn wait_for_quiet() {
    let mut others = 0.0;
    for _ in 0..25 {
        let load = Load::now();
        // The window the other load is measured over, not a wait for an
        // event: there is none to wait on.
        std::thread::sleep(std::time::Duration::from_millis(200));
        others = load.others_since();
        if others <= DISTURBED_CORES {
            return;
        }
    }
    eprintln!(
        "(the machine stayed busy for 5 s: {others:.2} cores of other load; the next run goes ahead and is judged by its own load)"
    );
}

/// Runs `run` until it is not disturbed, at most [`ATTEMPTS`] times;
/// returns the least disturbed outcome and how many tries were disturbed.
pub(crate) fn steady(
    mut run: impl FnMut() -> tsercom::Result<Outcome>,
) -> tsercom::Result<(Outcome, usize)> {
    let mut best: Option<Outcome> = None;
    let mut disturbed = 0;
    for _ in 0..ATTEMPTS {
        let outcome = run()?;
        let quiet = outcome.others <= DISTURBED_CORES;
        if !quiet {
            disturbed += 1;
            eprintln!(
                "(a run disturbed by {:.2} cores of other load: repeated)",
                outcome.others
            );
        }
        if best.as_ref().is_none_or(|b| outcome.others < b.others) {
            best = Some(outcome);
        }
        if quiet {
            break;
        }
        wait_for_quiet();
    }
    let best = best.ok_or(tsercom::Error::WrongState("no run"))?;
    Ok((best, disturbed))
}

/// Median, minimum and maximum of `values` (zeros when empty).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Spread {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Spread {
    pub(crate) fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let mut v: Vec<f64> = values.into_iter().collect();
        if v.is_empty() {
            return Spread::default();
        }
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        };
        Spread {
            median,
            min: v[0],
            max: v[v.len() - 1],
        }
    }

    /// `median (min–max)` with `digits` decimals, scaled by `scale`.
    pub(crate) fn show(&self, scale: f64, digits: usize) -> String {
        format!(
            "{:.d$} ({:.d$}–{:.d$})",
            self.median / scale,
            self.min / scale,
            self.max / scale,
            d = digits
        )
    }

    pub(crate) fn json(&self) -> String {
        format!(
            "{{\"median\":{:.3},\"min\":{:.3},\"max\":{:.3}}}",
            self.median, self.min, self.max
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Spread;

    #[test]
    fn spread_of_odd_and_even_counts() {
        let s = Spread::of([3.0, 1.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        let s = Spread::of([4.0, 1.0, 2.0, 3.0]);
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 4.0));
        let s = Spread::of([]);
        assert_eq!((s.median, s.min, s.max), (0.0, 0.0, 0.0));
    }
}
