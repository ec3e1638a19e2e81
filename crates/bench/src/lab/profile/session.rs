//! `perf record` steered through control pipes over exactly the measured window, `perf script`
//! collapsed with inferno, and the flame graph.

use super::{Collapsed, FREQ_RANGE};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why profiling is not possible here (one line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable(pub String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A `perf` that can sample whole CPUs here.
#[derive(Debug, Clone)]
pub struct Profiler {
    perf: PathBuf,
    freq: u32,
    /// Things to print with every table (hidden kernel symbols).
    pub notes: Vec<String>,
}

/// Finds the `perf` program: `perf` on the PATH, else a Debian versioned `perf_X.Y`.
pub(super) fn find_perf() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    if let Some(p) = dirs.iter().map(|d| d.join("perf")).find(|p| p.is_file()) {
        return Some(p);
    }
    let mut versioned: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|rd| rd.flatten().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("perf_")))
        .collect();
    versioned.sort();
    versioned.pop()
}

/// `kernel.perf_event_paranoid`, when readable.
pub(super) fn paranoid() -> Option<i32> {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid").ok()?.trim().parse().ok()
}

/// Whether `/proc/kallsyms` shows real addresses to this process (else kernel frames stay
/// unresolved), with the note to print when it does not.
pub(super) fn kernel_symbols_note() -> Option<String> {
    let text = std::fs::read_to_string("/proc/kallsyms").ok();
    let visible = text.as_deref().is_some_and(|t| {
        t.lines()
            .take(50)
            .any(|l| l.split_whitespace().next().is_some_and(|a| a.chars().any(|c| c != '0')))
    });
    if visible {
        return None;
    }
    let restrict = std::fs::read_to_string("/proc/sys/kernel/kptr_restrict")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into());
    Some(format!(
        "kernel symbols hidden (/proc/kallsyms shows no addresses, kernel.kptr_restrict={restrict}): kernel \
         frames are unresolved and counted as other kernel; as root, kernel.kptr_restrict=0 or 1 shows them"
    ))
}

impl Profiler {
    /// Checks that `perf` is installed and may sample whole CPUs (root, or
    /// `kernel.perf_event_paranoid` ≤ 0). Whether the kernel lets perf open its events at all
    /// (a container, a namespace without the capability) shows when the session starts. `freq` is checked by the caller against
    /// [`FREQ_RANGE`].
    pub fn new(freq: u32) -> Result<Profiler, Unavailable> {
        let perf = find_perf().ok_or_else(|| {
            Unavailable(
                "perf is not installed (scripts/setup.sh installs Debian's linux-perf)".into(),
            )
        })?;
        // `UDPRX_BENCH_NOT_ROOT` (tests) takes the non-root path as root.
        if !crate::lab::topology::is_root() {
            match paranoid() {
                Some(p) if p <= 0 => {}
                Some(p) => {
                    return Err(Unavailable(format!(
                        "not root and kernel.perf_event_paranoid={p}: sampling whole CPUs needs root (or perf_event_paranoid <= 0)"
                    )));
                }
                None => {
                    return Err(Unavailable(
                        "not root and /proc/sys/kernel/perf_event_paranoid is unreadable: perf events are not available here".into(),
                    ));
                }
            }
        }
        let notes = kernel_symbols_note().into_iter().collect();
        Ok(Profiler { perf, freq: freq.clamp(*FREQ_RANGE.start(), *FREQ_RANGE.end()), notes })
    }

    /// The sampling frequency, Hz.
    pub fn freq(&self) -> u32 {
        self.freq
    }

    /// Starts `perf record` on `cpus` (empty: every CPU) with its events disabled; nothing is
    /// sampled before [`PerfSession::enable`].
    pub fn start(&self, cpus: &[usize]) -> Result<PerfSession, String> {
        PerfSession::start(self, cpus)
    }
}

/// Counter for unique work directories within this process.
static SESSION_SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A running `perf record`, steered through two named pipes. Dropping it ends perf and
/// removes its files.
#[derive(Debug)]
pub struct PerfSession {
    perf: PathBuf,
    child: Option<Child>,
    dir: PathBuf,
    ctl: std::fs::File,
    ack: std::fs::File,
    cpus: Vec<usize>,
    freq: u32,
    enabled_at: Option<Instant>,
    window: Duration,
}

