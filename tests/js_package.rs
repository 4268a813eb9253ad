//! The JavaScript client as the npm package `tabhub` (`clients/js`): its
//! package.json and the client's `VERSION` name the crate's version, and the
//! package that `clients/js/build.mjs` stages (assets/tabhub.js byte for
//! byte, the framework bindings `tabhub/react`, `tabhub/vue` and
//! `tabhub/svelte`, a `.d.ts` for each generated from its JSDoc by tsc with
//! only the public API left (no private or internal member), its README
//! and the license files) packs with `npm pack`,
//! installs from the tarball into an empty project, imports under Node and
//! type-checks a strict TypeScript user of the client and of `tabhub/react`
//! (whose declarations need no React types). Needs Node.js, npm and
//! `npm ci --prefix tests/js` (TypeScript); it fails, never skips, when one
//! is missing.

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::node::{self, TempDir};
use common::process::Guard;
use serde_json::{json, Value};

/// The last resort for one npm or node run (they take seconds).
const STEP: Duration = Duration::from_secs(120);

/// clients/js/package.json.
fn package_json() -> Value {
    let path = node::root().join("clients/js/package.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Panics unless `npm --version` runs.
fn require_npm() {
    match Command::new("npm").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "npm is required: `npm --version` failed ({}): {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            node::INSTALL_HINT
        ),
        Err(e) => panic!(
            "npm is required: cannot run `npm --version`: {e}\n{}",
            node::INSTALL_HINT
        ),
    }
}

/// Runs `program args` in `dir`, in a process group of its own; panics
/// with everything it printed unless it exits 0 within [`STEP`].
fn run_in(dir: &Path, program: &str, args: &[&str]) {
    let mut command = Command::new(program);
    command.current_dir(dir).args(args).process_group(0);
    let mut child = Guard::spawn(command);
    let what = format!("{program} {} (in {})", args.join(" "), dir.display());
    match child.wait_for(STEP) {
        Some(status) if status.success() => {}
        Some(status) => panic!("{what} failed ({status})\n{}", child.output()),
        None => {
            child.kill_group();
            panic!("{what} did not finish within {STEP:?}\n{}", child.output());
        }
    }
}

/// Writes `text` to `path`.
fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

#[test]
fn the_package_json_is_tabhub_at_the_crate_version_as_an_es_module_with_types() {
    let package = package_json();
    assert_eq!(package["name"], "tabhub");
    assert_eq!(
        package["version"],
        env!("CARGO_PKG_VERSION"),
        "clients/js/package.json's version must be the crate's (Cargo.toml)"
    );
    assert_eq!(package["license"], env!("CARGO_PKG_LICENSE"));
    assert_eq!(package["type"], "module");
    assert_eq!(
        package["exports"]["."],
        json!({ "types": "./tabhub.d.ts", "default": "./tabhub.js" })
    );
    for binding in ["react", "vue", "svelte"] {
        assert_eq!(
            package["exports"][format!("./{binding}")],
            json!({ "types": format!("./{binding}.d.ts"), "default": format!("./{binding}.js") }),
            "the {binding} binding is the subpath export tabhub/{binding}"
        );
    }
    assert_eq!(package["main"], "./tabhub.js");
    assert_eq!(package["types"], "./tabhub.d.ts");
    assert_eq!(
        package["files"],
        json!([
            "tabhub.js",
            "tabhub.d.ts",
            "react.js",
            "react.d.ts",
            "vue.js",
            "vue.d.ts",
            "svelte.js",
            "svelte.d.ts",
            "README.md",
            "LICENSE-MIT",
            "LICENSE-APACHE"
        ])
    );
    assert_eq!(package["sideEffects"], false);
    assert_eq!(
        package["engines"],
        json!({"node": ">=20"}),
        "the Node versions the tests run"
    );
    for field in ["private", "dependencies", "optionalDependencies"] {
        assert!(
            package.get(field).is_none(),
            "the client has no dependencies and is published: no {field:?}"
        );
    }
    // The bindings import their framework, which the app brings: optional
    // peers, so installing the client alone installs nothing else.
    assert_eq!(
        package["peerDependencies"],
        json!({ "react": ">=18", "vue": ">=3.3" })
    );
    assert_eq!(
        package["peerDependenciesMeta"],
        json!({ "react": { "optional": true }, "vue": { "optional": true } })
    );
}

#[test]
fn the_client_version_is_the_crate_version() {
    let path = node::root().join("assets/tabhub.js");
    let source = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let declared: Vec<&str> = source
        .lines()
        .filter_map(|line| line.strip_prefix("export const VERSION = \""))
        .map(|rest| {
            rest.strip_suffix("\";")
                .unwrap_or_else(|| panic!("VERSION is not a plain string literal: {rest:?}"))
        })
        .collect();
    assert_eq!(
        declared,
        [env!("CARGO_PKG_VERSION")],
        "assets/tabhub.js must export VERSION = the crate's version (Cargo.toml), once"
    );
}

/// Imports every export of the installed package by its bare name and
/// checks what each is (and that the one module file is what resolves).
const IMPORT_CHECK: &str = include_str!("js_package/import_check.mjs");

/// A strict TypeScript user of the installed package: resolves its types
/// through `exports` (`moduleResolution: nodenext`) and gets real ones,
/// not `any`.
const TYPESCRIPT_USER: &str = include_str!("js_package/user.ts");

