//! `kvs-e2ee-keys`: create, inspect, rotate and retire camera and viewer identity files.
//!
//! A thin shell over the `kvs_e2ee_keys` library: parse the command line into
//! a [`Config`], run it, map the result to an exit code. Public keys go to
//! stdout (one per line, so they can be piped into a recipients file);
//! everything meant for a human goes to stderr. No command prints a secret.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use kvs_e2ee_keys::{Generation, Identity, KeyKind, KeyList, encode_public, parse_key_id};

/// Manage kvs-e2ee camera and viewer keys.
#[derive(Debug, Parser)]
#[command(name = "kvs-e2ee-keys", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Kind of identity, as typed on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum KindArg {
    /// A viewer: decrypts video; its public key goes into cameras' recipients files.
    Viewer,
    /// A camera: encrypts video; its public key goes into viewers' trusted-cameras files.
    Camera,
}

impl From<KindArg> for KeyKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Viewer => KeyKind::Viewer,
            KindArg::Camera => KeyKind::Camera,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new identity file (mode 0600) and print its public key.
    Generate {
        /// Viewer or camera.
        #[arg(long, value_enum)]
        kind: KindArg,
        /// Identity file to create; an existing file is never overwritten.
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Print the active public key of an identity file.
    Public {
        /// Identity file.
        file: PathBuf,
        /// Print every generation's public key, labelled `gen-N`.
        #[arg(long)]
        all: bool,
    },
    /// List an identity's generations: number, key id, creation time, status.
    List {
        /// Identity file.
        file: PathBuf,
    },
    /// Add a new active generation and print its public key; old ones are kept.
    Rotate {
        /// Identity file.
        file: PathBuf,
    },
    /// Delete an old generation: video wrapped only to it can no longer be decrypted.
    Retire {
        /// Identity file.
        file: PathBuf,
        /// Generation to delete: its key id (16 hex digits) or its number.
        id: String,
        /// Do not ask for confirmation (required when stdin is not a terminal).
        #[arg(long)]
        yes: bool,
    },
    /// Check a recipients (`--kind viewer`) or trusted-cameras (`--kind camera`) file.
    CheckList {
        /// Kind of key the file lists: viewer for recipients, camera for trusted cameras.
        #[arg(long, value_enum)]
        kind: KindArg,
        /// The list file.
        file: PathBuf,
    },
}

/// What to do, validated.
#[derive(Debug)]
enum Config {
    Generate {
        kind: KeyKind,
        out: PathBuf,
    },
    Public {
        file: PathBuf,
        all: bool,
    },
    List {
        file: PathBuf,
    },
    CheckList {
        kind: KeyKind,
        file: PathBuf,
    },
    Rotate {
        file: PathBuf,
    },
    Retire {
        file: PathBuf,
        target: Target,
        yes: bool,
    },
}

/// How `retire` names a generation.
#[derive(Debug, Clone, Copy)]
enum Target {
    Id(kvs_e2ee_keys::KeyId),
    Number(u32),
}

impl TryFrom<Cli> for Config {
    type Error = anyhow::Error;

