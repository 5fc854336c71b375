//! The README is a contract with users: its key table must list every key the
//! help overlay lists, and its set-up commands must stay the ones that work.

use opmux::keys::KEY_HELP;

const README: &str = include_str!("../README.md");

#[test]
fn readme_key_table_lists_every_default_key() {
    for (key, _) in KEY_HELP {
        let row = format!("| `{key}` |");
        assert!(
            README.contains(&row),
            "README has no key table row for {key}"
        );
    }
}

#[test]
fn readme_names_the_demo_and_the_test_command() {
    assert!(README.contains("cargo run --release -- fixtures/monitor fixtures/agent"));
    assert!(README.contains("\ncargo test\n"));
    for fixture in ["fixtures/monitor", "fixtures/agent"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(fixture);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert!(mode & 0o111 != 0, "{fixture} must be executable");
    }
}