#[test]
fn the_packed_client_installs_into_an_empty_project_and_imports() {
    node::require(&["typescript"]);
    require_npm();
    let root = node::root();
    let version = env!("CARGO_PKG_VERSION");
    let tmp = TempDir::new("tabhub-js-package");

    // Stage the package and pack it.
    let staged = tmp.0.join("package");
    let staged_arg = staged.to_str().expect("a UTF-8 temp path");
    run_in(root, "node", &["clients/js/build.mjs", staged_arg]);
    let tmp_arg = tmp.0.to_str().expect("a UTF-8 temp path");
    run_in(
        &tmp.0,
        "npm",
        &["pack", staged_arg, "--pack-destination", tmp_arg],
    );
    let tarball = tmp.0.join(format!("tabhub-{version}.tgz"));
    assert!(tarball.is_file(), "npm pack made no {}", tarball.display());

    // Install the tarball into an empty project (no registry needed: the
    // package has no dependencies).
    let app = tmp.0.join("app");
    std::fs::create_dir(&app).expect("create the empty project");
    write(
        &app.join("package.json"),
        r#"{ "name": "app", "version": "0.0.0", "private": true, "type": "module" }"#,
    );
    run_in(
        &app,
        "npm",
        &[
            "install",
            "--offline",
            "--no-audit",
            "--no-fund",
            tarball.to_str().expect("a UTF-8 temp path"),
        ],
    );

    // What got installed: exactly these files, the client byte for byte
    // the one the server serves, the licenses the repository's.
    let installed = app.join("node_modules/tabhub");
    let mut files: Vec<String> = std::fs::read_dir(&installed)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", installed.display()))
        .map(|entry| {
            entry
                .expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "LICENSE-APACHE",
            "LICENSE-MIT",
            "README.md",
            "package.json",
            "react.d.ts",
            "react.js",
            "svelte.d.ts",
            "svelte.js",
            "tabhub.d.ts",
            "tabhub.js",
            "vue.d.ts",
            "vue.js"
        ]
    );
    for binding in ["react.js", "vue.js", "svelte.js"] {
        let ours = std::fs::read(root.join("clients/js").join(binding))
            .unwrap_or_else(|e| panic!("cannot read clients/js/{binding}: {e}"));
        let packed = std::fs::read(installed.join(binding))
            .unwrap_or_else(|e| panic!("cannot read the installed {binding}: {e}"));
        assert!(
            ours == packed,
            "the packed {binding} differs from clients/js/{binding}"
        );
    }
    for license in ["LICENSE-MIT", "LICENSE-APACHE"] {
        let ours = std::fs::read(root.join(license))
            .unwrap_or_else(|e| panic!("cannot read {license}: {e}"));
        let packed = std::fs::read(installed.join(license))
            .unwrap_or_else(|e| panic!("cannot read the installed {license}: {e}"));
        assert!(
            ours == packed,
            "the packed {license} differs from the repository's"
        );
    }
    let served = std::fs::read(root.join("assets/tabhub.js")).expect("read assets/tabhub.js");
    let published =
        std::fs::read(installed.join("tabhub.js")).expect("read the installed tabhub.js");
    assert!(
        published == served,
        "the packed tabhub.js differs from assets/tabhub.js (what /tabhub.js serves)"
    );
    let installed_package: Value = serde_json::from_str(
        &std::fs::read_to_string(installed.join("package.json"))
            .expect("read the installed package.json"),
    )
    .expect("the installed package.json is JSON");
    assert_eq!(installed_package["version"], version);
    let declarations = std::fs::read_to_string(installed.join("tabhub.d.ts"))
        .expect("read the installed tabhub.d.ts");
    for declared in [
        "export class TabHub ",
        "export class Session<",
        "subscribe(",
    ] {
        assert!(
            declarations.contains(declared),
            "tabhub.d.ts does not declare {declared:?}:\n{declarations}"
        );
    }
    // Only the public API: no private or internal member or type (the
    // client's are marked `@private`/`@internal` and named `_x`).
    let hidden: Vec<&str> = declarations
        .lines()
        .filter(|line| {
            let code = line.trim_start();
            code.starts_with("private ")
                || code.starts_with('_')
                || code.contains("@internal")
                || code.contains("PendingPush")
        })
        .collect();
    assert!(
        hidden.is_empty(),
        "tabhub.d.ts declares private or internal members: {hidden:#?}"
    );
    // tabhub/vue's declarations (the TypeScript user below has no vue).
    let vue = std::fs::read_to_string(installed.join("vue.d.ts")).expect("read vue.d.ts");
    assert!(vue.contains("export function useSession<"), "{vue}");

    // Node imports it by its bare name from the project.
    let check = app.join("check.mjs");
    write(&check, IMPORT_CHECK);
    node::run(
        &[check.to_str().expect("a UTF-8 temp path")],
        &[("TABHUB_CRATE_VERSION", version)],
        STEP,
    )
    .assert_success("");

    // The bindings that need no framework work there too.
    let bindings = app.join("bindings_check.mjs");
    write(&bindings, include_str!("js_package/bindings_check.mjs"));
    let bindings_arg = bindings.to_str().expect("a UTF-8 temp path");
    node::run(&[bindings_arg], &[], STEP).assert_success("");

    // A strict TypeScript user type-checks against the declarations.
    let user = app.join("user.ts");
    write(&user, TYPESCRIPT_USER);
    let bindings_user = app.join("bindings_user.ts");
    write(&bindings_user, include_str!("js_package/bindings_user.ts"));
    node::run(
        &[
            "tests/js/node_modules/typescript/bin/tsc",
            "--strict",
            "--noEmit",
            "--target",
            "es2022",
            "--module",
            "nodenext",
            "--moduleResolution",
            "nodenext",
            "--lib",
            "es2022,dom",
            user.to_str().expect("a UTF-8 temp path"),
            bindings_user.to_str().expect("a UTF-8 temp path"),
        ],
        &[],
        STEP,
    )
    .assert_success("");
}
