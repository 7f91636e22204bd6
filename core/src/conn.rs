//! Connections as the server accepts them: a bounded number, and a deadline for each request header.
//!
//! A client that opens connections and never finishes a request header (or trickles it a line at a time) would
//! otherwise hold a file descriptor forever. Each connection here must deliver a complete HTTP/1 request header
//! (up to the blank line) within `header_read_timeout` of its first byte (or of being accepted), or it is closed.
//! The number of open connections is capped: when the cap is reached, a connection is closed to make room — the
//! oldest of those waiting for a header, idle between requests or speaking HTTP/2, and only when there is none the
//! oldest one busy with a request — so a flood of unfinished or idle connections cannot lock out real ones
//! (/healthz keeps answering). Idle keep-alive connections are also closed by the server's idle timeout.

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

/// Which connections are closed first to make room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    /// Waiting for a header, idle between requests, or HTTP/2.
    First,
    /// Busy with a request (its header complete).
    Last,
}

type Queue = BTreeMap<(Instant, u64), Arc<Evict>>;

struct Shared {
    settings: ConnectionSettings,
    open: Mutex<usize>,
    /// Every open connection, oldest first in each list: (since, id).
    first: Mutex<Queue>,
    last: Mutex<Queue>,
    next_id: AtomicU64,
}

impl Shared {
    fn list(&self, list: List) -> std::sync::MutexGuard<'_, Queue> {
        match list {
            List::First => self.first.lock().unwrap_or_else(|e| e.into_inner()),
            List::Last => self.last.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Closes the oldest connection of the first list, or of the last when the first is empty; false when none.
    fn evict_oldest(&self) -> bool {
        let oldest = self.list(List::First).pop_first().or_else(|| self.list(List::Last).pop_first());
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
        let shared = Shared {
            settings,
            open: Mutex::new(0),
            first: Mutex::new(BTreeMap::new()),
            last: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(0),
        };
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
            tracing::warn!(%remote, "connection refused: no connection could be closed to make room");
        }
    }
}

enum Phase {
    /// Waiting for (the rest of) a request header.
    Header,
    /// Header received: the request is being read or answered.
    Request,
    /// Answered; the next request has not started.
    Between,
    /// HTTP/2 (prior knowledge): frames, not headers to time.
    Http2,
}

pub struct GuardedIo<Io> {
    io: Io,
    shared: Arc<Shared>,
    id: u64,
    phase: Phase,
    /// Where this connection stands in the eviction lists.
    slot: Option<(List, (Instant, u64))>,
    evict: Arc<Evict>,
    deadline: Option<Pin<Box<Sleep>>>,
    /// The last three bytes read, to find a header's end across reads.
    tail: Vec<u8>,
    /// The first bytes of the connection while they may still be the HTTP/2 preface.
    opening: Option<Vec<u8>>,
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

impl<Io> GuardedIo<Io> {
    fn new(io: Io, shared: Arc<Shared>) -> Self {
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let mut me = GuardedIo {
            io,
            shared,
            id,
            phase: Phase::Between,
            slot: None,
            evict: Arc::new(Evict::default()),
            deadline: None,
            tail: Vec::new(),
            opening: Some(Vec::new()),
        };
        me.start_header();
        me
    }

    /// Moves this connection to the end of `list` (or out of both).
    fn place(&mut self, list: Option<List>) {
        if let Some((old, key)) = self.slot.take() {
            self.shared.list(old).remove(&key);
        }
        if let Some(list) = list {
            let key = (Instant::now(), self.id);
            self.shared.list(list).insert(key, self.evict.clone());
            self.slot = Some((list, key));
        }
    }

    fn start_header(&mut self) {
        self.phase = Phase::Header;
        let deadline = Instant::now() + self.shared.settings.header_read_timeout;
        self.deadline = Some(Box::pin(tokio::time::sleep_until(deadline)));
        self.tail.clear();
        self.place(Some(List::First));
    }

    fn enter(&mut self, phase: Phase) {
        let list = match phase {
            Phase::Request => List::Last,
            Phase::Header | Phase::Between | Phase::Http2 => List::First,
        };
        self.phase = phase;
        self.deadline = None;
        self.place(Some(list));
    }

    /// Follows the bytes a read delivered: the start of a request, the end of its header, or HTTP/2.
    fn saw(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Some(mut opening) = self.opening.take() {
            opening.extend_from_slice(bytes);
            let n = opening.len().min(H2_PREFACE.len());
            if opening[..n] == H2_PREFACE[..n] {
                if n == H2_PREFACE.len() {
                    self.enter(Phase::Http2);
                } else {
                    // Still possibly the preface: wait for more, within the header deadline.
                    self.opening = Some(opening);
                }
                return;
            }
            // Not HTTP/2: look at everything read so far as the start of an HTTP/1 request.
            let seen = std::mem::take(&mut opening);
            return self.saw_http1(&seen);
        }
        self.saw_http1(bytes);
    }

    fn saw_http1(&mut self, bytes: &[u8]) {
        if matches!(self.phase, Phase::Http2) {
            return;
        }
        if matches!(self.phase, Phase::Between) {
            self.start_header();
        }
        if matches!(self.phase, Phase::Header) {
            let mut window = std::mem::take(&mut self.tail);
            window.extend_from_slice(bytes);
            // A header ends at a blank line; the parser also takes bare line feeds.
            if window.windows(4).any(|w| w == b"\r\n\r\n") || window.windows(2).any(|w| w == b"\n\n") {
                self.enter(Phase::Request);
            } else {
                let keep = window.len().saturating_sub(3);
                self.tail = window.split_off(keep);
            }
        }
    }
}

impl<Io> Drop for GuardedIo<Io> {
    fn drop(&mut self) {
        self.place(None);
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
            // A final answer is going out (not an interim `100 Continue`): the next bytes read start the next request.
            let interim = data.starts_with(b"HTTP/1.1 1") || data.starts_with(b"HTTP/1.0 1");
            if *n > 0 && !interim && matches!(me.phase, Phase::Request | Phase::Header) {
                me.enter(Phase::Between);
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
