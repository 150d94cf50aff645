//! Progress bars for long steps (hidden with `--quiet`).
use indicatif::{ProgressBar, ProgressStyle};
use ugrn_sdk::Progress;

pub struct Bar(ProgressBar);

impl Bar {
    /// A bar counting `unit`s (e.g. pairs, steps), labelled `message`.
    pub fn new(quiet: bool, message: &str, unit: &str) -> Self {
        let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
        let template = format!("{{prefix:28}} [{{bar:30}}] {{pos}}/{{len}} {unit}  {{per_sec}}  eta {{eta}}  {{msg}}");
        bar.set_style(
            ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(message.to_string());
        Bar(bar)
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bar {
    fn set_total(&self, total: u64) {
        self.0.set_length(total);
    }
    fn advance(&self, done: u64) {
        self.0.inc(done);
    }
    fn set_message(&self, message: &str) {
        self.0.set_message(message.to_string());
    }
}
