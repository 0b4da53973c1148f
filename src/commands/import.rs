//! `loadgate import FILE...`: brings runs saved beside the store (because the store could not
//! be written when they ended) into the store, and says what became of each.

use crate::cli::ImportArgs;
use crate::error::{Error, Result};
use crate::store::{Imported, Store};
use std::path::Path;

/// Imports every file, in order; stops at the first that fails (the ones before stay in).
pub fn command(store_path: &Path, a: ImportArgs) -> Result<()> {
    if let Some(missing) = a.files.iter().find(|f| !f.exists()) {
        return Err(Error::Usage(format!(
            "{}: no such file (saved runs are in {})",
            missing.display(),
            crate::store::pending::dir_for(store_path).display()
        )));
    }
    // Opening the store brings in what waits in its own pending directory already.
    let mut store = Store::open(store_path)?;
    for file in &a.files {
        if !file.exists() {
            println!(
                "{}: brought in when the store opened (see `loadgate runs`)",
                file.display()
            );
            continue;
        }
        let what = match store.import_run(file)? {
            Imported::Finished(id) => format!("stored as run {id} (the run it had begun)"),
            Imported::Added(id) => format!("stored as run {id}"),
            Imported::AlreadyThere(id) => format!("already stored as run {id}"),
        };
        println!("{}: {what}", file.display());
    }
    Ok(())
}
