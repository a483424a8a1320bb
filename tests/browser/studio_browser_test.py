#!/usr/bin/python3
"""duel studio in a real browser: Debian's chromium, headless, driven over the DevTools protocol.

Starts `duel studio --port 0`, opens the page, and checks that it loads, steps, plays, pauses,
changes the loss, that the heat map and the autograd graph update, that a node click shows its
statistics, that two tabs have separate sessions, that no console error appears, and that the
server survives a closed tab and malformed requests and stops cleanly on SIGINT.

    python3 tests/browser/studio_browser_test.py --duel build/duel [--screenshots DIR]

Exit code 0 on success, 1 with one line per failure otherwise. Every wait is bounded.
"""
import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

try:
    import websocket  # Debian python3-websocket (websocket-client)
except ImportError:
    print("studio browser test: python3-websocket is not installed (scripts/setup.sh installs it)")
    sys.exit(1)

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
                  "--window-size=1400,1000", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1"]


class Failure(Exception):
    pass


class Page:
    """One browser tab over a DevTools websocket: evaluate JavaScript, wait for conditions."""

    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.console_errors = []
        for method in ("Runtime.enable", "Log.enable", "Page.enable"):
            self.call(method)

    def _record(self, msg):
        m, p = msg.get("method"), msg.get("params", {})
        if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            self.console_errors.append("console.%s: %s" % (p["type"], " ".join(
                str(a.get("value", a.get("description", ""))) for a in p.get("args", []))))
        elif m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.console_errors.append("exception: %s %s" % (d.get("text", ""),
                                                             d.get("exception", {}).get("description", "")))
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            e = p["entry"]
            self.console_errors.append("log: %s %s" % (e.get("text", ""), e.get("url", "")))

    def call(self, method, **params):
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise Failure("%s failed: %s" % (method, msg["error"]))
                return msg.get("result", {})
            self._record(msg)

    def js(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise Failure("JavaScript failed: %s: %s" % (expression[:80], r["exceptionDetails"].get("text")))
        return r.get("result", {}).get("value")

    def wait(self, expression, what, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            if self.js(expression):
                return
            time.sleep(0.1)
        raise Failure("timed out after %d s waiting for %s" % (timeout, what))

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        self.ws.close()


def http(url, body=None, method=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def start_studio(duel):
    proc = subprocess.Popen([duel, "studio", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "serving on http://127.0.0.1:" not in line:
        proc.kill()
        raise Failure("duel studio did not start: %r %s" % (line, proc.stderr.read()))
    url = line.split("serving on ", 1)[1].strip()
    banner = proc.stdout.readline()
    if "127.0.0.1" not in banner:
        raise Failure("duel studio does not say where it is bound: %r" % banner)
    return proc, url


def start_chromium(profile):
    exe = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(exe):
        raise Failure("chromium is not installed (scripts/setup.sh installs Debian's chromium)")
    proc = subprocess.Popen([exe] + CHROMIUM_FLAGS + ["--user-data-dir=" + profile, "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_file = os.path.join(profile, "DevToolsActivePort")
    end = time.time() + 30
    while time.time() < end and not os.path.exists(port_file):
        if proc.poll() is not None:
            raise Failure("chromium exited with code %s" % proc.returncode)
        time.sleep(0.1)
    time.sleep(0.2)
    with open(port_file) as f:
        port = int(f.readline())
    return proc, port


def new_tab(devtools_port, url):
    _, body = http("http://127.0.0.1:%d/json/new?%s" % (devtools_port, url), method="PUT")
    target = json.loads(body)
    return target["id"], Page(target["webSocketDebuggerUrl"])


# The graph's own nodes (ids n<number>) and collapsed parts (c<number>), not the legend's.
NODES = "[...document.querySelectorAll('#graph g.node')].filter((n) => /^n\\d+$/.test(n.id))"
BOXES = "[...document.querySelectorAll('#graph g.node')].filter((n) => /^c\\d+$/.test(n.id))"


def canvas_hash(page):
    return page.js("(() => { const d = document.getElementById('canvas').toDataURL(); let h = 0;"
                   " for (let i = 0; i < d.length; i += 7) h = (h * 31 + d.charCodeAt(i)) | 0; return h; })()")


def run(args):
    checks = []
    studio, url = start_studio(args.duel)
    profile = tempfile.mkdtemp(prefix="duel-chromium-")
    chromium = None
    try:
        chromium, devtools = start_chromium(profile)
        tab1, page = new_tab(devtools, url)
        page.wait("window.studio && window.studio.session && window.studio.version.graph >= 1",
                  "the page to start a session and draw the first graph")
        checks.append("page loaded, session %s" % page.js("window.studio.session")[:8])
        if page.js(NODES + ".length + " + BOXES + ".length") < 3:
            raise Failure("the graph has fewer than 3 nodes")

        # One step by a real mouse click on the step button.
        heat0, step0 = canvas_hash(page), page.js("window.studio.view.step")
        box = page.js("(() => { const r = document.getElementById('step').getBoundingClientRect();"
                      " return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            page.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)
        page.wait("window.studio.view.step === %d && !window.studio.busy" % (step0 + 1), "one step after a click")
        if canvas_hash(page) == heat0:
            raise Failure("the plot did not change after a step")
        checks.append("a click on 'step' stepped and redrew the heat map")

        # Critic step and generator step.
        c0 = page.js("window.studio.view.critic_steps")
        page.js("document.getElementById('critic').click()")
        page.wait("window.studio.view.critic_steps === %d && !window.studio.busy" % (c0 + 1), "one critic update")
        g0 = page.js("window.studio.view.step")
        page.js("document.getElementById('generator').click()")
        page.wait("window.studio.view.step === %d && !window.studio.busy" % (g0 + 1), "one generator update")
        checks.append("critic step and generator step")

        # Play, then pause.
        s0 = page.js("window.studio.view.step")
        page.js("document.getElementById('play').click()")
        page.wait("window.studio.view.step >= %d" % (s0 + 20), "20 steps of play", timeout=60)
        page.js("document.getElementById('play').click()")
        page.wait("!window.studio.playing && !window.studio.busy", "pause")
        paused_at = page.js("window.studio.view.step")
        time.sleep(0.5)
        if page.js("window.studio.view.step") != paused_at:
            raise Failure("the run went on after pause")
        checks.append("play ran %d steps, pause stopped it" % (paused_at - s0))

        # Change the loss to WGAN-GP: the next step's graph has double-backward nodes.
        page.js("(() => { const s = document.getElementById('loss'); s.value = 'wgan-gp';"
                " s.dispatchEvent(new Event('change')); })()")
        page.wait("document.getElementById('n_critic').value === '5'", "the loss's defaults in the controls")
        v0, heat1 = page.js("window.studio.version.graph"), canvas_hash(page)
        page.js("document.getElementById('step').click()")
        page.wait("window.studio.version.graph > %d && !window.studio.busy" % v0, "the graph after the loss change")
        if page.js("window.studio.settings.loss") != "wgan-gp":
            raise Failure("the loss did not change on the server")
        if "double backward" not in page.js("document.getElementById('graph').innerHTML"):
            raise Failure("the WGAN-GP graph shows no double-backward part")
        if canvas_hash(page) == heat1:
            raise Failure("the heat map did not change after the loss change")
        checks.append("loss changed to wgan-gp: graph shows the double backward, heat map redrawn")
        if args.screenshots:
            page.screenshot(os.path.join(args.screenshots, "studio_page.png"))

        # The full graph, a node's statistics.
        page.js("(() => { const r = document.querySelector('input[name=gview][value=full]'); r.checked = true;"
                " r.dispatchEvent(new Event('change')); })()")
        page.wait(NODES + ".length > 50", "the full graph")
        full_nodes = page.js(NODES + ".length")
        page.js(NODES + "[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))")
        page.wait("document.getElementById('node').textContent.includes('L2 norm')", "a node's statistics")
        checks.append("full graph with %d nodes; a click shows a node's statistics" % full_nodes)

        # Back to the summary; a click on the double-backward box expands that part alone.
        v = page.js("window.studio.version.graph")
        page.js("(() => { const r = document.querySelector('input[name=gview][value=summary]'); r.checked = true;"
                " r.dispatchEvent(new Event('change')); })()")
        page.wait(("window.studio.version.graph > %d && " + BOXES + ".length > 5") % v,
                  "the summary view")
        v = page.js("window.studio.version.graph")
        if not page.js("(() => { const box = " + BOXES +
                       ".find((n) => n.textContent.includes('D on x̂ · double backward'));"
                       " if (!box) return false; box.dispatchEvent(new MouseEvent('click', {bubbles: true})); return true; })()"):
            raise Failure("the summary has no 'D on x̂ · double backward' box")
        page.wait("window.studio.version.graph > %d" % v, "the expanded part")
        expanded = page.js(NODES + ".length")
        collapsed = page.js(BOXES + ".length")
        if not (0 < expanded < full_nodes and collapsed > 5):
            raise Failure("expanding one part shows %d nodes and %d boxes" % (expanded, collapsed))
        # Collapse it again by its title.
        v = page.js("window.studio.version.graph")
        page.js("[...document.querySelectorAll('#graph g.cluster')].find((c) => c.textContent.includes("
                "'D on x̂ · double backward')).querySelector('text').dispatchEvent(new MouseEvent('click', {bubbles: true}))")
        page.wait("window.studio.version.graph > %d" % v, "the part collapsed again")
        if page.js(NODES + ".length") >= expanded:
            raise Failure("collapsing the part did not hide its nodes")
        # Expand it once more for the picture, with a node's numbers.
        v = page.js("window.studio.version.graph")
        page.js(BOXES + ".find((n) => n.textContent.includes("
                "'D on x̂ · double backward')).dispatchEvent(new MouseEvent('click', {bubbles: true}))")
        page.wait("window.studio.version.graph > %d" % v, "the part expanded again")
        page.js(NODES + ".find((n) => n.querySelector('[fill=\"#fb6a4a\"]'))"
                ".dispatchEvent(new MouseEvent('click', {bubbles: true}))")
        page.wait("document.getElementById('node').textContent.includes('double backward')", "a double-backward node")
        checks.append("summary: one part expanded (%d nodes, %d boxes), collapsed again by its title" % (expanded, collapsed))
        if args.screenshots:
            page.screenshot(os.path.join(args.screenshots, "studio_graph_full.png"))

        # A second tab has its own session; stepping it leaves the first alone.
        first_step = page.js("window.studio.view.step")
        tab2, page2 = new_tab(devtools, url)
        page2.wait("window.studio && window.studio.session && window.studio.version.steps >= 2 && !window.studio.busy",
                   "the second tab")
        if page2.js("window.studio.session") == page.js("window.studio.session"):
            raise Failure("two tabs share a session")
        page2.js("document.getElementById('step').click()")
        page2.wait("window.studio.view.step === 2 && !window.studio.busy", "a step in the second tab")
        page.js("document.getElementById('step').click()")
        page.wait("window.studio.view.step === %d && !window.studio.busy" % (first_step + 1), "the first tab's step")
        checks.append("two tabs, two sessions, steps independent")

        errors = page.console_errors + page2.console_errors + page.js("window.studio.errors") + \
            page2.js("window.studio.errors")
        if errors:
            raise Failure("console errors: " + "; ".join(errors))
        checks.append("no console error")

        # A closed tab and malformed requests leave the server running.
        http("http://127.0.0.1:%d/json/close/%s" % (devtools, tab2))
        page2.close()
        code, body = http(url + "api/step", b"{not json")
        if code != 400 or "error" not in json.loads(body):
            raise Failure("malformed JSON got %d %s" % (code, body[:100]))
        code, body = http(url + "api/step", {"session": "nope", "action": "step"})
        if code != 404:
            raise Failure("an unknown session got %d" % code)
        code, body = http(url + "api/graph?session=%s&collapsed=999" % page.js("window.studio.session"))
        if code != 400:
            raise Failure("a bad cluster number got %d" % code)
        page.js("document.getElementById('step').click()")
        page.wait("window.studio.view.step === %d && !window.studio.busy" % (first_step + 2),
                  "a step after a closed tab and bad requests")
        checks.append("server survives a closed tab and malformed requests")
        page.close()
        http("http://127.0.0.1:%d/json/close/%s" % (devtools, tab1))
    finally:
        if chromium:
            chromium.terminate()
            try:
                chromium.wait(10)
            except subprocess.TimeoutExpired:
                chromium.kill()
        shutil.rmtree(profile, ignore_errors=True)
        if studio.poll() is None:
            studio.send_signal(signal.SIGINT)
            try:
                out, _ = studio.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                studio.kill()
                raise Failure("duel studio did not stop on SIGINT")
            if studio.returncode != 0 or "stopped" not in out:
                raise Failure("duel studio exited with %s on SIGINT: %r" % (studio.returncode, out))
    checks.append("SIGINT stops the server cleanly")
    return checks


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duel", required=True)
    ap.add_argument("--screenshots", help="write studio_page.png and studio_graph_full.png here")
    args = ap.parse_args()
    try:
        for c in run(args):
            print("ok:", c)
    except (Failure, OSError, websocket.WebSocketException) as e:
        print("studio browser test FAILED:", e)
        return 1
    print("studio browser test: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
