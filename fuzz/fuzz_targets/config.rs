//! Arbitrary text as an opmux.toml and as a Procfile: errors come back,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // A file the config names is read from disk; only the parsing is fuzzed.
    if !text.contains("env_file") {
        let _ = opmux::config::file::parse_str(&text, "opmux.toml");
    }
    let _ = opmux::config::procfile::parse(&text, "Procfile");
    let _ = opmux::config::parse_key(&text);
});
