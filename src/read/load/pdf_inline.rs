//! Inline images (`BI … ID … EI`) in a content stream, lifted out as image streams: lopdf parses only unfiltered
//! ones, and a filtered one makes the whole content stream unreadable. Each is replaced by `N PhieuInline`, an
//! operator no PDF uses, so the page's drawing order and matrices stay as written.

use lopdf::{Dictionary, Object, Stream};

/// The operator that stands in for the `n`-th lifted image.
pub(super) const INLINE_OPERATOR: &str = "PhieuInline";

/// A content stream with its inline images lifted out.
pub(super) struct Lifted {
    pub content: Vec<u8>,
    pub images: Vec<Stream>,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t' | b'\x0c' | b'\0')
}

fn is_delimiter(b: u8) -> bool {
    is_space(b) || b"()<>[]{}/%".contains(&b)
}

/// The position of the next `token` (a whole word: delimited on both sides) at or after `from`, outside strings
/// and comments.
fn find_token(s: &[u8], from: usize, token: &[u8]) -> Option<usize> {
    let mut i = from;
    while i < s.len() {
        match s[i] {
            b'(' => {
                let mut depth = 0usize;
                while i < s.len() {
                    match s[i] {
                        b'\\' => i += 1,
                        b'(' => depth += 1,
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            // A dictionary's `<<` and `>>` are no string.
            b'<' | b'>' if s.get(i + 1) == Some(&s[i]) => i += 1,
            b'<' => {
                while i < s.len() && s[i] != b'>' {
                    i += 1;
                }
            }
            b'%' => {
                while i < s.len() && s[i] != b'\n' && s[i] != b'\r' {
                    i += 1;
                }
            }
            _ if s[i..].starts_with(token)
                && (i == 0 || is_delimiter(s[i - 1]))
                && s.get(i + token.len()).is_none_or(|&b| is_delimiter(b)) =>
            {
                return Some(i);
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The full key for an inline image's abbreviation.
fn full_key(k: &[u8]) -> &[u8] {
    match k {
        b"W" => b"Width",
        b"H" => b"Height",
        b"BPC" => b"BitsPerComponent",
        b"CS" => b"ColorSpace",
        b"F" => b"Filter",
        b"DP" => b"DecodeParms",
        b"IM" => b"ImageMask",
        b"D" => b"Decode",
        b"I" => b"Interpolate",
        b"L" => b"Length",
        other => other,
    }
}

/// Bytes per row × rows of unfiltered sample data, when the colour space says how many components there are.
fn unfiltered_len(d: &Dictionary) -> Option<usize> {
    let int = |k: &[u8]| d.get(k).ok()?.as_i64().ok().filter(|&v| v > 0);
    let (w, h) = (int(b"Width")? as usize, int(b"Height")? as usize);
    let mask = d
        .get(b"ImageMask")
        .and_then(|o| o.as_bool())
        .unwrap_or(false);
    let bpc = if mask {
        1
    } else {
        int(b"BitsPerComponent")? as usize
    };
    let comps = if mask {
        1
    } else {
        match d.get(b"ColorSpace").ok()? {
            Object::Name(n) => match n.as_slice() {
                b"G" | b"DeviceGray" | b"CalGray" => 1,
                b"RGB" | b"DeviceRGB" | b"CalRGB" => 3,
                b"CMYK" | b"DeviceCMYK" => 4,
                _ => return None,
            },
            Object::Array(a) => match a.first()?.as_name().ok()? {
                b"I" | b"Indexed" => 1,
                _ => return None,
            },
            _ => return None,
        }
    };
    w.checked_mul(comps)?
        .checked_mul(bpc)?
        .div_ceil(8)
        .checked_mul(h)
}

/// Where the data of a filtered image ends: before the first `EI` that stands alone and is followed by what
/// looks like content-stream text (as pdf.js and poppler find it; compressed data may hold the bytes `EI`).
fn find_ei(s: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 2 <= s.len() {
        if &s[i..i + 2] == b"EI"
            && i > from
            && is_space(s[i - 1])
            && s.get(i + 2).is_none_or(|&b| is_space(b))
        {
            // The text checked ends where the next inline image's own data begins.
            let mut after = &s[i + 2..(i + 66).min(s.len())];
            if let Some(next_id) = after
                .windows(4)
                .position(|w| is_space(w[0]) && &w[1..3] == b"ID" && is_space(w[3]))
            {
                after = &after[..next_id];
            }
            if after
                .iter()
                .all(|&b| is_space(b) || (0x20..0x7f).contains(&b))
            {
                return Some(i);
            }
        }
        i += 1;
    }
    None
}

/// One inline image at `bi` (the `BI` token): its stream and the position just after its `EI`.
fn lift_one(s: &[u8], bi: usize) -> Option<(Stream, usize)> {
    let id = find_token(s, bi + 2, b"ID")?;
    // The dictionary is parsed as the operands of a made-up operator.
    let mut dict_src = s[bi + 2..id].to_vec();
    dict_src.extend_from_slice(b" PhieuDict");
    let ops = lopdf::content::Content::decode(&dict_src).ok()?;
    let operands = &ops.operations.first()?.operands;
    let mut dict = Dictionary::new();
    for pair in operands.chunks_exact(2) {
        let key = pair[0].as_name().ok()?;
        dict.set(full_key(key).to_vec(), pair[1].clone());
    }
    // One white-space byte ends `ID`; the data starts after it.
    let start = id + 3;
    if start > s.len() {
        return None;
    }
    let declared = dict
        .get(b"Length")
        .ok()
        .and_then(|o| o.as_i64().ok())
        .and_then(|l| usize::try_from(l).ok());
    let known = declared.or_else(|| {
        dict.get(b"Filter")
            .is_err()
            .then(|| unfiltered_len(&dict))
            .flatten()
    });
    let (end, ei) = match known {
        Some(len) => {
            let end = start.checked_add(len)?;
            let ei = find_token(s, end.min(s.len()), b"EI")
                .filter(|&e| s[end.min(s.len())..e].iter().all(|&b| is_space(b)))?;
            (end, ei)
        }
        None => {
            let ei = find_ei(s, start)?;
            (ei - 1, ei)
        }
    };
    if end > s.len() || end < start {
        return None;
    }
    let mut stream = Stream::new(dict, s[start..end].to_vec());
    stream.dict.set("Subtype", Object::Name(b"Image".to_vec()));
    Some((stream, ei + 2))
}

/// Lifts every inline image out of `content`; `None` when it has none (or none that parses), so the content is
/// used as it is.
pub(super) fn lift_inline_images(content: &[u8]) -> Option<Lifted> {
    let mut from = 0;
    let mut out = Vec::with_capacity(content.len());
    let mut images = vec![];
    while let Some(bi) = find_token(content, from, b"BI") {
        let Some((stream, after)) = lift_one(content, bi) else {
            break;
        };
        out.extend_from_slice(&content[from..bi]);
        out.extend_from_slice(format!(" {} {INLINE_OPERATOR} ", images.len()).as_bytes());
        images.push(stream);
        from = after;
    }
    if images.is_empty() {
        return None;
    }
    out.extend_from_slice(&content[from..]);
    Some(Lifted {
        content: out,
        images,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_images_are_lifted_with_their_full_keys() {
        // A Flate image found by its EI, followed closely by an unfiltered 2x2 grey image whose binary data holds
        // the bytes "EI" (found by its size): the Flate image's EI is followed by binary within 64 bytes.
        let flate = {
            use std::io::Write;
            let mut e = flate2::write::ZlibEncoder::new(vec![], flate2::Compression::default());
            e.write_all(&[0u8, 255, 255, 0]).unwrap();
            e.finish().unwrap()
        };
        let mut content = b"q BI /W 2 /H 2 /BPC 8 /CS /G /F /Fl ID ".to_vec();
        content.extend_from_slice(&flate);
        content.extend_from_slice(
            b"\nEI Q q 10 0 0 10 0 0 cm BI /W 2 /H 2 /BPC 8 /CS /G ID EI\x00\xff\nEI Q",
        );
        content.extend_from_slice(b" (a BI b) Tj\n");
        let l = lift_inline_images(&content).expect("two inline images");
        assert_eq!(l.images.len(), 2);
        assert_eq!(l.images[0].content, flate);
        assert_eq!(
            l.images[0].dict.get(b"Filter").unwrap().as_name().unwrap(),
            b"Fl"
        );
        assert_eq!(l.images[1].content, b"EI\x00\xff");
        assert_eq!(l.images[1].dict.get(b"Width").unwrap().as_i64().unwrap(), 2);
        let text = String::from_utf8_lossy(&l.content);
        assert!(text.contains(" 0 PhieuInline ") && text.contains(" 1 PhieuInline "));
        assert!(text.contains("(a BI b) Tj"), "a BI inside a string is text");
        assert!(lopdf::content::Content::decode(&l.content).is_ok());
        assert!(lift_inline_images(b"q 1 0 0 1 0 0 cm /Im0 Do Q").is_none());
    }
}
