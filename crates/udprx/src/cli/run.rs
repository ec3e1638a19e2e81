//! `udprx run`: receive on one address with the chosen method and fan-out, print a live line
//! per interval and a final summary.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use udprx::{Batch, Flow, Handler, Method, Receiver, RunOutput, SetupInfo, Steer, StopHandle};

use super::{CliError, parse_bytes, parse_cpus, parse_duration};

/// How much the final report holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatsLevel {
    /// Everything the handlers measured.
    Full,
    /// Totals only.
    Minimal,
}

/// Options of `udprx run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Address and port to listen on (other than loopback only when asked for explicitly).
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub bind: SocketAddr,
    /// Receive method: recvfrom, recvmmsg, uring or auto.
    #[arg(long, default_value = "auto")]
    pub method: Method,
    /// Number of SO_REUSEPORT sockets (one pinned thread each).
    #[arg(long, default_value_t = 1)]
    pub sockets: usize,
    /// Steering between sockets: hash (kernel 4-tuple hash) or cpu (CBPF, socket of the softirq CPU).
    #[arg(long, default_value = "hash")]
    pub steer: Steer,
    /// CPUs for the socket threads (`0,1`, `0-3`, `none`); default socket i on core i mod ncores.
    #[arg(long, value_parser = parse_cpu_list)]
    pub cpus: Option<CpuList>,
    /// Datagrams per recvmmsg call.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// recvmmsg: block until the batch is full instead of MSG_WAITFORONE.
    #[arg(long)]
    pub full_batch: bool,
    /// Buffers in the io_uring provided-buffer ring (power of two; default 4096, 256 with --gro).
    #[arg(long)]
    pub ring_buffers: Option<usize>,
    /// Payload bytes per receive buffer (raised to 64 KiB with --gro).
    #[arg(long, default_value_t = 2048)]
    pub buffer_size: usize,
    /// Enable UDP_GRO (coalesced buffers, counted per segment).
    #[arg(long)]
    pub gro: bool,
    /// SO_BUSY_POLL in microseconds.
    #[arg(long, value_name = "USEC")]
    pub busy_poll: Option<u32>,
    /// Receive buffer size (SO_RCVBUFFORCE when permitted, else SO_RCVBUF), e.g. 4M.
    #[arg(long, value_parser = parse_bytes, value_name = "BYTES")]
    pub rcvbuf: Option<usize>,
    /// Kernel receive timestamps (SO_TIMESTAMPNS).
    #[arg(long)]
    pub timestamps: bool,
    /// Busy-loop on non-blocking receives instead of sleeping in the kernel.
    #[arg(long)]
    pub spin: bool,
    /// Stop after this long (e.g. 10s); default: until Ctrl-C.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Live line interval.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub interval: Duration,
    /// Write the final report as JSON to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub json: Option<String>,
    /// Report detail.
    #[arg(long, value_enum, default_value = "full")]
    pub stats: StatsLevel,
}

/// A parsed `--cpus` value (a newtype so clap takes it as one value, not many).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

fn parse_cpu_list(s: &str) -> Result<CpuList, String> {
    parse_cpus(s).map(CpuList)
}

/// Per-thread counters the live line reads (one relaxed add per batch, no locks).
#[derive(Debug, Default)]
struct Live {
    datagrams: AtomicU64,
    bytes: AtomicU64,
}

/// The interim handler: counts datagrams (GRO segments included) and bytes.
struct Counter {
    live: Arc<Live>,
    datagrams: u64,
    bytes: u64,
    truncated: u64,
}

impl Handler for Counter {
    fn on_batch(&mut self, batch: &Batch<'_>) -> Flow {
        let (mut n, mut b) = (0u64, 0u64);
        for d in batch.iter() {
            n += d.segment_count() as u64;
            b += d.payload.len() as u64;
            self.truncated += d.truncated as u64;
        }
        self.datagrams += n;
        self.bytes += b;
        self.live.datagrams.fetch_add(n, Ordering::Relaxed);
        self.live.bytes.fetch_add(b, Ordering::Relaxed);
        Flow::Continue
    }
}

#[derive(serde::Serialize)]
struct Summary<'a> {
    setup: &'a SetupInfo,
    elapsed_s: f64,
    datagrams: u64,
    bytes: u64,
    pps: f64,
    truncated: u64,
    kernel_drops: u64,
    cpu_ns_per_datagram: Option<f64>,
    threads: &'a [udprx::ThreadResult],
}

