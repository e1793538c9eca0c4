#!/usr/bin/env python3
"""Check the built book in a headless browser, page by page, as a reader would see it.

Every HTML page of the built book (default ``_build/html``; the pages under ``_static``,
``_sources``, ``_modules`` and ``_images``, ``genindex`` and ``search`` are skipped, and so are
redirect pages) is copied into a temporary copy of the book with a script injected. After the page
has loaded and MathJax (where the page loads it) has finished typesetting, the script opens every
``<details>`` element and checks the rendered DOM:

* no raw pipe table: no visible text (outside ``pre``/``code``) with a ``|...|`` line next to a
  ``|---|`` separator row, and no paragraph starting with ``| ``;
* no raw TeX: no visible text (outside ``pre``/``code`` and MathJax's output) containing ``\\(``,
  ``\\)``, ``\\[``, ``\\]``, ``$$``, ``$x$``, ``_{``/``^{`` or a TeX macro such as ``\\frac``,
  ``\\mathrm``, ``\\sum``, ``\\sqrt``; every math element typeset by MathJax, and no MathJax error;
* every ``<img>`` loaded, and no script, stylesheet or image that failed to load;
* the papermill parameter cells (``.tag_parameters``, ``.tag_injected-parameters``) not rendered;
* no page wider than the viewport, and no element inside the article that scrolls horizontally.

Chromium (``chromium --headless --dump-dom``) renders each page at two window widths (1280 and
800 px by default) with no network (every host name fails to resolve, as on a machine offline), and
the script writes its result into the DOM, which this program reads back. It prints one line per
page and a summary; the exit status is 0 when every page passes, 1 when one fails, 2 when Chromium
or the built book is missing.

    python tools/check_book.py                      # the whole book, _build/html
    python tools/check_book.py --pages 'book/notebooks/vt_*' --jobs 2
"""
from __future__ import annotations

import argparse
import base64
import concurrent.futures
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {"_static", "_sources", "_modules", "_images"}
SKIP_PAGES = {"genindex.html", "search.html"}
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
RESULT_ATTRIBUTE = "data-book-check"
MARKER = "book-check-injected"

