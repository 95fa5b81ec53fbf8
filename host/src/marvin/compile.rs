//! Compiling components: in a child process under a wall-clock and an address-space limit (what
//! `weaver serve` does), or in this process (tests, the CLI), at most [`CompileLimits::slots`]
//! at once.
//!
//! The child is `weaver strategy precompile` ([`MarvinConfig::compiler`](super::MarvinConfig)):
//! component on stdin, artifact on stdout, `compile_failed: <why>` on stderr when Cranelift
//! refuses the component. Before it runs it gets `RLIMIT_CPU` (the time limit: CPU time, which
//! unlike wall time barely depends on how busy the machine is), `RLIMIT_AS` (its whole address
//! space, so a compile bomb fails to allocate instead of taking the machine's memory), no core
//! dumps and nice 10 (the server's threads come first), and a clean environment
//! (`marvin/child_env.rs`: no key of the server's reaches it); glibc is told to keep two heap arenas so
//! the address space it reserves does not grow with the number of cores. A wall-clock timeout
//! (generous: it only catches a child that is stuck, not computing) kills it otherwise.
//!
//! # Invariants
//! - A child that uses [`CompileLimits::cpu_time`] or runs out of
//!   [`CompileLimits::max_address_space`] dies of it; one still running at
//!   [`CompileLimits::timeout`] is killed. Either way the component is refused with
//!   `compile_limit_exceeded`, nothing is cached, and the slot it held is free again: a hostile
//!   component holds up other uploads by at most one slot, for at most its limits.
//! - A child that cannot start, or fails for any other reason, is the host's problem
//!   (`internal_error`), never the component's.
//! - Every compile, in a child or not, holds one of [`CompileLimits::slots`] slots.

use std::path::Path;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use wasmtime::Engine;

use super::{Error, engine_config};

/// How compiles are bounded; part of [`MarvinConfig`](super::MarvinConfig).
#[derive(Debug, Clone, PartialEq)]
pub struct CompileLimits {
    /// Compiles that may run at once; later ones wait for a slot.
    pub slots: usize,
    /// CPU time one compile in the child may use (`RLIMIT_CPU`, whole seconds, all its threads
    /// together): the time limit.
    pub cpu_time: Duration,
    /// Wall-clock limit of one compile in the child: a backstop for a child that is stuck rather
    /// than computing.
    pub timeout: Duration,
    /// Address-space limit (`RLIMIT_AS`) of the child process, in bytes.
    pub max_address_space: u64,
}

impl Default for CompileLimits {
    /// One slot per core (at least two), 120 s of CPU, 10 minutes of wall time, 4 GiB of
    /// address space. The Python example (18 MB, CPython inside) takes ~17 s of CPU and under
    /// 512 MiB of address space to compile; a Rust strategy 0.1 s and under 96 MiB.
    fn default() -> CompileLimits {
        CompileLimits {
            slots: std::thread::available_parallelism().map_or(2, |n| n.get().max(2)),
            cpu_time: Duration::from_secs(120),
            timeout: Duration::from_secs(600),
            max_address_space: 4 << 30,
        }
    }
}

/// A counting semaphore of compile slots.
#[derive(Debug)]
pub(super) struct Slots {
    count: usize,
    free: Mutex<usize>,
    freed: Condvar,
}

/// One held slot; frees it when dropped.
pub(super) struct Slot<'a>(&'a Slots);

impl Slots {
    pub(super) fn new(count: usize) -> Slots {
        Slots {
            count: count.max(1),
            free: Mutex::new(count.max(1)),
            freed: Condvar::new(),
        }
    }

    /// How many slots are held now.
    pub(super) fn held(&self) -> usize {
        let free = *self
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.count - free
    }

    /// Waits for a free slot.
    pub(super) fn acquire(&self) -> Slot<'_> {
        let mut free = self
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while *free == 0 {
            free = self
                .freed
                .wait(free)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *free -= 1;
        Slot(self)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut free = self
            .0
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *free += 1;
        self.0.freed.notify_one();
    }
}

/// Compiles `bytes` with an engine of its own (same settings) and returns the artifact.
///
/// wasmtime keeps each engine's Cranelift contexts for reuse, and after a large component
/// (componentize-py's interpreter is ~40 MB of wasm) they hold hundreds of MB: compiled on the
/// shared engine, the Python example alone kept an idle server at ~350 MB RSS. A throwaway
/// engine takes those buffers with it; the artifact is then loaded into the shared engine,
/// which accepts it because the settings are identical.
pub(super) fn compile_apart(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let engine = Engine::new(&engine_config()).map_err(|e| Error::Internal(format!("{e:#}")))?;
    let artifact = engine
        .precompile_component(bytes)
        .map_err(|e| Error::CompileFailed(format!("{e:#}")));
    drop(engine);
    release_compiler_memory();
    artifact
}

/// Compiles `bytes` to an artifact in this process (the child side of
/// [`MarvinConfig::compiler`](super::MarvinConfig): `weaver strategy precompile`).
///
/// # Errors
/// `compile_failed` when Cranelift refuses the component.
pub fn precompile(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    compile_apart(bytes)
}

/// How the child ended, as far as its limits are concerned.
enum Ending {
    /// It exited or died on its own.
    Exited(std::process::ExitStatus),
    /// It ran past the timeout and was killed.
    TimedOut,
}

