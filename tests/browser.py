"""Helpers for the browser tests: a real server on 127.0.0.1, the system Chromium, the page's state."""

import os
import shutil
from urllib.parse import parse_qsl

# The system Chromium, never a downloaded one; flags keep it quiet and offline.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def chromium_path():
    """The system Chromium's executable, or None when it is not installed."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


def launch_chromium(playwright):
    """Headless system Chromium through Playwright."""
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)


# ---------------------------------------------------------------- the page's state

def open_dashboard(page, base, query=""):
    """Load the dashboard and wait for its first complete render."""
    page.goto(f"{base}/{query}")
    wait_until_ready(page)


def wait_until_ready(page):
    """Wait for the page's first complete render (no script evaluation: works under a strict CSP)."""
    from playwright.sync_api import expect
    expect(page.locator("body")).to_have_attribute("data-ready", "1")


def render_count(page):
    """How many refreshes the page has completed."""
    return int(page.evaluate("Number(document.body.dataset.renderCount || 0)"))


def wait_for_render_after(page, count):
    """Wait until the page completes a refresh after the `count`-th."""
    page.wait_for_function("n => Number(document.body.dataset.renderCount || 0) > n", arg=count)


def page_query(page):
    """The metrics query of the figures on screen, as a dict (`from`, `to`, `site_id` when set)."""
    return dict(parse_qsl(page.evaluate("document.body.dataset.query || ''")))


def wait_for_query(page, **expected):
    """Wait until the figures on screen are those of exactly this metrics query."""
    page.wait_for_function(
        """expected => JSON.stringify(Object.fromEntries(new URLSearchParams(document.body.dataset.query || '')))
                       === JSON.stringify(expected)""", arg=expected)


TABLE_JS = """([selector, idAttr]) => [...document.querySelectorAll(`${selector} tbody tr[${idAttr}]`)].map(tr => ({
    id: tr.getAttribute(idAttr),
    cells: Object.fromEntries([...tr.querySelectorAll('td[data-col]')].map(td => [td.dataset.col, {
        value: td.hasAttribute('data-value') ? td.dataset.value : null,
        text: td.innerText.replace(/\\u00a0/g, ' ').trim(),
    }])),
}))"""


def table_rows(page, selector, id_attr):
    """The rows of a dashboard table: `[{id, cells: {field: {value, text}}}]`, in screen order."""
    return page.evaluate(TABLE_JS, [selector, id_attr])


def cards(page):
    """The summary cards: `{name: {value, text}}`."""
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#summary-cards [data-card]')]
        .map(card => {
            const node = card.querySelector('.value');
            const text = node.textContent.replace(/\\u00a0/g, ' ').trim();
            return [card.dataset.card, {value: node.dataset.value ?? null, text}];
        }))""")


# ---------------------------------------------------------------- how figures are written

def duration_text(seconds):
    """Seconds as the dashboard writes them: "5 h 48 min"."""
    if 0 < seconds < 30:
        return "< 1 min"
    minutes = int(seconds / 60 + 0.5)  # half up, as Math.round
    hours, rest = divmod(minutes, 60)
    return f"{rest} min" if hours == 0 else f"{hours:,} h {rest} min"


def decimal_text(value):
    """A number with at most two decimals, as the dashboard writes it: "1,234.5"."""
    text = f"{value:,.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def percent_text(value):
    return f"{decimal_text(value)} %"
