//! The lean executor: the few commands of the MySQL client/server protocol a run needs, spoken
//! directly over a tokio `TcpStream`.
//!
//! Why it exists: client CPU per query decides throughput when client and server share the
//! cores (docs/design.md). mysql_async decodes every result row into a `Row` (allocations
//! per row and per value) even for `exec_drop`, keeps its buffers in one queue shared by all
//! threads and runs each command through several layers of futures. A run only needs to send
//! prepared statements with binary parameters and know how each ended, so this executor:
//!
//! - connects and authenticates (`mysql_native_password`, and `caching_sha2_password`'s fast
//!   path; an auth switch to either is followed), TCP only;
//! - prepares each statement once (`COM_STMT_PREPARE`), executes it (`COM_STMT_EXECUTE`), sending
//!   the parameter types only when they change, and runs transaction control as `COM_QUERY`;
//! - reads replies into one reusable buffer per connection and skips result rows by their packet
//!   headers without decoding them; asks MariaDB not to resend unchanged result metadata
//!   (`MARIADB_CLIENT_CACHE_METADATA`) and MySQL/MariaDB to drop the EOF packets
//!   (`CLIENT_DEPRECATE_EOF`) where the server offers them.
//!
//! What it does not do (TLS, other authentication plugins, pre-4.1 servers) is
//! [`OpenError::Unsupported`]: the run then uses mysql_async ([`super::exec::MysqlConnector`])
//! and says so. Everything else (monitor, prepare, bulk, index) uses mysql_async.

use super::exec::{Connector, Control, ErrKind, ExecError, Session};
use crate::target::Target;
use mysql_async::consts::{CapabilityFlags, ColumnType, Command, StatusFlags};
use mysql_async::Value;
use mysql_common::io::{ReadMysqlExt, WriteMysqlExt};
use mysql_common::scramble::{scramble_native, scramble_sha256};
use socket2::SockRef;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// Capability flags, status flags and commands as mysql_common defines them; MariaDB's extended
// capabilities (the upper 32 bits) are not in its 32-bit flag type.
const fn cap(f: CapabilityFlags) -> u64 {
    f.bits() as u64
}
/// `CLIENT_LONG_PASSWORD` on MySQL; MariaDB servers leave it unset to say "MariaDB".
const CLIENT_MYSQL: u64 = cap(CapabilityFlags::CLIENT_LONG_PASSWORD);
const CLIENT_LONG_FLAG: u64 = cap(CapabilityFlags::CLIENT_LONG_FLAG);
const CLIENT_CONNECT_WITH_DB: u64 = cap(CapabilityFlags::CLIENT_CONNECT_WITH_DB);
const CLIENT_PROTOCOL_41: u64 = cap(CapabilityFlags::CLIENT_PROTOCOL_41);
const CLIENT_TRANSACTIONS: u64 = cap(CapabilityFlags::CLIENT_TRANSACTIONS);
const CLIENT_SECURE_CONNECTION: u64 = cap(CapabilityFlags::CLIENT_SECURE_CONNECTION);
const CLIENT_MULTI_RESULTS: u64 = cap(CapabilityFlags::CLIENT_MULTI_RESULTS);
const CLIENT_PS_MULTI_RESULTS: u64 = cap(CapabilityFlags::CLIENT_PS_MULTI_RESULTS);
const CLIENT_PLUGIN_AUTH: u64 = cap(CapabilityFlags::CLIENT_PLUGIN_AUTH);
const CLIENT_PLUGIN_AUTH_LENENC: u64 = cap(CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA);
const CLIENT_DEPRECATE_EOF: u64 = cap(CapabilityFlags::CLIENT_DEPRECATE_EOF);
/// MariaDB: do not resend unchanged result metadata of prepared statements (since 10.6).
const MARIADB_CLIENT_CACHE_METADATA: u64 = 1 << 36;

const SERVER_MORE_RESULTS_EXISTS: u16 = StatusFlags::SERVER_MORE_RESULTS_EXISTS.bits();
/// A payload of this length continues in the next packet.
const MAX_PAYLOAD: usize = 0xFF_FFFF;

const COM_QUIT: u8 = Command::COM_QUIT as u8;
const COM_QUERY: u8 = Command::COM_QUERY as u8;
const COM_STMT_PREPARE: u8 = Command::COM_STMT_PREPARE as u8;
const COM_STMT_EXECUTE: u8 = Command::COM_STMT_EXECUTE as u8;

