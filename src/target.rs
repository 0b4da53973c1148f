//! Targets: the MySQL URL a run points at, where its password comes from, and how a connection
//! to it is opened.
//!
//! A target is `mysql://user[:password]@host[:port][/database]`, direct to a server or through a
//! proxy. The harness treats both alike; it only insists on TCP (`prefer_socket(false)`), so a
//! proxy in front of a local server is never bypassed through the server's socket.
//!
//! Passwords come from the URL, `MYSQL_PWD`, or a file (`--password-file`), in that order of
//! precedence: file over URL over environment. They are held here and nowhere else: every URL
//! that leaves this module for logs, reports or the store is [`Target::redacted`].

use mysql_async::{Conn, Opts, OptsBuilder};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a target could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("invalid target URL `{url}`: {why} (expected mysql://user[:password]@host[:port][/database])")]
    BadUrl { url: String, why: String },

    #[error("cannot read password file {path}: {source}")]
    PasswordFile {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot connect to {host}:{port}: {why}")]
    Unreachable {
        host: String,
        port: u16,
        why: String,
    },

    #[error("cannot connect to {host}:{port}: no answer within {secs} s (connect timeout; change it with --connect-timeout)")]
    Timeout { host: String, port: u16, secs: u64 },

    #[error("access denied for user `{user}` at {host}:{port} (server error {code}): {message}")]
    Auth {
        user: String,
        host: String,
        port: u16,
        code: u16,
        message: String,
    },

    #[error("server error {code} ({state}) on {host}:{port}{}: {message}", .statement.as_ref().map(|s| format!(" running `{s}`")).unwrap_or_default())]
    Server {
        host: String,
        port: u16,
        code: u16,
        state: String,
        message: String,
        statement: Option<String>,
    },

    #[error("lost the connection to {host}:{port}{}: {why}", .statement.as_ref().map(|s| format!(" running `{s}`")).unwrap_or_default())]
    Lost {
        host: String,
        port: u16,
        why: String,
        statement: Option<String>,
    },
}

impl crate::error::ExitCode for TargetError {
    fn exit_code(&self) -> u8 {
        match self {
            TargetError::BadUrl { .. } | TargetError::PasswordFile { .. } => {
                crate::error::exit::USAGE
            }
            _ => crate::error::exit::TARGET,
        }
    }
}

/// A password that never prints.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A parsed target.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<Secret>,
    /// Database (schema) named in the URL, if any.
    pub database: Option<String>,
}

