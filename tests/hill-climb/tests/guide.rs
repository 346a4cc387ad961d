//! The guide "Writing a search strategy" shows this crate's code: every `rust` block of
//! docs/writing-a-strategy.md (except those marked `ignore`) must appear verbatim in
//! src/lib.rs, and every line of its `toml` block in Cargo.toml. So the guide's code is
//! compiled and tested with this crate.

fn blocks<'a>(doc: &'a str, lang: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = doc;
    let fence = format!("```{lang}\n");
    while let Some(start) = rest.find(&fence) {
        let body = &rest[start + fence.len()..];
        let end = body.find("```").expect("an unclosed code block");
        out.push(&body[..end]);
        rest = &body[end + 3..];
    }
    out
}

#[test]
fn the_guide_shows_this_crate() {
    let root = env!("CARGO_MANIFEST_DIR");
    let doc = std::fs::read_to_string(format!("{root}/../../docs/writing-a-strategy.md")).unwrap();
    let lib = std::fs::read_to_string(format!("{root}/src/lib.rs")).unwrap();
    let manifest = std::fs::read_to_string(format!("{root}/Cargo.toml")).unwrap();
    let rust = blocks(&doc, "rust");
    assert!(
        rust.len() >= 5,
        "the guide lost its code ({} blocks)",
        rust.len()
    );
    for b in &rust {
        assert!(
            lib.contains(b),
            "this block of the guide is not in src/lib.rs:\n{b}"
        );
    }
    // Together the blocks are the whole crate, bar its module comment.
    let shown: usize = rust.iter().map(|b| b.len()).sum();
    let code = lib
        .lines()
        .filter(|l| !l.starts_with("//!"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        shown + 200 > code.len(),
        "the guide leaves out part of the crate"
    );
    for b in blocks(&doc, "toml") {
        for line in b.lines() {
            assert!(manifest.contains(line), "'{line}' is not in Cargo.toml");
        }
    }
}