/// utf8mb4_general_ci: known to MariaDB and MySQL alike.
const CHARSET_UTF8MB4: u8 = 45;

/// Why a lean connection could not be opened.
#[derive(Debug, Clone)]
pub enum OpenError {
    /// A real failure (unreachable, refused credentials, a statement that does not prepare):
    /// mysql_async would fail the same way.
    Exec(ExecError),
    /// The server wants something this executor does not speak; mysql_async may.
    Unsupported(String),
}

impl From<ExecError> for OpenError {
    fn from(e: ExecError) -> Self {
        OpenError::Exec(e)
    }
}

fn lost(code: u16, message: String) -> ExecError {
    ExecError {
        code,
        message,
        connection_lost: true,
    }
}

fn io_lost(e: std::io::Error) -> ExecError {
    lost(2013, format!("lost connection: {e}"))
}

/// A reply this executor cannot read: the connection is not trusted any more.
fn malformed(what: &str) -> ExecError {
    lost(2027, format!("malformed packet from the server: {what}"))
}

/// Opens lean sessions.
pub struct LeanConnector {
    pub target: Target,
    pub database: String,
    pub sql: Vec<String>,
    pub timeout: Duration,
}

impl LeanConnector {
    pub fn new(target: Target, database: &str, sql: Vec<String>, timeout: Duration) -> Self {
        LeanConnector {
            target,
            database: database.to_string(),
            sql,
            timeout,
        }
    }

    /// Connect, authenticate and prepare every statement, within the connect timeout.
    pub async fn open(&self) -> Result<LeanSession, OpenError> {
        match tokio::time::timeout(self.timeout, self.open_inner()).await {
            Ok(r) => r,
            Err(_) => Err(OpenError::Exec(lost(
                2003,
                format!(
                    "cannot connect to {}:{}: connect timeout after {:?}",
                    self.target.host, self.target.port, self.timeout
                ),
            ))),
        }
    }

    async fn open_inner(&self) -> Result<LeanSession, OpenError> {
        let t = &self.target;
        let stream = TcpStream::connect((t.host.as_str(), t.port))
            .await
            .map_err(|e| {
                lost(
                    2003,
                    format!("cannot connect to {}:{}: {e}", t.host, t.port),
                )
            })?;
        stream.set_nodelay(true).map_err(io_lost)?;
        let mut s = LeanSession {
            stream,
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
            out: Vec::with_capacity(1024),
            seq: 0,
            caps: 0,
            stmts: Vec::with_capacity(self.sql.len() + 2),
            control: [None; 2],
            types: Vec::new(),
            kernel_wait: false,
        };
        s.handshake(t, &self.database).await?;
        for q in &self.sql {
            let st = s.prepare(q).await?;
            s.stmts.push(st);
        }
        Ok(s)
    }
}

impl Connector for LeanConnector {
    type S = LeanSession;

    async fn connect(&self) -> Result<LeanSession, ExecError> {
        self.open().await.map_err(|e| match e {
            OpenError::Exec(e) => e,
            OpenError::Unsupported(why) => lost(2059, why),
        })
    }
}

/// A prepared statement on one connection.
struct Stmt {
    id: u32,
    params: usize,
    /// The parameter types last sent (two bytes each); empty before the first execution.
    types: Vec<u8>,
}

/// One connection.
pub struct LeanSession {
    stream: TcpStream,
    /// Read buffer: bytes `start..end` are received and not yet consumed.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The packet being written: a 4-byte header, then the payload.
    out: Vec<u8>,
    /// Sequence id of the next packet to send.
    seq: u8,
    /// Capabilities both sides agreed on.
    caps: u64,
    stmts: Vec<Stmt>,
    /// `BEGIN` and `COMMIT` as prepared statements, prepared on first use (index into `stmts`).
    control: [Option<usize>; 2],
    /// The parameter types of the statement being sent (reused).
    types: Vec<u8>,
    /// Replies are awaited in a bounded blocking receive ([`Session::wait_in_kernel`]).
    kernel_wait: bool,
}

