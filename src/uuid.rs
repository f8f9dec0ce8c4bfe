//! Random UUIDs for new conversations, and random secrets (the dashboard's token). A leaf:
//! imports nothing of sessctl.

use std::io::Read;

use anyhow::{Context, Result};

/// `N` bytes from the kernel's random source.
fn random<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .context("reading /dev/urandom")?;
    Ok(b)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|x| format!("{x:02x}")).collect()
}

/// 32 random bytes as 64 hex digits: a secret no one guesses.
pub fn secret() -> Result<String> {
    Ok(hex(&random::<32>()?))
}

/// A random (version 4) UUID, from the kernel's random source.
pub fn new_v4() -> Result<String> {
    let mut b = random::<16>()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = hex(&b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4() {
        let id = new_v4().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(id, new_v4().unwrap());
    }

    #[test]
    fn secrets_are_64_hex_digits_and_differ() {
        let s = secret().unwrap();
        assert_eq!(s.len(), 64);
        assert!(s.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(s, secret().unwrap());
    }
}
