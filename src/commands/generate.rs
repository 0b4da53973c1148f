//! `loadgate completions` and `loadgate man`: shell completion scripts and man pages generated
//! from the same clap definitions the program parses with, so they cannot drift from it.

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::error::{Error, Result};
use clap::CommandFactory;
use std::io::Write;
use std::path::Path;

/// Prints the completion script for one shell.
pub fn completions(a: CompletionsArgs) -> Result<()> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "loadgate", &mut out);
    write_stdout(&out)
}

/// Prints `loadgate.1`, or writes it and one page per subcommand into `--dir`.
pub fn man(a: ManArgs) -> Result<()> {
    match a.dir {
        Some(dir) => write_pages(&dir),
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut out)
                .map_err(|e| output_error(Path::new("-"), e))?;
            write_stdout(&out)
        }
    }
}

fn write_pages(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| output_error(dir, e))?;
    // `generate_to` leaves out clap's `help` pseudo-subcommand (built without it), so this
    // writes one page per real command.
    clap_mangen::generate_to(Cli::command(), dir).map_err(|e| output_error(dir, e))?;
    eprintln!("loadgate: man pages written to {}", dir.display());
    Ok(())
}

fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        // A closed pipe (`loadgate man | head`) is not an error worth a message.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.map_err(|e| output_error(Path::new("-"), e)),
    }
}

fn output_error(path: &Path, source: std::io::Error) -> Error {
    Error::Output {
        path: path.to_path_buf(),
        source,
    }
}