/// Removes the work directories (`udprx-perf-<pid>-<n>`) of udprx processes that no longer
/// exist (killed before they could clean up).
pub(super) fn remove_stale_dirs() {
    let Ok(rd) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("udprx-perf-")) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// How long perf may take to start or to answer a command.
const PERF_TIMEOUT: Duration = Duration::from_secs(15);

impl PerfSession {
    fn start(p: &Profiler, cpus: &[usize]) -> Result<PerfSession, String> {
        remove_stale_dirs();
        let seq = SESSION_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("udprx-perf-{}-{seq}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let cleanup = |e: String| {
            let _ = std::fs::remove_dir_all(&dir);
            e
        };
        let (ctl_path, ack_path) = (dir.join("ctl"), dir.join("ack"));
        for f in [&ctl_path, &ack_path] {
            crate::lab::sys::mkfifo(f)
                .map_err(|e| cleanup(format!("mkfifo {}: {e}", f.display())))?;
        }
        // Read-write opens of a FIFO never block (Linux), whichever side comes first.
        let open = |path: &Path| {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(path)
                .map_err(|e| format!("opening {}: {e}", path.display()))
        };
        let ctl = open(&ctl_path).map_err(cleanup)?;
        let ack = open(&ack_path).map_err(cleanup)?;
        let mut cmd = Command::new(&p.perf);
        cmd.arg("record")
            .args(["-e", "cpu-clock", "-F", &p.freq.to_string(), "-g", "-D", "-1"])
            .arg(format!("--control=fifo:{},{}", ctl_path.display(), ack_path.display()))
            .arg("-o")
            .arg(dir.join("perf.data"));
        if cpus.is_empty() {
            cmd.arg("-a");
        } else {
            let list: Vec<String> = cpus.iter().map(|c| c.to_string()).collect();
            cmd.args(["-C", &list.join(",")]);
        }
        // Its own process group: Ctrl-C reaches udprx, which ends perf in order.
        use std::os::unix::process::CommandExt;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr")).map_err(|e| cleanup(e.to_string()))?)
            .process_group(0);
        // Without a command to run, perf would record until stopped: it ends with udprx.
        crate::lab::sys::end_with_parent(&mut cmd);
        let child =
            cmd.spawn().map_err(|e| cleanup(format!("starting {}: {e}", p.perf.display())))?;
        Ok(PerfSession {
            perf: p.perf.clone(),
            child: Some(child),
            dir,
            ctl,
            ack,
            cpus: cpus.to_vec(),
            freq: p.freq,
            enabled_at: None,
            window: Duration::ZERO,
        })
    }

