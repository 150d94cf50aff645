//! The guest's stderr: always writable, keeping only its last bytes, so that logging never
//! fails a component and a panic message (written last) survives for the error.
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi_io::bytes::Bytes;

/// Shared by the stream handed to the guest and the host reading it after the call.
#[derive(Clone)]
pub struct StderrTail {
    capacity: usize,
    kept: Arc<Mutex<Vec<u8>>>,
}

impl StderrTail {
    pub fn new(capacity: usize) -> Self {
        StderrTail { capacity, kept: Arc::new(Mutex::new(Vec::new())) }
    }

    fn push(&self, bytes: &[u8]) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.extend_from_slice(bytes);
        let excess = kept.len().saturating_sub(self.capacity);
        kept.drain(..excess);
    }

    /// The last bytes written, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.kept.lock().unwrap_or_else(|e| e.into_inner())).trim().to_string()
    }
}

impl IsTerminal for StderrTail {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StderrTail {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for StderrTail {
    async fn ready(&mut self) {}
}

impl OutputStream for StderrTail {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }
    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(self.capacity.max(1))
    }
}

impl tokio::io::AsyncWrite for StderrTail {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_bytes_and_never_refuses_a_write() {
        let tail = StderrTail::new(8);
        let mut stream = tail.clone();
        for chunk in ["0123456789", "abc", "panicked: x"] {
            assert_eq!(stream.check_write().unwrap(), 8);
            stream.write(Bytes::from(chunk)).unwrap();
        }
        assert_eq!(tail.text(), "icked: x");
    }
}