# The checks, run in the page. The result goes into the DOM as base64 JSON (no escaping issues).
CHECK_JS = r"""
(function () {
  "use strict";
  var failedResources = [];
  var jsErrors = [];
  window.addEventListener("error", function (event) {
    var t = event.target;
    if (t && t !== window && t.tagName) {
      failedResources.push(t.tagName.toLowerCase() + " " + (t.currentSrc || t.src || t.href || ""));
    } else {
      jsErrors.push(String(event.message || event.error));
    }
  }, true);

  function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  function publish(result) {
    var json = JSON.stringify(result);
    var el = document.createElement("div");
    el.setAttribute("RESULT_ATTRIBUTE", btoa(unescape(encodeURIComponent(json))));
    el.hidden = true;
    document.documentElement.appendChild(el);
  }

  function mathJaxStarted() {
    var mj = window.MathJax;
    return !!(mj && mj.version && mj.startup && mj.startup.promise && typeof mj.startup.promise.then === "function");
  }

  async function waitForMathJax() {
    var script = Array.prototype.some.call(document.scripts, function (s) { return /mathjax/i.test(s.src || ""); });
    if (!script && !window.MathJax) { return "absent"; }
    for (var i = 0; i < 300 && !mathJaxStarted(); i++) { await sleep(100); }
    if (!mathJaxStarted()) { return "not loaded"; }
    await window.MathJax.startup.promise;
    return "typeset";
  }

  function describe(el) {
    var cls = (typeof el.className === "string" ? el.className : (el.getAttribute("class") || "")).trim();
    var text = (el.textContent || "").replace(/\s+/g, " ").trim().slice(0, 80);
    return "<" + el.tagName.toLowerCase() + (cls ? " class=\"" + cls + "\"" : "") + "> \"" + text + "\"";
  }

  var SKIP_TAGS = {SCRIPT: 1, STYLE: 1, NOSCRIPT: 1, TEMPLATE: 1, PRE: 1, CODE: 1, TEXTAREA: 1, KBD: 1, SAMP: 1,
                   "MJX-CONTAINER": 1, "MJX-ASSISTIVE-MML": 1, MATH: 1, SVG: 1};
  var INLINE = {inline: 1, contents: 1};
  var styleCache = new Map();
  function style(el) {
    var s = styleCache.get(el);
    if (!s) { s = getComputedStyle(el); styleCache.set(el, s); }
    return s;
  }
  function excluded(el) {
    for (; el; el = el.parentElement) {
      if (SKIP_TAGS[el.tagName.toUpperCase()]) { return true; }
      if (el.classList && el.classList.contains("MathJax")) { return true; }
    }
    return false;
  }
  function hidden(el) {
    if (style(el).visibility !== "visible") { return true; }
    for (; el; el = el.parentElement) { if (style(el).display === "none") { return true; } }
    return false;
  }
  function blockOf(el) {
    for (; el.parentElement && INLINE[style(el).display]; el = el.parentElement) { }
    return el;
  }

  // The visible text of the page outside code and math, grouped by the block that holds it.
  function textBlocks() {
    var blocks = new Map();
    var walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (var node = walker.nextNode(); node; node = walker.nextNode()) {
      var parent = node.parentElement;
      if (!parent || !node.nodeValue.trim() || excluded(parent) || hidden(parent)) { continue; }
      var block = blockOf(parent);
      if (!blocks.has(block)) { blocks.set(block, []); }
      blocks.get(block).push(node.nodeValue);
    }
    var out = [];
    blocks.forEach(function (parts, block) { out.push({block: block, text: parts.join("")}); });
    return out;
  }

  var DASH = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212";
  var ROW = /^\s*\|.*\|\s*$/;
  var SEP = new RegExp("^\\s*\\|?\\s*:?[" + DASH + "]+:?\\s*(\\|\\s*:?[" + DASH + "]+:?\\s*)+\\|?\\s*$");
  var MACROS = "[dt]?frac|binom|mathrm|mathbf|mathit|mathcal|mathbb|mathsf|mathtt|boldsymbol|operatorname|" +
    "text|textrm|textbf|textit|sum|prod|int|oint|sqrt|cdot|cdots|ldots|dots|times|div|pm|mp|le|leq|ge|geq|" +
    "ne|neq|approx|sim|simeq|equiv|propto|infty|partial|nabla|in|notin|subset|subseteq|cup|cap|forall|exists|" +
    "to|rightarrow|leftarrow|Rightarrow|Leftarrow|mapsto|lVert|rVert|lvert|rvert|left|right|big|Big|bigl|bigr|" +
    "hat|bar|tilde|vec|dot|overline|underline|begin|end|alpha|beta|gamma|Gamma|delta|Delta|epsilon|varepsilon|" +
    "zeta|eta|theta|Theta|vartheta|iota|kappa|lambda|Lambda|mu|nu|xi|Xi|pi|Pi|rho|sigma|Sigma|tau|upsilon|phi|" +
    "Phi|varphi|chi|psi|Psi|omega|Omega|log|ln|exp|min|max|arg|argmin|argmax|lim|sup|inf|mathop|quad|qquad";
  var TEX = new RegExp("\\\\[()\\[\\]]|\\$\\$|\\\\(?:" + MACROS + ")(?![A-Za-z])|[_^]\\{|" +
                       "(?:^|[^\\\\$\\w])\\$(?!\\s)[^$\\n]{1,200}?[^\\s\\\\$]\\$(?![\\w$])");

  function excerpt(text, index) {
    return text.slice(Math.max(0, index - 30), index + 50).replace(/\s+/g, " ").trim();
  }

  async function run() {
    var failures = [];
    var mathjax = await waitForMathJax();
    if (document.fonts && document.fonts.ready) { await document.fonts.ready; }
    // Content behind a <details> (a dropdown, a hidden cell) is checked as a reader who opens it sees it.
    Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) { d.open = true; });
    await sleep(100);  // (requestAnimationFrame may never fire in headless mode; layout queries below are synchronous)

    // 1. Raw pipe tables, 2. raw TeX, in the visible text outside pre/code and MathJax's output.
    textBlocks().forEach(function (item) {
      var lines = item.text.split(/\r?\n/);
      var sep = lines.some(function (l) { return SEP.test(l); });
      var row = lines.some(function (l) { return ROW.test(l) && !SEP.test(l); });
      if ((sep && row) || (item.block.tagName === "P" && /^\s*\| /.test(item.text))) {
        failures.push("raw pipe table: " + describe(item.block));
      }
      var m = TEX.exec(item.text);
      if (m) { failures.push("raw TeX \"" + m[0].trim() + "\" in \"" + excerpt(item.text, m.index) + "\""); }
    });

    // Math typeset by MathJax: every math element holds MathJax's output, and no TeX error.
    var maths = document.querySelectorAll(".math");
    var rendered = document.querySelectorAll("mjx-container").length;
    var untypeset = Array.prototype.filter.call(maths, function (el) { return !el.querySelector("mjx-container"); });
    if ((maths.length || failures.some(function (f) { return f.indexOf("raw TeX") === 0; })) && !rendered) {
      failures.push("math not rendered: the page has math source (" + maths.length + " math elements) but no " +
                    "MathJax output (MathJax " + mathjax + ")");
    } else if (untypeset.length) {
      failures.push(untypeset.length + " of " + maths.length + " math elements not typeset, first " +
                    describe(untypeset[0]));
    }
    Array.prototype.forEach.call(document.querySelectorAll("mjx-merror, [data-mjx-error]"), function (el) {
      failures.push("MathJax error: " + (el.getAttribute("data-mjx-error") || el.textContent).slice(0, 120));
    });

    // 3. Images loaded, and no resource that failed to load.
    Array.prototype.forEach.call(document.images, function (img) {
      if (!(img.complete && img.naturalWidth > 0)) {
        failures.push("image not loaded: " + (img.getAttribute("src") || ""));
      }
    });
    failedResources.forEach(function (r) {
      if (!/^img /.test(r)) { failures.push("failed to load: " + r); }
    });

    // 4. Parameter cells not rendered.
    Array.prototype.forEach.call(document.querySelectorAll(".tag_parameters, .tag_injected-parameters"), function (el) {
      if (!(el.offsetParent === null || getComputedStyle(el).display === "none")) {
        failures.push("parameter cell rendered: " + describe(el));
      }
    });

    // 5. Nothing wider than the viewport, nothing in the article that scrolls sideways.
    var vw = window.innerWidth;
    if (document.documentElement.scrollWidth > vw) {
      var culprits = Array.prototype.filter.call(document.body.querySelectorAll("*"), function (el) {
        var r = el.getBoundingClientRect();
        return r.width > 0 && r.right > vw + 1 && !Array.prototype.some.call(el.children, function (c) {
          return c.getBoundingClientRect().right > vw + 1;
        });
      }).slice(0, 3).map(describe);
      failures.push("page " + document.documentElement.scrollWidth + " px wide in a " + vw + " px viewport" +
                    (culprits.length ? ", sticking out: " + culprits.join("; ") : ""));
    }
    var article = document.querySelector("article") || document.querySelector("main") || document.body;
    Array.prototype.forEach.call(article.querySelectorAll("*"), function (el) {
      var ox = getComputedStyle(el).overflowX;
      if ((ox === "auto" || ox === "scroll") && el.scrollWidth > el.clientWidth + 1) {
        failures.push("scrolls horizontally (" + el.scrollWidth + " > " + el.clientWidth + " px): " + describe(el));
      }
    });

    return {failures: failures, mathjax: mathjax, math: maths.length, rendered: rendered,
            images: document.images.length, width: vw, js_errors: jsErrors};
  }

  window.addEventListener("load", function () {
    run().then(publish, function (error) {
      publish({failures: ["the check itself failed: " + String(error && error.stack || error)], js_errors: jsErrors});
    });
  });
})();
""".replace("RESULT_ATTRIBUTE", RESULT_ATTRIBUTE)


