//! A link as a QR code in text, for `sessctl dashboard pair`: Unicode half blocks, two rows of
//! modules a line (so the code is square in a terminal's cells), inside the quiet zone of four
//! modules the standard asks for, without which cameras lose the code's edge.
//!
//! Formatting only. May import: nothing of sessctl.

use anyhow::{Context, Result};
use qrcode::render::unicode::Dense1x2;
use qrcode::QrCode;

/// Black ink on a white ground, from the 256-colour palette's fixed cube (16 is #000000, 231
/// #ffffff): a theme redefines the 16 named colours (a light theme's "white" may be grey, a
/// dark theme's "black" its own background), but leaves the cube alone.
const PAINT: &str = "\x1b[38;5;16;48;5;231m";
const RESET: &str = "\x1b[0m";

/// `text` as a QR code, one line of text per two rows of modules, the glyphs' ink the dark
/// modules.
///
/// Cameras read a code dark on light; reversed, many do not. Unpainted glyphs draw in the
/// terminal's text colour, which a dark theme makes light, reversing the code. So on a
/// terminal (`paint`) every line, quiet zone included, is painted black on white, and the code
/// reads the same in a light or a dark theme. Plain text (a pipe, a file, NO_COLOR) cannot
/// choose its colours: it keeps ink for the dark modules, as on paper.
pub fn lines(text: &str, paint: bool) -> Result<Vec<String>> {
    let code =
        QrCode::new(text.as_bytes()).with_context(|| format!("encoding {text} as a QR code"))?;
    let image = code.render::<Dense1x2>().quiet_zone(true).build();
    Ok(image
        .lines()
        .map(|line| match paint {
            true => format!("{PAINT}{line}{RESET}"),
            false => line.to_string(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn painted_lines_are_the_plain_ones_black_on_white_with_a_quiet_zone() {
        let link = "http://sessctl.localhost:7878/login?code=0123456789abcdef";
        let plain = lines(link, false).unwrap();
        let painted = lines(link, true).unwrap();
        let unpainted: Vec<&str> = painted
            .iter()
            .map(|l| {
                l.strip_prefix(PAINT)
                    .and_then(|l| l.strip_suffix(RESET))
                    .expect("a painted line")
            })
            .collect();
        assert_eq!(unpainted, plain);
        // Four light modules around the code: two lines above, two columns each side.
        let width = plain[0].chars().count();
        assert!(plain[..2].iter().all(|l| l == &" ".repeat(width)));
        assert!(plain
            .iter()
            .all(|l| l.starts_with("    ") && l.ends_with("    ")));
        assert!(plain[2].contains('█'), "{plain:?}");
    }
}
