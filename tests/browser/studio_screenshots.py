#!/usr/bin/python3
"""Screenshots of duel studio for docs/: a lesson played for a while, the graph in both views.

    /usr/bin/python3 tests/browser/studio_screenshots.py --duel build/duel --out docs/images \
        [--lesson collapse-gp] [--steps 600]

Uses the browser test's helpers (Debian chromium over the DevTools protocol).
"""
import argparse
import os
import shutil
import signal
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import studio_browser_test as t  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duel", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--lesson", default="collapse-gp")
    ap.add_argument("--steps", type=int, default=600)
    args = ap.parse_args()
    studio, url = t.start_studio(args.duel)
    profile = tempfile.mkdtemp(prefix="duel-chromium-")
    chromium = None
    try:
        chromium, devtools = t.start_chromium(profile)
        _, page = t.new_tab(devtools, url)
        page.wait("window.studio && window.studio.session && !window.studio.busy", "the page")
        page.js("document.querySelector('[data-lesson=\"%s\"]').click()" % args.lesson)
        page.wait("window.studio.view && window.studio.view.step === 0 && !window.studio.busy", "the lesson's reset")
        page.js("document.getElementById('play').click()")
        page.wait("window.studio.view.step >= %d" % args.steps, "%d steps" % args.steps, timeout=900)
        page.js("document.getElementById('play').click()")
        page.wait("!window.studio.playing && !window.studio.busy", "pause")
        page.js("document.getElementById('step').click()")
        page.wait("!window.studio.busy && window.studio.version.graph > 0", "a traced step")
        page.js(t.NODES + "[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))")
        page.wait("document.getElementById('node').textContent.includes('L2 norm')", "a node's statistics")
        page.screenshot(os.path.join(args.out, "studio_%s.png" % args.lesson))
        print("wrote", os.path.join(args.out, "studio_%s.png" % args.lesson))
        page.close()
    finally:
        if chromium:
            chromium.terminate()
            chromium.wait(10)
        shutil.rmtree(profile, ignore_errors=True)
        studio.send_signal(signal.SIGINT)
        studio.communicate(timeout=10)


if __name__ == "__main__":
    main()
