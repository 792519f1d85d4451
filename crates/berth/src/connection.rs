//! Accepted HTTP connections, which send blob chunks straight from the page cache.
//!
//! A blob on the file system leaves as chunks mapped from its file (`berth_storage`). Written
//! to a socket as bytes, each chunk is copied from the page cache into the socket's buffers;
//! with `sendfile`, the kernel hands the page-cache pages to the socket instead, and a pull
//! costs the server no copy at all. The HTTP layer passes only byte slices down to the
//! connection, so the connection asks the storage layer which file holds a slice it is to
//! write, and sends that range of the file when there is one.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Slices shorter than this are written as bytes: a small blob then leaves in one write with
/// its headers, and the system call it would save is no cheaper than the copy.
const SEND_FILE_MIN: usize = 64 * 1024;

/// The server's listener: accepts [`Connection`]s.
pub struct Listener(pub TcpListener);

impl axum::serve::Listener for Listener {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        let (tcp, peer) = axum::serve::Listener::accept(&mut self.0).await;
        (Connection { tcp, send_file: true }, peer)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

pub struct Connection {
    tcp: TcpStream,
    /// Cleared for good when the kernel refuses `sendfile` for a file (some file systems
    /// cannot): the chunks are then written as bytes.
    send_file: bool,
}

impl Connection {
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.tcp.set_nodelay(nodelay)
    }

    /// Sends `buf`, which is `file` from `offset`, from the file. `None`: the kernel cannot for
    /// this file; the caller writes the bytes instead.
    #[cfg(target_os = "linux")]
    fn poll_send_file(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
        (file, offset): (std::sync::Arc<std::fs::File>, u64),
    ) -> Option<Poll<io::Result<usize>>> {
        use std::os::fd::AsRawFd;
        loop {
            match self.tcp.poll_write_ready(cx) {
                Poll::Pending => return Some(Poll::Pending),
                Poll::Ready(Err(e)) => return Some(Poll::Ready(Err(e))),
                Poll::Ready(Ok(())) => {}
            }
            let sent = self.tcp.try_io(tokio::io::Interest::WRITABLE, || {
                let mut at = offset as libc::off_t;
                // Corked for the call: the socket has `TCP_NODELAY`, and without the cork each
                // batch of pages the kernel splices in leaves a short segment behind it; corked,
                // only full segments leave until the uncork sends the rest. A 1 GiB pull on
                // loopback: 43,500 -> 25,400 TCP segments (both ways), ~1,450 -> ~1,950 MB/s
                // (nginx's `tcp_nopush` is the same trick).
                let fd = self.tcp.as_raw_fd();
                set_cork(fd, true);
                // SAFETY: both descriptors stay open for the call (`file` is held, the socket is
                // ours); the kernel reads the file's pages and queues them on the socket.
                let n = unsafe { libc::sendfile(fd, file.as_raw_fd(), &mut at, buf.len()) };
                let result = if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) };
                set_cork(fd, false);
                result
            });
            match sent {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
                    self.send_file = false;
                    return None;
                }
                // 0 with bytes asked for: the file ends before the chunk does (it cannot, see
                // `berth_storage`); the HTTP layer fails the response as cut short.
                sent => return Some(Poll::Ready(sent)),
            }
        }
    }

    /// Where the bytes of `buf` can be sent from, if from a file.
    fn file_range(&self, buf: &[u8]) -> Option<(std::sync::Arc<std::fs::File>, u64)> {
        if cfg!(target_os = "linux") && self.send_file && buf.len() >= SEND_FILE_MIN {
            berth_storage::mapped_file_range(buf)
        } else {
            None
        }
    }

    /// Writes `buf`: from `source`, its file range when it has one, else as bytes.
    fn poll_write_from(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
        source: Option<(std::sync::Arc<std::fs::File>, u64)>,
    ) -> Poll<io::Result<usize>> {
        #[cfg(target_os = "linux")]
        if let Some(source) = source
            && let Some(sent) = self.poll_send_file(cx, buf, source)
        {
            return sent;
        }
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }
}

/// Sets or clears `TCP_CORK` on socket `fd`. A failure is ignored: the bytes still go, in
/// shorter segments.
#[cfg(target_os = "linux")]
fn set_cork(fd: std::os::fd::RawFd, on: bool) {
    let value: libc::c_int = on.into();
    // SAFETY: `fd` is an open TCP socket; the value is the int the option takes.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_CORK,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

impl AsyncRead for Connection {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let source = self.file_range(buf);
        self.poll_write_from(cx, buf, source)
    }

    /// Writes the leading run of slices of one kind: slices sent from a file go one per call,
    /// the others together, so a response's headers and a small body still leave in one write.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let bufs = &bufs[bufs.iter().take_while(|b| b.is_empty()).count()..];
        let Some(first) = bufs.first() else { return Poll::Ready(Ok(0)) };
        if let Some(source) = self.file_range(first) {
            return self.poll_write_from(cx, first, Some(source));
        }
        let bytes_only = 1 + bufs[1..].iter().position(|b| self.file_range(b).is_some()).unwrap_or(bufs.len() - 1);
        Pin::new(&mut self.tcp).poll_write_vectored(cx, &bufs[..bytes_only])
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}