/// Runs the receiver until duration, Ctrl-C or SIGTERM.
pub fn execute(a: RunArgs) -> Result<(), CliError> {
    if a.interval.is_zero() {
        return Err(CliError::usage("--interval must be > 0"));
    }
    let stop = StopHandle::new();
    let mut b = Receiver::builder(a.bind)
        .method(a.method)
        .sockets(a.sockets)
        .steer(a.steer)
        .batch(a.batch)
        .full_batch(a.full_batch)
        .buffer_size(a.buffer_size)
        .gro(a.gro)
        .busy_poll(a.busy_poll)
        .rcvbuf(a.rcvbuf)
        .timestamps(a.timestamps)
        .spin(a.spin)
        .duration(a.duration)
        .stop_handle(stop.clone());
    if let Some(c) = a.cpus.clone() {
        b = b.cpus(c.0);
    }
    if let Some(n) = a.ring_buffers {
        b = b.ring_buffers(n);
    }
    let rx = b.build()?;
    let setup = rx.setup().clone();
    print_setup(&setup);

    let signal = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, signal.clone())
            .map_err(|e| CliError::runtime(format!("cannot install signal handler: {e}")))?;
    }
    let lives: Vec<Arc<Live>> = (0..setup.sockets).map(|_| Arc::new(Live::default())).collect();
    let factory_lives = lives.clone();
    let runner = std::thread::spawn(move || {
        rx.run(|info| Counter {
            live: factory_lives[info.socket].clone(),
            datagrams: 0,
            bytes: 0,
            truncated: 0,
        })
    });

    let start = Instant::now();
    let mut next = start + a.interval;
    let mut last: Vec<u64> = vec![0; lives.len()];
    let mut last_t = start;
    while !runner.is_finished() {
        if signal.load(Ordering::Relaxed) {
            stop.stop();
        }
        std::thread::sleep(Duration::from_millis(20));
        let now = Instant::now();
        if now >= next && !runner.is_finished() {
            let dt = now.duration_since(last_t).as_secs_f64();
            let mut line = format!("[{:7.2}s]", now.duration_since(start).as_secs_f64());
            let mut total = 0u64;
            let mut per = String::new();
            for (i, l) in lives.iter().enumerate() {
                let v = l.datagrams.load(Ordering::Relaxed);
                total += v - last[i];
                if lives.len() > 1 {
                    per.push_str(&format!(" s{i}={:.0}", (v - last[i]) as f64 / dt));
                }
                last[i] = v;
            }
            line.push_str(&format!(" {:>12.0} pps{per}", total as f64 / dt));
            println!("{line}");
            last_t = now;
            next += a.interval;
            if next < now {
                next = now + a.interval;
            }
        }
    }
    let out = runner
        .join()
        .map_err(|_| CliError::runtime("receiver thread panicked"))?
        .map_err(CliError::from)?;
    report(&a, &setup, &out)
}

fn print_setup(s: &SetupInfo) {
    let mut line = format!(
        "udprx: listening on {} method={} sockets={} steer={} cpus={} rcvbuf={:?}",
        s.local_addr,
        s.method,
        s.sockets,
        s.steer,
        s.cpus
            .iter()
            .map(|c| c.map_or("-".to_string(), |c| c.to_string()))
            .collect::<Vec<_>>()
            .join(","),
        s.rcvbuf
    );
    if let Some(m) = &s.uring_mode {
        line.push_str(&format!(" uring={m}"));
    }
    if s.gro {
        line.push_str(" gro");
    }
    if s.spin {
        line.push_str(" spin");
    }
    if let Some(us) = s.busy_poll {
        line.push_str(&format!(" busy_poll={us}us"));
    }
    if s.full_batch {
        line.push_str(" full_batch");
    }
    if s.timestamps {
        line.push_str(" timestamps");
    }
    println!("{line}");
    if let Some(r) = &s.fallback_reason {
        println!("udprx: auto chose {} because: {r}", s.method);
    }
}

fn report(a: &RunArgs, setup: &SetupInfo, out: &RunOutput<Counter>) -> Result<(), CliError> {
    let datagrams: u64 = out.handlers.iter().map(|h| h.datagrams).sum();
    let bytes: u64 = out.handlers.iter().map(|h| h.bytes).sum();
    let truncated: u64 = out.handlers.iter().map(|h| h.truncated).sum();
    let drops: u64 = out.threads.iter().map(|t| t.kernel_drops).sum();
    let cpu: u64 = out.threads.iter().map(|t| t.cpu_user_ns + t.cpu_sys_ns).sum();
    let secs = out.elapsed.as_secs_f64().max(1e-9);
    let pps = datagrams as f64 / secs;
    let cpu_per = (datagrams > 0).then(|| cpu as f64 / datagrams as f64);
    println!(
        "total: {datagrams} datagrams, {bytes} bytes in {secs:.2}s = {pps:.0} pps; kernel drops {drops}; truncated {truncated}"
    );
    if a.stats == StatsLevel::Full {
        for t in &out.threads {
            println!(
                "  socket {} cpu {:?}: {} buffers in {} batches, user {:.3}s sys {:.3}s, drops {}, enobufs {}, rearms {}",
                t.socket,
                t.cpu,
                t.buffers,
                t.batches,
                t.cpu_user_ns as f64 / 1e9,
                t.cpu_sys_ns as f64 / 1e9,
                t.kernel_drops,
                t.enobufs,
                t.rearms
            );
        }
        if let Some(c) = cpu_per {
            println!("  receive-thread CPU per datagram: {c:.0} ns");
        }
    }
    if let Some(path) = &a.json {
        let s = Summary {
            setup,
            elapsed_s: secs,
            datagrams,
            bytes,
            pps,
            truncated,
            kernel_drops: drops,
            cpu_ns_per_datagram: cpu_per,
            threads: &out.threads,
        };
        let text = serde_json::to_string_pretty(&s)
            .map_err(|e| CliError::runtime(format!("JSON: {e}")))?;
        if path == "-" {
            println!("{text}");
        } else {
            std::fs::File::create(path)
                .and_then(|mut f| f.write_all(text.as_bytes()))
                .map_err(|e| CliError::runtime(format!("cannot write {path}: {e}")))?;
        }
    }
    Ok(())
}
