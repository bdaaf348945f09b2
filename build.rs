//! Writes the o200k_base vocabulary as a table the binary embeds (`$OUT_DIR/o200k_base.ranks`),
//! so that `src/context/tokens.rs` can build its rank map without parsing tiktoken-rs's base64
//! text at run time. The table is taken from tiktoken-rs itself (each rank decoded to its
//! bytes), so it cannot drift from the crate that defines the counts.
//!
//! Layout: for each rank from 0 upwards, one byte giving the token's length, then its bytes.

use std::path::PathBuf;

/// o200k_base's ordinary ranks run from 0 to this, with no gaps; the special tokens come after.
const RANKS: u32 = 199_998;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let encoding = tiktoken_rs::o200k_base().expect("tiktoken-rs builds o200k_base");
    let mut table = Vec::with_capacity(2 * 1024 * 1024);
    for rank in 0..RANKS {
        let bytes = encoding
            .decode_bytes(&[rank])
            .expect("every rank below RANKS is an ordinary o200k_base token");
        let length = u8::try_from(bytes.len()).expect("an o200k_base token fits in 255 bytes");
        table.push(length);
        table.extend_from_slice(&bytes);
    }
    assert!(
        encoding.decode_bytes(&[RANKS]).is_err(),
        "o200k_base has more ordinary ranks than the table holds"
    );
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("o200k_base.ranks"), table).expect("OUT_DIR is writable");
}