/// One `recv` on the session's socket, bypassing tokio: with `O_NONBLOCK` cleared it sleeps in
/// the kernel until data comes or `SO_RCVTIMEO` runs out (`WouldBlock`). tokio's own read
/// cannot be used for this: after a read shorter than the buffer it marks the socket not ready
/// and waits in `epoll_wait` before the next one.
fn recv(stream: &TcpStream, dst: &mut [u8]) -> std::io::Result<usize> {
    std::io::Read::read(&mut &*SockRef::from(stream), dst)
}

impl LeanSession {
    // ---- framing ----

    /// Make sure `need` unconsumed bytes are in the buffer.
    async fn fill(&mut self, need: usize) -> Result<(), ExecError> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        while self.end - self.start < need {
            if self.buf.len() - self.start < need {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
                if self.buf.len() < need {
                    self.buf.resize(need.next_power_of_two(), 0);
                }
            }
            let dst = &mut self.buf[self.end..];
            let n = match self.kernel_wait.then(|| recv(&self.stream, dst)) {
                Some(Ok(n)) => n,
                Some(Err(e))
                    if !matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    return Err(io_lost(e))
                }
                // Not waiting in the kernel, or nothing came within the bound: the poller.
                _ => self.stream.read(dst).await.map_err(io_lost)?,
            };
            if n == 0 {
                return Err(lost(
                    2013,
                    "lost connection: the server closed it".to_string(),
                ));
            }
            self.end += n;
        }
        Ok(())
    }

    /// The next packet's payload as `(offset, length)` into `buf`, valid until the next read.
    async fn packet(&mut self) -> Result<(usize, usize), ExecError> {
        self.fill(4).await?;
        let h = &self.buf[self.start..self.start + 4];
        let len = h[0] as usize | (h[1] as usize) << 8 | (h[2] as usize) << 16;
        self.seq = h[3].wrapping_add(1);
        self.fill(4 + len).await?;
        let at = self.start + 4;
        self.start = at + len;
        Ok((at, len))
    }

    /// Skip the rest of a payload split over several packets.
    async fn skip_rest(&mut self, mut len: usize) -> Result<(), ExecError> {
        while len == MAX_PAYLOAD {
            len = self.packet().await?.1;
        }
        Ok(())
    }

    /// Start a command packet.
    fn command(&mut self, cmd: u8) {
        self.out.clear();
        self.out.extend_from_slice(&[0, 0, 0, 0, cmd]);
        self.seq = 0;
    }

    /// Send the packet in `out` (split where the protocol says).
    async fn send(&mut self) -> Result<(), ExecError> {
        let len = self.out.len() - 4;
        if len < MAX_PAYLOAD {
            self.out[..3].copy_from_slice(&(len as u32).to_le_bytes()[..3]);
            self.out[3] = self.seq;
            self.seq = self.seq.wrapping_add(1);
            return self.stream.write_all(&self.out).await.map_err(io_lost);
        }
        let payload = &self.out[4..];
        let mut framed = Vec::with_capacity(len + 4 * (len / MAX_PAYLOAD + 2));
        let mut off = 0;
        loop {
            // A payload that fills its last packet exactly is followed by an empty one.
            let n = (payload.len() - off).min(MAX_PAYLOAD);
            framed.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
            framed.push(self.seq);
            self.seq = self.seq.wrapping_add(1);
            framed.extend_from_slice(&payload[off..off + n]);
            off += n;
            if n < MAX_PAYLOAD {
                break;
            }
        }
        self.stream.write_all(&framed).await.map_err(io_lost)
    }

    // ---- replies ----

    /// An ERR packet's code and message.
    fn err_packet(&self, at: usize, len: usize) -> ExecError {
        let p = &self.buf[at..at + len];
        if p.len() < 3 {
            return malformed("short ERR packet");
        }
        let code = u16::from_le_bytes([p[1], p[2]]);
        let mut msg = &p[3..];
        if msg.first() == Some(&b'#') && msg.len() >= 6 {
            msg = &msg[6..];
        }
        ExecError {
            code,
            message: String::from_utf8_lossy(msg).into_owned(),
            connection_lost: ErrKind::of(code) == ErrKind::ServerGone,
        }
    }

    /// Status flags of an OK packet (header 0x00 or 0xFE).
    fn ok_status(&self, at: usize, len: usize) -> Result<u16, ExecError> {
        let p = &self.buf[at..at + len];
        let mut i = 1;
        for _ in 0..2 {
            i += lenenc(p.get(i..).unwrap_or_default())
                .ok_or_else(|| malformed("short OK packet"))?
                .1;
        }
        match p.get(i..i + 2) {
            Some(b) => Ok(u16::from_le_bytes([b[0], b[1]])),
            None => Ok(0),
        }
    }

    /// Status flags of the packet that ends a result set's rows.
    fn end_status(&self, at: usize, len: usize) -> Result<u16, ExecError> {
        if self.caps & CLIENT_DEPRECATE_EOF != 0 {
            self.ok_status(at, len)
        } else {
            let p = &self.buf[at..at + len];
            Ok(p.get(3..5).map_or(0, |b| u16::from_le_bytes([b[0], b[1]])))
        }
    }

    /// Skip `n` definition packets and, without CLIENT_DEPRECATE_EOF, the EOF after them.
    async fn skip_definitions(&mut self, n: u64) -> Result<(), ExecError> {
        for _ in 0..n {
            let (_, len) = self.packet().await?;
            self.skip_rest(len).await?;
        }
        if n > 0 && self.caps & CLIENT_DEPRECATE_EOF == 0 {
            self.packet().await?;
        }
        Ok(())
    }

    /// Read a command's whole reply (every result set of it), counting nothing and decoding no
    /// row: the rows are skipped by their packet headers.
    async fn reply(&mut self) -> Result<(), ExecError> {
        loop {
            let (at, len) = self.packet().await?;
            if len == 0 {
                return Err(malformed("empty reply"));
            }
            let status = match self.buf[at] {
                0x00 => self.ok_status(at, len)?,
                0xFF => return Err(self.err_packet(at, len)),
                0xFB => return Err(malformed("unexpected LOCAL INFILE request")),
                _ => {
                    let p = &self.buf[at..at + len];
                    let (cols, n) = lenenc(p).ok_or_else(|| malformed("column count"))?;
                    let metadata = self.caps & MARIADB_CLIENT_CACHE_METADATA == 0
                        || p.get(n).copied().unwrap_or(1) != 0;
                    if metadata {
                        self.skip_definitions(cols).await?;
                    }
                    loop {
                        let (at, len) = self.packet().await?;
                        let first = self.buf.get(at).copied();
                        let end = first == Some(0xFE)
                            && if self.caps & CLIENT_DEPRECATE_EOF != 0 {
                                len < MAX_PAYLOAD
                            } else {
                                len < 9
                            };
                        if end {
                            break self.end_status(at, len)?;
                        }
                        if first == Some(0xFF) && len < MAX_PAYLOAD {
                            return Err(self.err_packet(at, len));
                        }
                        self.skip_rest(len).await?;
                    }
                }
            };
            if status & SERVER_MORE_RESULTS_EXISTS == 0 {
                return Ok(());
            }
        }
    }

    // ---- commands ----

    async fn prepare(&mut self, sql: &str) -> Result<Stmt, ExecError> {
        self.command(COM_STMT_PREPARE);
        self.out.extend_from_slice(sql.as_bytes());
        self.send().await?;
        let (at, len) = self.packet().await?;
        let p = &self.buf[at..at + len];
        match p.first() {
            Some(0x00) if len >= 9 => {}
            Some(0xFF) => {
                let mut e = self.err_packet(at, len);
                e.message = format!("{} (preparing `{sql}`)", e.message);
                return Err(e);
            }
            _ => return Err(malformed("COM_STMT_PREPARE reply")),
        }
        let id = u32::from_le_bytes([p[1], p[2], p[3], p[4]]);
        let cols = u16::from_le_bytes([p[5], p[6]]);
        let params = u16::from_le_bytes([p[7], p[8]]);
        self.skip_definitions(u64::from(params)).await?;
        self.skip_definitions(u64::from(cols)).await?;
        Ok(Stmt {
            id,
            params: params as usize,
            types: Vec::new(),
        })
    }

    async fn execute(&mut self, i: usize, params: &[Value]) -> Result<(), ExecError> {
        self.command(COM_STMT_EXECUTE);
        let Some(st) = self.stmts.get_mut(i) else {
            return Err(lost(2030, format!("no prepared statement #{i}")));
        };
        if params.len() != st.params {
            return Err(ExecError {
                code: 2034,
                message: format!(
                    "statement #{i} takes {} parameters, {} given",
                    st.params,
                    params.len()
                ),
                connection_lost: false,
            });
        }
        let out = &mut self.out;
        out.extend_from_slice(&st.id.to_le_bytes());
        out.push(0); // CURSOR_TYPE_NO_CURSOR
        out.extend_from_slice(&1u32.to_le_bytes()); // iteration count
        if !params.is_empty() {
            let bitmap = out.len();
            out.resize(bitmap + params.len().div_ceil(8), 0);
            // Types: sent only when they differ from what the server has for this statement.
            let types = &mut self.types;
            types.clear();
            for (k, v) in params.iter().enumerate() {
                types.extend_from_slice(&param_type(v));
                if matches!(v, Value::NULL) {
                    out[bitmap + k / 8] |= 1 << (k % 8);
                }
            }
            if *types == st.types {
                out.push(0);
            } else {
                out.push(1);
                out.extend_from_slice(types);
                std::mem::swap(types, &mut st.types);
            }
            for v in params {
                put_value(out, v);
            }
        }
        self.send().await?;
        self.reply().await
    }

    async fn query(&mut self, sql: &str) -> Result<(), ExecError> {
        self.command(COM_QUERY);
        self.out.extend_from_slice(sql.as_bytes());
        self.send().await?;
        self.reply().await
    }

    // ---- connection phase ----

    async fn handshake(&mut self, t: &Target, database: &str) -> Result<(), OpenError> {
        let (at, len) = self.packet().await?;
        let hs = self.buf[at..at + len].to_vec();
        if hs.first() == Some(&0xFF) {
            return Err(self.err_packet(at, len).into());
        }
        if hs.first() != Some(&10) {
            return Err(OpenError::Unsupported(format!(
                "handshake protocol version {:?} (only 10 is spoken)",
                hs.first()
            )));
        }
        let hs = Handshake::parse(&hs).ok_or_else(|| malformed("initial handshake"))?;
        let mariadb = hs.caps & CLIENT_MYSQL == 0;
        if hs.caps & (CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION)
            != CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION
        {
            return Err(OpenError::Unsupported(
                "the server does not speak protocol 4.1 with secure authentication".into(),
            ));
        }
        let mut want = CLIENT_LONG_FLAG
            | CLIENT_PROTOCOL_41
            | CLIENT_TRANSACTIONS
            | CLIENT_SECURE_CONNECTION
            | CLIENT_MULTI_RESULTS
            | CLIENT_PS_MULTI_RESULTS
            | CLIENT_PLUGIN_AUTH
            | CLIENT_PLUGIN_AUTH_LENENC
            | CLIENT_DEPRECATE_EOF
            | MARIADB_CLIENT_CACHE_METADATA;
        if !mariadb {
            want |= CLIENT_MYSQL;
        }
        if !database.is_empty() {
            want |= CLIENT_CONNECT_WITH_DB;
        }
        let caps = want & hs.caps;
        let password = t.password.as_ref().map_or("", |p| p.expose());
        // Answer in the server's default plugin if spoken here; otherwise in
        // mysql_native_password and let the server switch.
        let mut plugin = hs.plugin.clone();
        let mut auth = scramble(&plugin, password, &hs.nonce);
        if auth.is_none() {
            plugin = "mysql_native_password".into();
            auth = scramble(&plugin, password, &hs.nonce);
        }
        let auth = auth.unwrap_or_default();

        self.out.clear();
        self.out.extend_from_slice(&[0; 4]);
        self.out
            .extend_from_slice(&((caps & 0xFFFF_FFFF) as u32).to_le_bytes());
        self.out
            .extend_from_slice(&(MAX_PAYLOAD as u32 + 1).to_le_bytes());
        self.out.push(CHARSET_UTF8MB4);
        self.out.extend_from_slice(&[0; 19]);
        if mariadb {
            self.out
                .extend_from_slice(&((caps >> 32) as u32).to_le_bytes());
        } else {
            self.out.extend_from_slice(&[0; 4]);
        }
        self.out.extend_from_slice(t.user.as_bytes());
        self.out.push(0);
        if caps & CLIENT_PLUGIN_AUTH_LENENC != 0 {
            put_lenenc(&mut self.out, auth.len() as u64);
        } else {
            self.out.push(auth.len() as u8);
        }
        self.out.extend_from_slice(&auth);
        if caps & CLIENT_CONNECT_WITH_DB != 0 {
            self.out.extend_from_slice(database.as_bytes());
            self.out.push(0);
        }
        if caps & CLIENT_PLUGIN_AUTH != 0 {
            self.out.extend_from_slice(plugin.as_bytes());
            self.out.push(0);
        }
        self.send().await?;

        loop {
            let (at, len) = self.packet().await?;
            let p = self.buf[at..at + len].to_vec();
            match p.first() {
                Some(0x00) => break,
                Some(0xFF) => {
                    let mut e = self.err_packet(at, len);
                    e.connection_lost = true;
                    e.message = format!("{} (user {} at {}:{})", e.message, t.user, t.host, t.port);
                    return Err(e.into());
                }
                Some(0xFE) => {
                    // Auth switch: plugin name, then its data.
                    let rest = &p[1..];
                    let Some(nul) = rest.iter().position(|&b| b == 0) else {
                        return Err(OpenError::Unsupported(
                            "the server asked for the old (pre-4.1) password scheme".into(),
                        ));
                    };
                    plugin = String::from_utf8_lossy(&rest[..nul]).into_owned();
                    let mut data = rest[nul + 1..].to_vec();
                    if data.last() == Some(&0) {
                        data.pop();
                    }
                    let Some(resp) = scramble(&plugin, password, &data) else {
                        return Err(OpenError::Unsupported(format!(
                            "the account {}@{} authenticates with `{plugin}`",
                            t.user, t.host
                        )));
                    };
                    self.out.clear();
                    self.out.extend_from_slice(&[0; 4]);
                    self.out.extend_from_slice(&resp);
                    self.send().await?;
                }
                Some(0x01) if plugin == "caching_sha2_password" => match p.get(1) {
                    Some(3) => {} // fast authentication succeeded; the OK follows
                    _ => {
                        return Err(OpenError::Unsupported(
                            "caching_sha2_password asked for full authentication (needs TLS or the server's RSA key)".into(),
                        ))
                    }
                },
                _ => {
                    return Err(OpenError::Unsupported(format!(
                        "an authentication exchange with `{plugin}` that is not spoken here"
                    )))
                }
            }
        }
        self.caps = caps;
        Ok(())
    }
}

