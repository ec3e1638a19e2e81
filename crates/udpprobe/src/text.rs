//! Making peer-supplied text safe for a terminal or a log.
//!
//! A peer (a client of `udprx serve`, or the server a `udpflood --server` talks to) controls
//! some of the strings the other side prints: run ids, error messages, serde's description of a
//! malformed message. Printed raw, `\x1b[2J` clears the screen and `\n` forges a log line. Every
//! such string goes through [`escape`] (or [`escape_limited`]) before it is printed.

use std::fmt::Write;

/// Longest peer-supplied string [`escape_limited`] keeps, in characters (before escaping).
pub const LOG_LIMIT: usize = 256;

/// Whether `c` must not reach a terminal as is: C0 and C1 control characters, DEL, and the
/// Unicode characters that reorder or hide text (bidi overrides and isolates, line and paragraph
/// separators, zero-width characters, BOM).
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// `s` with every [unsafe](is_unsafe) character replaced by a visible escape: `\n`, `\r`, `\t`,
/// `\x1b` (other C0 characters and DEL likewise as `\xNN`), `\u{202e}` (anything else).
///
/// The result contains no unsafe character and escaping it again changes nothing (backslashes
/// are kept as they are, so a literal `\x1b` and an escaped ESC read the same: the point is that
/// neither does anything to the terminal).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        push_escaped(&mut out, c);
    }
    out
}

/// [`escape`] of at most the first `max_chars` characters of `s`, with `…(N more bytes)` when
/// something was cut: what a log line shows of a string a peer chose.
pub fn escape_limited(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars * 2));
    let mut chars = s.char_indices();
    for (_, c) in chars.by_ref().take(max_chars) {
        push_escaped(&mut out, c);
    }
    if let Some((at, _)) = chars.next() {
        let _ = write!(out, "…({} more bytes)", s.len() - at);
    }
    out
}

/// JSON text (as `serde_json` writes it) with every [unsafe](is_unsafe) character but the
/// layout's newlines written as a `\uXXXX` escape: the same JSON value, safe to print on a
/// terminal.
///
/// `serde_json` escapes C0 controls in strings (a raw one is layout: the newlines of pretty
/// output) but writes DEL, C1 controls (`\u{9b}` is CSI on some terminals) and bidi overrides
/// as they are; those can only occur inside JSON strings, where `\uXXXX` means the same
/// character.
pub fn json_safe(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if is_unsafe(c) && u32::from(c) >= 0x20 {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{:04x}", u);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn push_escaped(out: &mut String, c: char) {
    if !is_unsafe(c) {
        out.push(c);
        return;
    }
    let _ = match c {
        '\n' => write!(out, "\\n"),
        '\r' => write!(out, "\\r"),
        '\t' => write!(out, "\\t"),
        c if (c as u32) < 0x80 => write!(out, "\\x{:02x}", c as u32),
        c => write!(out, "\\u{{{:x}}}", c as u32),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_keeps_the_rest() {
        let cases = [
            ("plain text: ok", "plain text: ok"),
            ("\x1b[2J\nudprx serve: forged", "\\x1b[2J\\nudprx serve: forged"),
            ("a\rb\tc\0d\x7f", "a\\rb\\tc\\x00d\\x7f"),
            ("c1 \u{9b}31m", "c1 \\u{9b}31m"),
            ("bidi \u{202e}txt.exe", "bidi \\u{202e}txt.exe"),
            ("zero\u{200b}width", "zero\\u{200b}width"),
            ("sep\u{2028}x", "sep\\u{2028}x"),
            ("µs → 100 % ünïcode", "µs → 100 % ünïcode"),
            ("back\\slash", "back\\slash"),
        ];
        for (input, want) in cases {
            let got = escape(input);
            assert_eq!(got, want, "{input:?}");
            assert!(!got.chars().any(is_unsafe), "{got:?}");
            assert_eq!(escape(&got), got, "idempotent");
        }
    }

    #[test]
    fn json_stays_the_same_value() {
        let value = serde_json::json!({ "run_id": "\x1b[2J\n\u{9b}31m\u{202e}\x7f ok µs", "n": 1 });
        let text = serde_json::to_string_pretty(&value).unwrap();
        let safe = json_safe(&text);
        assert!(!safe.chars().any(|c| c != '\n' && is_unsafe(c)), "{safe}");
        assert!(safe.contains("\\u009b") && safe.contains("\\u202e") && safe.contains("µs"));
        assert_eq!(serde_json::from_str::<serde_json::Value>(&safe).unwrap(), value);
    }

    #[test]
    fn limited_cuts_on_a_character_boundary() {
        assert_eq!(escape_limited("short", 10), "short");
        assert_eq!(escape_limited("ééééé", 2), "éé…(6 more bytes)");
        assert_eq!(escape_limited("\x1b\x1b\x1b", 1), "\\x1b…(2 more bytes)");
        let long = "x".repeat(100_000);
        assert!(escape_limited(&long, LOG_LIMIT).len() < LOG_LIMIT + 40);
    }
}
