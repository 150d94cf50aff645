//! The Emb probe's tests in one binary: against the closed-form mock oracle, and through the
//! real scGPT backbone on its reference fixture.
mod mock_oracle;
mod scgpt_fixture;
