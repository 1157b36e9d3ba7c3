//! JBIG2 (a PDF's `JBIG2Decode` image, embedded organisation, with its optional `JBIG2Globals`) to black-and-white
//! pixels with `hayro-jbig2`: the "high compression" black-and-white PDF of many feeder scanners.

use super::Fail;

/// Collects the decoder's pixels into a `w` × `h` grid; rows or columns beyond it (a striped page's declared
/// height can exceed the image's) are dropped, and rows never delivered stay white, as poppler shows them.
struct Grid {
    w: usize,
    h: usize,
    x: usize,
    y: usize,
    black: Vec<bool>,
}

impl Grid {
    fn push(&mut self, black: bool, n: usize) {
        if self.y < self.h && self.x < self.w && black {
            let end = (self.x + n).min(self.w);
            let row = self.y * self.w;
            self.black[row + self.x..row + end].fill(true);
        }
        self.x += n;
    }
}

impl hayro_jbig2::Decoder for Grid {
    fn push_pixel(&mut self, black: bool) {
        self.push(black, 1);
    }

    fn push_pixel_chunk(&mut self, black: bool, chunk_count: u32) {
        self.push(black, 8 * chunk_count as usize);
    }

    fn next_line(&mut self) {
        self.x = 0;
        self.y += 1;
    }
}

/// Decodes an embedded JBIG2 stream to a `w` × `h` grid of black (`true`) and white pixels.
pub(super) fn decode_jbig2(
    data: &[u8],
    globals: Option<&[u8]>,
    w: u32,
    h: u32,
) -> Result<Vec<bool>, Fail> {
    let settings = hayro_jbig2::DecodeSettings::default();
    let bad = |e: hayro_jbig2::DecodeError| Fail::Decode(format!("bad JBIG2 data: {e:?}"));
    let globals = globals
        .map(|g| hayro_jbig2::Globals::new(g, &settings))
        .transpose()
        .map_err(bad)?;
    let page = hayro_jbig2::Page::new_embedded(data, globals.as_ref(), &settings).map_err(bad)?;
    let (w, h) = (w as usize, h as usize);
    let mut grid = Grid {
        w,
        h,
        x: 0,
        y: 0,
        black: vec![false; w * h],
    };
    page.decode(&mut grid).map_err(bad)?;
    Ok(grid.black)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_past_the_image_are_dropped_and_missing_rows_stay_white() {
        use hayro_jbig2::Decoder;
        let mut g = Grid {
            w: 3,
            h: 2,
            x: 0,
            y: 0,
            black: vec![false; 6],
        };
        g.push_pixel(true);
        g.push_pixel_chunk(true, 1);
        g.next_line();
        g.push_pixel(false);
        g.push_pixel(true);
        g.next_line();
        g.push_pixel_chunk(true, 1);
        assert_eq!(g.black, vec![true, true, true, false, true, false]);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode_jbig2(&[0x5a; 64], None, 10, 10).is_err());
        assert!(decode_jbig2(&[0x5a; 64], Some(&[1, 2, 3]), 10, 10).is_err());
    }
}
