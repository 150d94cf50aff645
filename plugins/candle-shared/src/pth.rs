//! The tensors of a PyTorch zip checkpoint (`torch.save` of a state dict) and the dtype each is
//! stored in.
//!
//! candle's reader skips tensors whose storage type it cannot load (`IntStorage`, `BoolStorage`,
//! …) with a line on stderr, so a loader built on it alone would never see them; this reads the
//! pickles again and names every tensor.
use std::collections::BTreeMap;
use std::fmt;
use std::io::BufReader;
use std::path::Path;

use candle_core::pickle::{Object, Stack};
use ugrn_sdk::{Error, Result};

/// Tensor name → dtype as stored (`F32`, `I64`, `BOOL`, …), over every pickle in the archive
/// that candle reads tensors from.
pub(crate) fn stored_dtypes(path: &Path) -> Result<BTreeMap<String, String>> {
    let fail = |e: &dyn fmt::Display| Error::file(path.display(), e);
    let file = std::fs::File::open(path).map_err(|e| fail(&e))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| fail(&e))?;
    let mut pickles = Vec::new();
    for name in zip.file_names() {
        let name = name.map_err(|e| fail(&e))?;
        if name.ends_with("data.pkl") {
            pickles.push(name.into_owned());
        }
    }
    let mut dtypes = BTreeMap::new();
    for pickle in pickles {
        let mut stack = Stack::empty();
        stack.read_loop(&mut BufReader::new(zip.by_name(&pickle).map_err(|e| fail(&e))?)).map_err(|e| fail(&e))?;
        let Some(Object::Dict(entries)) = state_dict(stack.finalize().map_err(|e| fail(&e))?) else {
            continue;
        };
        for (name, value) in entries {
            if let (Object::Unicode(name), Some(class)) = (name, storage_class(&value)) {
                dtypes.insert(name, dtype_name(class));
            }
        }
    }
    Ok(dtypes)
}

/// The state dict a pickle holds, unwrapped as candle unwraps it: the object itself, or the
/// attributes of a TorchScript module; `None` for any other built object, which candle skips.
fn state_dict(object: Object) -> Option<Object> {
    match object {
        Object::Build { callable, args } => match *callable {
            Object::Reduce { callable, .. } => match *callable {
                Object::Class { module_name, class_name } if module_name == "__torch__" && class_name == "Module" => {
                    Some(*args)
                }
                _ => None,
            },
            _ => None,
        },
        other => Some(other),
    }
}

/// The storage class (`FloatStorage`, …) of a pickled tensor: the class in the persistent id of
/// the storage that `torch._utils._rebuild_tensor_v2` (possibly inside `_rebuild_parameter`)
/// rebuilds it from; `None` for an entry that is not a tensor.
fn storage_class(object: &Object) -> Option<&str> {
    match object {
        Object::PersistentLoad(id) => match id.as_ref() {
            Object::Tuple(items) => items.iter().find_map(|item| match item {
                Object::Class { class_name, .. } => Some(class_name.as_str()),
                _ => None,
            }),
            _ => None,
        },
        Object::Reduce { args, .. } => storage_class(args),
        Object::Tuple(items) => items.iter().find_map(storage_class),
        _ => None,
    }
}

/// A storage class as the dtype safetensors would name it, so that messages read the same for
/// both formats; a class without one is named as it is.
fn dtype_name(storage_class: &str) -> String {
    let name = match storage_class {
        "HalfStorage" => "F16",
        "BFloat16Storage" => "BF16",
        "FloatStorage" => "F32",
        "DoubleStorage" => "F64",
        "BoolStorage" => "BOOL",
        "ByteStorage" => "U8",
        "CharStorage" => "I8",
        "ShortStorage" => "I16",
        "IntStorage" => "I32",
        "LongStorage" => "I64",
        other => other,
    };
    name.to_string()
}
