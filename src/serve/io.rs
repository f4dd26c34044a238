//! The byte pumps of the server: a connection that gives up when no byte
//! moves for a while, and the bodies it sends.
//!
//! [`Idle`] closes connections that make no progress in either direction
//! for the idle time: a client that stops reading a download (its window
//! full, the server's writes pending) or a keep-alive connection left open.
//! The connection loop (`conn`) bounds the time a whole request head may
//! take, which a client trickling header bytes cannot stretch.
//!
//! A file body ([`Payload::File`]) goes out with sendfile(2) on plain TCP:
//! the kernel moves the bytes from the page cache to the socket, so memory
//! per connection is the socket's buffer whatever the file size, and no
//! byte is copied through this process. Over TLS (and where a file system
//! refuses sendfile) it is read in [`CHUNK`]-sized positioned reads on
//! tokio's blocking pool, one chunk in flight per response. Loopback
//! measurements against nginx are in tests/bench/serve.sh.

use std::fs::File;
use std::future::Future;
use std::io;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use std::os::fd::AsRawFd;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, Interest, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// Bytes read per step of a file body.
pub const CHUNK: usize = 256 * 1024;

/// A stream that fails with TimedOut after `idle` without progress.
pub struct Idle<T> {
    inner: T,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
}

impl<T> Idle<T> {
    pub fn new(inner: T, idle: Duration) -> Idle<T> {
        Idle {
            inner,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn progressed(&mut self) {
        let at = Instant::now() + self.idle;
        self.timer.as_mut().reset(at);
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.timer.as_mut().poll(cx).is_ready()
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection idle too long")
}

impl<T: AsyncRead + Unpin> AsyncRead for Idle<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.progressed();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(timed_out())),
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Idle<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    this.progressed();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(timed_out())),
            other => other,
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    this.progressed();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(timed_out())),
            other => other,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(timed_out())),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_shutdown(cx) {
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(timed_out())),
            other => other,
        }
    }
}

/// Called once when a body has sent its last byte.
pub type OnComplete = Box<dyn FnOnce() + Send + Sync>;

/// What follows a response head.
#[derive(Default)]
pub enum Payload {
    #[default]
    Empty,
    Bytes(Bytes),
    /// The bytes `start..end` of a file (a file of the lab, or a stock
    /// ISO, whose files are extents of it).
    File {
        file: File,
        start: u64,
        end: u64,
        on_complete: Option<OnComplete>,
    },
}

impl Payload {
    pub fn len(&self) -> u64 {
        match self {
            Payload::Empty => 0,
            Payload::Bytes(b) => b.len() as u64,
            Payload::File { start, end, .. } => end - start,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Most bytes handed to one sendfile(2): bounds the time a worker thread
/// spends in one call when the file is not in the page cache.
const SENDFILE_STEP: usize = 8 * CHUNK;

fn shrank() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the file shrank while it was being sent",
    )
}

impl super::conn::Transport for Idle<TcpStream> {
    /// sendfile(2) from the page cache to the socket, waiting for the
    /// socket to drain at most the idle time at each step; read and write
    /// where the file system cannot (EINVAL, ENOSYS).
    async fn send_file(&mut self, file: &File, offset: u64, len: u64) -> io::Result<()> {
        let (out, inp) = (self.inner.as_raw_fd(), file.as_raw_fd());
        let (mut pos, end) = (offset, offset + len);
        while pos < end {
            let want = (end - pos).min(SENDFILE_STEP as u64) as usize;
            let sent = self.inner.try_io(Interest::WRITABLE, || {
                let mut off = pos as libc::off_t;
                // SAFETY: both descriptors are open for the whole call;
                // `off` is a valid out-parameter.
                let n = unsafe { libc::sendfile(out, inp, &mut off, want) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match sent {
                Ok(0) => return Err(shrank()),
                Ok(n) => {
                    pos += n as u64;
                    self.progressed();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    tokio::time::timeout(self.idle, self.inner.writable())
                        .await
                        .map_err(|_| timed_out())??;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
                    return copy_file(self, file, pos, end - pos).await;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> super::conn::Transport
    for tokio_rustls::server::TlsStream<T>
{
    async fn send_file(&mut self, file: &File, offset: u64, len: u64) -> io::Result<()> {
        copy_file(self, file, offset, len).await
    }
}

/// The bytes `offset..offset+len` of `file`, read on the blocking pool in
/// [`CHUNK`] steps (one in flight) and written to `w`.
pub async fn copy_file<W: AsyncWrite + Unpin>(
    w: &mut W,
    file: &File,
    offset: u64,
    len: u64,
) -> io::Result<()> {
    let file = Arc::new(file.try_clone()?);
    let (mut pos, end) = (offset, offset + len);
    while pos < end {
        let n = (end - pos).min(CHUNK as u64) as usize;
        let f = Arc::clone(&file);
        let buf = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; n];
            let mut got = 0;
            while got < n {
                match f.read_at(&mut buf[got..], pos + got as u64) {
                    Ok(0) => return Err(shrank()),
                    Ok(k) => got += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(buf)
        })
        .await
        .map_err(io::Error::other)??;
        w.write_all(&buf).await?;
        pos += n as u64;
    }
    Ok(())
}
