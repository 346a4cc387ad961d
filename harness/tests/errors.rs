//! Every row of `docs/errors.md`, run: the table is the specification of what a user sees
//! for each bad input, and this test keeps it true.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use common::{check_ok, nas, run_args, walk};

/// One row of the table.
#[derive(Debug)]
struct Row {
    id: usize,
    /// The arguments after `nas`, with placeholders; `None` for rows covered by a test.
    command: Option<String>,
    /// For rows covered by a test: its name.
    test: Option<String>,
    /// The text the error must contain.
    needle: String,
}

/// The text of the first `...` span of `cell`.
fn first_code(cell: &str) -> Option<String> {
    let start = cell.find('`')? + 1;
    let len = cell[start..].find('`')?;
    Some(cell[start..start + len].to_string())
}

fn rows() -> Vec<Row> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/errors.md");
    let md = std::fs::read_to_string(&path).unwrap();
    let mut rows = Vec::new();
    for line in md.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        let Ok(id) = cells[0].parse::<usize>() else {
            continue;
        };
        assert_eq!(cells.len(), 5, "row {id} has {} cells: {line}", cells.len());
        let (command, test) = if cells[3].starts_with("*test*") {
            (None, first_code(cells[3]))
        } else {
            (first_code(cells[3]), None)
        };
        let needle = first_code(cells[4]).unwrap_or_default();
        assert!(
            test.is_some() || !needle.is_empty(),
            "row {id}: no `text` to look for"
        );
        rows.push(Row {
            id,
            command,
            test,
            needle,
        });
    }
    rows
}

/// The files, data folders and damaged run directories the rows refer to.
struct Fixtures {
    tmp: tempfile::TempDir,
    finished: PathBuf,
}

impl Fixtures {
    fn new() -> Fixtures {
        let tmp = tempfile::tempdir().unwrap();
        let finished = tmp.path().join("finished");
        let out = nas()
            .args(run_args(&finished))
            .arg("--quiet")
            .output()
            .unwrap();
        check_ok(&out, "the quick run the rows start from");
        Fixtures { tmp, finished }
    }

    fn tmp(&self) -> &Path {
        self.tmp.path()
    }

    /// A file the table describes.
    fn file(&self, name: &str) -> PathBuf {
        let content: &[u8] = match name {
            "wrong_type.toml" => b"[supernet]\nepochs = \"many\"\n",
            "not_toml.toml" => b"this is not toml\n",
            "bad_arch.json" => b"{\"normal\": 3}\n",
            "empty.txt" => b"",
            other => panic!("no file fixture {other}"),
        };
        let p = self.tmp().join("files").join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p
    }

