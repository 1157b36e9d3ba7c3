//! CCITT fax decoding (T.4 Group 3 1-D and 2-D, T.6 Group 4) for TIFF strips and PDF `CCITTFaxDecode` streams,
//! through `hayro-ccitt`, into one byte per pixel where 0 is the codec's white and 1 its black. What those colours
//! look like is the container's business (TIFF `PhotometricInterpretation`, PDF `BlackIs1` and `/Decode`).

use hayro_ccitt::{DecodeSettings, Decoder, DecoderContext, EncodingMode};

/// How a CCITT stream is coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaxParams {
    /// Pixels per row.
    pub columns: u32,
    /// Rows expected (0: until the data or an end-of-block code ends).
    pub rows: u32,
    /// Group 3 1-D, Group 3 2-D or Group 4.
    pub encoding: EncodingMode,
    /// Every row starts on a byte boundary (PDF `EncodedByteAlign`, TIFF modified Huffman).
    pub byte_aligned: bool,
    /// The stream carries end-of-line codes.
    pub end_of_line: bool,
    /// The stream may end with an end-of-block code (RTC / EOFB).
    pub end_of_block: bool,
}

impl FaxParams {
    /// PDF `CCITTFaxDecode` parameters: `K` < 0 is Group 4, 0 Group 3 1-D, > 0 mixed 1-D/2-D.
    pub fn pdf(k: i64, columns: u32, rows: u32, byte_align: bool, eol: bool, eob: bool) -> Self {
        FaxParams {
            columns,
            rows,
            encoding: match k {
                k if k < 0 => EncodingMode::Group4,
                0 => EncodingMode::Group3_1D,
                _ => EncodingMode::Group3_2D,
            },
            byte_aligned: byte_align,
            end_of_line: eol,
            end_of_block: eob,
        }
    }
}

struct Rows<'a> {
    out: &'a mut Vec<u8>,
    columns: usize,
    limit: usize,
}

impl Decoder for Rows<'_> {
    fn push_row(&mut self, changes: &[u32]) {
        if self.out.len() >= self.limit {
            return;
        }
        let start = self.out.len();
        self.out.resize(start + self.columns, 0);
        let row = &mut self.out[start..];
        // Changes alternate white→black→white; an odd count leaves the row ending black.
        for pair in changes.chunks(2) {
            let a = (pair[0] as usize).min(self.columns);
            let b = pair
                .get(1)
                .map_or(self.columns, |&b| (b as usize).min(self.columns));
            if a < b {
                row[a..b].fill(1);
            }
        }
    }
}

/// Decodes `data` into at most `p.rows` rows (or until the data ends when `rows` is 0, bounded by `max_rows`) of
/// `p.columns` bytes, each 0 (codec white) or 1 (codec black). Rows a damaged stream did not deliver are left
/// out: the caller decides whether a short image is an error.
pub fn decode(data: &[u8], p: FaxParams, max_rows: usize) -> Result<Vec<u8>, String> {
    if p.columns == 0 {
        return Err("CCITT image with 0 columns".into());
    }
    let rows = if p.rows > 0 {
        (p.rows as usize).min(max_rows)
    } else {
        max_rows
    };
    let columns = p.columns as usize;
    let mut out = Vec::with_capacity(columns.saturating_mul(rows.min(1 << 16)));
    let settings = DecodeSettings {
        columns: p.columns,
        rows: rows as u32,
        end_of_block: p.end_of_block,
        end_of_line: p.end_of_line,
        rows_are_byte_aligned: p.byte_aligned,
        encoding: p.encoding,
        strict: false,
    };
    let mut ctx = DecoderContext::new(settings);
    let mut sink = Rows {
        out: &mut out,
        columns,
        limit: columns.saturating_mul(rows),
    };
    let res = hayro_ccitt::decode(data, &mut sink, &mut ctx);
    match res {
        Ok(_) => Ok(out),
        // Scanners and fax modems often end a stream without its end-of-block code, or with padding that reads as
        // a broken code: keep the rows that decoded, as poppler and libtiff do.
        Err(_) if !out.is_empty() => Ok(out),
        Err(e) => Err(format!("bad CCITT data: {e}")),
    }
}

/// Reverses the bit order of every byte (TIFF `FillOrder` 2: the first pixel in the lowest bit).
pub fn reverse_bits(data: &mut [u8]) {
    for b in data {
        *b = b.reverse_bits();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One all-white row of 8 pixels in Group 4 is the single vertical-mode code V0 ("1"), padded.
    #[test]
    fn white_row_in_group4_decodes_to_zeros() {
        let p = FaxParams::pdf(-1, 8, 1, false, false, true);
        let out = decode(&[0b1000_0000], p, 10).unwrap();
        assert_eq!(out, vec![0; 8]);
    }

    /// Modified Huffman (1-D): white run 2 ("0111"), black run 3 ("10"), white run 3 ("1000").
    #[test]
    fn group3_one_dimensional_row_gives_its_runs() {
        let p = FaxParams::pdf(0, 8, 1, false, false, false);
        // 0111 10 1000 then padding
        let out = decode(&[0b0111_1010, 0b0000_0000], p, 10).unwrap();
        assert_eq!(out, vec![0, 0, 1, 1, 1, 0, 0, 0]);
    }

    #[test]
    fn fill_order_two_reverses_each_byte() {
        let mut d = [0b1000_0001, 0b0110_0000];
        reverse_bits(&mut d);
        assert_eq!(d, [0b1000_0001, 0b0000_0110]);
    }
}
