#!/usr/bin/env python3
"""Builds the decoder conformance corpus for tests/conformance.rs.

Usage: make_corpus.py OUTDIR

Every file is made by a third-party producer (img2pdf, tiff2pdf, Ghostscript, pikepdf, libtiff's tiffcp,
ImageMagick, PIL) from one source picture: the first form page in samples/, scaled to 620 x 877 (an A4 page at
75 dpi). Next to each file lies the reference decoder's rendering of each page (poppler's pdftoppm for PDF,
libtiff's tiff2rgba for TIFF) as PNG (grey as L, colour as RGB), and OUTDIR/index.jsonl lists one JSON line per
page: {"file", "page", "reference", "lossless", "colour", "producer", "encoding", "aspect_resampled"} (paths
relative to OUTDIR; "note" is extra, for people).

The output is deterministic in its pixels (producers stamp dates into PDF metadata, which nothing reads).
The script checks its own work: every reference must have the page's native pixel size, and where a choice of
flag had to be made from the data (CCITT /BlackIs1, CMYK JPEG /Decode) the reference rendering decides.

PDF references are not pdftoppm's output at the native dpi: see reference_pdf (poppler widens and blends every
image there); they are rendered at 4x and sampled at the native pixel centres.

Producer variants asked for and left out:
- tiff2pdf of a JPEG TIFF (tiffcp -c jpeg, YCbCr or RGB, one strip or many; ImageMagick's JPEG TIFF too):
  libtiff 4.5's tiff2pdf copies each strip as a whole JPEG (SOI ... EOI back to back, after the tables' own
  SOI), a stream that poppler and Ghostscript both draw as a blank page, so there is no reference to compare
  with. tiff2pdf -j (its own JPEG encoder, from an uncompressed TIFF) stands in for it.
Should one of the tools lack a feature on some machine, the script stops with an error rather than silently
shrinking the corpus.
"""

import glob
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib

import img2pdf
import numpy as np
import pikepdf
from PIL import Image
from pikepdf import Name

W, H = 620, 877  # an A4 page at 75 dpi
DPI = 75

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))


def die(msg):
    sys.stderr.write(f"make_corpus.py: {msg}\n")
    sys.exit(1)


def run(*cmd, cwd=None):
    p = subprocess.run(list(cmd), cwd=cwd, capture_output=True)
    if p.returncode != 0:
        die(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode(errors='replace')[-2000:]}")
    return p.stdout


# ---------------------------------------------------------------------------------------------------------------
# Source pictures


def source_images():
    names = sorted(
        f for f in os.listdir(os.path.join(REPO, "samples")) if f.lower().endswith((".png", ".jpg", ".jpeg"))
    )
    # The first portrait page with ink on it (some samples are blank or washed-out forms, landscape scans).
    for name in names:
        im = Image.open(os.path.join(REPO, "samples", name))
        im.load()
        a = np.asarray(im.convert("L"))
        if a.shape[0] > a.shape[1] and (a < 128).mean() > 0.01:
            break
    else:
        die("no portrait PNG or JPEG with ink in samples/")
    grey = np.asarray(im.convert("L").resize((W, H), Image.Resampling.BOX), dtype=np.uint8)
    black = grey < 128  # True: black pixel
    g = grey.astype(np.float64)
    rgb = np.zeros((H, W, 3), dtype=np.float64)
    # Two tints so the darkest channel differs across the page: left half warm (blue darkest), right half cool
    # (red darkest), on slightly tinted paper.
    left = np.arange(W) < W // 2
    rgb[:, left, 0] = 20 + 0.92 * g[:, left]
    rgb[:, left, 1] = 10 + 0.75 * g[:, left]
    rgb[:, left, 2] = 0.55 * g[:, left]
    rgb[:, ~left, 0] = 0.5 * g[:, ~left]
    rgb[:, ~left, 1] = 15 + 0.8 * g[:, ~left]
    rgb[:, ~left, 2] = 25 + 0.9 * g[:, ~left]
    rgb = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    return grey, black, rgb


