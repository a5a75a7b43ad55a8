// The registry's web index: plain JavaScript, no framework, no build step. Every piece of
// text from the server goes into the page through text nodes (never as HTML), and every
// link it makes is checked to be http(s) first. The views come from the registry's event
// streams (/v1/ui/...), read with fetch so the bearer token travels in a header: it is kept
// in sessionStorage, never in a URL or a cookie.

import { age, externalLink, h, pageLink, replace, table } from "./dom.js";
import { TOKEN_KEY, follow, getJson, refusals, setConnection, token } from "./registry.js";
import { SOURCE, condition, readyCount, servicePage } from "./service.js";

const main = document.getElementById("main");
const forgetButton = document.getElementById("forget-token");

/** Stops the current page's streams when another page opens. */
let closeCurrent = () => {};

// ------------------------------------------------------------------ token and errors

function askForToken(message) {
  closeCurrent();
  setConnection("error", "Token needed");
  const input = h("input", {
    id: "token",
    type: "password",
    autocomplete: "off",
    required: true,
    spellcheck: "false",
  });
  const form = h(
    "form",
    {
      class: "token",
      onsubmit: (event) => {
        event.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, input.value.trim());
        route();
      },
    },
    h("label", { for: "token" }, "Bearer token (a ServiceAccount token, e.g. from kubectl create token)"),
    input,
    h("button", { type: "submit" }, "Use token"),
  );
  replace(
    main,
    h("h1", {}, "Sign in"),
    h(
      "p",
      {},
      "This registry needs a token to read services. It is kept in this tab's session storage only.",
    ),
    token() ? h("p", { class: "notice error", role: "alert" }, message) : null,
    form,
  );
  input.focus();
}

function showError(message) {
  replace(main, h("h1", {}, "Not allowed"), h("p", { class: "notice error", role: "alert" }, message));
}

refusals.unauthorized = askForToken;
refusals.refused = showError;

forgetButton.addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  route();
});

// ------------------------------------------------------------------ Services

function servicesPage(namespace) {
  document.title = `Services in ${namespace} · Berth registry`;
  const picker = h(
    "select",
    { id: "namespace" },
    h("option", { value: namespace, selected: true }, namespace),
  );
  picker.addEventListener("change", () => (location.hash = `#/services/${encodeURIComponent(picker.value)}`));
  const filter = h("input", {
    id: "filter",
    type: "search",
    placeholder: "slug, label, address…",
    autocomplete: "off",
  });
  const count = h("p", { class: "muted", role: "status", id: "service-count" });
  const region = h("div", { id: "services" }, h("p", { class: "muted" }, "Loading…"));
  replace(
    main,
    h("h1", {}, "Services"),
    h(
      "div",
      { class: "controls" },
      h("label", { for: "namespace" }, "Namespace", picker),
      h("label", { for: "filter" }, "Filter", filter),
    ),
    count,
    region,
  );
  getJson("/v1/ui/namespaces")
    .then(({ namespaces }) => {
      const names = [...new Set([...namespaces, namespace])].sort();
      picker.replaceChildren(...names.map((n) => h("option", { value: n, selected: n === namespace }, n)));
    })
    .catch(() => {});
  let services = [];
  const render = () => {
    const words = filter.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const shown = services.filter((s) => {
      const text = [
        s.slug,
        s.source,
        s.deploymentId ?? "",
        ...s.addresses,
        ...Object.entries(s.labels).map(([k, v]) => `${k}=${v}`),
      ]
        .join(" ")
        .toLowerCase();
      return words.every((w) => text.includes(w));
    });
    count.textContent = `${shown.length} of ${services.length} services in ${namespace}`;
    replace(
      region,
      table(
        "Services",
        ["Service", "Ready", "Addresses", "Source", "Deployment", "Rollout", "Not ready because"],
        shown.map((s) => [
          pageLink(`#/services/${encodeURIComponent(namespace)}/${encodeURIComponent(s.slug)}`, s.slug),
          readyCount(s),
          s.addresses.length
            ? h(
                "span",
                { class: "links" },
                s.addresses.map((a) => externalLink(a, a, `${s.slug} ${a}`)),
              )
            : h("span", { class: "muted" }, "none ready"),
          SOURCE[s.source] ?? s.source,
          h("span", { class: "mono" }, s.deploymentId ?? "—"),
          condition(s.rollout, "RolloutComplete"),
          s.problem
            ? h("span", {}, h("span", { class: "bad" }, s.problem.reason), h("br"), s.problem.message)
            : h("span", { class: "muted" }, "—"),
        ]),
        services.length ? "No service matches the filter." : `No services in namespace ${namespace}.`,
      ),
    );
  };
  filter.addEventListener("input", render);
  return follow(`/v1/ui/namespaces/${encodeURIComponent(namespace)}/services`, (view) => {
    services = view.services;
    render();
  });
}

// ------------------------------------------------------------------ one service

// ------------------------------------------------------------------ Nodes

function capacity(c) {
  const parts = Object.entries(c ?? {}).map(([k, v]) => `${k} ${v}`);
  return parts.length ? parts.join(" · ") : h("span", { class: "muted" }, "—");
}

function nodesPage() {
  document.title = "Nodes · Berth registry";
  const region = h("div", { id: "nodes" }, h("p", { class: "muted" }, "Loading…"));
  replace(main, h("h1", {}, "Nodes"), region);
  return follow("/v1/ui/nodes", (view) => {
    replace(
      region,
      table(
        "Nodes",
        ["Node", "Engine URL", "Ready", "Last heartbeat", "Capacity", "Allocatable", "Instances", "Warnings"],
        view.nodes.map((n) => [
          h("span", { class: "mono", id: `node-${n.name}` }, n.name),
          h("span", { class: "mono" }, n.url),
          h(
            "span",
            { class: n.ready === "True" ? "ok" : "bad" },
            n.ready === "True" ? "Ready" : `Ready=${n.ready}`,
            n.unschedulable ? " (unschedulable)" : "",
          ),
          age(n.lastHeartbeat, " ago"),
          capacity(n.capacity),
          capacity(n.allocatable),
          String(n.instances),
          n.warnings.length
            ? h(
                "span",
                { class: "links" },
                n.warnings.map((w) => h("span", { class: "warn" }, `⚠ ${w.reason}: ${w.message}`)),
              )
            : h("span", { class: "muted" }, "none"),
        ]),
        "No Nodes are registered.",
      ),
    );
  });
}

// ------------------------------------------------------------------ routing

function route() {
  const hash = location.hash;
  // In-page anchors (the skip link) are not pages.
  if (hash && !hash.startsWith("#/")) return;
  closeCurrent();
  forgetButton.hidden = token() === "";
  const [page, namespace, slug] = hash
    .slice(2)
    .split("/")
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return "";
      }
    });
  for (const id of ["nav-services", "nav-nodes"]) document.getElementById(id).removeAttribute("aria-current");
  document
    .getElementById(page === "nodes" ? "nav-nodes" : "nav-services")
    .setAttribute("aria-current", "page");
  if (page === "nodes") closeCurrent = nodesPage();
  else if (page === "services" && namespace && slug) closeCurrent = servicePage(namespace, slug);
  else closeCurrent = servicesPage(namespace || "default");
}

window.addEventListener("hashchange", route);
route();