impl Target {
    /// Parse `mysql://user[:password]@host[:port][/database]`. Query parameters are refused
    /// rather than silently ignored.
    pub fn parse(url: &str) -> Result<Target, TargetError> {
        let bad = |why: &str| TargetError::BadUrl {
            url: redact_url(url),
            why: why.to_string(),
        };
        let rest = url
            .strip_prefix("mysql://")
            .or_else(|| url.strip_prefix("mariadb://"))
            .ok_or_else(|| bad("the scheme must be mysql://"))?;
        if rest.contains('?') {
            return Err(bad("query parameters are not supported"));
        }
        let (auth, hostpart) = match rest.rfind('@') {
            Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
            None => (None, rest),
        };
        let (user, password) = match auth {
            None => ("root".to_string(), None),
            Some(a) => match a.split_once(':') {
                Some((u, p)) => (percent_decode(u), Some(Secret(percent_decode(p)))),
                None => (percent_decode(a), None),
            },
        };
        if user.is_empty() {
            return Err(bad("the user name is empty"));
        }
        let (hostport, database) = match hostpart.split_once('/') {
            Some((hp, db)) => (
                hp,
                if db.is_empty() {
                    None
                } else {
                    Some(percent_decode(db))
                },
            ),
            None => (hostpart, None),
        };
        let (host, port) = if let Some(stripped) = hostport.strip_prefix('[') {
            let (h, after) = stripped
                .split_once(']')
                .ok_or_else(|| bad("unclosed `[` in an IPv6 address"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p
                    .parse()
                    .map_err(|_| bad("the port is not a number from 1 to 65535"))?,
                None if after.is_empty() => 3306,
                None => return Err(bad("unexpected text after the IPv6 address")),
            };
            (h.to_string(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse::<u16>()
                        .map_err(|_| bad("the port is not a number from 1 to 65535"))?,
                ),
                None => (hostport.to_string(), 3306),
            }
        };
        if host.is_empty() {
            return Err(bad("the host is empty"));
        }
        if port == 0 {
            return Err(bad("the port must be from 1 to 65535"));
        }
        if let Some(db) = &database {
            check_identifier(db).map_err(|why| bad(&why))?;
        }
        Ok(Target {
            host,
            port,
            user,
            password,
            database,
        })
    }

    /// Fill in the password from a file (first line, trailing newline removed) or, when the URL
    /// has none, from `MYSQL_PWD`.
    pub fn resolve_password(
        &mut self,
        password_file: Option<&Path>,
        env_pwd: Option<String>,
    ) -> Result<(), TargetError> {
        if let Some(path) = password_file {
            let text =
                std::fs::read_to_string(path).map_err(|source| TargetError::PasswordFile {
                    path: path.to_path_buf(),
                    source,
                })?;
            let line = text.lines().next().unwrap_or("").to_string();
            self.password = Some(Secret(line));
        } else if self.password.is_none() {
            if let Some(p) = env_pwd {
                self.password = Some(Secret(p));
            }
        }
        Ok(())
    }

    /// The URL with the password removed: the only form that may be printed or stored.
    pub fn redacted(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!(
            "mysql://{}@{}:{}/{}",
            self.user,
            host,
            self.port,
            self.database.as_deref().unwrap_or("")
        )
    }

    /// `host:port`, for messages.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Connection options: TCP only, `TCP_NODELAY`, a statement cache big enough for every
    /// prepared statement of the workload, and the given database.
    pub fn opts(&self, database: Option<&str>, stmt_cache: usize) -> Opts {
        let b = OptsBuilder::default()
            .ip_or_hostname(self.host.clone())
            .tcp_port(self.port)
            .user(Some(self.user.clone()))
            .pass(self.password.as_ref().map(|p| p.expose().to_string()))
            .db_name(database.map(str::to_string))
            .prefer_socket(false)
            .tcp_nodelay(true)
            .stmt_cache_size(stmt_cache.max(16));
        Opts::from(b)
    }

    /// Open one connection, failing within `timeout` with a message naming host and port (or
    /// user and host for an authentication failure).
    pub async fn connect(&self, opts: Opts, timeout: Duration) -> Result<Conn, TargetError> {
        match tokio::time::timeout(timeout, Conn::new(opts)).await {
            Err(_) => Err(TargetError::Timeout {
                host: self.host.clone(),
                port: self.port,
                secs: timeout.as_secs().max(1),
            }),
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(self.classify(e, None)),
        }
    }

    /// Turn a driver error into a [`TargetError`] with this target's context.
    pub fn classify(&self, e: mysql_async::Error, statement: Option<&str>) -> TargetError {
        match e {
            mysql_async::Error::Server(s) if s.code == 1045 || s.code == 1044 || s.code == 1698 => {
                TargetError::Auth {
                    user: self.user.clone(),
                    host: self.host.clone(),
                    port: self.port,
                    code: s.code,
                    message: s.message,
                }
            }
            mysql_async::Error::Server(s) => TargetError::Server {
                host: self.host.clone(),
                port: self.port,
                code: s.code,
                state: s.state,
                message: s.message,
                statement: statement.map(str::to_string),
            },
            mysql_async::Error::Io(io) if statement.is_none() => TargetError::Unreachable {
                host: self.host.clone(),
                port: self.port,
                why: io.to_string(),
            },
            other if statement.is_none() => TargetError::Unreachable {
                host: self.host.clone(),
                port: self.port,
                why: other.to_string(),
            },
            other => TargetError::Lost {
                host: self.host.clone(),
                port: self.port,
                why: other.to_string(),
                statement: statement.map(str::to_string),
            },
        }
    }
}

pub use crate::store::redact_url;

/// Identifiers we interpolate into SQL (database and table names) are restricted to a safe set.
pub fn check_identifier(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err(format!("`{name}` must be 1 to 64 characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    {
        return Err(format!(
            "`{name}` may only contain letters, digits, `_` and `$`"
        ));
    }
    Ok(())
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{assert_module_error, exit};

    #[test]
    fn bad_input_exits_2_an_unusable_target_4() {
        let bad_url = TargetError::BadUrl {
            url: "x".into(),
            why: "no scheme".into(),
        };
        assert_module_error(bad_url, exit::USAGE);
        let password_file = TargetError::PasswordFile {
            path: "p".into(),
            source: std::io::Error::other("gone"),
        };
        assert_module_error(password_file, exit::USAGE);
        let unreachable = TargetError::Unreachable {
            host: "db".into(),
            port: 3306,
            why: "refused".into(),
        };
        assert_module_error(unreachable, exit::TARGET);
        let timeout = TargetError::Timeout {
            host: "db".into(),
            port: 3306,
            secs: 1,
        };
        assert_module_error(timeout, exit::TARGET);
        let auth = TargetError::Auth {
            user: "u".into(),
            host: "db".into(),
            port: 3306,
            code: 1045,
            message: "denied".into(),
        };
        assert_module_error(auth, exit::TARGET);
        let server = TargetError::Server {
            host: "db".into(),
            port: 3306,
            code: 1064,
            state: "42000".into(),
            message: "syntax".into(),
            statement: Some("SELEC 1".into()),
        };
        assert_module_error(server, exit::TARGET);
        let lost = TargetError::Lost {
            host: "db".into(),
            port: 3306,
            why: "reset".into(),
            statement: None,
        };
        assert_module_error(lost, exit::TARGET);
    }

    #[test]
    fn parses_full_url() {
        let t = Target::parse("mysql://bob:s%40cret@db.example:3307/shop").unwrap();
        assert_eq!(t.host, "db.example");
        assert_eq!(t.port, 3307);
        assert_eq!(t.user, "bob");
        assert_eq!(t.password.as_ref().unwrap().expose(), "s@cret");
        assert_eq!(t.database.as_deref(), Some("shop"));
        assert_eq!(t.redacted(), "mysql://bob@db.example:3307/shop");
        assert!(!format!("{t:?}").contains("s@cret"));
    }

    #[test]
    fn defaults_user_and_port() {
        let t = Target::parse("mysql://127.0.0.1").unwrap();
        assert_eq!((t.user.as_str(), t.port, t.database), ("root", 3306, None));
        let t = Target::parse("mysql://u@[::1]:3310/").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 3310));
    }