impl Session for LeanSession {
    #[inline]
    async fn exec(&mut self, sql: usize, params: &mut Vec<Value>) -> Result<(), ExecError> {
        self.execute(sql, params).await
    }

    /// `BEGIN` and `COMMIT` go as prepared statements, prepared on a session's first
    /// transaction, as sysbench's `oltp_common.lua` does (the server skips parsing them);
    /// `ROLLBACK`, sent only after an error, is a plain query.
    async fn control(&mut self, c: Control) -> Result<(), ExecError> {
        let slot = match c {
            Control::Begin => 0,
            Control::Commit => 1,
            Control::Rollback => return self.query(c.sql()).await,
        };
        let i = match self.control[slot] {
            Some(i) => i,
            None => {
                let st = self.prepare(c.sql()).await?;
                self.stmts.push(st);
                let i = self.stmts.len() - 1;
                self.control[slot] = Some(i);
                i
            }
        };
        self.execute(i, &[]).await
    }

    async fn close(mut self) {
        self.command(COM_QUIT);
        let _ = tokio::time::timeout(Duration::from_secs(1), self.send()).await;
    }

    /// Clears `O_NONBLOCK` and bounds receives and sends by `bound` (`SO_RCVTIMEO`,
    /// `SO_SNDTIMEO`); replies are then read with a plain `recv` ([`recv`]) that sleeps until
    /// the reply is there: one call and one wake-up. A reply slower than `bound` ends the call
    /// with `EAGAIN`, and that read goes through tokio and its poller like any other, so the
    /// thread's other tasks still run. The socket stays registered with tokio, whose reads and
    /// writes on it block at most `bound` before they report "not ready". If the socket
    /// refuses an option, replies keep going through the poller.
    fn wait_in_kernel(&mut self, bound: Duration) {
        let sock = SockRef::from(&self.stream);
        // Both bounds first: a socket without them must never block.
        self.kernel_wait = !bound.is_zero()
            && sock.set_read_timeout(Some(bound)).is_ok()
            && sock.set_write_timeout(Some(bound)).is_ok()
            && sock.set_nonblocking(false).is_ok();
    }
}

