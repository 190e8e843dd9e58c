//! The fuzzers' regression suite, run by every `cargo test` (so by CI, which has no fuzzer):
//! each file of `fuzz/corpus/<target>/` (seeds and what the fuzzers found interesting) and of
//! `fuzz/regressions/<target>/` (inputs that once failed) goes through the same property
//! function as `cargo fuzz run <target>` (`scim::fuzz`). Then a short, bounded, deterministic
//! mutation run over the corpus (a few thousand inputs per target, well under a second) keeps
//! the properties exercised beyond the fixed files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 4] = [
    ("filter", scim::fuzz::filter),
    ("patch_path", scim::fuzz::patch_path),
    ("patch_apply", scim::fuzz::patch_apply),
    ("body", scim::fuzz::body),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, Vec<u8>)> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p, data)
        })
        .collect();
    out.sort();
    out
}

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut all = files(&fuzz_dir().join("corpus").join(target));
    all.extend(files(&fuzz_dir().join("regressions").join(target)));
    all
}

/// Runs `f` on `data`, naming the input if it panics.
fn check(target: &str, f: Target, name: &str, data: &[u8]) {
    let r = std::panic::catch_unwind(|| f(data));
    if let Err(e) = r {
        let msg = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        panic!(
            "fuzz target {target} fails on {name} ({:?}): {msg}",
            String::from_utf8_lossy(data)
        );
    }
}

#[test]
fn corpus_and_regressions_pass_every_target() {
    for (target, f) in TARGETS {
        let inputs = corpus(target);
        assert!(
            inputs.len() >= 5,
            "fuzz/corpus/{target} has {} files: the corpus is missing",
            inputs.len()
        );
        for (path, data) in &inputs {
            check(target, f, &path.display().to_string(), data);
        }
    }
}

/// xorshift64*: deterministic, so a failure here reproduces with the same seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes the SCIM grammars care about, for insertions.
const INTERESTING: &[&[u8]] = &[
    b"(",
    b")",
    b"[",
    b"]",
    b"{",
    b"}",
    b"\"",
    b"\\",
    b".",
    b":",
    b",",
    b" and ",
    b" or ",
    b"not ",
    b" eq ",
    b" pr",
    b" co ",
    b"null",
    b"true",
    b"-1e400",
    b"\\u0000",
    b"\xc3\xa9",
    b"urn:ietf:params:scim:schemas:core:2.0:User:",
    b"members",
    b"emails",
    b"value",
];

fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(5) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let end = (at + 1 + rng.below(8)).min(v.len());
                v.drain(at.min(end)..end);
            }
            2 => {
                let piece = INTERESTING[rng.below(INTERESTING.len())];
                v.splice(at..at, piece.iter().copied());
            }
            3 if !other.is_empty() => {
                // splice in a piece of another corpus input
                let from = rng.below(other.len());
                let len = rng.below(other.len() - from + 1);
                v.splice(at..at, other[from..from + len].iter().copied());
            }
            _ => {
                let n = rng.below(64) + 1;
                let fill = if v.is_empty() {
                    b'('
                } else {
                    v[rng.below(v.len())]
                };
                v.splice(at..at, std::iter::repeat_n(fill, n));
            }
        }
    }
    v
}

#[test]
fn bounded_mutation_run_finds_nothing() {
    const PER_TARGET: usize = 3000;
    for (target, f) in TARGETS {
        let inputs = corpus(target);
        assert!(!inputs.is_empty(), "fuzz/corpus/{target} is empty");
        let mut rng = Rng(0x5EED_0000_0000_0001 ^ target.len() as u64);
        for i in 0..PER_TARGET {
            let (_, a) = &inputs[rng.below(inputs.len())];
            let (_, b) = &inputs[rng.below(inputs.len())];
            let data = mutate(&mut rng, a, b);
            check(target, f, &format!("mutation {i}"), &data);
        }
    }
}

#[test]
fn a_violated_property_is_reported() {
    // the harness itself can fail: a filter target given a PATCH path check would not, but
    // a target that panics must surface as a failure with the input named
    let r = std::panic::catch_unwind(|| {
        check("demo", |_| panic!("boom"), "input", b"x");
    });
    let msg = r.unwrap_err().downcast::<String>().unwrap();
    assert!(msg.contains("demo") && msg.contains("boom"), "{msg}");
}