def find_chromium(explicit: str | None) -> str | None:
    if explicit:
        runnable = os.path.isfile(explicit) and os.access(explicit, os.X_OK)
        return explicit if runnable else shutil.which(explicit)
    for name in ([os.environ["CHROMIUM"]] if os.environ.get("CHROMIUM") else []) + list(CHROMIUM_NAMES):
        path = shutil.which(name)
        if path:
            return path
    return None


def is_redirect(text: str) -> str | None:
    m = re.search(r'<meta[^>]+http-equiv=["\']?refresh["\']?[^>]*content=["\'][^"\']*url=([^"\'>]+)', text, re.I)
    return m.group(1).strip() if m else None


def list_pages(html: Path, patterns: list[str] | None) -> list[Path]:
    pages = []
    for path in sorted(html.rglob("*.html")):
        rel = path.relative_to(html)
        if SKIP_DIRS.intersection(rel.parts[:-1]) or rel.name in SKIP_PAGES:
            continue
        if patterns and not any(fnmatch.fnmatch(rel.as_posix(), p) or fnmatch.fnmatch(rel.as_posix(), p + ".html")
                                for p in patterns):
            continue
        pages.append(rel)
    return pages


def inject(path: Path) -> None:
    """Put the check script at the top of the page's head (before any other script runs)."""
    text = path.read_text(encoding="utf-8")
    script = f'<script id="{MARKER}">{CHECK_JS}</script>'
    m = re.search(r"<head[^>]*>", text, re.I)
    if m:
        text = text[:m.end()] + script + text[m.end():]
    else:
        text = script + text
    path.write_text(text, encoding="utf-8")


