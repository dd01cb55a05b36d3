//! `kvs-e2ee-consumer`: not wired yet. It exits with status 3 and says so, so no
//! script mistakes it for a working viewer.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("error: the kvs-e2ee consumer is not built yet; nothing was read");
    ExitCode::from(3)
}
