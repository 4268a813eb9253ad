//! The crate's modules form layers without cycles: each module imports
//! only modules of lower layers (the map in `src/lib.rs`). Messages that
//! the actors send one another live in `messages`, below every actor, so
//! tabs and sessions import no other actor (the supervisor imports
//! `session` to start sessions), and the store does not import the
//! session.
//!
//! Reads the sources: every `crate::<module>` path outside comments.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// Layers, bottom first. A module may use modules of lower layers only.
const LAYERS: &[&[&str]] = &[
    &["ids", "config", "delta", "otel"],
    &["protocol"],
    &["metrics"],
    &["app", "store"],
    &["messages"],
    &["session", "tab", "cluster"],
    &["supervisor"],
    &["service", "demo", "proxy"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The top-level module a file under `src/` belongs to.
fn module_of(rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.trim_end_matches(".rs").to_owned()
}

fn visit(dir: &Path, root: &Path, out: &mut BTreeMap<String, Vec<(String, String)>>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            visit(&path, root, out);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let rel = path.strip_prefix(root).unwrap();
        let from = module_of(rel);
        let text = fs::read_to_string(&path).unwrap();
        for line in text.lines() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for (i, _) in code.match_indices("crate::") {
                let rest = &code[i + "crate::".len()..];
                let to: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !to.is_empty() && to != from {
                    out.entry(from.clone())
                        .or_default()
                        .push((to, rel.display().to_string()));
                }
            }
        }
    }
}

#[test]
fn every_module_imports_only_lower_layers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut imports = BTreeMap::new();
    visit(&root, &root, &mut imports);
    let mut wrong = Vec::new();
    for (from, uses) in &imports {
        if from == "lib" || from == "bin" {
            continue;
        }
        let Some(from_layer) = layer_of(from) else {
            wrong.push(format!("module {from} is in no layer: add it to LAYERS"));
            continue;
        };
        for (to, file) in uses {
            match layer_of(to) {
                Some(to_layer) if to_layer < from_layer => {}
                Some(_) => wrong.push(format!("{file}: {from} uses {to}, not a lower layer")),
                None => wrong.push(format!("{file}: uses {to}, which is in no layer")),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_layer_table_names_every_module_of_the_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        let module = module_of(path.strip_prefix(&root).unwrap());
        if module == "lib" || module == "bin" {
            continue;
        }
        assert!(
            layer_of(&module).is_some(),
            "src/{module} is in no layer of tests/layers.rs"
        );
    }
}
