// DOM helpers of the web index: every text goes in as a text node (escaped by the DOM),
// only http(s) URLs become links, ages count up on their own.

/** An element with attributes and children; strings become text nodes (escaped by the DOM). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** The URL when it is http(s), else undefined: nothing else ever becomes a link. */
export function safeUrl(url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : undefined;
  } catch {
    return undefined;
  }
}

export function externalLink(url, label, key) {
  const href = safeUrl(url);
  if (!href) return h("span", { class: "mono" }, label ?? url);
  return h("a", { href, rel: "noopener noreferrer", class: "mono", "data-key": key }, label ?? url);
}

export function pageLink(hash, label, key) {
  return h("a", { href: hash, "data-key": key ?? hash }, label);
}

/** A table whose cells name their column (phone layout); `rows` are arrays of cell contents. */
export function table(caption, columns, rows, empty) {
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
export function replace(region, ...children) {
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

export function formatDuration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return `${hrs}h ${m % 60}m`;
  return `${Math.floor(hrs / 24)}d ${hrs % 24}h`;
}

/** An age that counts up (the clock below updates every [data-since] once a second). */
export function age(time, suffix = "") {
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