def bilevel_l(black):
    return np.where(black, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------------------------
# A plain baseline TIFF writer (uncompressed, one strip), so photometric and resolution are exactly as chosen;
# tiffcp then re-encodes these.


def write_tiff(path, pixels, kind, xres=DPI, yres=DPI):
    """kind: 'miniswhite' / 'minisblack' (pixels: bool, True = black), 'grey' (uint8 HxW), 'rgb' (uint8 HxWx3)."""
    h, w = pixels.shape[:2]
    if kind in ("miniswhite", "minisblack"):
        bits = pixels if kind == "miniswhite" else ~pixels  # the sample value 1
        data = np.packbits(bits.astype(np.uint8), axis=1).tobytes()
        bps, spp, photometric = [1], 1, 0 if kind == "miniswhite" else 1
    elif kind == "grey":
        data = pixels.tobytes()
        bps, spp, photometric = [8], 1, 1
    elif kind == "rgb":
        data = pixels.tobytes()
        bps, spp, photometric = [8, 8, 8], 3, 2
    else:
        raise ValueError(kind)
    entries = []  # (tag, type, values); type 3 SHORT, 4 LONG, 5 RATIONAL
    extra = b""
    header = 8
    # layout: header, pixel data, extra (arrays), IFD
    data_off = header
    extra_off = data_off + len(data)
    if extra_off % 2:
        data += b"\0"
        extra_off += 1

    def add_extra(blob):
        nonlocal extra
        off = extra_off + len(extra)
        extra += blob
        if len(extra) % 2:
            extra += b"\0"
        return off

    bps_field = (3, len(bps), struct.pack("<" + "H" * len(bps), *bps)) if len(bps) > 2 else None
    entries.append((256, 4, 1, struct.pack("<I", w)))
    entries.append((257, 4, 1, struct.pack("<I", h)))
    if bps_field:
        entries.append((258, 3, len(bps), struct.pack("<I", add_extra(bps_field[2]))))
    else:
        entries.append((258, 3, 1, struct.pack("<HH", bps[0], 0)))
    entries.append((259, 3, 1, struct.pack("<HH", 1, 0)))
    entries.append((262, 3, 1, struct.pack("<HH", photometric, 0)))
    entries.append((273, 4, 1, struct.pack("<I", data_off)))
    entries.append((277, 3, 1, struct.pack("<HH", spp, 0)))
    entries.append((278, 4, 1, struct.pack("<I", h)))
    entries.append((279, 4, 1, struct.pack("<I", len(data))))
    entries.append((282, 5, 1, struct.pack("<I", add_extra(struct.pack("<II", int(xres * 100), 100)))))
    entries.append((283, 5, 1, struct.pack("<I", add_extra(struct.pack("<II", int(yres * 100), 100)))))
    entries.append((284, 3, 1, struct.pack("<HH", 1, 0)))
    entries.append((296, 3, 1, struct.pack("<HH", 2, 0)))
    ifd_off = extra_off + len(extra)
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        ifd += struct.pack("<HHI", tag, typ, count) + value
    ifd += struct.pack("<I", 0)
    with open(path, "wb") as f:
        f.write(b"II*\0" + struct.pack("<I", ifd_off) + data + extra + ifd)


def tiff_tags(path):
    with Image.open(path) as im:
        return dict(im.tag_v2)


# ---------------------------------------------------------------------------------------------------------------
# References


def reference_pdf(pdf, page, dpi, colour, out_png, size, renderer="poppler"):
    """poppler's rendering at the page's native pixel size `size` (dpi: the native resolution); Ghostscript's with
    renderer="gs" (its JBIG2 decoder is jbig2dec).

    pdftoppm at exactly the native dpi does not show the samples: Splash widens every image to one device pixel
    more than it covers (imgCoordMungeUpper: floor(x1) + 1, so a 620-sample image is scaled to 621 pixels) and
    scales it bilinearly, so each row and column is a blend of two samples. From 4x up Splash replicates samples
    without interpolation, so the page is rendered at 4x the native dpi and the pixel at each native pixel's
    centre (every 4th, from the 3rd) is taken: what the PDF spec's "pixel centre inside the image" rule paints.
    """
    prefix = out_png[: -len(".png")] + "_render"
    scale = 4
    if renderer == "gs":
        raw = prefix + ".png"
        run("gs", "-q", "-dSAFER", "-dNOPAUSE", "-dBATCH", "-sDEVICE=" + ("png16m" if colour else "pnggray"),
            f"-r{dpi * scale}", "-dGraphicsAlphaBits=1", "-dTextAlphaBits=1", f"-dFirstPage={page}",
            f"-dLastPage={page}", "-o", raw, pdf)
    else:
        args = ["pdftoppm", "-r", str(dpi * scale), "-aa", "no", "-aaVector", "no", "-f", str(page), "-l", str(page)]
        args += [] if colour else ["-gray"]
        run(*args, "-singlefile", pdf, prefix)
        raw = prefix + (".ppm" if colour else ".pgm")
    im = Image.open(raw)
    im.load()
    im = im.convert("RGB" if colour else "L")
    os.remove(raw)
    w, h = size
    if not (w * scale <= im.size[0] <= w * scale + 1 and h * scale <= im.size[1] <= h * scale + 1):
        die(f"{pdf} page {page}: {renderer} at {dpi * scale} dpi gave {im.size}, not {scale} x the native {size}")
    a = np.asarray(im)[scale // 2 :: scale, scale // 2 :: scale][:h, :w]
    a = np.ascontiguousarray(a)
    Image.fromarray(a, "RGB" if colour else "L").save(out_png)
    return a


def reference_tiff(tif, colour, out_prefix):
    """One reference PNG per directory: tiffsplit, then tiff2rgba each part. Returns [(png, array)]."""
    split = out_prefix + "_split_"
    run("tiffsplit", tif, split)
    parts = sorted(glob.glob(split + "*.tif"))
    refs = []
    for i, part in enumerate(parts, start=1):
        rgba_path = f"{out_prefix}_rgba{i}.tif"
        run("tiff2rgba", "-c", "none", part, rgba_path + ".tmp")
        # tiff2rgba keeps the input's FillOrder tag (and bit-reverses its output to match); PIL reads only
        # FillOrder 1, so libtiff rewrites it as that.
        run("tiffcp", "-f", "msb2lsb", "-c", "none", rgba_path + ".tmp", rgba_path)
        os.remove(rgba_path + ".tmp")
        im = Image.open(rgba_path)
        im.load()
        a = np.asarray(im.convert("RGBA"))
        rgb = a[..., :3]
        if (a[..., 3] != 255).any():
            # A page with alpha, shown over white paper. tiff2rgba writes associated (premultiplied) alpha, which
            # PIL would divide out again: the raw samples are read from the file's strips (uncompressed, as
            # written above), and composited as r + (255 - a).
            tags = im.tag_v2
            with open(rgba_path, "rb") as fh:
                raw = fh.read()
            data = b"".join(raw[o:o + c] for o, c in zip(tags[273], tags[279]))
            pm = np.frombuffer(data, dtype=np.uint8)[: im.width * im.height * 4].reshape(im.height, im.width, 4)
            rgb = np.minimum(pm[..., :3].astype(np.int16) + (255 - pm[..., 3:4].astype(np.int16)), 255)
            rgb = rgb.astype(np.uint8)
        page_colour = colour(i) if callable(colour) else colour
        if not page_colour:
            if not ((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()):
                die(f"{tif} page {i}: grey file rendered in colour")
            arr = rgb[..., 0].copy()
            mode = "L"
        else:
            arr = rgb.copy()
            mode = "RGB"
        png = f"{out_prefix}_ref{i}.png"
        Image.fromarray(arr, mode).save(png)
        refs.append((png, arr))
        os.remove(rgba_path)
        os.remove(part)
    return refs


def pdf_lossy(path):
    with pikepdf.open(path) as pdf:
        for obj in pdf.objects:
            if isinstance(obj, pikepdf.Stream) and obj.get("/Subtype") == Name.Image:
                f = obj.get("/Filter")
                names = [str(x) for x in (f if isinstance(f, pikepdf.Array) else [f])] if f is not None else []
                if any(n in ("/DCTDecode", "/JPXDecode") for n in names):
                    return True
    return False


# ---------------------------------------------------------------------------------------------------------------
# pikepdf pages


def image_xobject(pdf, data, w, h, **keys):
    s = pikepdf.Stream(pdf, data)
    s.Type = Name.XObject
    s.Subtype = Name.Image
    s.Width = w
    s.Height = h
    for k, v in keys.items():
        s[Name("/" + k)] = v
    return s


def flate_grey(pdf, grey, **keys):
    h, w = grey.shape
    return image_xobject(
        pdf,
        zlib.compress(grey.tobytes(), 9),
        w,
        h,
        ColorSpace=Name.DeviceGray,
        BitsPerComponent=8,
        Filter=Name.FlateDecode,
        **keys,
    )


def one_page_pdf(path, media, content, xobjects, rotate=None, build=None):
    """build(pdf) -> (content bytes, {name: xobject}) when the objects need the pdf; else content/xobjects."""
    pdf = pikepdf.new()
    if build is not None:
        content, xobjects = build(pdf)
    res = pikepdf.Dictionary(XObject=pikepdf.Dictionary({"/" + k: v for k, v in xobjects.items()}))
    page = pikepdf.Dictionary(
        Type=Name.Page,
        MediaBox=pikepdf.Array(media),
        Resources=res,
        Contents=pikepdf.Stream(pdf, content),
    )
    if rotate is not None:
        page.Rotate = rotate
    pdf.pages.append(pikepdf.Page(page))
    pdf.save(path, deterministic_id=True)


def png_predict(rows, bpp):
    """PNG-predicted rows (filter type cycling 0..4 by row), as /Predictor 15 data."""
    out = bytearray()
    prev = np.zeros(rows.shape[1], dtype=np.int16)
    for y in range(rows.shape[0]):
        r = rows[y].astype(np.int16)
        a = np.concatenate([np.zeros(bpp, np.int16), r[:-bpp]])
        b = prev
        c = np.concatenate([np.zeros(bpp, np.int16), prev[:-bpp]])
        t = y % 5
        if t == 0:
            f = r
        elif t == 1:
            f = r - a
        elif t == 2:
            f = r - b
        elif t == 3:
            f = r - (a + b) // 2
        else:
            p = a + b - c
            pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
            pred = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
            f = r - pred
        out.append(t)
        out += (f & 0xFF).astype(np.uint8).tobytes()
        prev = r
    return bytes(out)


def find_icc_grey():
    # Ghostscript's default grey profile, which poppler's colour management maps to the samples unchanged.
    # (Its sgray.icc, with the sRGB tone curve, poppler draws lighter: 64 -> 81, 128 -> 146; that is colour
    # management, not decoding, so it is not a case here.)
    cands = ["/usr/share/color/icc/ghostscript/default_gray.icc"]
    cands += sorted(glob.glob("/usr/share/ghostscript/*/iccprofiles/default_gray.icc"))
    for c in cands:
        if os.path.isfile(c):
            return c
    die("no grey ICC profile found (looked for Ghostscript's default_gray.icc)")


# ---------------------------------------------------------------------------------------------------------------


def main():
    if len(sys.argv) != 2:
        die("usage: make_corpus.py OUTDIR")
    out = os.path.abspath(sys.argv[1])
    os.makedirs(out, exist_ok=True)
    work = os.path.join(out, "_work")
    os.makedirs(work, exist_ok=True)

    grey, black, rgb = source_images()
    bil = bilevel_l(black)
    index = []
    summary = []

    def record(file, page, ref_png, lossless, colour, producer, encoding, expected, aspect=False, note=""):
        """expected: the ideal picture (L or RGB array) the reference should show, for the self-check."""
        ref = np.asarray(Image.open(ref_png))
        check = ""
        if expected is not None:
            if ref.shape != expected.shape:
                check = f"ref size {ref.shape} != source {expected.shape}"
            else:
                d = np.abs(ref.astype(np.int16) - expected.astype(np.int16))
                check = "ref==source" if d.max() == 0 else f"ref vs source: mean {d.mean():.2f} max {d.max()}"
        index.append(
            {
                "file": os.path.relpath(file, out),
                "page": page,
                "reference": os.path.relpath(ref_png, out),
                "lossless": lossless,
                "colour": colour,
                "producer": producer,
                "encoding": encoding,
                "aspect_resampled": aspect,
                "note": (note + "; " if note else "") + check,
            }
        )
        summary.append(f"{os.path.basename(file):44} p{page} {check}")

    def pdf_case(name, producer, encoding, colour, expected, dpi, size=(W, H), lossless=None, note="",
                 renderer="poppler"):
        path = os.path.join(out, name)
        ref_png = path[:-4] + "_ref1.png"
        reference_pdf(path, 1, dpi, colour, ref_png, size, renderer)
        lossy = pdf_lossy(path)
        if lossless is not None and lossless == lossy:
            die(f"{name}: expected {'lossless' if lossless else 'lossy'} images, found otherwise")
        record(path, 1, ref_png, not lossy, colour, producer, encoding, expected, note=note)

    def tiff_case(name, producer, encoding, colour, expected, lossless, aspect=False, note=""):
        """expected/colour/lossless: a value, or a list with one per page."""
        path = os.path.join(out, name)
        n_pages = len(expected) if isinstance(expected, list) else 1
        col = (lambda i: colour[i - 1]) if isinstance(colour, list) else colour
        refs = reference_tiff(path, col, path[:-4])
        if len(refs) != n_pages:
            die(f"{name}: {len(refs)} directories, expected {n_pages}")
        for i, (png, _) in enumerate(refs, start=1):
            pick = (lambda v: v[i - 1]) if n_pages > 1 else (lambda v: v)
            record(path, i, png, pick(lossless), pick(colour), producer, encoding if n_pages == 1 else encoding[i - 1],
                   pick(expected), aspect=aspect, note=note)

    # Base inputs ------------------------------------------------------------------------------------------------
    base_white = os.path.join(work, "bilevel_miniswhite.tif")
    base_black = os.path.join(work, "bilevel_minisblack.tif")
    base_grey = os.path.join(work, "grey.tif")
    base_rgb = os.path.join(work, "rgb.tif")
    write_tiff(base_white, black, "miniswhite")
    write_tiff(base_black, black, "minisblack")
    write_tiff(base_grey, grey, "grey")
    write_tiff(base_rgb, rgb, "rgb")
    grey_png = os.path.join(work, "grey.png")
    Image.fromarray(grey, "L").save(grey_png, dpi=(DPI, DPI))

    # ===== PDF ==================================================================================================
    # img2pdf
    g4_pil = os.path.join(work, "pil_g4.tif")
    Image.fromarray(~black).convert("1").save(g4_pil, compression="group4", dpi=(DPI, DPI))
    with open(os.path.join(out, "pdf_img2pdf_ccitt-g4.pdf"), "wb") as f:
        f.write(img2pdf.convert(g4_pil))
    pdf_case("pdf_img2pdf_ccitt-g4.pdf", "img2pdf", "CCITT G4 (BlackIs1 true)", False, bil, DPI, lossless=True)

    with open(os.path.join(out, "pdf_img2pdf_flate-png-grey.pdf"), "wb") as f:
        f.write(img2pdf.convert(grey_png))
    pdf_case("pdf_img2pdf_flate-png-grey.pdf", "img2pdf", "Flate + PNG predictor, grey", False, grey, DPI,
             lossless=True)

    jpg_rgb = os.path.join(work, "rgb.jpg")
    Image.fromarray(rgb, "RGB").save(jpg_rgb, quality=85, dpi=(DPI, DPI))
    with open(os.path.join(out, "pdf_img2pdf_dct-rgb.pdf"), "wb") as f:
        f.write(img2pdf.convert(jpg_rgb))
    pdf_case("pdf_img2pdf_dct-rgb.pdf", "img2pdf", "DCT (JPEG) RGB", True, rgb, DPI, lossless=False)

    jpg_grey = os.path.join(work, "grey.jpg")
    Image.fromarray(grey, "L").save(jpg_grey, quality=85, dpi=(DPI, DPI))
    with open(os.path.join(out, "pdf_img2pdf_dct-grey.pdf"), "wb") as f:
        f.write(img2pdf.convert(jpg_grey))
    pdf_case("pdf_img2pdf_dct-grey.pdf", "img2pdf", "DCT (JPEG) grey", False, grey, DPI, lossless=False)

    # JPEG 2000 as img2pdf embeds it (the .jp2 file as it is, /JPXDecode), both coded by PIL's OpenJPEG (the
    # wheel bundles it; a distribution's ImageMagick may lack the JP2 delegate): lossless grey, lossy colour.
    jp2_grey = os.path.join(work, "grey.jp2")
    Image.fromarray(grey, "L").save(jp2_grey, irreversible=False)
    with open(os.path.join(out, "pdf_img2pdf_jpx-grey-lossless.pdf"), "wb") as f:
        f.write(img2pdf.convert(jp2_grey, layout_fun=img2pdf.get_fixed_dpi_layout_fun((DPI, DPI))))
    pdf_case("pdf_img2pdf_jpx-grey-lossless.pdf", "img2pdf", "JPX (JPEG 2000) grey, reversible 5/3", False, grey,
             DPI)
    jp2_rgb = os.path.join(work, "rgb.jp2")
    # 10:1, a scanner's usual colour setting. hayro-jpeg2000 puts a coefficient whose low bit-planes were cut off at
    # the bottom of its interval, OpenJPEG (poppler's decoder) at the middle; both are allowed (T.800 E.1.1.2), and
    # the pictures differ by a mean of 1.4 levels here (2.9 at 40:1), far below a pen stroke's contrast.
    Image.fromarray(rgb, "RGB").save(jp2_rgb, irreversible=True, quality_mode="rates", quality_layers=[10])
    with open(os.path.join(out, "pdf_img2pdf_jpx-rgb-lossy.pdf"), "wb") as f:
        f.write(img2pdf.convert(jp2_rgb, layout_fun=img2pdf.get_fixed_dpi_layout_fun((DPI, DPI))))
    pdf_case("pdf_img2pdf_jpx-rgb-lossy.pdf", "img2pdf", "JPX (JPEG 2000) RGB, lossy 9/7", True, rgb, DPI)

    # The same grey page "protected" with an owner password only (any viewer opens it without asking), with RC4,
    # AES-128 and AES-256; and with bytes appended after %%EOF (a mail gateway's or a copy tool's damage), which
    # poppler reads by rebuilding the cross-reference table.
    plain = os.path.join(out, "pdf_img2pdf_flate-png-grey.pdf")
    with pikepdf.open(plain) as pdf:
        for tag, enc in (
            ("rc4-128", pikepdf.Encryption(owner="secret", user="", R=3, aes=False, metadata=False)),
            ("aes-128", pikepdf.Encryption(owner="secret", user="", R=4, aes=True)),
            ("aes-256", pikepdf.Encryption(owner="secret", user="", R=6)),
        ):
            name = f"pdf_pikepdf_owner-password-{tag}.pdf"
            pdf.save(os.path.join(out, name), encryption=enc)
            pdf_case(name, "pikepdf", f"owner password only, {tag.upper()}", False, grey, DPI, lossless=True)
    with open(plain, "rb") as f:
        damaged = f.read() + b"\0" * 2000 + b"\r\n-- appended by a gateway --\r\n"
    with open(os.path.join(out, "pdf_img2pdf_bytes-after-eof.pdf"), "wb") as f:
        f.write(damaged)
    pdf_case("pdf_img2pdf_bytes-after-eof.pdf", "img2pdf + appended bytes", "2 kB after %%EOF (xref rebuilt)",
             False, grey, DPI, lossless=True)

    # tiff2pdf
    t_g4 = os.path.join(work, "g4_miniswhite.tif")
    run("tiffcp", "-r", "64", "-c", "g4", base_white, t_g4)
    run("tiff2pdf", "-o", os.path.join(out, "pdf_tiff2pdf_ccitt-g4.pdf"), t_g4)
    pdf_case("pdf_tiff2pdf_ccitt-g4.pdf", "tiff2pdf", "CCITT G4 pass-through", False, bil, DPI, lossless=True)

    # tiff2pdf's own JPEG encoder (-j); passing a JPEG TIFF's strips through is left out (see the top).
    run("tiff2pdf", "-j", "-q", "90", "-o", os.path.join(out, "pdf_tiff2pdf_dct-rgb.pdf"), base_rgb)
    pdf_case("pdf_tiff2pdf_dct-rgb.pdf", "tiff2pdf", "DCT RGB (tiff2pdf -j)", True, rgb, DPI, lossless=False)
    run("tiff2pdf", "-j", "-q", "90", "-o", os.path.join(out, "pdf_tiff2pdf_dct-grey.pdf"), base_grey)
    pdf_case("pdf_tiff2pdf_dct-grey.pdf", "tiff2pdf", "DCT grey (tiff2pdf -j)", False, grey, DPI, lossless=False)
    t_jpeg = os.path.join(work, "jpeg_rgb.tif")
    run("tiffcp", "-r", "64", "-c", "jpeg:90", base_rgb, t_jpeg)

    t_lzw = os.path.join(work, "lzw_grey.tif")
    run("tiffcp", "-r", "64", "-c", "lzw", base_grey, t_lzw)
    run("tiff2pdf", "-o", os.path.join(out, "pdf_tiff2pdf_lzw-grey-raw.pdf"), t_lzw)
    pdf_case("pdf_tiff2pdf_lzw-grey-raw.pdf", "tiff2pdf", "grey from LZW TIFF (unfiltered)", False, grey, DPI,
             lossless=True)
    run("tiff2pdf", "-z", "-o", os.path.join(out, "pdf_tiff2pdf_lzw-grey-zip.pdf"), t_lzw)
    pdf_case("pdf_tiff2pdf_lzw-grey-zip.pdf", "tiff2pdf", "grey from LZW TIFF (-z Flate)", False, grey, DPI,
             lossless=True)

    # Ghostscript re-distilling the img2pdf grey PDF (its defaults choose the image filter: see the index).
    run("gs", "-q", "-dSAFER", "-dNOPAUSE", "-dBATCH", "-sDEVICE=pdfwrite",
        "-o", os.path.join(out, "pdf_gs-pdfwrite_redistilled-grey.pdf"),
        os.path.join(out, "pdf_img2pdf_flate-png-grey.pdf"))
    gs_lossy = pdf_lossy(os.path.join(out, "pdf_gs-pdfwrite_redistilled-grey.pdf"))
    pdf_case("pdf_gs-pdfwrite_redistilled-grey.pdf", "ghostscript pdfwrite",
             "re-distilled grey (" + ("DCT" if gs_lossy else "lossless") + ")", False, grey, DPI)

    # pikepdf-built pages: 1 pt per pixel, rendered at 72 dpi.
    def pk(name, encoding, build, colour, expected, media=(0, 0, W, H), rotate=None, size=(W, H), lossless=True,
           note="", renderer="poppler"):
        path = os.path.join(out, name)
        one_page_pdf(path, list(media), None, None, rotate=rotate, build=build)
        pdf_case(name, "pikepdf", encoding, colour, expected, 72, size=size, lossless=lossless, note=note,
                 renderer=renderer)

    place = f"q {W} 0 0 {H} 0 0 cm /Im0 Do Q".encode()

    def b_form(pdf):
        im = flate_grey(pdf, grey)
        form = pikepdf.Stream(pdf, f"q {W / 2} 0 0 {H / 2} 0 0 cm /Im0 Do Q".encode())
        form.Type = Name.XObject
        form.Subtype = Name.Form
        form.BBox = [0, 0, W / 2, H / 2]
        form.Matrix = [2, 0, 0, 2, 0, 0]
        form.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=im))
        return b"q /Fm0 Do Q", {"Fm0": form}

    pk("pdf_pikepdf_form-xobject.pdf", "image in a Form XObject (/Matrix 2x)", b_form, False, grey)

    def b_strips(pdf):
        cuts = [0, 292, 584, H]
        content, xo = b"", {}
        for i in range(3):
            y0, y1 = cuts[i], cuts[i + 1]
            xo[f"S{i}"] = flate_grey(pdf, np.ascontiguousarray(grey[y0:y1]))
            content += f"q {W} 0 0 {y1 - y0} 0 {H - y1} cm /S{i} Do Q\n".encode()
        return content, xo

    pk("pdf_pikepdf_3-strips.pdf", "3 horizontal strips, one cm each", b_strips, False, grey)

    pk("pdf_pikepdf_rotate90.pdf", "page /Rotate 90", lambda pdf: (place, {"Im0": flate_grey(pdf, grey)}), False,
       np.rot90(grey, k=-1), rotate=90, size=(H, W))

    def b_decode(pdf):
        data = zlib.compress(np.packbits(black.astype(np.uint8), axis=1).tobytes(), 9)
        im = image_xobject(pdf, data, W, H, ColorSpace=Name.DeviceGray, BitsPerComponent=1,
                           Filter=Name.FlateDecode, Decode=[1, 0])
        return place, {"Im0": im}

    pk("pdf_pikepdf_1bit-decode-inverted.pdf", "1-bit /Decode [1 0], inverted data", b_decode, False, bil)

    def b_mask(pdf):
        data = zlib.compress(np.packbits((~black).astype(np.uint8), axis=1).tobytes(), 9)
        im = image_xobject(pdf, data, W, H, ImageMask=True, BitsPerComponent=1, Filter=Name.FlateDecode)
        return b"0 g " + place, {"Im0": im}

    pk("pdf_pikepdf_imagemask.pdf", "/ImageMask stencil, black fill", b_mask, False, bil)

    # Inline images (BI ... ID ... EI in the content stream), as Ghostscript writes small images and some scanner
    # drivers write strips: Flate (found by its EI), unfiltered (found by its size, data may hold "EI") and
    # ASCIIHex strips in turn.
    def b_inline(pdf):
        content = b""
        for i, y0 in enumerate(range(0, H, 24)):
            y1 = min(H, y0 + 24)
            strip = np.ascontiguousarray(grey[y0:y1])
            head = f"q {W} 0 0 {y1 - y0} 0 {H - y1} cm BI /W {W} /H {y1 - y0} /BPC 8 /CS /G".encode()
            if i % 3 == 0:
                body = b" /F /Fl ID " + zlib.compress(strip.tobytes(), 9)
            elif i % 3 == 1:
                body = b" ID " + strip.tobytes()
            else:
                body = b" /F /AHx ID " + strip.tobytes().hex().encode() + b">"
            content += head + body + b"\nEI Q\n"
        return content, {}

    pk("pdf_pikepdf_inline-image-strips.pdf", "inline images (BI/ID/EI): Flate, raw and ASCIIHex strips", b_inline,
       False, grey)

    # Mixed raster content (MRC), as "high compression" scanner PDFs store a page: a background of paper tones at
    # a lower resolution, and the ink painted in one colour through a full-resolution mask. Without the mask the
    # ink colour would cover the page.
    paper = np.maximum(grey, 200).astype(np.uint8)
    bg_half = np.ascontiguousarray(paper[:, ::2])  # half resolution across: 310 x 877, shown 2:1
    bg_shown = np.repeat(bg_half, 2, axis=1)[:, :W]
    ink_rgb = (51, 102, 204)  # exact in 8 bits: 0.2, 0.4, 0.8

    def ink_image(pdf, **keys):
        return image_xobject(pdf, bytes(ink_rgb), 1, 1, ColorSpace=Name.DeviceRGB, BitsPerComponent=8, **keys)

    def b_mrc_mask(pdf):
        data = zlib.compress(np.packbits((~black).astype(np.uint8), axis=1).tobytes(), 9)
        stencil = image_xobject(pdf, data, W, H, ImageMask=True, BitsPerComponent=1, Filter=Name.FlateDecode)
        return place + b" " + place.replace(b"Im0", b"Ink"), {"Im0": flate_grey(pdf, bg_half),
                                                              "Ink": ink_image(pdf, Mask=stencil)}

    mrc_rgb = np.where(black[..., None], np.array(ink_rgb, np.uint8), bg_shown[..., None]).astype(np.uint8)
    pk("pdf_pikepdf_mrc-stencil-mask.pdf", "MRC: half-res background, 1x1 ink colour through a full-res /Mask",
       b_mrc_mask, True, mrc_rgb)

    def b_mrc_smask(pdf):
        # A soft mask that is 0 or 1 (a 1-bit MRC mask stored as 8-bit grey): exact in every renderer.
        alpha = np.where(black, 255, 0).astype(np.uint8)
        return place + b" " + place.replace(b"Im0", b"Ink"), {"Im0": flate_grey(pdf, bg_half),
                                                              "Ink": ink_image(pdf, SMask=flate_grey(pdf, alpha))}

    pk("pdf_pikepdf_mrc-smask.pdf", "MRC: half-res background, 1x1 ink colour through a full-res /SMask",
       b_mrc_smask, True, mrc_rgb)

    def b_mask_fill(pdf):
        data = zlib.compress(np.packbits((~black).astype(np.uint8), axis=1).tobytes(), 9)
        im = image_xobject(pdf, data, W, H, ImageMask=True, BitsPerComponent=1, Filter=Name.FlateDecode)
        fill = " ".join(f"{c / 255:.1f}" for c in ink_rgb)
        return place + f" {fill} rg ".encode() + place.replace(b"Im0", b"Ink"), {"Im0": flate_grey(pdf, bg_half),
                                                                                "Ink": im}

    pk("pdf_pikepdf_imagemask-colour-fill.pdf", "/ImageMask stencil in an RGB fill colour over a background",
       b_mask_fill, True, mrc_rgb)

    # JBIG2 as a feeder scanner's "high compression" PDF stores it (embedded organisation): a page information
    # segment and an immediate lossless generic region coded with MMR, whose data is libtiff's own Group 4 coding
    # of the page (JBIG2's MMR is T.6; black is 1 in both).
    g4_one = os.path.join(work, "g4_one_strip.tif")
    run("tiffcp", "-r", str(H), "-c", "g4", base_white, g4_one)
    with Image.open(g4_one) as t:
        offs, counts = t.tag_v2[273], t.tag_v2[279]
        if len(offs) != 1 or t.tag_v2.get(266, 1) != 1:
            die("tiffcp wrote more than one strip or LSB-first bits")
    with open(g4_one, "rb") as fh:
        fh.seek(offs[0])
        mmr = fh.read(counts[0])

    def seg(number, kind, data):
        return struct.pack(">IBBBI", number, kind, 0, 1, len(data)) + data

    page_info = struct.pack(">IIIIBH", W, H, 0, 0, 0, 0)
    region = struct.pack(">IIIIB", W, H, 0, 0, 0) + bytes([1]) + mmr
    jbig2 = seg(0, 48, page_info) + seg(1, 39, region)

    def b_jbig2(pdf):
        im = image_xobject(pdf, jbig2, W, H, ColorSpace=Name.DeviceGray, BitsPerComponent=1,
                           Filter=Name.JBIG2Decode)
        return place, {"Im0": im}

    # Rendered by Ghostscript: poppler 22.12's JBIG2 decoder paints 242 pixels of this page unlike the encoded
    # picture (in a few rows' runs), while jbig2dec (Ghostscript's) shows it exactly.
    pk("pdf_pikepdf_jbig2-mmr.pdf", "JBIG2 generic region (MMR), embedded", b_jbig2, False, bil, renderer="gs")

    pal_im = Image.fromarray(rgb, "RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    pal_idx = np.asarray(pal_im, dtype=np.uint8)
    pal = np.array(pal_im.getpalette()[: 3 * 256], dtype=np.uint8).reshape(-1, 3)
    pal_rgb = pal[pal_idx]

    def b_indexed(pdf):
        n = pal.shape[0]
        cs = pikepdf.Array([Name.Indexed, Name.DeviceRGB, n - 1, pikepdf.String(pal.tobytes())])
        im = image_xobject(pdf, zlib.compress(pal_idx.tobytes(), 9), W, H, ColorSpace=cs, BitsPerComponent=8,
                           Filter=Name.FlateDecode)
        return place, {"Im0": im}

    pk("pdf_pikepdf_indexed-rgb.pdf", "/Indexed /DeviceRGB 8-bit palette", b_indexed, True, pal_rgb)

    icc_path = find_icc_grey()

    def b_icc(pdf):
        with open(icc_path, "rb") as f:
            icc = pikepdf.Stream(pdf, f.read())
        icc.N = 1
        icc.Alternate = Name.DeviceGray
        im = image_xobject(pdf, zlib.compress(grey.tobytes(), 9), W, H, ColorSpace=[Name.ICCBased, icc],
                           BitsPerComponent=8, Filter=Name.FlateDecode)
        return place, {"Im0": im}

    pk("pdf_pikepdf_iccbased-grey.pdf", "/ICCBased N=1 (" + os.path.basename(icc_path) + ")", b_icc, False, grey)

    # CMYK JPEG: naive RGB -> CMYK with full grey-component replacement. PIL writes an Adobe APP14 marker and
    # stores the samples inverted (Adobe's convention); whether the PDF needs /Decode [1 0 1 0 1 0 1 0] for poppler
    # to show it right is decided below from poppler's rendering.
    f = rgb.astype(np.float64) / 255
    k = 1 - f.max(axis=2)
    denom = np.where(k < 1, 1 - k, 1)
    cmy = (1 - f - k[..., None]) / denom[..., None]
    cmyk = np.clip(np.rint(np.concatenate([cmy, k[..., None]], axis=2) * 255), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(cmyk, "CMYK").save(buf, "JPEG", quality=90)
    cmyk_jpeg = buf.getvalue()
    if b"Adobe" not in cmyk_jpeg[:2000]:
        die("PIL's CMYK JPEG has no Adobe marker")
    # Naive CMYK -> RGB of what was encoded: the picture a correct decoder shows, near `rgb`.
    cm = cmyk.astype(np.float64) / 255
    cmyk_rgb = np.clip(np.rint((1 - np.minimum(1, cm[..., :3] + cm[..., 3:4])) * 255), 0, 255).astype(np.uint8)
    trial = {}
    for decode in (False, True):
        path = os.path.join(work, f"cmyk_trial_{int(decode)}.pdf")

        def b_cmyk(pdf, decode=decode):
            keys = dict(ColorSpace=Name.DeviceCMYK, BitsPerComponent=8, Filter=Name.DCTDecode)
            if decode:
                keys["Decode"] = [1, 0, 1, 0, 1, 0, 1, 0]
            return place, {"Im0": image_xobject(pdf, cmyk_jpeg, W, H, **keys)}

        one_page_pdf(path, [0, 0, W, H], None, None, build=b_cmyk)
        ref = reference_pdf(path, 1, 72, True, path[:-4] + ".png", (W, H))
        trial[decode] = np.abs(ref.astype(np.int16) - cmyk_rgb.astype(np.int16)).mean()
    use_decode = trial[True] < trial[False]
    if min(trial.values()) > 40:
        die(f"poppler shows the CMYK JPEG unlike its content either way (mean differences {trial})")

    def b_cmyk_final(pdf):
        keys = dict(ColorSpace=Name.DeviceCMYK, BitsPerComponent=8, Filter=Name.DCTDecode)
        if use_decode:
            keys["Decode"] = [1, 0, 1, 0, 1, 0, 1, 0]
        return place, {"Im0": image_xobject(pdf, cmyk_jpeg, W, H, **keys)}

    pk("pdf_pikepdf_dct-cmyk-adobe.pdf",
       "DCT CMYK, Adobe marker" + (", /Decode [1 0 ...]" if use_decode else ", no /Decode"), b_cmyk_final, True,
       cmyk_rgb, lossless=False,
       note=f"poppler vs naive CMYK: mean {trial[False]:.1f} without /Decode, {trial[True]:.1f} with")

    cmyk_jpg = os.path.join(work, "cmyk.jpg")
    with open(cmyk_jpg, "wb") as fh:
        fh.write(cmyk_jpeg)
    with open(os.path.join(out, "pdf_img2pdf_dct-cmyk.pdf"), "wb") as fh:
        fh.write(img2pdf.convert(cmyk_jpg, layout_fun=img2pdf.get_fixed_dpi_layout_fun((DPI, DPI))))
    pdf_case("pdf_img2pdf_dct-cmyk.pdf", "img2pdf", "DCT CMYK, Adobe marker", True, cmyk_rgb, DPI, lossless=False)

    def b_pred(pdf):
        data = zlib.compress(png_predict(grey, 1), 9)
        parms = pikepdf.Dictionary(Predictor=15, Colors=1, BitsPerComponent=8, Columns=W)
        im = image_xobject(pdf, data, W, H, ColorSpace=Name.DeviceGray, BitsPerComponent=8, Filter=Name.FlateDecode,
                           DecodeParms=parms)
        return place, {"Im0": im}

    pk("pdf_pikepdf_flate-predictor15-grey.pdf", "Flate /Predictor 15 (all 5 PNG filters), grey", b_pred, False,
       grey)

    def b_pred_rgb(pdf):
        data = zlib.compress(png_predict(rgb.reshape(H, W * 3), 3), 9)
        parms = pikepdf.Dictionary(Predictor=15, Colors=3, BitsPerComponent=8, Columns=W)
        im = image_xobject(pdf, data, W, H, ColorSpace=Name.DeviceRGB, BitsPerComponent=8, Filter=Name.FlateDecode,
                           DecodeParms=parms)
        return place, {"Im0": im}

    pk("pdf_pikepdf_flate-predictor15-rgb.pdf", "Flate /Predictor 15 (all 5 PNG filters), RGB", b_pred_rgb, True,
       rgb)

    # CCITT G3 from tiffcp: one strip, its bytes taken out of the TIFF. libtiff codes a 0 sample as a white run
    # whatever the photometric, so /BlackIs1 follows the photometric; the rendering confirms it.
    def g3_case(name, encoding, tiff_opts, base, k):
        tif = os.path.join(work, name[:-4] + ".tif")
        run("tiffcp", "-c", tiff_opts, "-r", str(H), base, tif)
        tags = tiff_tags(tif)
        offs, counts = tags[273], tags[279]
        offs = offs if isinstance(offs, tuple) else (offs,)
        counts = counts if isinstance(counts, tuple) else (counts,)
        if len(offs) != 1 or tags.get(266, 1) != 1:
            die(f"{tif}: expected one strip in fill order 1")
        with open(tif, "rb") as fh:
            fh.seek(offs[0])
            data = fh.read(counts[0])
        opts = tags.get(292, 0)
        if opts & 4:
            die(f"{tif}: fill bits set; this case wants unaligned lines")
        black_is_1 = tags[262] == 1
        for bi1 in (black_is_1, not black_is_1):
            def b_g3(pdf, bi1=bi1):
                parms = pikepdf.Dictionary(K=k, Columns=W, Rows=H, EncodedByteAlign=False, EndOfLine=True,
                                           BlackIs1=bi1)
                im = image_xobject(pdf, data, W, H, ColorSpace=Name.DeviceGray, BitsPerComponent=1,
                                   Filter=Name.CCITTFaxDecode, DecodeParms=parms)
                return place, {"Im0": im}

            path = os.path.join(out, name)
            one_page_pdf(path, [0, 0, W, H], None, None, build=b_g3)
            ref = reference_pdf(path, 1, 72, False, os.path.join(work, "g3_trial.png"), (W, H))
            if (ref == bil).all():
                break
        else:
            die(f"{name}: poppler shows the G3 data right with neither /BlackIs1")
        if bi1 != black_is_1:
            die(f"{name}: /BlackIs1 {bi1} needed, not {black_is_1} as the photometric says")
        pdf_case(name, "pikepdf", encoding + f", /BlackIs1 {str(bi1).lower()}", False, bil, 72, lossless=True,
                 note="strip bytes from tiffcp -c " + tiff_opts)

    g3_case("pdf_pikepdf_ccitt-g3-k0.pdf", "CCITT G3 K=0 (tiffcp g3:1d)", "g3:1d", base_white, 0)
    g3_case("pdf_pikepdf_ccitt-g3-k4.pdf", "CCITT G3 K=4 (tiffcp g3:2d)", "g3:2d", base_black, 4)

    mx0, my0, mx1, my1 = 40, 30, 50, 60  # left, bottom, right, top margins in pt (= px at 72 dpi)
    margined = np.full((H + my0 + my1, W + mx0 + mx1), 255, np.uint8)
    margined[my1 : my1 + H, mx0 : mx0 + W] = grey
    pk("pdf_pikepdf_offset-margin.pdf", "image at an offset on a larger page (white margin)",
       lambda pdf: (f"q {W} 0 0 {H} {mx0} {my0} cm /Im0 Do Q".encode(), {"Im0": flate_grey(pdf, grey)}), False,
       margined, media=(0, 0, W + mx0 + mx1, H + my0 + my1), size=(W + mx0 + mx1, H + my0 + my1))

    # ===== TIFF =================================================================================================
    def tcp(name, encoding, opts, base, colour, expected, lossless=True):
        path = os.path.join(out, name)
        strips = [] if "-t" in opts else ["-r", "64"]  # 64-row strips (JPEG wants a multiple of 16)
        run("tiffcp", *strips, *opts, base, path)
        tiff_case(name, "tiffcp", encoding, colour, expected, lossless)

    tcp("tif_tiffcp_g3-1d.tif", "CCITT G3 1D, MinIsWhite", ["-c", "g3:1d"], base_white, False, bil)
    tcp("tif_tiffcp_g3-2d.tif", "CCITT G3 2D, MinIsWhite", ["-c", "g3:2d"], base_white, False, bil)
    tcp("tif_tiffcp_g3-2d-fill-minisblack.tif", "CCITT G3 2D byte-aligned EOLs, MinIsBlack",
        ["-c", "g3:2d:fill"], base_black, False, bil)
    tcp("tif_tiffcp_g4.tif", "CCITT G4, MinIsWhite", ["-c", "g4"], base_white, False, bil)
    tcp("tif_tiffcp_lzw-1bit.tif", "LZW 1-bit", ["-c", "lzw"], base_white, False, bil)
    tcp("tif_tiffcp_lzw-grey.tif", "LZW grey", ["-c", "lzw"], base_grey, False, grey)
    tcp("tif_tiffcp_lzw-pred2-grey.tif", "LZW + horizontal predictor, grey", ["-c", "lzw:2"], base_grey, False, grey)
    tcp("tif_tiffcp_lzw-fillorder2-1bit.tif", "LZW FillOrder 2, 1-bit", ["-c", "lzw", "-f", "lsb2msb"], base_white,
        False, bil)
    tcp("tif_tiffcp_lzw-fillorder2-grey.tif", "LZW FillOrder 2, grey", ["-c", "lzw", "-f", "lsb2msb"], base_grey,
        False, grey)
    tcp("tif_tiffcp_g4-fillorder2.tif", "CCITT G4 FillOrder 2", ["-c", "g4", "-f", "lsb2msb"], base_white, False,
        bil)
    tcp("tif_tiffcp_packbits-1bit.tif", "PackBits 1-bit", ["-c", "packbits"], base_white, False, bil)
    tcp("tif_tiffcp_packbits-grey.tif", "PackBits grey", ["-c", "packbits"], base_grey, False, grey)
    tcp("tif_tiffcp_zip-grey.tif", "Deflate grey", ["-c", "zip"], base_grey, False, grey)
    tcp("tif_tiffcp_zip-rgb.tif", "Deflate RGB", ["-c", "zip"], base_rgb, True, rgb)
    tcp("tif_tiffcp_zstd-grey.tif", "Zstandard grey", ["-c", "zstd"], base_grey, False, grey)
    tcp("tif_tiffcp_webp-rgb.tif", "WebP RGB", ["-c", "webp"], base_rgb, True, rgb, lossless=False)
    tcp("tif_tiffcp_lzma-grey.tif", "LZMA grey", ["-c", "lzma"], base_grey, False, grey)
    tcp("tif_tiffcp_jpeg-grey.tif", "JPEG grey", ["-c", "jpeg:90"], base_grey, False, grey, lossless=False)
    tcp("tif_tiffcp_jpeg-ycbcr.tif", "JPEG RGB as YCbCr (subsampled)", ["-c", "jpeg:90"], base_rgb, True, rgb,
        lossless=False)
    tcp("tif_tiffcp_jpeg-rgb.tif", "JPEG RGB (jpeg:r)", ["-c", "jpeg:r:90"], base_rgb, True, rgb, lossless=False)
    tcp("tif_tiffcp_tiled-lzw-grey.tif", "tiled 128x128 LZW grey", ["-t", "-w", "128", "-l", "128", "-c", "lzw"],
        base_grey, False, grey)
    tcp("tif_tiffcp_tiled-g4.tif", "tiled 128x128 CCITT G4", ["-t", "-w", "128", "-l", "128", "-c", "g4"],
        base_white, False, bil)
    tcp("tif_tiffcp_raw-rgb.tif", "uncompressed RGB", ["-c", "none"], base_rgb, True, rgb)
    tcp("tif_tiffcp_planar-rgb-lzw.tif", "RGB in separate planes (PlanarConfiguration 2), LZW",
        ["-p", "separate", "-c", "lzw"], base_rgb, True, rgb)

    # Alpha: a page saved with its paper transparent, shown over white (libtiff premultiplies straight alpha).
    # Opaque ink, paper from clear to half covered.
    alpha = np.where(black, 255, (255 - grey.astype(np.int16)) * 2).clip(0, 255).astype(np.uint8)
    straight = np.dstack([rgb, alpha])

    def over_white(c, a):
        pm = (c.astype(np.int32) * a[..., None] + 127) // 255
        return np.minimum(pm + 255 - a[..., None].astype(np.int32), 255).astype(np.uint8)

    pil_rgba = os.path.join(out, "tif_pil_rgba-unassociated-alpha.tif")
    Image.fromarray(straight, "RGBA").save(pil_rgba, compression="tiff_lzw", dpi=(DPI, DPI))
    if tiff_tags(pil_rgba).get(338) not in (2, (2,)):
        die("PIL's RGBA TIFF does not have unassociated alpha")
    tiff_case("tif_pil_rgba-unassociated-alpha.tif", "pil", "RGBA, unassociated alpha, LZW", True,
              over_white(rgb, alpha), True)
    im_rgba = os.path.join(out, "tif_imagemagick_rgba-associated-alpha.tif")
    run("convert", pil_rgba, "-define", "tiff:alpha=associated", "-compress", "zip", im_rgba)
    if tiff_tags(im_rgba).get(338) not in (1, (1,)):
        die("ImageMagick's RGBA TIFF does not have associated alpha")
    tiff_case("tif_imagemagick_rgba-associated-alpha.tif", "imagemagick", "RGBA, associated alpha, Deflate", True,
              None, True)
    # Grey + alpha as ImageMagick writes it (associated). libtiff 4.5 shows grey with *unassociated* alpha as if
    # opaque, so that variant has no reference here; the loader shows it over white like every other alpha.
    pil_la = os.path.join(work, "grey_alpha.tif")
    Image.fromarray(np.dstack([grey, alpha]), "LA").save(pil_la, dpi=(DPI, DPI))
    im_la = os.path.join(out, "tif_imagemagick_grey-associated-alpha.tif")
    run("convert", pil_la, "-define", "tiff:alpha=associated", im_la)
    if tiff_tags(im_la).get(338) not in (1, (1,)) or tiff_tags(im_la).get(277) != 2:
        die("ImageMagick's grey + alpha TIFF is not 2 samples with associated alpha")
    tiff_case("tif_imagemagick_grey-associated-alpha.tif", "imagemagick", "grey + associated alpha", False,
              over_white(grey[..., None], alpha)[..., 0], True)

    im_g4 = os.path.join(out, "tif_imagemagick_g4-threshold.tif")
    run("convert", grey_png, "-threshold", "50%", "-compress", "Group4", im_g4)
    if tiff_tags(im_g4)[262] != 0:
        die("ImageMagick's G4 TIFF is not MinIsWhite")
    # ImageMagick's 50% threshold is its own (quantum 32767.5): the reference is what the file holds.
    tiff_case("tif_imagemagick_g4-threshold.tif", "imagemagick", "CCITT G4 via -threshold 50%, MinIsWhite", False,
              None, True)

    pil_1 = os.path.join(out, "tif_pil_minisblack-1bit.tif")
    Image.fromarray(~black).convert("1").save(pil_1, dpi=(DPI, DPI))
    if tiff_tags(pil_1)[262] != 1:
        die("PIL's 1-bit TIFF is not MinIsBlack")
    tiff_case("tif_pil_minisblack-1bit.tif", "pil", "1-bit MinIsBlack uncompressed", False, bil, True)

    pil_p = os.path.join(out, "tif_pil_palette.tif")
    pal_im.save(pil_p, dpi=(DPI, DPI))
    if tiff_tags(pil_p)[262] != 3:
        die("PIL's palette TIFF has no palette photometric")
    tiff_case("tif_pil_palette.tif", "pil", "palette (8-bit colour map)", True, pal_rgb, True)

    # Three pages, each keeping its own encoding (tiffcp without -c keeps each input's compression).
    multi = os.path.join(out, "tif_tiffcp_3page-g4-lzw-jpeg.tif")
    run("tiffcp", t_g4, t_lzw, t_jpeg, multi)
    got = []
    with Image.open(multi) as im:
        for i in range(3):
            im.seek(i)
            got.append(im.tag_v2[259])
    if got != [4, 5, 7]:
        die(f"3-page TIFF has compressions {got}, not G4, LZW, JPEG")
    tiff_case("tif_tiffcp_3page-g4-lzw-jpeg.tif", "tiffcp",
              ["3-page: CCITT G4 1-bit", "3-page: LZW grey", "3-page: JPEG YCbCr"], [False, False, True],
              [bil, grey, rgb], [True, True, False])

    # Fax: 1-bit at 204 x 98 dpi (every other line of a 204 x 196 page), G3 1D.
    fh = round(H * 98 / 204)
    fax_black = np.asarray(Image.fromarray(bil).resize((W, fh), Image.Resampling.NEAREST)) < 128
    fax_base = os.path.join(work, "fax_raw.tif")
    write_tiff(fax_base, fax_black, "miniswhite", xres=204, yres=98)
    fax = os.path.join(out, "tif_tiffcp_fax-g3-204x98.tif")
    run("tiffcp", "-r", "64", "-c", "g3:1d", fax_base, fax)
    tags = tiff_tags(fax)
    if round(float(tags[282])) != 204 or round(float(tags[283])) != 98:
        die(f"fax TIFF resolution {tags[282]} x {tags[283]}")
    path = fax
    refs = reference_tiff(path, False, path[:-4])
    record(path, 1, refs[0][0], True, False, "tiffcp", "CCITT G3 1D fax, 204 x 98 dpi", bilevel_l(fax_black),
           aspect=True)

    shutil.rmtree(work)
    with open(os.path.join(out, "index.jsonl"), "w") as fh_:
        for e in index:
            fh_.write(json.dumps(e) + "\n")
    sys.stderr.write("".join(s + "\n" for s in summary))


if __name__ == "__main__":
    main()
