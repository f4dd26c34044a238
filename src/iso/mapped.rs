//! Reading a file through a read-only mapping, one window at a time, so
//! hashing the source costs no copy into user space: the bytes come
//! straight from the page cache, which every host of a lab shares.
//!
//! A mapped file that shrinks under us (someone truncates the source ISO
//! mid-build) makes the kernel raise SIGBUS on the next access past the new
//! end. A process-wide SIGBUS handler turns that into an error: when the
//! faulting address lies in a window registered here, it maps a page of
//! zeros over the page (so the access completes), marks the window, and
//! returns; the reader then reports "the file shrank while it was read"
//! instead of dying. Faults anywhere else go to the handler that was there
//! before (Rust's stack overflow report, or the default action).
//!
//! Windows are bounded ([`WINDOW`]), so the resident set stays small
//! whatever the file size. Where a mapping cannot be made (a pipe, a file
//! system without mmap, more windows at once than the guard has slots),
//! [`for_each_chunk`] reads with `pread` into a buffer instead.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Once;

/// Bytes mapped at a time (a multiple of every page size in use).
pub const WINDOW: usize = 8 << 20;
/// Bytes per `pread` when mapping is not possible.
const READ_CHUNK: usize = 256 << 10;
/// Windows mapped at once, process-wide (one per hashing thread).
const SLOTS: usize = 64;

/// One registered window: [start, end) of its address range, and the
/// first address a SIGBUS hit in it (0: none). `start == 0` marks a free
/// slot; `claimed` guards the slot while its owner fills or empties it.
struct Slot {
    claimed: AtomicBool,
    start: AtomicUsize,
    end: AtomicUsize,
    fault: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)]
const FREE: Slot = Slot {
    claimed: AtomicBool::new(false),
    start: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    fault: AtomicUsize::new(0),
};
static SLOTS_IN_USE: [Slot; SLOTS] = [FREE; SLOTS];

static INSTALL: Once = Once::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);
/// The page size, read once outside the handler (sysconf is not
/// async-signal-safe).
static PAGE: AtomicUsize = AtomicUsize::new(4096);
/// The SIGBUS action that was there before ours, for faults not ours.
static mut PREVIOUS: Option<libc::sigaction> = None;

fn page_size() -> usize {
    PAGE.load(Ordering::Relaxed)
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    for slot in &SLOTS_IN_USE {
        let start = slot.start.load(Ordering::Acquire);
        if start != 0 && addr >= start && addr < slot.end.load(Ordering::Acquire) {
            let _ = slot
                .fault
                .compare_exchange(0, addr, Ordering::AcqRel, Ordering::Relaxed);
            let page = addr & !(page_size() - 1);
            // SAFETY: replaces one page of a mapping this module owns with
            // zeros; mmap is async-signal-safe.
            unsafe {
                libc::mmap(
                    page as *mut libc::c_void,
                    page_size(),
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                );
            }
            return;
        }
    }
    // Not ours: hand over to whoever handled SIGBUS before.
    // SAFETY: PREVIOUS is written once, before the handler is installed.
    let previous = unsafe { ptr::addr_of!(PREVIOUS).read() };
    match previous {
        Some(p) if p.sa_sigaction != libc::SIG_DFL && p.sa_sigaction != libc::SIG_IGN => {
            if p.sa_flags & libc::SA_SIGINFO != 0 {
                // SAFETY: the previous handler was installed for SIGBUS
                // with SA_SIGINFO, so it takes these three arguments.
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    unsafe { std::mem::transmute(p.sa_sigaction) };
                f(sig, info, ctx);
            } else {
                // SAFETY: a plain handler takes the signal number.
                let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(p.sa_sigaction) };
                f(sig);
            }
        }
        _ => {
            // The default action: restore it and return, so the access
            // faults again and the process dies as it would have.
            // SAFETY: plain signal(2) call.
            unsafe { libc::signal(libc::SIGBUS, libc::SIG_DFL) };
        }
    }
}

fn install() -> bool {
    INSTALL.call_once(|| {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if page > 0 {
            PAGE.store(page as usize, Ordering::Relaxed);
        }
        // SAFETY: sigaction with a zeroed, then filled, action struct; the
        // previous action is stored before the handler can run.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, ptr::null(), &mut old) != 0 {
                return;
            }
            ptr::addr_of_mut!(PREVIOUS).write(Some(old));
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_sigbus as *const () as usize;
            act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut act.sa_mask);
            if libc::sigaction(libc::SIGBUS, &act, ptr::null_mut()) == 0 {
                INSTALLED.store(true, Ordering::Release);
            }
        }
    });
    INSTALLED.load(Ordering::Acquire)
}

/// A mapped window, unmapped and unregistered when dropped.
struct Window {
    base: *mut libc::c_void,
    len: usize,
    slot: &'static Slot,
}

