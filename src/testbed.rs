//! The testbed fingerprint and what answered on the other end: stable facts only, so runs on
//! the same machine and server compare, and runs on different ones are told apart.

use crate::record::{ServerInfo, Testbed};
use crate::target::{Target, TargetError};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use sha2::{Digest, Sha256};

/// Server variables whose values change performance; their hash is part of the fingerprint.
pub const KEY_VARIABLES: &[&str] = &[
    "innodb_buffer_pool_size",
    "innodb_flush_log_at_trx_commit",
    "innodb_log_file_size",
    "innodb_io_capacity",
    "innodb_doublewrite",
    "innodb_flush_method",
    "sync_binlog",
    "log_bin",
    "max_connections",
    "performance_schema",
    "query_cache_type",
    "query_cache_size",
    "thread_handling",
    "table_open_cache",
    "tmp_table_size",
    "transaction_isolation",
    "tx_isolation",
];

pub fn short_hash(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `@@version`, `@@version_comment` and the flavour they imply.
pub async fn server_info(conn: &mut Conn, target: &Target) -> Result<ServerInfo, TargetError> {
    let q = "SELECT @@version, @@version_comment";
    let row: Option<(String, String)> = conn
        .query_first(q)
        .await
        .map_err(|e| target.classify(e, Some(q)))?;
    let (version, comment) = row.unwrap_or_default();
    let flavor = if version.to_ascii_lowercase().contains("mariadb")
        || comment.to_ascii_lowercase().contains("mariadb")
    {
        "mariadb"
    } else {
        "mysql"
    };
    Ok(ServerInfo {
        flavor: flavor.to_string(),
        version,
        version_comment: comment,
    })
}

/// Who answers on `conn` and how it is configured: [`server_info`] and [`key_variables`] (an
/// empty list when the account may not read them). What every command reads first.
pub async fn probe(
    conn: &mut Conn,
    target: &Target,
) -> Result<(ServerInfo, Vec<(String, String)>), TargetError> {
    let info = server_info(conn, target).await?;
    let vars = key_variables(conn, target).await.unwrap_or_default();
    Ok((info, vars))
}

/// The key variables, sorted by name.
pub async fn key_variables(
    conn: &mut Conn,
    target: &Target,
) -> Result<Vec<(String, String)>, TargetError> {
    let list = KEY_VARIABLES
        .iter()
        .map(|v| format!("'{v}'"))
        .collect::<Vec<_>>()
        .join(",");
    let q = format!("SHOW GLOBAL VARIABLES WHERE Variable_name IN ({list})");
    let mut rows: Vec<(String, String)> = conn
        .query(q.as_str())
        .await
        .map_err(|e| target.classify(e, Some(&q)))?;
    rows.sort();
    Ok(rows)
}

/// Machine facts read from /proc (Linux); empty where unavailable.
pub fn machine() -> (String, u32, u64, String) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get() as u32);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    (cpu, cores, mem, kernel)
}

/// Build the fingerprint from machine facts, the server version and its key variables.
pub fn testbed(server: &ServerInfo, vars: &[(String, String)]) -> Testbed {
    let (cpu_model, cores, memory_bytes, kernel) = machine();
    let vars_text: String = vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    let server_config_hash = short_hash(vars_text.as_bytes());
    // Memory is rounded to GiB so a few MiB of kernel reservations do not split testbeds.
    let gib = memory_bytes / (1 << 30);
    let fingerprint = short_hash(
        format!(
            "{cpu_model}|{cores}|{gib}|{kernel}|{}|{server_config_hash}",
            server.version
        )
        .as_bytes(),
    );
    Testbed {
        cpu_model,
        cores,
        memory_bytes,
        kernel,
        server_version: server.version.clone(),
        server_config_hash,
        fingerprint,
    }
}

/// The git commit of the current directory, if it is a checkout.
pub fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!s.is_empty()).then_some(s)
}
