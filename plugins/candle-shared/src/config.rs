//! Reading a backbone's JSON config (`args.json`, `config.json`) with errors that name the key
//! or option at fault. Each backbone defines its own fields and checks.
use std::fmt;
use std::path::Path;

use serde::de::DeserializeOwned;
use ugrn_sdk::{Error, Result};

/// A backbone's model config: deserialised from JSON, then checked for settings the backbone
/// does not implement.
pub trait JsonConfig: DeserializeOwned {
    /// Refuses what the backbone cannot compute, naming the option at fault.
    fn check(&self) -> std::result::Result<(), String>;
}

/// Reads and checks the config file at `path`; errors name the file.
pub fn read<T: JsonConfig>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::file(path.display(), e))?;
    parse(&text).map_err(|reason| Error::file(path.display(), reason))
}

/// Parses and checks config text; a deserialisation error names the key at fault
/// (`key `a.b`: …`) unless the fault is the document as a whole.
pub fn parse<T: JsonConfig>(text: &str) -> std::result::Result<T, String> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let config: T = serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        if key == "." { e.inner().to_string() } else { format!("key `{key}`: {}", e.inner()) }
    })?;
    config.check()?;
    Ok(config)
}

/// An option whose value changes the model in a way the backbone does not implement.
pub fn unsupported(key: &str, value: impl fmt::Display, supported: &str) -> String {
    format!("option `{key}` = {value} is not supported (supported: {supported})")
}

/// The largest size option (a width, a count of layers or tokens) a config may give: far past
/// any model's, and small enough that what is sized from it is never an allocation that aborts.
pub const MAX_SIZE: usize = 1 << 24;

/// The first of `options` (name, value) that is zero or beyond [`MAX_SIZE`], as an error.
pub fn require_sizes(options: &[(&str, usize)]) -> std::result::Result<(), String> {
    for &(key, value) in options {
        if value == 0 {
            return Err(format!("option `{key}` must be positive"));
        }
        if value > MAX_SIZE {
            return Err(format!("option `{key}` = {value} is beyond any model's size (at most {MAX_SIZE})"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Dims {
        width: usize,
        height: usize,
    }

    impl JsonConfig for Dims {
        fn check(&self) -> std::result::Result<(), String> {
            require_sizes(&[("width", self.width), ("height", self.height)])
        }
    }

    #[test]
    fn errors_name_the_key_or_option() {
        let dims: Dims = parse(r#"{"width": 3, "height": 2}"#).unwrap();
        assert_eq!((dims.width, dims.height), (3, 2));
        let err = parse::<Dims>(r#"{"width": "wide", "height": 2}"#).unwrap_err();
        assert!(err.starts_with("key `width`: invalid type: string \"wide\""), "{err}");
        let err = parse::<Dims>(r#"{"width": 3}"#).unwrap_err();
        assert!(err.starts_with("missing field `height`"), "{err}");
        assert_eq!(parse::<Dims>(r#"{"width": 0, "height": 0}"#).unwrap_err(), "option `width` must be positive");
        assert_eq!(unsupported("k", "\"v\"", "\"w\""), "option `k` = \"v\" is not supported (supported: \"w\")");
    }
}
