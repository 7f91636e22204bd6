//! Connections as the server accepts them: a bounded number, and a deadline for each request header.
//!
//! A client that opens connections and never finishes a request header (or trickles it a line at a time) would
//! otherwise hold a file descriptor forever. Each connection here must deliver a complete HTTP/1 request header
//! (up to the blank line) within `header_read_timeout` of its first byte (or of being accepted), or it is closed.
//! The number of open connections is capped: when the cap is reached, the connection that has waited longest for
//! its header is closed to make room, so a flood of unfinished requests cannot lock out real ones (/healthz keeps
//! answering); only when every open connection is busy with a request is a new one refused. Idle keep-alive
//! connections are closed by the server's idle timeout. HTTP/2 connections (prior knowledge) are only counted.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::task::AtomicWaker;
use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

#[derive(Debug, Clone, Copy)]
pub struct ConnectionSettings {
    /// Open connections at most.
    pub limit: usize,
    /// How long a request header may take, from its first byte (or from the accept).
    pub header_read_timeout: Duration,
    /// A connection without traffic for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        ConnectionSettings {
            limit: 4096,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// Asks one connection to close.
#[derive(Default)]
struct Evict {
    now: AtomicBool,
    waker: AtomicWaker,
}

struct Shared {
    settings: ConnectionSettings,
    open: Mutex<usize>,
    /// Connections waiting for a request header, oldest first: (since, id).
    waiting: Mutex<BTreeMap<(Instant, u64), Arc<Evict>>>,
    next_id: AtomicU64,
}

impl Shared {
    /// Closes the connection that has waited longest for its header; false when none is waiting.
    fn evict_oldest(&self) -> bool {
        let oldest = self.waiting.lock().unwrap_or_else(|e| e.into_inner()).pop_first();
        match oldest {
            Some((_, evict)) => {
                evict.now.store(true, Ordering::SeqCst);
                evict.waker.wake();
                true
            }
            None => false,
        }
    }
}

/// An acceptor that applies `ConnectionSettings` to what `inner` accepts.
pub struct Guarded<A> {
    inner: A,
    shared: Arc<Shared>,
}

impl<A> Guarded<A> {
    pub fn new(inner: A, settings: ConnectionSettings) -> Self {
        let shared =
            Shared { settings, open: Mutex::new(0), waiting: Mutex::new(BTreeMap::new()), next_id: AtomicU64::new(0) };
        Guarded { inner, shared: Arc::new(shared) }
    }
}

impl<A: Acceptor> Acceptor for Guarded<A> {
    type Io = GuardedIo<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        loop {
            let (io, local, remote, scheme) = self.inner.accept().await?;
            let admitted = {
                let mut open = self.shared.open.lock().unwrap_or_else(|e| e.into_inner());
                if *open < self.shared.settings.limit || self.shared.evict_oldest() {
                    // An evicted connection still holds its slot until it has closed: allow for that moment.
                    *open += 1;
                    true
                } else {
                    false
                }
            };
            if admitted {
                return Ok((GuardedIo::new(io, self.shared.clone()), local, remote, scheme));
            }
            tracing::warn!(%remote, "connection refused: every connection is busy with a request");
        }
    }
}

enum Phase {
    /// Waiting for (the rest of) a request header, since then.
    Header,
    /// Header received: the request is being read or answered.
    Request,
    /// Answered; the next request has not started.
    Between,
    /// HTTP/2: frames, not headers to time.
    Http2,
}

pub struct GuardedIo<Io> {
    io: Io,
    shared: Arc<Shared>,
    id: u64,
    phase: Phase,
    /// The key of this connection among those waiting for a header, while it is.
    waiting: Option<(Instant, u64)>,
    evict: Arc<Evict>,
    deadline: Option<Pin<Box<Sleep>>>,
    /// The last three bytes read, to find a header's end across reads.
    tail: Vec<u8>,
    first: bool,
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

impl<Io> GuardedIo<Io> {
    fn new(io: Io, shared: Arc<Shared>) -> Self {
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let mut me = GuardedIo {
            io,
            shared,
            id,
            phase: Phase::Between,
            waiting: None,
            evict: Arc::new(Evict::default()),
            deadline: None,
            tail: Vec::new(),
            first: true,
        };
        me.start_header();
        me
    }

    fn start_header(&mut self) {
        let now = Instant::now();
        self.phase = Phase::Header;
        self.deadline = Some(Box::pin(tokio::time::sleep_until(now + self.shared.settings.header_read_timeout)));
        let key = (now, self.id);
        self.shared.waiting.lock().unwrap_or_else(|e| e.into_inner()).insert(key, self.evict.clone());
        self.waiting = Some(key);
        self.tail.clear();
    }

    fn end_header(&mut self, next: Phase) {
        self.phase = next;
        self.deadline = None;
        if let Some(key) = self.waiting.take() {
            self.shared.waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
        }
    }

    /// Follows the bytes a read delivered: the start of a request, the end of its header, or HTTP/2.
    fn saw(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if std::mem::take(&mut self.first)
            && bytes.len() >= 4
            && H2_PREFACE.starts_with(&bytes[..bytes.len().min(H2_PREFACE.len())])
        {
            self.end_header(Phase::Http2);
            return;
        }
        if matches!(self.phase, Phase::Between) {
            self.start_header();
        }
        if matches!(self.phase, Phase::Header) {
            let mut window = std::mem::take(&mut self.tail);
            window.extend_from_slice(bytes);
            if window.windows(4).any(|w| w == b"\r\n\r\n") {
                self.end_header(Phase::Request);
            } else {
                let keep = window.len().saturating_sub(3);
                self.tail = window.split_off(keep);
            }
        }
    }
}

impl<Io> Drop for GuardedIo<Io> {
    fn drop(&mut self) {
        self.end_header(Phase::Between);
        let mut open = self.shared.open.lock().unwrap_or_else(|e| e.into_inner());
        *open = open.saturating_sub(1);
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for GuardedIo<Io> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let me = &mut *self;
        me.evict.waker.register(cx.waker());
        if me.evict.now.load(Ordering::SeqCst) {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionAborted, "closed to make room")));
        }
        if let Some(deadline) = me.deadline.as_mut() {
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "request header took too long")));
            }
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut me.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &result {
            let read = buf.filled()[before..].to_vec();
            me.saw(&read);
        }
        result
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for GuardedIo<Io> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let me = &mut *self;
        let result = Pin::new(&mut me.io).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = &result {
            // An answer is going out: the next bytes read start the next request.
            if *n > 0 && matches!(me.phase, Phase::Request | Phase::Header) {
                me.end_header(Phase::Between);
            }
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
