#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# This file implements the converter from an ImageNet-style image folder
# (DIR/<class>/<images>, read as torchvision's ImageFolder reads it) to our
# `autobuild-imageset` HDF5 file (hdf5-schemas/imageset.md), which the OFA
# worker reads for BatchNorm recalibration and accuracy.
#
# Each image is stored once per requested resolution R, already put through
# Once-for-All's evaluation transform (ofa/imagenet_classification/
# data_providers/imagenet.py, build_valid_transform): converted to RGB, the
# shorter side resized to ceil(R / 0.875) with PIL's bilinear filter (as
# torchvision.transforms.Resize does on PIL images), then centre-cropped to
# R x R (torchvision CenterCrop rounding), as uint8 RGB. The reader applies
# ToTensor + Normalize itself: x = (u8 / 255 - mean) / std.
#
# --synthetic N --classes-count C writes the same format from N generated
# images (coloured gradients and shapes that depend on the class, seeded), so
# tests need no ImageNet.
#
# Needs Debian's python3-pil, python3-h5py and python3-numpy; run it with
# /usr/bin/python3. Errors are one line on stderr with exit status 2 (bad
# input) or 1 (anything else); the output is written under a temporary name
# and renamed, so it never exists half-written.
import argparse
import math
import os
import sys

PROG = "convert_imagenet_folder.py"
USAGE = (f"{PROG} DIR OUT.h5 [--resolutions 224[,160,...]] [--limit N] [--seed S] "
         f"[--classes FILE]\n       {PROG} --synthetic N --classes-count C OUT.h5 "
         f"[--resolutions ...] [--seed S]")
USAGE_LINE = f"{PROG} DIR OUT.h5 [options] or {PROG} --synthetic N --classes-count C OUT.h5"
DESCRIPTION = """\
Converts an ImageNet-style folder DIR (one sub-folder per class, holding image
files; class index = position of the folder name in sorted order, as
torchvision's ImageFolder numbers them) into an autobuild-imageset file OUT.h5
(hdf5-schemas/imageset.md), with Once-for-All's evaluation preprocessing per
resolution R: RGB, shorter side resized to ceil(R / 0.875) (PIL bilinear),
centre crop R x R, stored as uint8.

Examples:
  /usr/bin/python3 tools/convert_imagenet_folder.py /data/imagenet/val val.h5 \\
      --resolutions 224,192,160
  /usr/bin/python3 tools/convert_imagenet_folder.py /data/imagenet/train calib.h5 \\
      --resolutions 224 --limit 2000 --seed 0
  /usr/bin/python3 tools/convert_imagenet_folder.py --synthetic 64 --classes-count 10 \\
      --resolutions 128,160 test.h5

Exit status: 0 done, 2 bad input (missing folder, unreadable image, bad
option), 1 other failures."""
EPILOG = """\
Image order: without --limit, ImageFolder's order (classes in index order,
files sorted within each, sub-folders walked in sorted order). --limit N
draws N images at random (without replacement, seeded by --seed) and stores
them in the order drawn, so consecutive batches mix classes, as OFA's
BatchNorm calibration subset does.

--classes FILE: one class folder name per line (blank lines ignored); class
index = line order, n_classes = the number of lines, and every class folder
of DIR must be listed (listed classes may lack a folder). Use it to keep
ImageNet's 1000 indices when DIR holds only some classes.

Recognised image files: .jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp (any
case), as torchvision's IMG_EXTENSIONS."""

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
CROP_RATIO = 0.875
MAX_RESOLUTION = 4096
PREPROCESSING = ("RGB; shorter side resized to ceil(R/0.875) with PIL bilinear, longer side "
                 "int(size*long/short) (torchvision Resize); centre crop RxR at "
                 "top=int(round((h-R)/2)), left=int(round((w-R)/2)) (torchvision CenterCrop); "
                 "uint8 HWC")


class InputError(Exception):
    pass


class Failure(Exception):
    """Anything that is not the input's fault (exit status 1)."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise InputError(f"{message} (usage: {USAGE_LINE}; see --help)")


def parse_resolutions(text):
    out = []
    for part in text.split(","):
        try:
            r = int(part.strip())
        except ValueError:
            raise InputError(f"--resolutions: '{part}' is not an integer (e.g. 224,192,160)")
        if not 1 <= r <= MAX_RESOLUTION:
            raise InputError(f"--resolutions: {r} is outside 1..{MAX_RESOLUTION}")
        if r in out:
            raise InputError(f"--resolutions: {r} is listed twice")
        out.append(r)
    return out


def resize_size(w, h, size):
    """torchvision's _compute_resized_output_size for an int size: the
    shorter side becomes size, the longer int(size * long / short)."""
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if w <= h else (new_long, new_short)


def preprocess(img, r, Image, np):
    """OFA's validation transform up to ToTensor: uint8 (r, r, 3)."""
    size = int(math.ceil(r / CROP_RATIO))
    w, h = img.size
    new_w, new_h = resize_size(w, h, size)
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), getattr(Image, "Resampling", Image).BILINEAR)
    top = int(round((new_h - r) / 2.0))
    left = int(round((new_w - r) / 2.0))
    out = np.asarray(img.crop((left, top, left + r, top + r)), dtype=np.uint8)
    assert out.shape == (r, r, 3), out.shape
    return out