    /// A data folder the table describes.
    fn dir(&self, name: &str) -> PathBuf {
        let d = self.tmp().join("data").join(name);
        std::fs::create_dir_all(&d).unwrap();
        let embedded =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../nas-core/data/fashion-mnist-subset");
        let idx = |with_train_images: bool| {
            for (from, to) in [
                ("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte.gz"),
                ("train-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                ("test-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"),
                ("test-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
            ] {
                if with_train_images || !from.starts_with("train-images") {
                    std::fs::copy(embedded.join(from), d.join(to)).unwrap();
                }
            }
        };
        // One CIFAR record: a label byte and 3072 pixel bytes.
        let record = |label: u8| {
            let mut r = vec![label];
            r.extend((0..3072).map(|i| (i % 251) as u8));
            r
        };
        match name {
            "idx_truncated" => {
                idx(true);
                let f = d.join("train-images-idx3-ubyte.gz");
                let bytes = std::fs::read(&f).unwrap();
                std::fs::write(&f, &bytes[..100_000]).unwrap();
            }
            "idx_dims" => {
                idx(false);
                // Magic 0x00000805: unsigned bytes, 5 dimensions.
                let mut f = std::fs::File::create(d.join("train-images-idx3-ubyte")).unwrap();
                f.write_all(&[0, 0, 8, 5, 0, 0, 0, 1]).unwrap();
            }
            "idx_empty" => {
                idx(false);
                std::fs::write(d.join("train-images-idx3-ubyte"), b"").unwrap();
            }
            "idx_labels" => {
                idx(true);
                std::fs::copy(
                    embedded.join("test-labels-idx1-ubyte.gz"),
                    d.join("train-labels-idx1-ubyte.gz"),
                )
                .unwrap();
            }
            "cifar_truncated" => {
                std::fs::write(d.join("data_batch_1.bin"), &record(3)[..3000]).unwrap();
            }
            "cifar_label" => {
                std::fs::write(d.join("data_batch_1.bin"), record(77)).unwrap();
            }
            other => panic!("no data fixture {other}"),
        }
        d
    }

    /// A copy of the finished quick run, damaged as `variant` says (`""`: intact).
    fn run(&self, id: usize, variant: &str) -> PathBuf {
        let d = self.tmp().join("runs").join(id.to_string());
        copy_dir(&self.finished, &d);
        let one = |folder: &str, name: &str| -> PathBuf {
            let found: Vec<PathBuf> = walk(&d.join(folder))
                .into_iter()
                .filter(|p| p.file_name().unwrap().to_string_lossy().ends_with(name))
                .collect();
            assert!(!found.is_empty(), "no {name} under {folder}");
            found[0].clone()
        };
        match variant {
            "" => {}
            "no_search" => std::fs::remove_dir_all(d.join("search")).unwrap(),
            "bad_config" => std::fs::write(d.join("config.toml"), "garbage = [\n").unwrap(),
            "bad_model" => std::fs::write(one("supernet", ".mpk"), "garbage").unwrap(),
            "bad_progress" => std::fs::write(one("supernet", "progress.json"), "garbage").unwrap(),
            "bad_standalone" => {
                std::fs::write(one("standalone", ".json"), "{\"arch\": 1}").unwrap();
            }
            "bad_evaluated" => garble_second_line(&one("search", "evaluated.jsonl")),
            "bad_strategy" => std::fs::write(one("search", "strategy.json"), "garbage").unwrap(),
            "bad_scores" => garble_second_line(&one("supernet", ".jsonl")),
            other => panic!("no run fixture {other}"),
        }
        d
    }
}

/// Replaces the second line of a JSON-lines file with garbage.
fn garble_second_line(f: &Path) {
    let text = std::fs::read_to_string(f).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1] = "garbage";
    std::fs::write(f, lines.join("\n") + "\n").unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    for f in walk(from) {
        let dest = to.join(f.strip_prefix(from).unwrap());
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&f, &dest).unwrap();
    }
}

/// The files of a run directory (relative paths), besides its lock and logs.
fn listing(dir: &Path) -> Vec<String> {
    walk(dir)
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
        .filter(|p| p != "lock" && !p.starts_with("logs"))
        .collect()
}

/// `arg` with its placeholders replaced; run directories it names are added to `runs`.
fn substitute(
    fx: &Fixtures,
    id: usize,
    arg: &str,
    out: &Path,
    runs: &mut BTreeMap<PathBuf, ()>,
) -> String {
    let mut s = arg
        .replace("{out}", &out.display().to_string())
        .replace("{tmp}", &fx.tmp().display().to_string());
    for prefix in ["{run}", "{run:", "{file:", "{dir:"] {
        while let Some(start) = s.find(prefix) {
            let end = start + s[start..].find('}').unwrap();
            let name = if prefix == "{run}" {
                ""
            } else {
                &s[start + prefix.len()..end]
            };
            let path = match prefix {
                "{run}" | "{run:" => {
                    let p = fx.run(id, name);
                    runs.insert(p.clone(), ());
                    p
                }
                "{file:" => fx.file(name),
                _ => fx.dir(name),
            };
            s.replace_range(start..=end, &path.display().to_string());
        }
    }
    s
}

/// Every file holding Rust tests this table may name.
fn test_sources() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    [
        "harness/tests",
        "harness/src",
        "nas-core/tests",
        "nas-core/src",
    ]
    .iter()
    .flat_map(|d| walk(&root.join(d)))
    .filter(|p| p.extension().is_some_and(|e| e == "rs"))
    .map(|p| std::fs::read_to_string(p).unwrap())
    .collect()
}

