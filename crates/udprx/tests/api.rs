//! The public surface of udprx, recorded in `api.txt` so that every change to it is seen in
//! review: this test lists the public items of the source and compares them with the file.
//!
//! After an intended change: `UDPRX_UPDATE_API=1 cargo test -p udprx --test api` rewrites
//! `api.txt`; commit it with the change.
//!
//! How the list is made (a source scan, so it runs on stable Rust): every file of a public
//! module, or behind a `pub use` of the crate root, is read; a line is listed when it declares
//! a `pub` item (not `pub(crate)`/`pub(super)`) whose enclosing items are all public (a `pub`
//! field of a private struct is not listed), or a variant of a public enum, or a method of a
//! public trait, or is an attribute on a listed item that changes the contract
//! (`#[non_exhaustive]`, `#[doc(hidden)]`). `#[cfg(test)]` modules are skipped. A signature is
//! recorded by its first line.

use std::path::Path;

/// The files that make up the public API. Everything else under `src/` is internal: the kernel
/// interfaces (`sys/`), the receive loops (`method/` but its `mod.rs`, which defines `Method`),
/// the clock, the CBPF and XDP program assemblers, the XDP frame parser.
const PUBLIC_FILES: &[&str] = &[
    "src/lib.rs",
    "src/async_rx.rs",
    "src/batch.rs",
    "src/engine/mod.rs",
    "src/engine/build.rs",
    "src/engine/builder.rs",
    "src/engine/cpus.rs",
    "src/engine/setup.rs",
    "src/error.rs",
    "src/fanout.rs",
    "src/method/mod.rs",
    "src/pull.rs",
    "src/sys/reply.rs",
    "src/xdp/mod.rs",
];

/// One scanned block: is everything in it public, and what kind of item opened it.
#[derive(Clone, Copy, PartialEq)]
enum Block {
    Private,
    PubStruct,
    PubEnum,
    PubTrait,
    PubImpl,
    PubOther,
}

fn is_pub(line: &str) -> bool {
    line.starts_with("pub ") || line.starts_with("pub unsafe ") || line.starts_with("pub const ")
}

fn signature(line: &str) -> String {
    let s = line.trim_end_matches('{').trim_end_matches(';').trim_end();
    s.split(" //").next().unwrap_or(s).to_string()
}

/// The public items of one file, in order.
fn scan(file: &str, text: &str, private_types: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack: Vec<Block> = Vec::new();
    let mut pending_attrs: Vec<String> = Vec::new();
    let mut skip_next_block = false;
    let mut skipping_depth: Option<usize> = None;
    for raw in text.lines() {
        let line = raw.trim();
        if line.starts_with("//") || line.is_empty() {
            continue;
        }
        let opens = line.matches('{').count();
        let closes = line.matches('}').count();
        let depth = stack.len();
        if let Some(d) = skipping_depth {
            // Inside a `#[cfg(test)]` module: track depth only.
            for _ in 0..opens {
                stack.push(Block::Private);
            }
            for _ in 0..closes {
                stack.pop();
            }
            if stack.len() <= d {
                skipping_depth = None;
            }
            continue;
        }
        if line == "#[cfg(test)]" {
            skip_next_block = true;
            continue;
        }
        if line.starts_with("#[") {
            if line.starts_with("#[non_exhaustive]") || line.starts_with("#[doc(hidden)]") {
                pending_attrs.push(line.to_string());
            }
            continue;
        }
        let all_public = stack.iter().all(|b| *b != Block::Private);
        let parent = stack.last().copied();
        let mut listed = false;
        if all_public {
            let in_trait = parent == Some(Block::PubTrait);
            let variant = parent == Some(Block::PubEnum)
                && line.chars().next().is_some_and(|c| c.is_ascii_uppercase());
            let trait_item = in_trait && (line.starts_with("fn ") || line.starts_with("type "));
            if is_pub(line) || variant || trait_item {
                listed = true;
                for a in pending_attrs.drain(..) {
                    out.push(format!("{file}: {}{a}", "    ".repeat(depth)));
                }
                out.push(format!("{file}: {}{}", "    ".repeat(depth), signature(line)));
            }
        }
        pending_attrs.clear();
        if skip_next_block {
            skip_next_block = false;
            if opens > closes {
                skipping_depth = Some(depth);
                for _ in 0..(opens - closes) {
                    stack.push(Block::Private);
                }
            }
            continue;
        }
        // The kind of block this line opens (if it opens one).
        let kind = if !all_public {
            Block::Private
        } else if line.starts_with("impl") {
            let target = line
                .trim_start_matches("impl")
                .split(" for ")
                .last()
                .unwrap_or("")
                .trim_start_matches(|c: char| c == '<' || c.is_alphanumeric() || c == '\'')
                .trim_start_matches(['>', ' ']);
            let name: String =
                target.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if private_types.contains(&name) { Block::Private } else { Block::PubImpl }
        } else if listed && line.contains("pub struct ") {
            Block::PubStruct
        } else if listed && line.contains("pub enum ") {
            Block::PubEnum
        } else if listed && line.contains("pub trait ") {
            Block::PubTrait
        } else if listed || parent == Some(Block::PubEnum) {
            Block::PubOther
        } else {
            Block::Private
        };
        // A line may open and close blocks (`fn x() { .. }`); only the net change matters.
        if opens > closes {
            for _ in 0..(opens - closes) {
                stack.push(kind);
            }
        } else {
            for _ in 0..(closes - opens) {
                stack.pop();
            }
        }
    }
    out
}