def read_class_list(path):
    try:
        with open(path, encoding="utf-8") as fh:
            names = [line.strip() for line in fh if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read the class list ({e})")
    if not names:
        raise InputError(f"{path}: no class names")
    seen = set()
    for n, name in enumerate(names, 1):
        if name in seen:
            raise InputError(f"{path}: class '{name}' is listed twice (second time: entry {n})")
        seen.add(name)
    return names


def scan_folder(root, class_file):
    """ImageFolder's find_classes + make_dataset: (class names, [(path,
    relative path, label)])."""
    try:
        folders = sorted(e.name for e in os.scandir(root) if e.is_dir())
    except OSError as e:
        raise InputError(f"{root}: cannot list the folder ({e.strerror})")
    if not folders:
        raise InputError(f"{root}: no class folders (expected DIR/<class>/<image files>)")
    if class_file is not None:
        classes = read_class_list(class_file)
        index = {name: i for i, name in enumerate(classes)}
        for name in folders:
            if name not in index:
                raise InputError(f"{root}: class folder '{name}' is not listed in {class_file}")
    else:
        classes, index = folders, {name: i for i, name in enumerate(folders)}
    samples = []
    for name in folders:
        count = 0
        for dirpath, _, fnames in sorted(os.walk(os.path.join(root, name), followlinks=True)):
            for fname in sorted(fnames):
                if fname.lower().endswith(IMG_EXTENSIONS):
                    path = os.path.join(dirpath, fname)
                    samples.append((path, os.path.relpath(path, root), index[name]))
                    count += 1
        if count == 0 and class_file is None:
            raise InputError(f"{root}/{name}: no image files (extensions: "
                             f"{' '.join(IMG_EXTENSIONS)}); ImageFolder refuses empty classes")
    if not samples:
        raise InputError(f"{root}: no image files in any class folder")
    return classes, samples


def load_image(path, Image):
    try:
        with open(path, "rb") as fh:
            img = Image.open(fh)
            return img.convert("RGB")
    except Image.UnidentifiedImageError:
        raise InputError(f"{path}: not an image file PIL can read")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise InputError(f"{path}: cannot read the image ({e})")


def synthetic_image(rng, label, n_classes, Image, ImageDraw, np):
    """A w x h RGB image whose background gradient, shape kind and colour
    depend on the class; position, size, sizes and noise are random."""
    w, h = (int(v) for v in rng.integers(96, 321, size=2))
    hue = label / n_classes
    c0 = np.array([0.5 + 0.5 * math.cos(2 * math.pi * (hue + k / 3)) for k in range(3)])
    c1 = 1.0 - c0
    angle = 2 * math.pi * ((label * 0.37) % 1.0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    t = (xx / w * math.cos(angle) + yy / h * math.sin(angle) + 1.0) / 2.0
    t = np.clip(t + rng.normal(0.0, 0.03, size=(h, w)), 0.0, 1.0)[..., None]
    pixels = (255.0 * ((1 - t) * c0 + t * c1)).round().astype(np.uint8)
    img = Image.fromarray(pixels, "RGB")
    draw = ImageDraw.Draw(img)
    s = int(min(w, h) * rng.uniform(0.3, 0.6))
    x0 = int(rng.integers(0, w - s + 1))
    y0 = int(rng.integers(0, h - s + 1))
    fill = tuple(int(v) for v in (255 * c1 * 0.5 + 127 * (label % 2)).astype(np.uint8))
    kind = label % 3
    if kind == 0:
        draw.ellipse([x0, y0, x0 + s, y0 + s], fill=fill)
    elif kind == 1:
        draw.rectangle([x0, y0, x0 + s, y0 + s], fill=fill)
    else:
        draw.polygon([(x0 + s // 2, y0), (x0, y0 + s), (x0 + s, y0 + s)], fill=fill)
    return img


def write_imageset(out_path, attrs, resolutions, labels, class_names, files, images, np, h5py):
    """images yields (i, PIL image) in order; each is preprocessed per
    resolution and written as it comes."""
    tmp = f"{out_path}.tmp-{os.getpid()}"
    s = h5py.string_dtype()
    n = len(labels)
    try:
        with h5py.File(tmp, "w") as f:
            for key, val in attrs:
                if isinstance(val, str):
                    f.attrs.create(key, val, dtype=s)
                elif isinstance(val, list):
                    dt = np.float64 if isinstance(val[0], float) else np.int64
                    f.attrs.create(key, np.array(val, dtype=dt))
                else:
                    f.attrs.create(key, np.int64(val))
            f.create_dataset("labels", data=np.array(labels, dtype=np.int64))
            f.create_dataset("class_names", data=class_names, dtype=s)
            if files is not None:
                f.create_dataset("files", data=files, dtype=s)
            sets = []
            for r in resolutions:
                g = f.create_group(f"r{r}")
                g.attrs.create("resolution", np.int64(r))
                g.attrs.create("resize", np.int64(math.ceil(r / CROP_RATIO)))
                sets.append((r, g.create_dataset("images", shape=(n, r, r, 3), dtype=np.uint8,
                                                 chunks=(1, r, r, 3), compression="gzip",
                                                 compression_opts=4)))
            from PIL import Image
            for i, img in images:
                for r, d in sets:
                    d[i] = preprocess(img, r, Image, np)
                if n >= 5000 and (i + 1) % 5000 == 0:
                    sys.stderr.write(f"{PROG}: {i + 1}/{n} images\n")
        os.replace(tmp, out_path)
    except OSError as e:
        raise Failure(f"{out_path}: cannot write ({e})")
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def main(argv):
    ap = Parser(prog=PROG, usage=USAGE, description=DESCRIPTION, epilog=EPILOG,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="+", metavar="DIR OUT.h5",
                    help="the image folder and the file to write (only OUT.h5 with --synthetic)")
    ap.add_argument("--resolutions", default="224", metavar="R[,R...]",
                    help="crop sizes to store (default 224)")
    ap.add_argument("--limit", type=int, default=None, metavar="N",
                    help="store N images drawn at random (seeded by --seed)")
    ap.add_argument("--seed", type=int, default=0, metavar="S",
                    help="seed of --limit and --synthetic (default 0)")
    ap.add_argument("--classes", default=None, metavar="FILE",
                    help="class names in index order, one per line")
    ap.add_argument("--synthetic", type=int, default=None, metavar="N",
                    help="write N generated images instead of reading DIR")
    ap.add_argument("--classes-count", type=int, default=None, metavar="C",
                    help="number of classes of --synthetic")
    a = ap.parse_args(argv)
    resolutions = parse_resolutions(a.resolutions)
    if a.synthetic is not None:
        if len(a.paths) != 1:
            raise InputError(f"--synthetic takes only OUT.h5, not a folder (usage: {USAGE_LINE})")
        if a.synthetic < 1:
            raise InputError(f"--synthetic: must be at least 1, not {a.synthetic}")
        if a.classes_count is None or a.classes_count < 1:
            raise InputError("--synthetic needs --classes-count C (C >= 1)")
        if a.limit is not None or a.classes is not None:
            raise InputError("--limit and --classes apply to a folder, not to --synthetic")
        src, out = None, a.paths[0]
    else:
        if len(a.paths) != 2:
            raise InputError(f"expected DIR and OUT.h5 (usage: {USAGE_LINE})")
        if a.classes_count is not None:
            raise InputError("--classes-count applies to --synthetic only")
        src, out = a.paths
        if not os.path.isdir(src):
            raise InputError(f"{src}: no such folder")
        if a.classes is not None and not os.path.isfile(a.classes):
            raise InputError(f"{a.classes}: no such file")
        if a.limit is not None and a.limit < 1:
            raise InputError(f"--limit: must be at least 1, not {a.limit}")
    out_dir = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(out_dir):
        raise InputError(f"{out}: folder {out_dir} does not exist")
    try:
        import h5py
        import numpy as np
        from PIL import Image, ImageDraw
    except ImportError as e:
        sys.stderr.write(f"{PROG}: needs python3-pil, python3-h5py and python3-numpy "
                         f"(run it with /usr/bin/python3): {e}\n")
        return 1
    rng = np.random.default_rng(a.seed)
    if src is None:
        n, c = a.synthetic, a.classes_count
        labels = [int(v) for v in rng.permutation(np.arange(n) % c)]
        class_names = [f"synthetic_{k:04d}" for k in range(c)]
        files = None
        source = f"synthetic n={n} classes={c} seed={a.seed}"
        selection = f"all {n}"
        images = ((i, synthetic_image(rng, y, c, Image, ImageDraw, np))
                  for i, y in enumerate(labels))
    else:
        class_names, samples = scan_folder(src, a.classes)
        total = len(samples)
        if a.limit is not None:
            order = rng.permutation(total)[:min(a.limit, total)]
            samples = [samples[int(k)] for k in order]
            selection = f"random {len(samples)} of {total} (seed {a.seed})"
        else:
            selection = f"all {total}"
        labels = [y for _, _, y in samples]
        files = [rel for _, rel, _ in samples]
        source = os.path.basename(os.path.normpath(os.path.abspath(src)))
        images = ((i, load_image(path, Image)) for i, (path, _, _) in enumerate(samples))
    attrs = [("format", "autobuild-imageset"), ("format_version", 1),
             ("created_by", "tools/" + PROG), ("mean", MEAN), ("std", STD),
             ("resolutions", resolutions), ("n_images", len(labels)),
             ("n_classes", len(class_names)), ("preprocessing", PREPROCESSING),
             ("source", source), ("selection", selection)]
    write_imageset(out, attrs, resolutions, labels, class_names, files, images, np, h5py)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except InputError as e:
        sys.stderr.write(f"{PROG}: {e}\n")
        sys.exit(2)
    except Failure as e:
        sys.stderr.write(f"{PROG}: {e}\n")
        sys.exit(1)
