//! Spec keys that take one of several forms (a name or a table, a column name or an index, a
//! rule or a table of weights) name the key and the forms it takes when a value fits none,
//! instead of serde's "data did not match any variant of untagged enum".

use std::process::Command;

const BASE: &str = r#"
[data]
dataset = "digits"
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 10
activation = "softmax"
"#;

/// `deeptrain summary` on the base spec with `extra` appended: its one-line error.
fn error_of(extra: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spec.toml");
    std::fs::write(&path, format!("{BASE}{extra}\n")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_deeptrain"))
        .arg("summary")
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "{extra}: accepted");
    assert_eq!(err.trim().lines().count(), 1, "{extra}: {err}");
    assert!(!err.contains("untagged"), "{extra}: {err}");
    assert!(!err.contains("panicked"), "{extra}: {err}");
    err
}

#[test]
fn values_of_no_allowed_form_name_the_key_and_the_forms() {
    let cases: [(&str, &[&str]); 10] = [
        (
            "[[data.inputs]]\nname = \"a\"\ncolumns = [-1]",
            &["columns", "negative", "from 0"],
        ),
        (
            "[[data.inputs]]\nname = \"a\"\ncolumns = [1.5]",
            &["columns", "names", "indices"],
        ),
        (
            "[fit]\nclass_weight = \"balance\"",
            &["class_weight", "\"balanced\"", "balance\""],
        ),
        (
            "[fit]\nclass_weight = 3",
            &["class_weight", "\"balanced\"", "table"],
        ),
        (
            "[fit]\nclass_weight = { 0 = \"x\" }",
            &["class_weight", "table"],
        ),
        (
            "[compile]\nmetrics = [{ name = \"top_k_accuracy\", k = -1 }]",
            &["top_k_accuracy", "`k`", ">= 1", "-1"],
        ),
        ("[compile]\nmetrics = [3]", &["metric", "name", "table"]),
        (
            "[compile]\nmetrics = [{ name = \"top_k_accuracy\", kk = 1 }]",
            &["kk", "metric"],
        ),
        (
            "[compile]\nloss = { name = \"huber\", delta = \"x\" }",
            &["loss", "delta"],
        ),
        ("[compile]\nloss = 7", &["loss", "name", "table"]),
    ];
    for (extra, words) in cases {
        let err = error_of(extra);
        for w in words {
            assert!(err.contains(w), "{extra}: `{w}` missing from {err}");
        }
    }
}