/// Names of types declared without `pub` (or `pub(crate)`) in the public files: their `impl`
/// blocks are internal.
fn private_types(texts: &[(String, String)]) -> Vec<String> {
    let mut v = Vec::new();
    for (_, t) in texts {
        for line in t.lines().map(str::trim) {
            for kw in ["struct ", "enum "] {
                let decl = line
                    .strip_prefix("pub(crate) ")
                    .or_else(|| line.strip_prefix("pub(super) "))
                    .unwrap_or(line);
                if !line.starts_with("pub ")
                    && let Some(rest) = decl.strip_prefix(kw)
                {
                    v.push(rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
                }
            }
        }
    }
    v
}

fn surface() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let texts: Vec<(String, String)> = PUBLIC_FILES
        .iter()
        .map(|f| {
            let text =
                std::fs::read_to_string(root.join(f)).unwrap_or_else(|e| panic!("read {f}: {e}"));
            (f.to_string(), text)
        })
        .collect();
    let private = private_types(&texts);
    let mut out = String::from(
        "# The public API of udprx (tests/api.rs). Regenerate after an intended change:\n\
         # UDPRX_UPDATE_API=1 cargo test -p udprx --test api\n",
    );
    for (f, t) in &texts {
        for l in scan(f, t, &private) {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}

#[test]
fn public_api_matches_api_txt() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("api.txt");
    let now = surface();
    if std::env::var_os("UDPRX_UPDATE_API").is_some() {
        std::fs::write(&path, &now).expect("write api.txt");
        return;
    }
    let recorded = std::fs::read_to_string(&path).unwrap_or_default();
    if recorded != now {
        let old: Vec<&str> = recorded.lines().collect();
        let new: Vec<&str> = now.lines().collect();
        let gone: Vec<&&str> = old.iter().filter(|l| !new.contains(l)).collect();
        let added: Vec<&&str> = new.iter().filter(|l| !old.contains(l)).collect();
        panic!(
            "the public API changed; if intended, run `UDPRX_UPDATE_API=1 cargo test -p udprx \
             --test api` and commit api.txt\nremoved: {gone:#?}\nadded: {added:#?}"
        );
    }
}

#[test]
fn internals_are_not_listed() {
    let s = surface();
    for internal in ["fn assemble", "struct Insn", "LoopConfig", "pub uring_defer", "Attachment"] {
        assert!(!s.contains(internal), "{internal} is listed as public:\n{s}");
    }
    for public in ["pub struct Receiver", "pub fn recv_batch", "Recvmmsg", "#[non_exhaustive]"] {
        assert!(s.contains(public), "{public} is missing:\n{s}");
    }
}

/// Compile-time: the types an application moves between threads or tasks are `Send` (a
/// `PullReceiver` of every method; see its docs for io_uring rings with DEFER_TASKRUN).
#[test]
fn send_types() {
    fn send<T: Send>() {}
    send::<udprx::PullReceiver>();
    send::<udprx::Receiver>();
    send::<udprx::Replier>();
    send::<udprx::Error>();
    send::<udprx::StopHandle>();
    send::<udprx::SetupInfo>();
}
