// The dashboard's entry: its pages and the router that shows them.
import { token } from "./lib/api.js";
import { h } from "./lib/dom.js";
import { interceptLinks, render, route } from "./lib/router.js";
import { devicesPage } from "./pages/devices.js";
import { pipelinePage, pipelinesPage } from "./pages/pipelines.js";
import { runPage } from "./pages/run.js";
import { runsPage } from "./pages/runs.js";

route(/^\/(?:runs)?$/, "runs", runsPage);
route(/^\/runs\/([^/]+)$/, "runs", runPage);
route(/^\/pipelines$/, "pipelines", pipelinesPage);
route(/^\/pipelines\/([^/]+)$/, "pipelines", pipelinePage);
route(/^\/devices$/, "devices", devicesPage);

if (token) document.querySelector("header nav")?.append(h("a", { href: "/logout" }, "Sign out"));
interceptLinks();
render();
