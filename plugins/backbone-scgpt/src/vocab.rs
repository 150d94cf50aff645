//! The gene vocabulary (`vocab.json`: symbol → token id).
use std::collections::HashMap;
use std::path::Path;

use ugrn_sdk::{Error, Result, TokenId};

/// scGPT's `<cls>` token, prepended to every cell.
pub const CLS_TOKEN: &str = "<cls>";
/// scGPT's padding token (the default of `args.json`'s `pad_token`).
pub const PAD_TOKEN: &str = "<pad>";
/// scGPT's special tokens, in the order its `vocab.json` has them after the genes.
pub const SPECIAL_TOKENS: [&str; 3] = [PAD_TOKEN, CLS_TOKEN, "<eoc>"];

/// Gene symbols and special tokens by token id, which indexes the rows of the gene embedding.
#[derive(Debug, Clone)]
pub struct Vocab {
    ids: HashMap<String, TokenId>,
    /// Upper-cased symbol → id, for symbols that differ from the vocabulary only in case.
    upper: HashMap<String, TokenId>,
    len: usize,
}

impl Vocab {
    /// Reads and checks `vocab.json`.
    pub fn from_file(path: &Path) -> Result<Vocab> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::file(path.display(), e))?;
        let ids: HashMap<String, TokenId> = serde_json::from_str(&text).map_err(|e| Error::file(path.display(), e))?;
        Vocab::new(ids).map_err(|reason| Error::file(path.display(), reason))
    }

    /// A vocabulary whose ids must be exactly `0..len` (they index the embedding rows).
    pub fn new(ids: HashMap<String, TokenId>) -> std::result::Result<Vocab, String> {
        let len = ids.len();
        let mut seen = vec![false; len];
        for (symbol, &id) in &ids {
            match seen.get_mut(id as usize) {
                Some(slot) if !*slot => *slot = true,
                Some(_) => return Err(format!("token id {id} of {symbol:?} is used twice")),
                None => return Err(format!("token id {id} of {symbol:?} is outside 0..{len}")),
            }
        }
        let mut upper = HashMap::new();
        for (symbol, &id) in &ids {
            let key = symbol.to_uppercase();
            // Where two entries differ only in case, the one already upper-case wins.
            if *symbol == key || !ids.contains_key(&key) {
                upper.insert(key, id);
            }
        }
        Ok(Vocab { ids, upper, len })
    }

    /// Number of tokens (= rows of the gene embedding).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The id of `symbol` exactly as written, else of its upper-cased form, else of a
    /// vocabulary entry equal to it up to case.
    pub fn token_id(&self, symbol: &str) -> Option<TokenId> {
        if let Some(&id) = self.ids.get(symbol) {
            return Some(id);
        }
        let upper = symbol.to_uppercase();
        self.ids.get(&upper).or_else(|| self.upper.get(&upper)).copied()
    }

    /// The id of a special token such as `<pad>`, which must be present verbatim.
    pub fn special(&self, token: &str) -> Option<TokenId> {
        self.ids.get(token).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab(entries: &[(&str, u32)]) -> std::result::Result<Vocab, String> {
        Vocab::new(entries.iter().map(|&(s, i)| (s.to_string(), i)).collect())
    }

    #[test]
    fn exact_then_upper_case() {
        let v = vocab(&[("SOX2", 0), ("C1orf112", 1), ("Mt-Co1", 2), ("MT-CO1", 3), ("<cls>", 4)]).unwrap();
        assert_eq!(v.len(), 5);
        assert_eq!(v.token_id("SOX2"), Some(0));
        assert_eq!(v.token_id("Sox2"), Some(0));
        assert_eq!(v.token_id("C1orf112"), Some(1));
        assert_eq!(v.token_id("C1ORF112"), Some(1));
        assert_eq!(v.token_id("Mt-Co1"), Some(2));
        assert_eq!(v.token_id("mt-co1"), Some(3));
        assert_eq!(v.token_id("NANOG"), None);
        assert_eq!(v.special(CLS_TOKEN), Some(4));
        assert_eq!(v.special("<CLS>"), None);
    }

    #[test]
    fn ids_must_index_rows() {
        assert_eq!(vocab(&[("A", 0), ("B", 2)]).unwrap_err(), "token id 2 of \"B\" is outside 0..2");
        let err = vocab(&[("A", 0), ("B", 0)]).unwrap_err();
        assert!(err.starts_with("token id 0 of ") && err.ends_with(" is used twice"), "{err}");
    }
}
