//! The executor boundary: a session runs statements, a connector opens sessions.
//!
//! The engine is generic over [`Connector`], so scheduling and accounting can be tested with a
//! deterministic mock in unit tests, while every integration test and every real run uses a real
//! connection: [`super::lean::LeanConnector`] (the default, `driver = lean`) or
//! [`MysqlConnector`] (mysql_async, `driver = mysql_async`, and the fallback when the server
//! wants what the lean executor does not speak). Either way: one connection per worker, every
//! statement prepared once per connection, TCP only.

use crate::target::Target;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, Params, Statement, Value};
use std::future::Future;
use std::time::Duration;

/// Transaction control statements. `BEGIN` and `COMMIT` are prepared once per session where
/// the executor can (sysbench prepares them too); `ROLLBACK` is a plain query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Begin,
    Commit,
    Rollback,
}

impl Control {
    pub fn sql(self) -> &'static str {
        match self {
            Control::Begin => "BEGIN",
            Control::Commit => "COMMIT",
            Control::Rollback => "ROLLBACK",
        }
    }
}

/// Error classes by MySQL error code (docs/design.md, "Errors").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrKind {
    Deadlock,
    LockWaitTimeout,
    ServerGone,
    TooManyConnections,
    Other,
}

impl ErrKind {
    pub fn of(code: u16) -> ErrKind {
        match code {
            1213 => ErrKind::Deadlock,
            1205 => ErrKind::LockWaitTimeout,
            1040 => ErrKind::TooManyConnections,
            2002 | 2003 | 2006 | 2013 | 2055 | 1053 | 1927 => ErrKind::ServerGone,
            _ => ErrKind::Other,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ErrKind::Deadlock => "deadlock",
            ErrKind::LockWaitTimeout => "lock_wait_timeout",
            ErrKind::ServerGone => "server_gone",
            ErrKind::TooManyConnections => "too_many_connections",
            ErrKind::Other => "other",
        }
    }
}

/// A failed statement or connection attempt.
#[derive(Debug, Clone)]
pub struct ExecError {
    /// MySQL error code; client-side codes (2006 gone away, 2013 lost, 2003 cannot connect) for
    /// I/O failures; 0 when there is none.
    pub code: u16,
    pub message: String,
    /// The connection cannot be used any more: reconnect.
    pub connection_lost: bool,
}

impl ExecError {
    pub fn kind(&self) -> ErrKind {
        ErrKind::of(self.code)
    }

    pub fn from_driver(e: mysql_async::Error) -> ExecError {
        match e {
            mysql_async::Error::Server(s) => {
                let lost = matches!(ErrKind::of(s.code), ErrKind::ServerGone);
                ExecError {
                    code: s.code,
                    message: s.message,
                    connection_lost: lost,
                }
            }
            mysql_async::Error::Io(io) => ExecError {
                code: 2013,
                message: format!("lost connection: {io}"),
                connection_lost: true,
            },
            mysql_async::Error::Driver(d) => ExecError {
                code: 2006,
                message: format!("driver: {d}"),
                connection_lost: true,
            },
            other => ExecError {
                code: 0,
                message: other.to_string(),
                connection_lost: true,
            },
        }
    }
}

/// One connection's worth of work.
pub trait Session {
    /// Execute prepared statement `sql` (an index into the plan's SQL list) with `params`. The
    /// session may take the values out (mysql_async needs them owned); the caller refills the
    /// vector before every call, reusing what is left in it.
    fn exec(
        &mut self,
        sql: usize,
        params: &mut Vec<Value>,
    ) -> impl Future<Output = Result<(), ExecError>>;
    fn control(&mut self, c: Control) -> impl Future<Output = Result<(), ExecError>>;
    /// Close politely (best effort).
    fn close(self) -> impl Future<Output = ()>;
    /// This session is alone on its client thread: it may wait for replies in a blocking
    /// receive of at most `bound` before it falls back to the runtime's poller. The default
    /// keeps waiting through the poller.
    fn wait_in_kernel(&mut self, _bound: Duration) {}
}

/// Opens sessions.
pub trait Connector {
    type S: Session;
    fn connect(&self) -> impl Future<Output = Result<Self::S, ExecError>>;
}

/// The real thing: mysql_async.
pub struct MysqlConnector {
    pub target: Target,
    pub opts: Opts,
    pub sql: Vec<String>,
    pub timeout: Duration,
}

impl MysqlConnector {
    pub fn new(target: Target, database: &str, sql: Vec<String>, timeout: Duration) -> Self {
        let opts = target.opts(Some(database), sql.len() + 8);
        MysqlConnector {
            target,
            opts,
            sql,
            timeout,
        }
    }
}

pub struct MysqlSession {
    conn: Conn,
    stmts: Vec<Statement>,
}

impl Connector for MysqlConnector {
    type S = MysqlSession;

    async fn connect(&self) -> Result<MysqlSession, ExecError> {
        let mut conn = match tokio::time::timeout(self.timeout, Conn::new(self.opts.clone())).await
        {
            Err(_) => {
                return Err(ExecError {
                    code: 2003,
                    message: format!("connect timeout after {:?}", self.timeout),
                    connection_lost: true,
                })
            }
            Ok(Err(e)) => {
                let mut e = ExecError::from_driver(e);
                if e.code == 2013 {
                    e.code = 2003;
                }
                e.connection_lost = true;
                return Err(e);
            }
            Ok(Ok(c)) => c,
        };
        let mut stmts = Vec::with_capacity(self.sql.len());
        for q in &self.sql {
            stmts.push(
                conn.prep(q.as_str())
                    .await
                    .map_err(ExecError::from_driver)?,
            );
        }
        Ok(MysqlSession { conn, stmts })
    }
}

impl Session for MysqlSession {
    #[inline]
    async fn exec(&mut self, sql: usize, params: &mut Vec<Value>) -> Result<(), ExecError> {
        self.conn
            .exec_drop(&self.stmts[sql], Params::Positional(std::mem::take(params)))
            .await
            .map_err(ExecError::from_driver)
    }

    async fn control(&mut self, c: Control) -> Result<(), ExecError> {
        let r = match c {
            // Prepared once, then found in the connection's statement cache by its text.
            Control::Begin | Control::Commit => self.conn.exec_drop(c.sql(), ()).await,
            Control::Rollback => self.conn.query_drop(c.sql()).await,
        };
        r.map_err(ExecError::from_driver)
    }

    async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.conn.disconnect()).await;
    }
}