    #[test]
    fn rejects_bad_urls_without_leaking_password() {
        for bad in [
            "postgres://a@b",
            "mysql://a:pw@host:notaport/db",
            "mysql://a:pw@host:0/db",
            "mysql://:pw@host/db",
            "mysql://a:pw@host/db?ssl=1",
            "mysql://a:pw@host/bad-name",
        ] {
            let e = Target::parse(bad).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains("invalid target URL"), "{msg}");
            assert!(!msg.contains(":pw@"), "password leaked: {msg}");
        }
    }

    #[test]
    fn password_precedence() {
        let mut t = Target::parse("mysql://u:fromurl@h/db").unwrap();
        t.resolve_password(None, Some("fromenv".into())).unwrap();
        assert_eq!(t.password.as_ref().unwrap().expose(), "fromurl");
        let mut t = Target::parse("mysql://u@h/db").unwrap();
        t.resolve_password(None, Some("fromenv".into())).unwrap();
        assert_eq!(t.password.as_ref().unwrap().expose(), "fromenv");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "fromfile\n").unwrap();
        t.resolve_password(Some(&f), None).unwrap();
        assert_eq!(t.password.as_ref().unwrap().expose(), "fromfile");
        let e = t
            .resolve_password(Some(&dir.path().join("missing")), None)
            .unwrap_err();
        assert!(e.to_string().contains("missing"));
    }

    #[test]
    fn redacts_urls() {
        assert_eq!(redact_url("mysql://u:p@h:1/d"), "mysql://u@h:1/d");
        assert_eq!(redact_url("mysql://u@h:1/d"), "mysql://u@h:1/d");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