/// The initial handshake packet (protocol version 10), the parts a client needs.
struct Handshake {
    caps: u64,
    nonce: Vec<u8>,
    plugin: String,
}

impl Handshake {
    fn parse(p: &[u8]) -> Option<Handshake> {
        let mut i = 1;
        i += p.get(i..)?.iter().position(|&b| b == 0)? + 1; // server version
        i += 4; // connection id
        let mut nonce = p.get(i..i + 8)?.to_vec();
        i += 9; // + filler
        let mut caps = u64::from(u16::from_le_bytes(p.get(i..i + 2)?.try_into().ok()?));
        i += 2;
        if p.len() <= i {
            return Some(Handshake {
                caps,
                nonce,
                plugin: "mysql_native_password".into(),
            });
        }
        i += 3; // charset, status
        caps |= u64::from(u16::from_le_bytes(p.get(i..i + 2)?.try_into().ok()?)) << 16;
        i += 2;
        let auth_len = *p.get(i)? as usize;
        i += 1 + 6;
        if caps & CLIENT_MYSQL == 0 {
            caps |= u64::from(u32::from_le_bytes(p.get(i..i + 4)?.try_into().ok()?)) << 32;
        }
        i += 4;
        if caps & CLIENT_SECURE_CONNECTION != 0 {
            let n = auth_len.saturating_sub(8).max(13);
            let part = p.get(i..(i + n).min(p.len()))?;
            // The last byte is a NUL terminator, not nonce.
            let keep = part.len().min(12).min(n - 1);
            nonce.extend_from_slice(&part[..keep]);
            i += n;
        }
        let plugin = if caps & CLIENT_PLUGIN_AUTH != 0 {
            let rest = p.get(i..).unwrap_or_default();
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            String::from_utf8_lossy(&rest[..end]).into_owned()
        } else {
            "mysql_native_password".into()
        };
        Some(Handshake {
            caps,
            nonce,
            plugin,
        })
    }
}

