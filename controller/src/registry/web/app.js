// The registry's web index: plain JavaScript, no framework, no build step. Every piece of
// text from the server goes into the page through text nodes (never as HTML), and every
// link it makes is checked to be http(s) first. The views come from the registry's event
// streams (/v1/ui/...), read with fetch so the bearer token travels in a header: it is kept
// in sessionStorage, never in a URL or a cookie.

const TOKEN_KEY = "berth-registry-token";
const main = document.getElementById("main");
const connection = document.getElementById("connection");
const forgetButton = document.getElementById("forget-token");

/** Stops the current page's streams when another page opens. */
let closeCurrent = () => {};

// ------------------------------------------------------------------ DOM helpers

/** An element with attributes and children; strings become text nodes (escaped by the DOM). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** The URL when it is http(s), else undefined: nothing else ever becomes a link. */
function safeUrl(url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : undefined;
  } catch {
    return undefined;
  }
}

function externalLink(url, label, key) {
  const href = safeUrl(url);
  if (!href) return h("span", { class: "mono" }, label ?? url);
  return h("a", { href, rel: "noopener noreferrer", class: "mono", "data-key": key }, label ?? url);
}

function pageLink(hash, label, key) {
  return h("a", { href: hash, "data-key": key ?? hash }, label);
}

/** A table whose cells name their column (phone layout); `rows` are arrays of cell contents. */
function table(caption, columns, rows, empty) {
  if (rows.length === 0) return h("p", { class: "muted" }, empty);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { "aria-label": caption },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          columns.map((c) => h("th", { scope: "col" }, c)),
        ),
      ),
      h(
        "tbody",
        {},
        rows.map((cells) =>
          h(
            "tr",
            {},
            cells.map((cell, i) => h("td", { "data-label": columns[i] }, cell)),
          ),
        ),
      ),
    ),
  );
}

/** Replaces a region's content, keeping keyboard focus on the same link if it is still there. */
function replace(region, ...children) {
  const focused = document.activeElement?.getAttribute?.("data-key");
  region.replaceChildren();
  append(region, children);
  if (focused) {
    const again = [...region.querySelectorAll("[data-key]")].find(
      (el) => el.getAttribute("data-key") === focused,
    );
    again?.focus();
  }
}

// ------------------------------------------------------------------ time

function formatDuration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return `${hrs}h ${m % 60}m`;
  return `${Math.floor(hrs / 24)}d ${hrs % 24}h`;
}

/** An age that counts up (the clock below updates every [data-since] once a second). */
function age(time, suffix = "") {
  if (!time) return h("span", { class: "muted" }, "—");
  const since = Date.parse(time);
  if (Number.isNaN(since)) return h("span", { class: "muted" }, "—");
  return h(
    "time",
    { datetime: time, title: time, "data-since": since, "data-suffix": suffix },
    formatDuration(Date.now() - since) + suffix,
  );
}

setInterval(() => {
  for (const el of document.querySelectorAll("[data-since]")) {
    el.textContent = formatDuration(Date.now() - Number(el.dataset.since)) + (el.dataset.suffix ?? "");
  }
}, 1000);

// ------------------------------------------------------------------ the registry

function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

function headers(extra = {}) {
  const t = token();
  return t ? { ...extra, Authorization: `Bearer ${t}` } : extra;
}

function setConnection(state, text) {
  connection.dataset.state = state;
  connection.textContent = text;
}

async function errorMessage(res) {
  try {
    return (await res.json()).error?.message ?? `${res.status}`;
  } catch {
    return `${res.status}`;
  }
}

async function getJson(path) {
  const res = await fetch(path, { headers: headers({ Accept: "application/json" }), cache: "no-store" });
  if (!res.ok) throw Object.assign(new Error(await errorMessage(res)), { status: res.status });
  return res.json();
}

/**
 * Follows one of the registry's event streams: `onData` gets each view. A dropped
 * connection shows "Reconnecting" and is opened again (backoff up to 10 s); a 401 asks
 * for a token, another refusal is shown and ends the stream. Returns its stop function.
 */