def render(chromium: str, url: str, width: int, profile: Path, budget_ms: int, timeout_s: float) -> dict:
    """Load one page in headless Chromium and return the result the injected script left in the DOM."""
    cmd = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
        "--no-default-browser-check", "--disable-extensions", "--disable-sync", "--disable-background-networking",
        "--disable-component-update", "--mute-audio",
        # Offline, as a reader without network: a page that needs a CDN fails here.
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={profile}", "--dump-dom", f"--virtual-time-budget={budget_ms}",
        f"--window-size={width},900", url,
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"failures": [f"chromium did not finish within {timeout_s:.0f} s"]}
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    m = re.search(RESULT_ATTRIBUTE + r'="([A-Za-z0-9+/=]*)"', proc.stdout)
    if not m:
        err = " ".join(proc.stderr.strip().splitlines()[-2:])[:300]
        return {"failures": [f"no check result in the page's DOM (chromium exit {proc.returncode}; the page "
                             f"did not finish loading within the virtual time budget, or a script broke it) {err}"]}
    return json.loads(base64.b64decode(m.group(1)).decode("utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html",
                        help="the built book (default: _build/html)")
    parser.add_argument("--chromium", help="the Chromium executable (default: $CHROMIUM, else chromium on PATH)")
    parser.add_argument("--jobs", type=int, default=2, help="pages rendered at the same time (default 2)")
    parser.add_argument("--pages", action="append", metavar="GLOB",
                        help="check only the pages whose path under --html matches (repeatable), "
                             "e.g. 'book/notebooks/*'")
    parser.add_argument("--widths", default="1280,800", help="window widths in px, comma-separated (default 1280,800)")
    parser.add_argument("--budget", type=int, default=60000, help="virtual time budget per page in ms (default 60000)")
    parser.add_argument("--timeout", type=float, default=180.0,
                        help="real seconds per page before giving up (default 180)")
    args = parser.parse_args(argv)

    html = args.html.resolve()
    if not html.is_dir():
        print(f"check_book: no built book at {html}; build it first (make html)", file=sys.stderr)
        return 2
    chromium = find_chromium(args.chromium)
    if not chromium:
        print("check_book: Chromium not found" + (f" at {args.chromium}" if args.chromium else " on PATH") +
              "; install it (make browser, or: sudo apt-get install chromium) or pass --chromium PATH", file=sys.stderr)
        return 2
    widths = [int(w) for w in args.widths.split(",") if w.strip()]
    pages = list_pages(html, args.pages)
    if not pages:
        print(f"check_book: no page to check under {html}" + (f" matching {args.pages}" if args.pages else ""),
              file=sys.stderr)
        return 2

    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="check_book-") as tmp:
        site = Path(tmp) / "site"
        shutil.copytree(html, site)
        skipped, checked = {}, []
        for rel in pages:
            target = is_redirect((site / rel).read_text(encoding="utf-8", errors="replace"))
            if target:
                skipped[rel] = target
            else:
                inject(site / rel)
                checked.append(rel)
        jobs = [(rel, width) for rel in checked for width in widths]
        results: dict[tuple[Path, int], dict] = {}
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = {
                pool.submit(render, chromium, (site / rel).as_uri(), width, Path(tmp) / f"profile-{i}",
                            args.budget, args.timeout): (rel, width)
                for i, (rel, width) in enumerate(jobs)
            }
            for future in concurrent.futures.as_completed(futures):
                results[futures[future]] = future.result()

    failed = 0
    for rel in pages:
        if rel in skipped:
            print(f"SKIP {rel} (redirect to {skipped[rel]})")
            continue
        where: dict[str, list[int]] = {}  # each failure, with the widths it showed at
        for width in widths:
            for failure in results[(rel, width)].get("failures", []):
                if width not in where.setdefault(failure, []):
                    where[failure].append(width)
        if where:
            failed += 1
            print(f"FAIL {rel}")
            for failure, at in where.items():
                print(f"    [{', '.join(f'{w}px' for w in at)}] {failure}")
        else:
            info = results[(rel, widths[0])]
            labels = (("math", "math elements"), ("images", "images"))
            counts = [f"{info[k]} {label}" for k, label in labels if info.get(k)]
            print(f"OK   {rel}" + (f" ({', '.join(counts)})" if counts else ""))
    elapsed = time.monotonic() - start
    print(f"{len(checked)} pages checked at {', '.join(f'{w}px' for w in widths)} in {elapsed:.0f} s: "
          f"{len(checked) - failed} OK, {failed} failed" + (f", {len(skipped)} redirects skipped" if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