/// Runs `exe strategy precompile` with `bytes` on stdin under `limits` and returns its stdout
/// (the artifact). The child's stderr becomes the error message when it fails.
pub(super) fn compile_in_child(
    exe: &Path,
    bytes: &[u8],
    limits: &CompileLimits,
) -> Result<Vec<u8>, Error> {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    let mut command = Command::new(exe);
    // A clean environment: the server's keys never reach the child (marvin/child_env.rs).
    super::child_env::clean(&mut command, std::env::vars_os());
    command
        .args(["strategy", "precompile"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let cpu_seconds = limits.cpu_time.as_secs().max(1);
    limit_child(&mut command, limits.max_address_space, cpu_seconds);
    let mut child = command.spawn().map_err(|e| {
        Error::Internal(format!("cannot start the compiler {}: {e}", exe.display()))
    })?;
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(Error::Internal("compiler pipes missing".into()));
    };
    // Write and read at once, on threads of their own: the artifact is larger than a pipe
    // buffer, and this thread watches the clock.
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let reader = std::thread::spawn(move || {
        let mut artifact = Vec::new();
        stdout.read_to_end(&mut artifact).map(|_| artifact)
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + limits.timeout;
    let ending = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ending::Exited(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break Ending::TimedOut;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::Internal(format!("compiler: {e}")));
            }
        }
    };
    // The child is gone, so its pipes are closed and these threads end.
    let wrote = writer.join().unwrap_or(Ok(()));
    let artifact = reader.join().unwrap_or_else(|_| Ok(Vec::new()));
    let text = errors.join().unwrap_or_default();
    let status = match ending {
        Ending::TimedOut => {
            return Err(Error::CompileLimitExceeded(format!(
                "compiling took longer than the {:?} wall-clock limit",
                limits.timeout
            )));
        }
        Ending::Exited(status) => status,
    };
    if let (true, Ok(artifact), Ok(())) = (status.success(), &artifact, &wrote)
        && !artifact.is_empty()
    {
        return Ok(artifact.clone());
    }
    classify_failure(status, &text, limits, cpu_seconds)
}

/// Why a compiler child failed: the component (`compile_failed`), a limit
/// (`compile_limit_exceeded`), or the host (`internal_error`).
fn classify_failure(
    status: std::process::ExitStatus,
    stderr: &str,
    limits: &CompileLimits,
    cpu_seconds: u64,
) -> Result<Vec<u8>, Error> {
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let last: String = last.chars().take(2000).collect();
    if let Some((_, message)) = last.split_once("compile_failed: ") {
        return Err(Error::CompileFailed(message.to_owned()));
    }
    #[cfg(unix)]
    let signal = std::os::unix::process::ExitStatusExt::signal(&status);
    #[cfg(not(unix))]
    let signal: Option<i32> = None;
    if signal == Some(libc::SIGXCPU) {
        return Err(Error::CompileLimitExceeded(format!(
            "compiling used more than {cpu_seconds} s of CPU time (the limit)"
        )));
    }
    // Out of address space: Rust's allocation-failure handler prints this and aborts; anything
    // else that died of a signal while allocating (a thread stack, a mapping) or was killed (the
    // kernel's OOM killer) ran out of memory too.
    let out_of_memory = stderr.contains("memory allocation of")
        || stderr.contains("Cannot allocate memory")
        || stderr.contains("out of memory")
        || matches!(
            signal,
            Some(libc::SIGABRT | libc::SIGSEGV | libc::SIGBUS | libc::SIGKILL)
        );
    if out_of_memory {
        return Err(Error::CompileLimitExceeded(format!(
            "compiling needed more than the {} MiB address-space limit ({status})",
            limits.max_address_space >> 20
        )));
    }
    Err(Error::Internal(format!(
        "the compiler child failed ({status}): {last}"
    )))
}

/// Sets the child's death signal (it dies with the server) and rlimits between fork and exec.
#[cfg(unix)]
#[allow(unsafe_code)] // `pre_exec` and `setrlimit`: see the SAFETY notes
fn limit_child(command: &mut std::process::Command, address_space: u64, cpu_seconds: u64) {
    use std::os::unix::process::CommandExt;
    // At the soft CPU limit the kernel sends SIGXCPU, which ends the child; the hard limit a
    // little later is SIGKILL, should anything catch the first.
    let limits = [
        (libc::RLIMIT_AS, address_space, address_space),
        (libc::RLIMIT_CPU, cpu_seconds, cpu_seconds.saturating_add(5)),
        (libc::RLIMIT_CORE, 0, 0),
    ];
    // SAFETY: the closure runs in the forked child before exec; it only calls `prctl`,
    // `setpriority` and `setrlimit`, async-signal-safe system calls, on values computed before the fork, and
    // allocates nothing.
    unsafe {
        command.pre_exec(move || {
            // The compile ends with the server: a shutdown leaves the strategy `compiling`, and
            // the next start compiles it again, so an orphaned child would only burn CPU.
            #[cfg(target_os = "linux")]
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Below the server, so compiles never starve the API of CPU; failing is harmless.
            let _ = libc::setpriority(libc::PRIO_PROCESS, 0, 10);
            for (resource, soft, hard) in limits {
                let limit = libc::rlimit {
                    rlim_cur: soft,
                    rlim_max: hard,
                };
                if libc::setrlimit(resource, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Without `setrlimit`, only the wall-clock limit applies.
#[cfg(not(unix))]
fn limit_child(_command: &mut std::process::Command, _address_space: u64, _cpu_seconds: u64) {}

/// Hands the heap the compiler freed back to the operating system.
///
/// Cranelift allocates on its worker threads while compiling, and glibc keeps what they free
/// in per-thread arenas instead of returning it. Also worth calling once a large component's
/// bytes and compiled form are dropped; a dropped [`super::Sandbox`] has it called a little later
/// (`marvin/trim.rs`). Under jemalloc (the `weaver` binary's allocator, docs/adr/0015-jemalloc.md)
/// it finds nothing to do: jemalloc's own thread returns freed pages.
#[allow(unsafe_code)] // one FFI call with no arguments to uphold
pub fn release_compiler_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only releases free pages of glibc's heaps; it touches no live
    // allocation and is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}