function follow(path, onData) {
  let stopped = false;
  let abort;
  let backoff = 500;
  const run = async () => {
    setConnection("connecting", "Connecting…");
    while (!stopped) {
      abort = new AbortController();
      try {
        const res = await fetch(path, {
          headers: headers({ Accept: "text/event-stream" }),
          signal: abort.signal,
          cache: "no-store",
        });
        if (res.status === 401) return askForToken(await errorMessage(res));
        if (res.status >= 400 && res.status < 500 && res.status !== 429) {
          setConnection("error", "Refused");
          return showError(await errorMessage(res));
        }
        if (!res.ok || !res.body) throw new Error(`${res.status}`);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf("\n\n")) !== -1) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = block
              .split("\n")
              .filter((line) => line.startsWith("data:"))
              .map((line) => line.slice(5).trimStart())
              .join("\n");
            if (data) {
              backoff = 500;
              setConnection("live", "Live");
              onData(JSON.parse(data));
            }
          }
        }
      } catch {
        // The connection failed or dropped: reconnect below.
      }
      if (stopped) return;
      setConnection("reconnecting", "Reconnecting…");
      await new Promise((resolve) => setTimeout(resolve, backoff));
      backoff = Math.min(backoff * 2, 10_000);
    }
  };
  void run();
  return () => {
    stopped = true;
    abort?.abort();
  };
}

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

forgetButton.addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  route();
});

// ------------------------------------------------------------------ Services

const SOURCE = { berth: "Berth-run", external: "External", both: "Berth-run + external" };

function condition(view, good) {
  if (!view) return h("span", { class: "muted" }, "—");
  const cls = view.reason === good ? "ok" : "warn";
  return h(
    "span",
    {},
    h("span", { class: cls }, view.reason),
    view.message ? h("br") : null,
    view.message ? h("span", { class: "muted" }, view.message) : null,
  );
}

function readyCount(service) {
  const cls =
    service.desired > 0 && service.ready >= service.desired
      ? "ok"
      : service.ready === 0 && service.desired > 0
        ? "bad"
        : "warn";
  return h("span", { class: cls, "data-test": "ready" }, `${service.ready}/${service.desired}`);
}

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

function operationsOf(namespace, slug, position, region) {
  replace(region, h("p", { class: "muted" }, "Reading the document from a ready instance…"));
  getJson(
    `/v1/ui/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(slug)}/endpoints/${position}/operations`,
  )
    .then((doc) =>
      replace(
        region,
        h(
          "p",
          { class: "muted" },
          [doc.title, doc.version].filter(Boolean).join(" "),
          ` (read from ${doc.url})`,
        ),
        table(
          "Operations",
          ["Method", "Path", "Summary"],
          doc.operations.map((o) => [
            h("span", { class: "mono" }, o.method),
            h("span", { class: "mono" }, o.path),
            o.summary,
          ]),
          "The document lists no operations.",
        ),
        doc.truncated ? h("p", { class: "muted" }, "Only the first operations are listed.") : null,
      ),
    )
    .catch((err) =>
      replace(region, h("p", { class: "notice" }, `The document could not be read: ${err.message}`)),
    );
}

