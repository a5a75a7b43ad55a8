/**
 * The web index's static files (controller/src/registry/web/, copied beside the compiled
 * code by the build), read once at start and served with a strict Content-Security-Policy:
 * scripts, styles and requests only from the registry itself, no inline script, no
 * framing. They hold no data, so they need no token; the data routes (web-api.ts) do.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type http from "node:http";

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** The page's URL paths and the files behind them. */
const FILES: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/ui/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/ui/dom.js": { file: "dom.js", type: "text/javascript; charset=utf-8" },
  "/ui/registry.js": { file: "registry.js", type: "text/javascript; charset=utf-8" },
  "/ui/service.js": { file: "service.js", type: "text/javascript; charset=utf-8" },
  "/ui/app.css": { file: "app.css", type: "text/css; charset=utf-8" },
  "/ui/icon.svg": { file: "icon.svg", type: "image/svg+xml" },
};

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** Headers every page answer carries. */
export const SECURITY_HEADERS: Record<string, string> = {
  "Content-Security-Policy": CONTENT_SECURITY_POLICY,
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Resource-Policy": "same-origin",
  "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
};

export class WebAssets {
  private readonly assets = new Map<string, Asset>();

  constructor(directory = new URL("./web/", import.meta.url)) {
    for (const [path, { file, type }] of Object.entries(FILES)) {
      const body = readFileSync(new URL(file, directory));
      const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`;
      this.assets.set(path, { body, type, etag });
    }
  }

  has(pathname: string): boolean {
    return this.assets.has(pathname);
  }

  /** Total bytes of the page and everything it loads. */
  get weightBytes(): number {
    return [...this.assets.values()].reduce((sum, a) => sum + a.body.length, 0);
  }

  serve(req: http.IncomingMessage, res: http.ServerResponse, pathname: string): void {
    const asset = this.assets.get(pathname);
    if (!asset) return;
    const headers = {
      ...SECURITY_HEADERS,
      "Content-Type": asset.type,
      ETag: asset.etag,
      // Revalidated every time (a cheap 304): a new registry version is picked up at once.
      "Cache-Control": "no-cache",
    };
    if (req.headers["if-none-match"] === asset.etag) {
      res.writeHead(304, headers).end();
      return;
    }
    res.writeHead(200, { ...headers, "Content-Length": asset.body.length });
    res.end(req.method === "HEAD" ? undefined : asset.body);
  }
}
