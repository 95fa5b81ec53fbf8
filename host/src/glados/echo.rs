//! Bounded echo: what an error message or its details may quote of a client's value. A 10 MB
//! field must not come back as a 10 MB error (the audit's finding L6), wherever the message was
//! built (serde's rejections, a parser's `{input:?}`, a service's text).
//!
//! Messages quote values between `"` (Rust's `{:?}`, serde's `invalid type: string "…"`) or
//! `` ` `` (serde's unknown variants and fields), and sometimes bare (serde's path to the field,
//! `name: unknown field`). Each quoted stretch longer than [`QUOTE_MAX`] characters keeps its
//! first [`QUOTE_MAX`] and says how long it was: `"aaaa… (10000000 chars)"`; outside quotes,
//! each word (a run without whitespace) is cut the same way, and the whole message never
//! exceeds [`MESSAGE_MAX`] characters (plus the note).
//!
//! # Invariants
//! - Short messages come back unchanged, byte for byte.
//! - The result quotes at most [`QUOTE_MAX`] characters of any quoted value or unquoted word,
//!   and is at most [`MESSAGE_MAX`] characters plus a note.
//! - Cuts fall on character boundaries: the result is valid UTF-8 text.

/// The most characters of one quoted value an error repeats.
pub(crate) const QUOTE_MAX: usize = 100;
/// The longest message, in characters.
pub(crate) const MESSAGE_MAX: usize = 1000;

/// `text` with every long quoted value (and any overlong stretch) cut to a prefix.
pub(crate) fn bound_text(text: &str) -> String {
    if text.chars().count() <= QUOTE_MAX {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len().min(MESSAGE_MAX + 64));
    let mut inside: Option<char> = None;
    let mut start = 0;
    let mut prev = '\0';
    for (i, c) in text.char_indices() {
        let delimiter = match inside {
            None => c == '"' || c == '`',
            // `\"` inside a Debug-quoted string is part of the value.
            Some(q) => c == q && !(q == '"' && prev == '\\'),
        };
        prev = c;
        if !delimiter {
            continue;
        }
        push_stretch(&mut out, &text[start..i], inside.is_some());
        out.push(c);
        start = i + c.len_utf8();
        inside = match inside {
            None => Some(c),
            Some(_) => None,
        };
    }
    push_stretch(&mut out, &text[start..], inside.is_some());
    cut(&out, MESSAGE_MAX)
}

/// `value` with every string (and object key) bounded as a quoted value.
pub(crate) fn bound_json(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(cut(s, QUOTE_MAX)),
        Value::Array(items) => Value::Array(items.iter().map(bound_json).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (cut(k, QUOTE_MAX), bound_json(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Appends a quoted stretch cut as a whole, or an unquoted one cut word by word.
fn push_stretch(out: &mut String, stretch: &str, quoted: bool) {
    if quoted {
        out.push_str(&cut(stretch, QUOTE_MAX));
        return;
    }
    let mut word_start = 0;
    for (i, c) in stretch.char_indices() {
        if c.is_whitespace() {
            out.push_str(&cut(&stretch[word_start..i], QUOTE_MAX));
            out.push(c);
            word_start = i + c.len_utf8();
        }
    }
    out.push_str(&cut(&stretch[word_start..], QUOTE_MAX));
}

/// `s` itself when at most `limit` characters, else its first `limit` and a note of its length.
fn cut(s: &str, limit: usize) -> String {
    match s.char_indices().nth(limit) {
        None => s.to_owned(),
        Some((end, _)) => format!("{}… ({} chars)", &s[..end], s.chars().count()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_messages_are_unchanged() {
        for m in [
            "",
            "invalid timeframe \"1Foo\": expected <n><unit>",
            "unknown variant `x`, expected one of `a`, `b`",
        ] {
            assert_eq!(bound_text(m), m);
        }
        let long_prose = format!("{} \"ok\" {}", "word ".repeat(50), "more ".repeat(50));
        assert_eq!(bound_text(&long_prose), long_prose);
    }

    #[test]
    fn long_quoted_values_keep_a_prefix_and_their_length() {
        let huge = "x".repeat(10_000_000);
        for (open, close) in [('"', '"'), ('`', '`')] {
            let m = format!(
                "invalid value {open}{huge}{close}: expected 1Min at line 1 column 10000020"
            );
            let b = bound_text(&m);
            assert!(b.len() < 300, "{}", b.len());
            assert!(b.contains(&format!("{}… (10000000 chars)", "x".repeat(100))));
            assert!(!b.contains(&"x".repeat(101)));
            assert!(b.ends_with("at line 1 column 10000020"), "{b}");
        }
        // An escaped quote does not end the value.
        let m = format!("bad {:?}", format!("a\"{huge}"));
        assert!(bound_text(&m).len() < 300);
        // Unquoted (serde's path to a field), multi-byte.
        let m = format!("got {}: unknown field", "é".repeat(1_000_000));
        let b = bound_text(&m);
        assert!(b.chars().count() < QUOTE_MAX + 60, "{}", b.len());
        assert!(b.ends_with("… (1000001 chars) unknown field"), "{b}");
        // Many quoted values: the whole is capped.
        let many = (0..1000)
            .map(|i| format!("\"v{i}\""))
            .collect::<Vec<_>>()
            .join(", ");
        assert!(bound_text(&many).chars().count() < MESSAGE_MAX + 40);
    }

    #[test]
    fn json_details_are_bounded_recursively() {
        let v =
            serde_json::json!({"line": 3, "value": "y".repeat(5000), "list": ["z".repeat(500)]});
        let b = bound_json(&v);
        assert_eq!(b["line"], 3);
        assert!(b["value"].as_str().unwrap().starts_with(&"y".repeat(100)));
        assert!(b["value"].as_str().unwrap().ends_with("… (5000 chars)"));
        assert!(b["list"][0].as_str().unwrap().len() < 130);
    }
}