function servicePage(namespace, slug) {
  document.title = `${slug} · Berth registry`;
  const base = `#/services/${encodeURIComponent(namespace)}`;
  const region = h("div", { id: "service" }, h("p", { class: "muted" }, "Loading…"));
  const endpointsRegion = h("div", { id: "endpoints" });
  replace(
    main,
    h("p", {}, pageLink(base, `← Services in ${namespace}`)),
    h("h1", {}, slug),
    region,
    endpointsRegion,
  );
  let endpointsKey;
  return follow(
    `/v1/ui/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(slug)}`,
    (view) => {
      const s = view.summary;
      const serviceLinks = (slugs) =>
        slugs.length
          ? h(
              "span",
              { class: "links" },
              slugs.map((d) => pageLink(`${base}/${encodeURIComponent(d)}`, d)),
            )
          : h("span", { class: "muted" }, "none");
      replace(
        region,
        !view.defined && view.instances.length === 0
          ? h("p", { class: "notice" }, `No Definition and no instance named ${slug} in ${namespace}.`)
          : null,
        h(
          "dl",
          { class: "facts" },
          h("dt", {}, "Ready"),
          h("dd", {}, s ? readyCount(s) : "—"),
          h("dt", {}, "Source"),
          h("dd", {}, s ? (SOURCE[s.source] ?? s.source) : "—"),
          h("dt", {}, "Deployment"),
          h("dd", { class: "mono" }, s?.deploymentId ?? "—"),
          h("dt", {}, "Rollout"),
          h("dd", {}, condition(s?.rollout, "RolloutComplete")),
          h("dt", {}, "Not ready because"),
          h(
            "dd",
            {},
            s?.problem
              ? h("span", {}, h("span", { class: "bad" }, s.problem.reason), " ", s.problem.message)
              : "—",
          ),
          h("dt", {}, "Labels"),
          h(
            "dd",
            { class: "mono" },
            Object.entries(view.labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(", ") || "none",
          ),
          h("dt", {}, "Depends on"),
          h("dd", {}, serviceLinks(view.dependsOn)),
          h("dt", {}, "Used by"),
          h("dd", {}, serviceLinks(view.dependents)),
          h("dt", {}, "Client libraries"),
          h(
            "dd",
            {},
            view.clients.length
              ? h(
                  "span",
                  { class: "links" },
                  view.clients.map((c) =>
                    h("span", {}, `${c.language}: `, externalLink(c.url, c.url, `client ${c.url}`)),
                  ),
                )
              : h("span", { class: "muted" }, "none declared"),
          ),
        ),
        h("h2", {}, "Instances"),
        table(
          "Instances",
          ["Instance", "Node", "Address", "Ready", "Restarts", "Age", "Phase", "Last probe", "Message"],
          view.instances.map((i) => [
            h("span", { class: "mono" }, i.name),
            i.node ? pageLink("#/nodes", i.node, `node ${i.name}`) : i.external ? "external" : "—",
            i.url
              ? i.ready
                ? externalLink(i.url, i.url, `instance ${i.name}`)
                : h("span", { class: "mono" }, i.url)
              : "—",
            i.ready
              ? h("span", { class: "ok" }, "Ready")
              : h("span", { class: "bad" }, i.reason ?? "Not ready"),
            String(i.restarts),
            age(i.createdAt),
            i.phase ?? "—",
            age(i.lastProbeTime, " ago"),
            i.message ?? "",
          ]),
          "No instances.",
        ),
        h("h2", {}, "Recent events"),
        table(
          "Events",
          ["When", "Type", "Reason", "Object", "Message"],
          view.events.map((e) => [
            age(e.time, " ago"),
            e.type === "Warning" ? h("span", { class: "warn" }, "Warning") : e.type,
            e.reason,
            h("span", { class: "mono" }, e.object),
            e.count > 1 ? `${e.note} (×${e.count})` : e.note,
          ]),
          "No recent events.",
        ),
      );
      // Endpoint documents are read again only when the deployment or readiness changes.
      const key = JSON.stringify([view.endpoints, s?.deploymentId, (s?.ready ?? 0) > 0]);
      if (key === endpointsKey) return;
      endpointsKey = key;
      const parts = [h("h2", {}, "Endpoints")];
      if (view.endpoints.length === 0)
        parts.push(h("p", { class: "muted" }, "No endpoints declared (spec.endpoints)."));
      view.endpoints.forEach((e, position) => {
        parts.push(
          h(
            "h3",
            {},
            `${e.type}: `,
            safeUrl(e.url)
              ? externalLink(e.url, e.url, `endpoint ${position}`)
              : h("span", { class: "mono" }, e.url),
          ),
        );
        if (e.type === "openapi") {
          const ops = h("div", { id: `operations-${position}` });
          parts.push(ops);
          operationsOf(namespace, slug, position, ops);
        }
      });
      replace(endpointsRegion, ...parts);
    },
  );
}

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