/// The authentication response for `plugin`, or `None` when it is not spoken here.
fn scramble(plugin: &str, password: &str, nonce: &[u8]) -> Option<Vec<u8>> {
    let nonce = &nonce[..nonce.len().min(20)];
    let pw = password.as_bytes();
    match plugin {
        // An empty password answers with an empty response.
        "mysql_native_password" => Some(scramble_native(nonce, pw).map_or(Vec::new(), Vec::from)),
        "caching_sha2_password" => Some(scramble_sha256(nonce, pw).map_or(Vec::new(), Vec::from)),
        _ => None,
    }
}

/// A length-encoded integer at the start of `p`: its value and its size in bytes.
fn lenenc(p: &[u8]) -> Option<(u64, usize)> {
    let mut rest = p;
    let v = rest.read_lenenc_int().ok()?;
    Some((v, p.len() - rest.len()))
}

fn put_lenenc(out: &mut Vec<u8>, v: u64) {
    // Writing to a Vec cannot fail.
    let _ = out.write_lenenc_int(v);
}

/// A parameter's binary-protocol type: type code and the unsigned flag.
fn param_type(v: &Value) -> [u8; 2] {
    use ColumnType::*;
    let (t, unsigned) = match v {
        Value::NULL => (MYSQL_TYPE_NULL, false),
        Value::Int(_) => (MYSQL_TYPE_LONGLONG, false),
        Value::UInt(_) => (MYSQL_TYPE_LONGLONG, true),
        Value::Float(_) => (MYSQL_TYPE_FLOAT, false),
        Value::Double(_) => (MYSQL_TYPE_DOUBLE, false),
        Value::Bytes(_) => (MYSQL_TYPE_STRING, false),
        Value::Date(..) => (MYSQL_TYPE_DATETIME, false),
        Value::Time(..) => (MYSQL_TYPE_TIME, false),
    };
    [t as u8, if unsigned { 0x80 } else { 0 }]
}

