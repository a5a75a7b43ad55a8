/** Where an engine listens, as dockerode's connection options want it. */
export type EngineAddress =
  | { kind: "socket"; socketPath: string }
  | { kind: "network"; protocol: "http" | "https"; host: string; port: number };

/** Default ports by convention: 2375 plain, 2376 TLS. */
const PLAIN_PORT = 2375;
const TLS_PORT = 2376;

/**
 * Parses a Node's engine URL: unix:///path/docker.sock, tcp://host:port (plain HTTP, or
 * TLS when the port is 2376, as the docker CLI does), http://host:port or https://host:port.
 * With `tls` (a CA or client certificate is configured) a tcp:// URL is always TLS, and
 * URLs that cannot carry TLS (unix://, http://) are refused rather than used without it.
 */
export function parseEngineUrl(url: string, options: { tls?: boolean } = {}): EngineAddress {
  const trimmed = url.trim();
  if (trimmed.startsWith("unix://")) {
    if (options.tls) {
      throw new Error(
        `engine URL ${url} is a unix socket: Docker TLS settings apply to tcp:// and https:// engines only`,
      );
    }
    const socketPath = trimmed.slice("unix://".length);
    if (!socketPath.startsWith("/")) {
      throw new Error(
        `engine URL ${url}: a unix socket URL needs an absolute path, such as unix:///var/run/docker.sock`,
      );
    }
    return { kind: "socket", socketPath };
  }
  let parsed: URL;
  try {
    parsed = new URL(trimmed);
  } catch {
    throw new Error(`engine URL ${url} is not a URL; use unix:///path, tcp://host:port, http(s)://host:port`);
  }
  const scheme = parsed.protocol.replace(/:$/, "");
  if (scheme !== "tcp" && scheme !== "http" && scheme !== "https") {
    throw new Error(
      `engine URL ${url}: scheme ${scheme} is not supported; use unix://, tcp://, http:// or https://`,
    );
  }
  if (!parsed.hostname) throw new Error(`engine URL ${url} has no host`);
  if (parsed.pathname !== "/" && parsed.pathname !== "") {
    throw new Error(`engine URL ${url}: a path is not supported, only scheme://host:port`);
  }
  if (options.tls && scheme === "http") {
    throw new Error(
      `engine URL ${url} is plain HTTP but Docker TLS settings are given: use tcp:// or https://`,
    );
  }
  const explicitPort = parsed.port ? Number(parsed.port) : undefined;
  const tlsByPort = scheme === "tcp" && explicitPort === TLS_PORT;
  const protocol = scheme === "https" || (scheme === "tcp" && (options.tls || tlsByPort)) ? "https" : "http";
  const port = explicitPort ?? (scheme === "http" ? 80 : scheme === "https" ? 443 : PLAIN_PORT);
  // URL keeps IPv6 hosts in brackets; the HTTP client wants them bare.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, "$1");
  return { kind: "network", protocol, host, port };
}
