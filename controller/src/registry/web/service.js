// The page of one service: its Instances, Events, dependencies both ways, endpoints (an
// openapi endpoint's operations read through the registry) and client libraries.
import { age, externalLink, h, pageLink, replace, safeUrl, table } from "./dom.js";
import { follow, getJson } from "./registry.js";

const main = document.getElementById("main");

export const SOURCE = { berth: "Berth-run", external: "External", both: "Berth-run + external" };

export function condition(view, good) {
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

export function readyCount(service) {
  const cls =
    service.desired > 0 && service.ready >= service.desired
      ? "ok"
      : service.ready === 0 && service.desired > 0
        ? "bad"
        : "warn";
  return h("span", { class: cls, "data-test": "ready" }, `${service.ready}/${service.desired}`);
}

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

export function servicePage(namespace, slug) {
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
