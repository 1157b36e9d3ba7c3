//! A PDF whose cross-reference data is broken (bytes appended after `%%EOF`, a wrong `startxref`, a table cut
//! off) gets a new table built from the objects found in the file, as poppler, qpdf and MuPDF do, so that a
//! scanner's page is not lost for a damaged index. The objects themselves are not changed.

/// The file with a fresh cross-reference table and trailer appended, listing every `N G obj` found at the start
/// of a line (the last definition of a number wins, as with incremental updates). The trailer keeps the old
/// trailer's `/Encrypt`, `/ID` and `/Info` when one is found; `/Root` comes from it or from the object that is
/// `/Type /Catalog`. `None` when no catalog can be found.
pub(super) fn rebuild_xref(bytes: &[u8]) -> Option<Vec<u8>> {
    let start = bytes.windows(5).position(|w| w == b"%PDF-")?;
    let body = &bytes[start..];
    let mut objs: std::collections::BTreeMap<u32, (u16, usize)> = Default::default();
    let mut i = 0;
    while i < body.len() {
        let line_start = i == 0 || matches!(body[i - 1], b'\n' | b'\r');
        if line_start && body[i].is_ascii_digit() {
            if let Some((num, gen, _)) = object_header(&body[i..]) {
                objs.insert(num, (gen, i));
            }
        }
        i += 1;
    }
    if objs.is_empty() {
        return None;
    }
    let trailer = last_trailer(body);
    let reference = |key: &[u8]| trailer.and_then(|t| reference_after(t, key));
    let root = reference(b"/Root").or_else(|| {
        objs.iter()
            .find(|(_, &(_, off))| is_catalog(&body[off..]))
            .map(|(&n, &(g, _))| format!("{n} {g} R"))
    })?;
    let mut extra = String::new();
    for key in ["/Encrypt", "/Info"] {
        if let Some(r) = reference(key.as_bytes()) {
            extra += &format!(" {key} {r}");
        }
    }
    if let Some(id) = trailer.and_then(id_array) {
        extra += &format!(" /ID {id}");
    }
    let size = objs.keys().next_back().map_or(1, |&n| n + 1);
    let mut out = body.to_vec();
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    let xref_at = out.len();
    let mut table = format!("xref\n0 {size}\n0000000000 65535 f \n");
    for n in 1..size {
        match objs.get(&n) {
            Some(&(g, off)) => table += &format!("{off:010} {g:05} n \n"),
            None => table += "0000000000 65535 f \n",
        }
    }
    table +=
        &format!("trailer\n<< /Size {size} /Root {root}{extra} >>\nstartxref\n{xref_at}\n%%EOF\n");
    out.extend_from_slice(table.as_bytes());
    Some(out)
}

/// `N G obj` at the start of `s`: the object number, generation and the header's length.
fn object_header(s: &[u8]) -> Option<(u32, u16, usize)> {
    let digits = |s: &[u8]| s.iter().take_while(|b| b.is_ascii_digit()).count();
    let spaces = |s: &[u8]| s.iter().take_while(|b| b" \t\r\n".contains(b)).count();
    let mut at = 0;
    let n = digits(&s[at..]);
    if n == 0 || n > 10 {
        return None;
    }
    let num: u32 = std::str::from_utf8(&s[at..at + n]).ok()?.parse().ok()?;
    at += n;
    let sp = spaces(&s[at..]);
    if sp == 0 {
        return None;
    }
    at += sp;
    let g = digits(&s[at..]);
    if g == 0 || g > 5 {
        return None;
    }
    let gen: u16 = std::str::from_utf8(&s[at..at + g]).ok()?.parse().ok()?;
    at += g;
    at += spaces(&s[at..]);
    s[at..].starts_with(b"obj").then_some((num, gen, at + 3))
}

/// Whether the object at the start of `s` is the document catalog.
fn is_catalog(s: &[u8]) -> bool {
    let end = s
        .windows(6)
        .position(|w| w == b"endobj")
        .unwrap_or(s.len().min(4096));
    let body: Vec<u8> = s[..end]
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    body.windows(13).any(|w| w == b"/Type/Catalog")
}

/// The last `trailer << … >>` dictionary's text, if any.
fn last_trailer(body: &[u8]) -> Option<&[u8]> {
    let at = body.windows(7).rposition(|w| w == b"trailer")?;
    let rest = &body[at + 7..];
    let end = rest
        .windows(9)
        .position(|w| w == b"startxref")
        .unwrap_or(rest.len().min(4096));
    Some(&rest[..end])
}

/// `N G R` after `key` in a dictionary's text.
fn reference_after(dict: &[u8], key: &[u8]) -> Option<String> {
    let at = dict.windows(key.len()).position(|w| w == key)? + key.len();
    let rest = std::str::from_utf8(&dict[at..dict.len().min(at + 40)]).ok()?;
    let mut parts = rest.split_whitespace();
    let (n, g, r) = (parts.next()?, parts.next()?, parts.next()?);
    let n: u32 = n.parse().ok()?;
    let g: u16 = g.parse().ok()?;
    r.starts_with('R').then(|| format!("{n} {g} R"))
}

/// The `/ID [<…> <…>]` array of a trailer's text.
fn id_array(dict: &[u8]) -> Option<String> {
    let at = dict.windows(3).position(|w| w == b"/ID")? + 3;
    let open = at + dict[at..].iter().position(|&b| b == b'[')?;
    let close = open + dict[open..].iter().position(|&b| b == b']')?;
    let s = std::str::from_utf8(&dict[open..=close]).ok()?;
    s.bytes()
        .all(|b| b.is_ascii_hexdigit() || b"[]<> \r\n".contains(&b))
        .then(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_headers_are_read_and_other_lines_are_not() {
        assert_eq!(object_header(b"12 0 obj\n<<>>"), Some((12, 0, 8)));
        assert_eq!(object_header(b"3  1\r\nobj"), Some((3, 1, 9)));
        assert_eq!(object_header(b"12 0 R"), None);
        assert_eq!(object_header(b"120 obj"), None);
    }

    #[test]
    fn a_file_with_a_wrong_startxref_gets_a_table_that_lopdf_reads() {
        let mut pdf = b"%PDF-1.4\n".to_vec();
        let objs = [
            "1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n",
            "2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n",
            "3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] >>\nendobj\n",
        ];
        for o in objs {
            pdf.extend_from_slice(o.as_bytes());
        }
        pdf.extend_from_slice(
            b"xref\n0 4\ntrailer\n<< /Size 4 /Root 1 0 R >>\nstartxref\n999999\n%%EOF\n",
        );
        assert!(lopdf::Document::load_mem(&pdf).is_err());
        let fixed = rebuild_xref(&pdf).unwrap();
        let doc = lopdf::Document::load_mem(&fixed).unwrap();
        assert_eq!(doc.get_pages().len(), 1);
        // Without a trailer the catalog is found by its type.
        let cut = pdf.windows(4).position(|w| w == b"xref").unwrap();
        let doc = lopdf::Document::load_mem(&rebuild_xref(&pdf[..cut]).unwrap()).unwrap();
        assert_eq!(doc.get_pages().len(), 1);
        assert!(rebuild_xref(b"%PDF-1.4\nnothing here").is_none());
    }
}