    /// perf's error output, first meaningful line.
    fn perf_error(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default();
        text.lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("Events ") && !l.starts_with("[ perf record"))
            .unwrap_or("perf exited without saying why")
            .to_string()
    }

    /// Sends one control command and waits for perf's `ack`.
    fn command(&mut self, what: &str) -> Result<(), String> {
        self.ctl
            .write_all(format!("{what}\n").as_bytes())
            .map_err(|e| format!("perf control: {e}"))?;
        let deadline = Instant::now() + PERF_TIMEOUT;
        let mut got = Vec::new();
        loop {
            let mut buf = [0u8; 64];
            match self.ack.read(&mut buf) {
                Ok(n) if n > 0 => {
                    // perf writes "ack\n" and the string's NUL.
                    got.extend_from_slice(&buf[..n]);
                    if got.contains(&b'\n') {
                        return Ok(());
                    }
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(format!("perf control: {e}")),
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    self.child = None;
                    return Err(format!("perf record stopped ({st}): {}", self.perf_error()));
                }
            }
            if Instant::now() > deadline {
                return Err(format!("perf did not answer `{what}` within {PERF_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Starts sampling (waits until perf confirms).
    pub fn enable(&mut self) -> Result<(), String> {
        self.command("enable")?;
        self.enabled_at = Some(Instant::now());
        Ok(())
    }

    /// Stops sampling (waits until perf confirms).
    pub fn disable(&mut self) -> Result<(), String> {
        self.command("disable")?;
        if let Some(t) = self.enabled_at.take() {
            self.window += t.elapsed();
        }
        Ok(())
    }

    /// Time sampled so far (between enable and disable).
    pub fn window(&self) -> Duration {
        self.window + self.enabled_at.map_or(Duration::ZERO, |t| t.elapsed())
    }

    /// The sampled cores (empty: every CPU).
    pub fn cpus(&self) -> &[usize] {
        &self.cpus
    }

    /// The sampling frequency, Hz.
    pub fn freq(&self) -> u32 {
        self.freq
    }

    /// Ends perf, reads its samples with `perf script` and collapses them (sample periods as
    /// weights, the process id in the root frame, kernel frames marked `_[k]`).
    pub fn finish(mut self) -> Result<Collapsed, String> {
        if self.enabled_at.is_some() {
            self.disable()?;
        }
        let _ = self.ctl.write_all(b"stop\n");
        let mut child = self.child.take().ok_or_else(|| "perf is not running".to_string())?;
        let deadline = Instant::now() + PERF_TIMEOUT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => {
                    let _ = crate::lab::sys::signal(child.id(), libc::SIGINT);
                    match child.wait() {
                        Ok(st) => break st,
                        Err(e) => return Err(format!("waiting for perf: {e}")),
                    }
                }
            }
        };
        if !status.success() && status.code() != Some(130) {
            return Err(format!("perf record failed ({status}): {}", self.perf_error()));
        }
        let stderr = std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default();
        let samples = parse_written_samples(&stderr);
        let out = Command::new(&self.perf)
            .arg("script")
            .arg("-i")
            .arg(self.dir.join("perf.data"))
            .args(["-F", "comm,pid,tid,cpu,time,period,event,ip,sym,dso", "--no-inline"])
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("perf script: {e}"))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(format!(
                "perf script failed: {}",
                err.lines().find(|l| !l.trim().is_empty()).unwrap_or("no reason given")
            ));
        }
        let mut collapsed = collapse(&out.stdout).map_err(|e| format!("collapsing stacks: {e}"))?;
        collapsed.samples = samples;
        Ok(collapsed)
    }
}

impl Drop for PerfSession {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = crate::lab::sys::signal(c.id(), libc::SIGKILL);
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The sample count from perf record's last line (`... (1234 samples) ]`).
pub(super) fn parse_written_samples(stderr: &str) -> u64 {
    stderr
        .lines()
        .rev()
        .find_map(|l| {
            let i = l.rfind(" samples)")?;
            l[..i].rsplit('(').next()?.trim().parse().ok()
        })
        .unwrap_or(0)
}

/// Collapses `perf script` output (inferno's perf collapser).
pub fn collapse(script: &[u8]) -> std::io::Result<Collapsed> {
    use inferno::collapse::Collapse;
    let mut opt = inferno::collapse::perf::Options::default();
    opt.include_pid = true;
    opt.annotate_kernel = true;
    opt.nthreads = 1;
    let mut folder = inferno::collapse::perf::Folder::from(opt);
    let mut out = Vec::new();
    folder.collapse(script, &mut out)?;
    let text = String::from_utf8_lossy(&out);
    Ok(Collapsed { lines: text.lines().map(str::to_string).collect(), samples: 0 })
}

/// Draws the flame graph of `c` as an SVG at `path`.
pub fn flame_graph(c: &Collapsed, title: &str, path: &Path) -> Result<(), String> {
    let mut opt = inferno::flamegraph::Options::default();
    opt.title = title.to_string();
    opt.count_name = "ns".into();
    let mut svg = Vec::new();
    inferno::flamegraph::from_lines(&mut opt, c.lines.iter().map(String::as_str), &mut svg)
        .map_err(|e| format!("drawing the flame graph: {e}"))?;
    std::fs::write(path, svg).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// A file-name-safe form of a path label: `classic recvmmsg 1×` → `classic-recvmmsg-1x`.
pub fn slug(label: &str) -> String {
    let mut s = String::new();
    for ch in label.chars() {
        match ch {
            'a'..='z' | 'A'..='Z' | '0'..='9' => s.push(ch),
            '×' => s.push('x'),
            '+' => {}
            _ if !s.ends_with('-') && !s.is_empty() => s.push('-'),
            _ => {}
        }
    }
    s.trim_end_matches('-').to_string()
}
