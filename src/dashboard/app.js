// The dashboard's entry: its pages and the router that shows them.
import { h } from "./lib/dom.js";
import { loadMe, signedInBySession, whoami } from "./lib/me.js";
import { interceptLinks, render, route } from "./lib/router.js";
import { auditPage } from "./pages/audit.js";
import { devicesPage } from "./pages/devices.js";
import { pipelinePage, pipelinesPage } from "./pages/pipelines.js";
import { runPage } from "./pages/run.js";
import { runsPage } from "./pages/runs.js";

route(/^\/(?:runs)?$/, "runs", runsPage);
route(/^\/runs\/([^/]+)$/, "runs", runPage);
route(/^\/pipelines$/, "pipelines", pipelinesPage);
route(/^\/pipelines\/([^/]+)$/, "pipelines", pipelinePage);
route(/^\/devices$/, "devices", devicesPage);
route(/^\/audit$/, "audit", auditPage);

/** "ada · viewer" in the header: says why a viewer sees no buttons. */
function whoamiNote(me) {
  if (me.error) {
    return h(
      "span",
      { id: "whoami", class: "whoami", title: `GET /api/me failed: ${me.error.message}` },
      "viewer (who you are is unknown)",
    );
  }
  const how = {
    open: "the server has no token: everyone is an operator",
    token: "signed in with the API token",
    session: "signed in on this browser's session",
  };
  return h(
    "span",
    { id: "whoami", class: "whoami", title: how[me.via] ?? undefined, "data-role": me.role },
    me.actor ? `${me.actor} · ${me.role}` : me.role,
  );
}

/**
 * Sign out is a POST (a link could be followed by a prefetch or a crawler and end the session). A
 * form's submit is not a click on a link, so the router's interceptLinks() leaves it to the browser.
 */
function signOutForm() {
  return h(
    "form",
    { id: "sign-out", class: "sign-out", method: "post", action: "/logout" },
    h("button", { type: "submit" }, "Sign out"),
  );
}

// Who this is decides which controls the pages build, so it is known before the first page is drawn.
const me = await loadMe();
if (me.role === "operator") {
  const nav = document.querySelector("header nav");
  const audit = h("a", { href: "/audit", "data-nav": "audit" }, "Audit");
  const external = nav?.querySelector("[data-external]");
  if (external) external.before(audit);
  else nav?.append(audit);
}
document
  .querySelector("header.top")
  ?.append(h("div", { class: "who" }, whoamiNote(whoami()), signedInBySession() && signOutForm()));
interceptLinks();
render();
