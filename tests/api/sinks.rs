//! Receivers the outbox tests deliver to, started in the test process on 127.0.0.1 port 0: an HTTP/1.1 webhook
//! receiver that records every request and answers from a script, and an SMTP sink that records every message.
//! Nothing needs installing.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    Status(u16),
    /// Reads the request, records it, and never answers (the connection stays open).
    Hold,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    /// Header names in lowercase.
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(&name.to_lowercase()).map(String::as_str).unwrap_or("")
    }
}

pub struct Receiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Answer>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Answers 200 unless told otherwise with `answer`.
    pub async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received: Arc<Mutex<Vec<Received>>> = Default::default();
        let script: Arc<Mutex<VecDeque<Answer>>> = Default::default();
        let (r, s) = (received.clone(), script.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (r, s) = (r.clone(), s.clone());
                tokio::spawn(async move {
                    let mut stream = BufReader::new(stream);
                    let mut head = Vec::new();
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        head.push(line.trim_end().to_string());
                    }
                    let path = head.first().and_then(|l| l.split(' ').nth(1)).unwrap_or("").to_string();
                    let headers: HashMap<String, String> = head
                        .iter()
                        .skip(1)
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
                        .collect();
                    let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
                    let mut body = vec![0; len];
                    if stream.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let body = String::from_utf8_lossy(&body).into_owned();
                    r.lock().unwrap().push(Received { path, headers, body });
                    let answer = s.lock().unwrap().pop_front().unwrap_or(Answer::Status(200));
                    match answer {
                        Answer::Hold => {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                        Answer::Status(code) => {
                            let text = format!(
                                "HTTP/1.1 {code} X\r\ncontent-length: 2\r\nconnection: close\r\ncontent-type: text/plain\r\n\r\nok"
                            );
                            let _ = stream.get_mut().write_all(text.as_bytes()).await;
                            let _ = stream.get_mut().shutdown().await;
                        }
                    }
                });
            }
        });
        Receiver { url, received, script, task }
    }

    /// The next requests get these answers, in order; after them, 200.
    pub fn answer(&self, answers: &[Answer]) {
        self.script.lock().unwrap().extend(answers.iter().copied());
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `n` requests have arrived (failing after `within`), and returns them all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(started.elapsed() < within, "{} of {n} requests arrived within {within:?}: {got:#?}", got.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent after DATA (headers and body).
    pub data: String,
}

/// A plain-text SMTP server (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT; no TLS, no AUTH).
pub struct SmtpSink {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().unwrap().port();
        let mails: Arc<Mutex<Vec<Mail>>> = Default::default();
        let m = mails.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let m = m.clone();
                tokio::spawn(async move {
                    let mut stream = BufReader::new(stream);
                    let _ = stream.get_mut().write_all(b"220 sink.test ESMTP ready\r\n").await;
                    let (mut from, mut to) = (String::new(), Vec::new());
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let command = line.trim_end().to_string();
                        let upper = command.to_uppercase();
                        let reply: &[u8] = if upper.starts_with("EHLO") {
                            b"250-sink.test\r\n250 8BITMIME\r\n"
                        } else if upper.starts_with("HELO") || upper.starts_with("RSET") || upper.starts_with("NOOP") {
                            b"250 OK\r\n"
                        } else if upper.starts_with("MAIL FROM:") {
                            from = command[10..].trim().trim_matches(['<', '>']).to_string();
                            b"250 OK\r\n"
                        } else if upper.starts_with("RCPT TO:") {
                            to.push(command[8..].trim().trim_matches(['<', '>']).to_string());
                            b"250 OK\r\n"
                        } else if upper == "DATA" {
                            let _ = stream.get_mut().write_all(b"354 go ahead\r\n").await;
                            let mut data = String::new();
                            loop {
                                line.clear();
                                if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                                    return;
                                }
                                if line == ".\r\n" {
                                    break;
                                }
                                data.push_str(line.strip_prefix('.').unwrap_or(&line));
                            }
                            m.lock().unwrap().push(Mail { from: from.clone(), to: std::mem::take(&mut to), data });
                            b"250 queued\r\n"
                        } else if upper == "QUIT" {
                            let _ = stream.get_mut().write_all(b"221 bye\r\n").await;
                            return;
                        } else {
                            b"502 not implemented\r\n"
                        };
                        if stream.get_mut().write_all(reply).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        SmtpSink { port, mails, task }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Mail> {
        let started = Instant::now();
        loop {
            let got = self.mails();
            if got.len() >= n {
                return got;
            }
            assert!(started.elapsed() < within, "{} of {n} mails arrived within {within:?}", got.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}