/// The source of the test function `name`: from its `fn` line to the closing brace at
/// the same indentation.
fn test_body<'a>(sources: &'a str, name: &str) -> Option<&'a str> {
    let start = sources.find(&format!("fn {name}("))?;
    let line_start = sources[..start].rfind('\n').map_or(0, |i| i + 1);
    let indent = &sources[line_start..start];
    let indent = &indent[..indent.len() - indent.trim_start().len()];
    let end = sources[start..].find(&format!("\n{indent}}}\n"))?;
    Some(&sources[start..start + end])
}

#[test]
fn every_bad_input_in_docs_errors_md_gives_its_error_and_loses_nothing() {
    let rows = rows();
    assert!(rows.len() >= 45, "docs/errors.md lists {} rows", rows.len());
    let ids: Vec<usize> = rows.iter().map(|r| r.id).collect();
    assert_eq!(
        ids,
        (1..=rows.len()).collect::<Vec<_>>(),
        "rows numbered 1, 2, ..."
    );
    let fx = Fixtures::new();
    let sources = test_sources();
    let mut ran = 0;
    let mut unchecked = Vec::new();
    for row in &rows {
        if let Some(test) = &row.test {
            let body = test_body(&sources, test)
                .unwrap_or_else(|| panic!("row {}: no test named {test}", row.id));
            // The test must look for the row's text itself (up to its first `...`), so a
            // row cannot pass on a test that exercises something else.
            let head = row.needle.split("...").next().unwrap_or_default().trim();
            if !body.contains(head) {
                unchecked.push(format!(
                    "row {}: {test} does not check for {head:?}",
                    row.id
                ));
            }
            continue;
        }
        let command = row.command.as_deref().unwrap();
        let out = fx.tmp().join(format!("out-{}", row.id));
        let mut runs = BTreeMap::new();
        let args: Vec<String> = shlex::split(command)
            .unwrap_or_else(|| panic!("row {}: cannot split {command}", row.id))
            .iter()
            .map(|a| substitute(&fx, row.id, a, &out, &mut runs))
            .collect();
        let before: Vec<(Vec<String>, String)> = runs
            .keys()
            .map(|d| {
                (
                    listing(d),
                    std::fs::read_to_string(d.join("config.toml")).unwrap(),
                )
            })
            .collect();
        let result = nas().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&result.stderr);
        let what = format!("row {} (nas {command})", row.id);
        assert!(!result.status.success(), "{what} succeeded:\n{err}");
        assert!(!err.contains("panicked"), "{what} panicked:\n{err}");
        assert!(
            err.contains(&row.needle),
            "{what}: the error lacks {:?}:\n{err}",
            row.needle
        );
        assert!(!out.exists(), "{what} created {}", out.display());
        let settings = command.contains("--set") || command.contains("--config");
        for (dir, (files, config)) in runs.keys().zip(&before) {
            assert_eq!(&listing(dir), files, "{what} changed the files of the run");
            if !settings && !row.needle.contains("config.toml") {
                assert_eq!(
                    &std::fs::read_to_string(dir.join("config.toml")).unwrap(),
                    config,
                    "{what} changed the saved configuration"
                );
            }
        }
        ran += 1;
    }
    assert!(unchecked.is_empty(), "{}", unchecked.join("\n"));
    eprintln!(
        "{ran} rows run, {} covered by their tests",
        rows.len() - ran
    );
}

/// README.md gives the number of rows; it must be the table's.
#[test]
fn the_readme_counts_the_rows_of_docs_errors_md() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let tail = readme
        .split("`docs/errors.md` lists ")
        .nth(1)
        .expect("README.md says how many bad inputs docs/errors.md lists");
    let stated: usize = tail
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number after 'lists'");
    assert_eq!(
        stated,
        rows().len(),
        "README.md says docs/errors.md lists {stated} bad inputs"
    );
}