    fn try_from(cli: Cli) -> anyhow::Result<Self> {
        Ok(match cli.command {
            Command::Generate { kind, out } => Config::Generate {
                kind: kind.into(),
                out,
            },
            Command::CheckList { kind, file } => Config::CheckList {
                kind: kind.into(),
                file,
            },
            Command::Public { file, all } => Config::Public { file, all },
            Command::List { file } => Config::List { file },
            Command::Rotate { file } => Config::Rotate { file },
            Command::Retire { file, id, yes } => {
                let target = if let Some(key_id) = parse_key_id(&id) {
                    Target::Id(key_id)
                } else if let Ok(n) = id.parse::<u32>() {
                    Target::Number(n)
                } else {
                    bail!("`{id}` is neither a key id (16 hex digits) nor a generation number");
                };
                Config::Retire { file, target, yes }
            }
        })
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let result = Config::try_from(Cli::parse()).and_then(run);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A reader that closed our stdout early (`| head`) is not a failure.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(config: Config) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match config {
        Config::Generate { kind, out: path } => {
            let identity = Identity::generate(kind, &mut os_rng());
            identity.save_new(&path)?;
            tracing::debug!(file = %path.display(), id = %identity.active_generation().id(), "generated identity");
            writeln!(out, "{}", identity.public_text())?;
            eprintln!(
                "Wrote {kind} identity to {} (key id {}). Keep it secret; share the public key above.",
                path.display(),
                identity.active_generation().id()
            );
        }
        Config::Public { file, all } => {
            let identity = Identity::load(&file)?;
            if all {
                for g in identity.generations() {
                    writeln!(out, "{} gen-{}", public_text(&identity, g), g.number())?;
                }
            } else {
                writeln!(out, "{}", identity.public_text())?;
            }
        }
        Config::List { file } => {
            let identity = Identity::load(&file)?;
            writeln!(
                out,
                "{:<5} {:<16}  {:<20}  STATUS",
                "GEN", "KEY ID", "CREATED"
            )?;
            for g in identity.generations() {
                writeln!(
                    out,
                    "{:<5} {:<16}  {:<20}  {}",
                    g.number(),
                    g.id(),
                    g.created_rfc3339(),
                    g.status()
                )?;
            }
        }
        Config::Rotate { file } => rotate(&file, &mut out)?,
        Config::Retire { file, target, yes } => retire(&file, target, yes)?,
        Config::CheckList { kind, file } => {
            let list = KeyList::load(&file, kind)?;
            writeln!(out, "{:<5} {:<16}  LABEL", "LINE", "KEY ID")?;
            for e in list.entries() {
                writeln!(
                    out,
                    "{:<5} {:<16}  {}",
                    e.line,
                    e.id(),
                    e.label.as_deref().unwrap_or("")
                )?;
            }
            if list.is_empty() {
                eprintln!("{}: valid, but lists no {kind} key", file.display());
            } else {
                eprintln!(
                    "{}: {} {kind} key(s), all valid",
                    file.display(),
                    list.len()
                );
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn rotate(file: &std::path::Path, out: &mut impl Write) -> anyhow::Result<()> {
    let mut identity = Identity::load(file)?;
    let g = identity.rotate(&mut os_rng())?;
    let (number, id) = (g.number(), g.id());
    identity.save(file)?;
    writeln!(out, "{}", identity.public_text())?;
    eprintln!(
        "{}: generation {number} (key id {id}) is now active; older generations are kept.",
        file.display()
    );
    match identity.kind() {
        KeyKind::Viewer => eprintln!(
            "Update every camera's recipients file: replace this viewer's old public key with the one above.\n\
             Old generations still decrypt archived video until retired."
        ),
        KeyKind::Camera => eprintln!(
            "Update every viewer's trusted-cameras file: add the public key above\n\
             (keep the old one while archived video from it must still verify)."
        ),
    }
    Ok(())
}

fn retire(file: &std::path::Path, target: Target, yes: bool) -> anyhow::Result<()> {
    let mut identity = Identity::load(file)?;
    let g = match target {
        Target::Id(id) => identity.generation_by_id(&id),
        Target::Number(n) => identity.generation_by_number(n),
    }
    .with_context(|| format!("{}: no such generation", file.display()))?;
    let id = g.id();
    // Refuse the active generation before asking, not after the user typed yes.
    let g = identity.check_retirable(&id)?;
    let what = format!(
        "generation {} (key id {}, created {})",
        g.number(),
        id,
        g.created_rfc3339()
    );
    if !yes {
        confirm(&what, identity.kind())?;
    }
    identity.retire(&id)?;
    identity.save(file)?;
    eprintln!("{}: retired {what}.", file.display());
    Ok(())
}

fn confirm(what: &str, kind: KeyKind) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!(
            "refusing to retire {what} without confirmation: stdin is not a terminal; pass --yes"
        );
    }
    let consequence = match kind {
        KeyKind::Viewer => "video wrapped only to this key will no longer be decryptable",
        KeyKind::Camera => "this camera key's secret is deleted",
    };
    eprint!("Retire {what}? Its secret key is deleted; {consequence}.\nType yes to continue: ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    if answer.trim() != "yes" {
        bail!("not confirmed; nothing changed");
    }
    Ok(())
}

fn public_text(identity: &Identity, g: &Generation) -> String {
    encode_public(identity.kind(), &g.public_key())
}

/// The operating system's RNG: long-lived keys come straight from the kernel.
fn os_rng() -> rand::rand_core::UnwrapErr<rand::rngs::SysRng> {
    rand::rand_core::UnwrapErr(rand::rngs::SysRng)
}
