//! The page's colours meet WCAG's contrast minimums, in both themes and in
//! projector mode, read from `style.css` itself.
//!
//! axe-core checks contrast in the browser tests, but only where it can
//! tell the background: it leaves out the sequence diagram's SVG text and
//! whatever is scrolled out of view. This checks every pair the page uses
//! instead: each text colour on each background it is drawn on.

use std::collections::HashMap;

const STYLE: &str = include_str!("../style.css");

/// Colours used for text.
const TEXT: [&str; 8] = [
    "text",
    "muted",
    "client",
    "server",
    "handshake",
    "fin",
    "error",
    "comment",
];

/// Backgrounds text is drawn on: the page, panels, code, the selection,
/// and the two kinds of notice.
const BACKGROUNDS: [&str; 6] = ["bg", "panel", "code-bg", "sel", "info-bg", "error-bg"];

/// `--name: light-dark(#light, #dark)` declarations in the first block
/// that starts with `selector {`.
fn palette(selector: &str) -> HashMap<String, (String, String)> {
    let start = STYLE
        .find(&format!("{selector} {{"))
        .unwrap_or_else(|| panic!("style.css has no `{selector} {{` block"));
    let block = &STYLE[start..];
    let block = &block[..block.find('}').expect("the block ends")];
    block
        .lines()
        .filter_map(|line| {
            let (name, value) = line.trim().strip_prefix("--")?.split_once(':')?;
            let pair = value.trim().strip_prefix("light-dark(")?;
            let (light, dark) = pair.split_once(',')?;
            let dark = dark.trim().trim_end_matches(';').trim_end_matches(')');
            Some((
                name.trim().to_string(),
                (light.trim().to_string(), dark.trim().to_string()),
            ))
        })
        .collect()
}

/// WCAG 2's relative luminance of `#rrggbb`.
fn luminance(hex: &str) -> f64 {
    let hex = hex.trim_start_matches('#');
    assert_eq!(hex.len(), 6, "not #rrggbb: {hex}");
    let channel = |i: usize| {
        let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digits")) / 255.0;
        if c <= 0.03928 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4)
}

fn contrast(a: &str, b: &str) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// Every pair of `fronts` on `backs` below `minimum`, in both themes.
fn failures(
    colours: &HashMap<String, (String, String)>,
    fronts: &[&str],
    backs: &[&str],
    minimum: f64,
) -> Vec<String> {
    let colour = |name: &str| {
        colours
            .get(name)
            .unwrap_or_else(|| panic!("--{name} is not a light-dark() pair in style.css"))
    };
    let mut failed = Vec::new();
    for front in fronts {
        for back in backs {
            let (front_light, front_dark) = colour(front);
            let (back_light, back_dark) = colour(back);
            for (theme, f, b) in [
                ("light", front_light, back_light),
                ("dark", front_dark, back_dark),
            ] {
                let ratio = contrast(f, b);
                if ratio < minimum {
                    failed.push(format!(
                        "{theme}: --{front} {f} on --{back} {b} is {ratio:.2}:1, below {minimum}:1"
                    ));
                }
            }
        }
    }
    failed
}

/// Every text colour is at least 4.5:1 (WCAG AA) on every background, in
/// the light and the dark theme; a primary button's text on its colour too.
#[test]
fn text_meets_aa_contrast_in_both_themes() {
    let colours = palette(":root");
    let mut failed = failures(&colours, &TEXT, &BACKGROUNDS, 4.5);
    failed.extend(failures(&colours, &["accent-text"], &["accent"], 4.5));
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// The focus ring is at least 3:1 (WCAG's minimum for what is not text)
/// against every background it is drawn on.
#[test]
fn the_focus_ring_stands_out_in_both_themes() {
    let colours = palette(":root");
    let failed = failures(&colours, &["focus"], &BACKGROUNDS, 3.0);
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// In projector mode (a washed-out screen at the back of a room) the
/// code's comments are at least 7:1 (WCAG AAA) on the code and the
/// highlighted line.
#[test]
fn projector_mode_comments_meet_aaa() {
    let mut colours = palette(":root");
    colours.extend(palette(":root[data-projector]"));
    let failed = failures(&colours, &["comment"], &["code-bg", "sel"], 7.0);
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// The checker agrees with WCAG's own examples.
#[test]
fn contrast_is_computed_as_wcag_does() {
    assert!((contrast("#000000", "#ffffff") - 21.0).abs() < 0.01);
    assert!((contrast("#777777", "#ffffff") - 4.48).abs() < 0.01);
}