impl Window {
    /// Maps `len` bytes of `file` from `offset` (page-aligned) and
    /// registers them with the SIGBUS guard; None when it cannot.
    fn map(file: &File, offset: u64, len: usize) -> Option<Window> {
        let slot = SLOTS_IN_USE.iter().find(|s| {
            s.claimed
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })?;
        // SAFETY: a read-only shared mapping of a file we hold open.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                file.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if base == libc::MAP_FAILED {
            slot.claimed.store(false, Ordering::Release);
            return None;
        }
        slot.fault.store(0, Ordering::Release);
        slot.end.store(base as usize + len, Ordering::Release);
        slot.start.store(base as usize, Ordering::Release);
        // SAFETY: advice on our own mapping.
        unsafe { libc::madvise(base, len, libc::MADV_SEQUENTIAL) };
        Some(Window { base, len, slot })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes for as long as self
        // lives; a page the file no longer backs reads as zeros (above).
        unsafe { std::slice::from_raw_parts(self.base as *const u8, self.len) }
    }

    /// Where in the window the first SIGBUS hit, if one did.
    fn fault(&self) -> Option<usize> {
        match self.slot.fault.load(Ordering::Acquire) {
            0 => None,
            addr => Some(addr - self.base as usize),
        }
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        self.slot.start.store(0, Ordering::Release);
        self.slot.end.store(0, Ordering::Release);
        // SAFETY: unmaps exactly the mapping made in `map`.
        unsafe { libc::munmap(self.base, self.len) };
        self.slot.claimed.store(false, Ordering::Release);
    }
}

fn shrank() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the file shrank while it was read",
    )
}

/// What a SIGBUS at file offset `at` meant: the file is now shorter, or
/// the page could not be read (an I/O error reaches a mapping as SIGBUS).
fn fault_error(file: &File, at: u64) -> io::Error {
    match file.metadata() {
        Ok(m) if m.len() <= at => shrank(),
        _ => io::Error::from_raw_os_error(libc::EIO),
    }
}

/// An error of [`for_each_chunk`], with the file offset it happened at.
#[derive(Debug)]
pub struct ReadError {
    pub offset: u64,
    pub error: io::Error,
}

/// Calls `f` with the bytes of `file` in `[offset, offset + len)`, in
/// order, in chunks of at most [`WINDOW`] bytes. Mapped where possible.
/// A file that shrinks meanwhile ends it with an `UnexpectedEof` error, a
/// page that cannot be read with EIO, each with the file offset where it
/// happened. Errors of `f` end it too (at the chunk's offset).
pub fn for_each_chunk(
    file: &File,
    offset: u64,
    len: u64,
    f: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> Result<(), ReadError> {
    let at_offset = |offset: u64| move |error: io::Error| ReadError { offset, error };
    let page = page_size() as u64;
    let mut done = 0u64;
    let mut mapping = install();
    let mut buf = Vec::new();
    while done < len {
        let at = offset + done;
        let n = (len - done).min(WINDOW as u64);
        if mapping {
            let start = at - at % page;
            let lead = (at - start) as usize;
            if let Some(w) = Window::map(file, start, lead + n as usize) {
                f(&w.bytes()[lead..]).map_err(at_offset(at))?;
                if let Some(pos) = w.fault() {
                    let bad = (start + pos as u64).max(at);
                    return Err(at_offset(bad)(fault_error(file, bad)));
                }
                done += n;
                continue;
            }
            mapping = false;
        }
        if buf.is_empty() {
            buf = vec![0u8; READ_CHUNK];
        }
        let k = n.min(READ_CHUNK as u64) as usize;
        let mut got = 0;
        while got < k {
            let here = at + got as u64;
            match file.read_at(&mut buf[got..k], here) {
                Ok(0) => return Err(at_offset(here)(shrank())),
                Ok(m) => got += m,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(at_offset(here)(e)),
            }
        }
        f(&buf[..k]).map_err(at_offset(at))?;
        done += k as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn collect(file: &File, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        for_each_chunk(file, offset, len, &mut |b| {
            out.extend_from_slice(b);
            Ok(())
        })
        .map_err(|e| e.error)?;
        Ok(out)
    }

    #[test]
    fn reads_any_range_in_order() {
        let mut f = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..WINDOW * 2 + 12345).map(|i| (i % 251) as u8).collect();
        f.write_all(&data).unwrap();
        for (off, len) in [(0, data.len()), (1, 5000), (4095, WINDOW + 2), (100, 0)] {
            let got = collect(&f, off as u64, len as u64).unwrap();
            assert_eq!(got, &data[off..off + len], "offset {off} len {len}");
        }
    }

    /// A file truncated between the planning and the reading: the mapped
    /// access past the end raises SIGBUS, which becomes this error.
    #[test]
    fn a_file_that_shrinks_is_an_error_not_a_crash() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&vec![7u8; 3 * WINDOW]).unwrap();
        let len = 3 * WINDOW as u64;
        let mut first = true;
        let err = for_each_chunk(&f, 0, len, &mut |b| {
            if first {
                first = false;
                f.set_len(WINDOW as u64 / 2).unwrap();
                // Touch the now missing pages of this mapped window.
                assert_eq!(b[WINDOW - 1], 0);
            }
            Ok(())
        })
        .unwrap_err();
        assert_eq!(err.error.kind(), io::ErrorKind::UnexpectedEof);
        assert!(err.error.to_string().contains("shrank"), "{}", err.error);
        assert!(
            err.offset >= WINDOW as u64 / 2 && err.offset < WINDOW as u64,
            "{}",
            err.offset
        );
    }
}
