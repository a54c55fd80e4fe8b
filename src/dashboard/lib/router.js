// Client-side routing on the history API. The server answers every page path with index.html.
import { errorView } from "./api.js";
import { h } from "./dom.js";

const routes = [];
let leaving = undefined;

/**
 * A page is `(main, context) => void`; `context.signal` aborts when the user leaves the page, and
 * `context.onLeave(fn)` registers clean-up (closing a WebSocket, stopping a timer).
 */
export function route(pattern, nav, page) {
  routes.push({ pattern, nav, page });
}

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  render();
}

export function render() {
  leaving?.();
  const main = document.getElementById("app");
  main.replaceChildren();
  const controller = new AbortController();
  const cleanups = [];
  leaving = () => {
    controller.abort();
    for (const cleanup of cleanups) cleanup();
  };
  const match = routes.map((r) => ({ r, m: r.pattern.exec(location.pathname) })).find(({ m }) => m !== null);
  for (const a of document.querySelectorAll("[data-nav]")) {
    a.classList.toggle("active", a.dataset.nav === match?.r.nav);
  }
  if (!match) {
    main.append(h("h1", {}, "Not found"), h("p", {}, `The dashboard has no page at ${location.pathname}.`));
    return;
  }
  try {
    const context = {
      params: match.m.slice(1).map(decodeParam),
      query: new URLSearchParams(location.search),
      signal: controller.signal,
      onLeave: (fn) => cleanups.push(fn),
    };
    match.r.page(main, context);
  } catch (error) {
    main.append(errorView(error, "Showing this page"));
  }
}

/** A path segment, decoded; a malformed one (`/runs/%E0`) is an error in words, not a blank page. */
function decodeParam(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw Object.assign(
      new Error(`the address has a malformed %-escape in '${segment}': check the link or the URL typed`),
      { code: "MALFORMED_URL" },
    );
  }
}

/** Same-origin links to dashboard pages change the page without a reload. */
export function interceptLinks() {
  document.addEventListener("click", (event) => {
    const a = event.target instanceof Element ? event.target.closest("a[href]") : null;
    if (!a || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey || a.target) return;
    const url = new URL(a.href);
    if (url.origin !== location.origin || "external" in a.dataset) return;
    if (url.pathname.startsWith("/admin/") || url.pathname.startsWith("/logout")) return;
    event.preventDefault();
    navigate(`${url.pathname}${url.search}`);
  });
  window.addEventListener("popstate", render);
}
