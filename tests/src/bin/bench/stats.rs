//! Latency percentiles and process readings (CPU time, memory) from /proc.

use std::time::Duration;

/// Round-trip times of one run, in microseconds.
#[derive(Debug, Default)]
pub struct Latencies(Vec<u64>);

impl Latencies {
    pub fn record(&mut self, d: Duration) {
        self.0
            .push(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The `p`-th percentile (0-100), nearest-rank; 0 when empty.
    pub fn percentile(&mut self, p: f64) -> u64 {
        if self.0.is_empty() {
            return 0;
        }
        self.0.sort_unstable();
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1]
    }
}

/// CPU time a process has used so far (all its threads), from the
/// scheduler's own accounting in /proc/PID/task/*/schedstat: nanoseconds,
/// not the 10 ms ticks of /proc/PID/stat, so short runs measure well.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total_ns: u64 = 0;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue; // the thread ended meanwhile
        };
        total_ns += stat
            .split_whitespace()
            .next()
            .and_then(|ns| ns.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(Duration::from_nanos(total_ns))
}

/// CPU time of a process and every process it started that is still
/// running (websockify forks one per connection; the benchmark keeps its
/// connections open through all rounds, so none ends in between).
pub fn tree_cpu_time(pid: u32) -> Option<Duration> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The parent is the second field after the command name's ')'.
        if let Some(parent) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok())
        {
            parents.push((child, parent));
        }
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        i += 1;
    }
    let mut total = cpu_time(pid)?;
    for child in &tree[1..] {
        total += cpu_time(*child).unwrap_or_default();
    }
    Some(total)
}

/// How a process's CPU time so far splits into user and kernel time, from
/// /proc/PID/stat (in ticks of 10 ms: read it over a run of seconds).
pub fn user_kernel(pid: u32) -> Option<(Duration, Duration)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line; USER_HZ is
    // 100 on Linux whatever the kernel's own tick.
    let tick = |i: usize| -> Option<Duration> {
        Some(Duration::from_millis(
            fields.get(i)?.parse::<u64>().ok()? * 10,
        ))
    };
    Some((tick(11)?, tick(12)?))
}

/// Resident memory of a process in KiB, from /proc.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Open file descriptors the bench itself may hold.
pub fn fd_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut l = Latencies::default();
        for us in 1..=100 {
            l.record(Duration::from_micros(us));
        }
        assert_eq!(l.percentile(50.0), 50);
        assert_eq!(l.percentile(90.0), 90);
        assert_eq!(l.percentile(99.0), 99);
        assert_eq!(Latencies::default().percentile(50.0), 0);
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        assert!(rss_kib(me).is_some_and(|kib| kib > 0));
        assert!(cpu_time(me).is_some());
        // Burn some user time so the 10 ms ticks have something to count.
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed() < Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let (user, _kernel) = user_kernel(me).expect("this process's stat");
        assert!(user >= Duration::from_millis(10), "user time {user:?}");
    }

    /// A child's CPU time counts for its parent's tree, not for the parent alone.
    #[test]
    fn tree_counts_children() {
        let mut child = std::process::Command::new("sh")
            .args([
                "-c",
                "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 5",
            ])
            .spawn()
            .expect("sh");
        let child_pid = child.id();
        // Wait (bounded) until the child has burnt 20 ms.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while cpu_time(child_pid).unwrap_or_default() < Duration::from_millis(20) {
            assert!(std::time::Instant::now() < deadline, "the child never ran");
            std::thread::sleep(Duration::from_millis(10));
        }
        let me = std::process::id();
        let alone = cpu_time(me).expect("own");
        let tree = tree_cpu_time(me).expect("tree");
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            tree >= alone + Duration::from_millis(20),
            "tree {tree:?} vs alone {alone:?}"
        );
    }
}
