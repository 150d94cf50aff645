use ugrn_sdk::{Error, Result};

/// Turns candle's errors into the SDK's, saying what was being computed.
pub trait Context<T> {
    fn context(self, what: &str) -> Result<T>;
}

impl<T> Context<T> for candle_core::Result<T> {
    fn context(self, what: &str) -> Result<T> {
        self.map_err(|e| Error::compute(format!("{what}: {e}")))
    }
}