/// A parameter's binary-protocol value (nothing for NULL: the bitmap says it).
fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::NULL => {}
        Value::Int(i) => out.extend_from_slice(&i.to_le_bytes()),
        Value::UInt(u) => out.extend_from_slice(&u.to_le_bytes()),
        Value::Float(f) => out.extend_from_slice(&f.to_le_bytes()),
        Value::Double(d) => out.extend_from_slice(&d.to_le_bytes()),
        Value::Bytes(b) => {
            put_lenenc(out, b.len() as u64);
            out.extend_from_slice(b);
        }
        Value::Date(y, mo, d, h, mi, s, us) => {
            out.push(11);
            out.extend_from_slice(&y.to_le_bytes());
            out.extend_from_slice(&[*mo, *d, *h, *mi, *s]);
            out.extend_from_slice(&us.to_le_bytes());
        }
        Value::Time(neg, days, h, mi, s, us) => {
            out.push(12);
            out.push(u8::from(*neg));
            out.extend_from_slice(&days.to_le_bytes());
            out.extend_from_slice(&[*h, *mi, *s]);
            out.extend_from_slice(&us.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenenc_round_trips() {
        for v in [
            0u64,
            250,
            251,
            0xFFFF,
            0x1_0000,
            0xFF_FFFF,
            0x100_0000,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_lenenc(&mut out, v);
            assert_eq!(lenenc(&out), Some((v, out.len())), "{v}");
        }
        assert_eq!(lenenc(&[0xFB]), None);
        assert_eq!(lenenc(&[0xFC, 1]), None);
    }

    #[test]
    fn native_password_scramble_matches_the_reference() {
        use sha1::{Digest, Sha1};
        // Computed independently: SHA1("pw") XOR SHA1(nonce ++ SHA1(SHA1("pw"))).
        let nonce: Vec<u8> = (1..=20).collect();
        let got = scramble("mysql_native_password", "pw", &nonce).unwrap();
        assert_eq!(got.len(), 20);
        let h1 = Sha1::digest(b"pw");
        let mut h = Sha1::new();
        h.update(&nonce);
        h.update(Sha1::digest(h1));
        let back: Vec<u8> = got
            .iter()
            .zip(h.finalize().iter())
            .map(|(a, b)| a ^ b)
            .collect();
        assert_eq!(back, h1.to_vec());
        assert_eq!(
            scramble("mysql_native_password", "", &nonce),
            Some(Vec::new())
        );
        assert_eq!(scramble("client_ed25519", "pw", &nonce), None);
    }

    #[test]
    fn a_mariadb_handshake_parses() {
        // Protocol 10, version, id, nonce part 1, filler, caps low, charset, status, caps high,
        // auth length 21, reserved 6, MariaDB caps 4, nonce part 2 (12 + NUL), plugin.
        let mut p = vec![10];
        p.extend_from_slice(b"10.11.6-MariaDB\0");
        p.extend_from_slice(&7u32.to_le_bytes());
        p.extend_from_slice(b"abcdefgh\0");
        let caps: u32 = (CLIENT_PROTOCOL_41
            | CLIENT_SECURE_CONNECTION
            | CLIENT_PLUGIN_AUTH
            | CLIENT_DEPRECATE_EOF) as u32;
        p.extend_from_slice(&(caps as u16).to_le_bytes());
        p.push(45);
        p.extend_from_slice(&2u16.to_le_bytes());
        p.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
        p.push(21);
        p.extend_from_slice(&[0; 6]);
        p.extend_from_slice(&((MARIADB_CLIENT_CACHE_METADATA >> 32) as u32).to_le_bytes());
        p.extend_from_slice(b"ijklmnopqrst\0");
        p.extend_from_slice(b"mysql_native_password\0");
        let h = Handshake::parse(&p).unwrap();
        assert_eq!(h.nonce, b"abcdefghijklmnopqrst");
        assert_eq!(h.plugin, "mysql_native_password");
        assert_ne!(h.caps & MARIADB_CLIENT_CACHE_METADATA, 0);
        assert_ne!(h.caps & CLIENT_DEPRECATE_EOF, 0);
        assert!(Handshake::parse(&p[..20]).is_none());
    }

    #[test]
    fn parameters_encode_as_the_binary_protocol_says() {
        let mut out = Vec::new();
        put_value(&mut out, &Value::Int(-2));
        put_value(&mut out, &Value::Bytes(b"ab".to_vec()));
        put_value(&mut out, &Value::NULL);
        assert_eq!(
            out,
            [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 2, b'a', b'b']
        );
        assert_eq!(param_type(&Value::UInt(1)), [0x08, 0x80]);
    }
}
