//! The strongroom-scan crate's integration tests, in one test binary (one
//! link instead of one per file; scripts/test.sh cold time). Each file is a
//! module: `cargo test -p strongroom-scan --test it -- corpus_test::`.

#![allow(clippy::unwrap_used)] // tests

// The corpus generator stays in tests/corpus/: examples/gen_corpus.rs uses it too.
#[path = "../corpus/mod.rs"]
mod corpus;

mod corpus_test;
mod git_test;
