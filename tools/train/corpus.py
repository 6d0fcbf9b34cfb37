"""Natural English text from Debian documentation packages, for the `prose` training source.

    apt-get download python3.11-doc linux-doc-6.1 debian-reference-en manpages manpages-dev bash-doc
    for f in *.deb; do mkdir -p x/${f%.deb}; dpkg-deb -x $f x/${f%.deb}; done
    python3 tools/train/corpus.py build x tools/train/ckpt/corpus     # -> corpus.txt.xz, corpus.json
    python3 tools/train/corpus.py ids corpus.txt.xz corpus_ids.npz        # tokenised (on the GPU machine's 16 cores)

What is taken (documents in their source form, the form closest to prose):
  linux-doc-6.1        Documentation/**/*.rst.gz, *.txt.gz (reStructuredText sources)
  python3.11-doc       html/_sources/**/*.rst.txt (reStructuredText sources)
  debian-reference-en  *.en.html (text of the HTML)
  bash-doc             bash.html, bashref.html (text of the HTML)
  manpages(-dev)       man pages rendered by groff -man -Tutf8 (no hyphenation, wide lines)
Markup is thinned, not parsed: directive and comment lines, section underlines and table rules go; paragraphs are
joined onto single lines. Paragraphs are deduplicated across the whole corpus (exact text after whitespace folding),
which drops the licence boilerplate and the documents that ship twice.

The ids: every document tokenised with the project's tokenizer (tokenizer.py, llama.cpp's SPM), no BOS, documents
concatenated; `starts` holds each document's first id index, so a training window can begin at a document.
"""
from __future__ import annotations

import gzip
import hashlib
import html.parser
import json
import lzma
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

_RST_RULE = re.compile(r"^\s*([=\-~^\"'`#*+_.:])\1{2,}\s*$")
_TABLE = re.compile(r"^\s*[+|].*[+|]\s*$")
_DIRECTIVE = re.compile(r"^\s*\.\. ")
_ROLE = re.compile(r":[a-z:]+:`([^`<]*?)(?:\s*<[^`]*>)?`")
_WS = re.compile(r"[ \t]+")


class _Text(html.parser.HTMLParser):
    """Visible text of an HTML page, block elements ending paragraphs."""
    BLOCK = {"p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "tr", "dt", "dd", "br", "table", "blockquote"}
    SKIP = {"script", "style", "head", "title"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skip += 1
        elif tag in self.BLOCK:
            self.out.append("\n\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCK:
            self.out.append("\n\n")

    def handle_data(self, data):
        if not self.skip:
            self.out.append(data)


def html_text(raw: str) -> str:
    p = _Text()
    p.feed(raw)
    return "".join(p.out)


def rst_text(raw: str) -> str:
    lines = []
    for ln in raw.splitlines():
        if _RST_RULE.match(ln) or _TABLE.match(ln) or _DIRECTIVE.match(ln):
            lines.append("")
            continue
        lines.append(_ROLE.sub(r"\1", ln).replace("``", ""))
    return "\n".join(lines)


def man_text(path: str) -> str:
    r = subprocess.run(["groff", "-man", "-Tutf8", "-P-cbou", "-rLL=200n", "-rHY=0"], input=_read(path).encode(),
                       capture_output=True, timeout=60)
    return r.stdout.decode("utf-8", "replace")


def _read(path: str) -> str:
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def paragraphs(text: str):
    """Paragraphs (blank-line separated) folded onto one line; short fragments and symbol soup dropped."""
    for para in re.split(r"\n\s*\n", text):
        s = _WS.sub(" ", " ".join(x.strip() for x in para.splitlines())).strip()
        if len(s) < 40:
            continue
        letters = sum(c.isalpha() for c in s)
        if letters < 0.6 * len(s):  # code, tables, hex dumps
            continue
        yield s


def documents(root: str):
    """(package, path, text) for every document taken from the extracted packages under root."""
    for pkg in sorted(os.listdir(root)):
        base = os.path.join(root, pkg)
        for dp, _, fs in sorted(os.walk(base)):
            for f in sorted(fs):
                p = os.path.join(dp, f)
                if pkg.startswith("linux-doc") and "/Documentation/" in p and (f.endswith(".rst.gz") or f.endswith(".txt.gz")):
                    yield pkg, p, rst_text(_read(p))
                elif pkg.startswith("python3") and "/_sources/" in p and f.endswith(".rst.txt"):
                    yield pkg, p, rst_text(_read(p))
                elif pkg.startswith("debian-reference") and f.endswith(".en.html"):
                    yield pkg, p, html_text(_read(p))
                elif pkg.startswith("bash-doc") and f in ("bash.html", "bashref.html"):
                    yield pkg, p, html_text(_read(p))
                elif pkg.startswith("manpages") and "/man/man" in p and f.endswith(".gz"):
                    if "/man/man" in p and not os.path.islink(p):
                        yield pkg, p, man_text(p)


def build(root: str, out: str):
    """Text only (corpus.txt.xz: documents separated by a form feed line) and its statistics (corpus.json)."""
    os.makedirs(out, exist_ok=True)
    seen = set()
    docs, stats = [], {}
    for pkg, path, text in documents(root):
        keep = []
        for para in paragraphs(text):
            h = hashlib.blake2b(para.encode(), digest_size=12).digest()
            if h in seen:
                continue
            seen.add(h)
            keep.append(para)
        st = stats.setdefault(pkg, dict(files=0, docs=0, chars=0))
        st["files"] += 1
        if keep:
            d = "\n\n".join(keep)
            docs.append(d)
            st["docs"] += 1
            st["chars"] += len(d)
    with lzma.open(os.path.join(out, "corpus.txt.xz"), "wt", encoding="utf-8", preset=6) as f:
        f.write(DOC_SEP.join(docs))
    meta = dict(packages=stats, documents=len(docs), chars=sum(len(d) for d in docs),
                xz_bytes=os.path.getsize(os.path.join(out, "corpus.txt.xz")))
    with open(os.path.join(out, "corpus.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta, indent=1))


DOC_SEP = "\n\n\f\n\n"


def _encode(doc):
    from tokenizer import Tokenizer
    global _TOK
    if "_TOK" not in globals():
        _TOK = Tokenizer.load()
    return _TOK.encode(doc + "\n\n")


def tokenize(src: str, dst: str, procs: int = 0):
    """corpus.txt.xz -> corpus_ids.npz (ids uint16, starts int64), documents tokenised in parallel."""
    import multiprocessing as mp
    import numpy as np
    with lzma.open(src, "rt", encoding="utf-8") as f:
        docs = f.read().split(DOC_SEP)
    with mp.get_context("fork").Pool(procs or os.cpu_count()) as pool:
        enc = pool.map(_encode, docs, chunksize=8)
    starts = np.cumsum([0] + [len(e) for e in enc[:-1]]).astype(np.int64)
    ids = np.fromiter((i for e in enc for i in e), dtype=np.uint16)
    np.savez_compressed(dst, ids=ids, starts=starts)  # ~12 MB instead of 38: it must travel to the GPU machine
    print("tokenised %d documents: %d ids" % (len(docs), ids.size))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "build":
        build(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "ids":
        tokenize(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit("usage: corpus.py build EXTRACTED_DEBS_DIR OUT_DIR | ids corpus.txt.xz corpus_ids.npz")
