/**
 * TLS for engines reached over the network (tcp:// and https:// URLs): the CA that signed
 * the engine's server certificate, and the client certificate and key the engine asks for
 * when it runs with --tlsverify. Files are named by flags, or found the way the docker CLI
 * finds them: DOCKER_TLS_VERIFY set turns TLS on, with ca.pem, cert.pem and key.pem from
 * DOCKER_CERT_PATH (~/.docker when unset).
 */
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

/** Paths of the PEM files; each is optional, but a certificate needs its key and back. */
export interface EngineTlsFiles {
  /** The CA that signed the engine's certificate; the system's CAs when absent. */
  ca?: string;
  /** The client certificate the engine verifies (signed by the engine's --tlscacert). */
  cert?: string;
  key?: string;
}

/** The PEM contents, as the engine client takes them. */
export interface EngineTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** The flag (or variable) that named each file, for error messages. */
export interface EngineTlsSources {
  ca: string;
  cert: string;
  key: string;
}

export function hasEngineTls(files: { ca?: unknown; cert?: unknown; key?: unknown } | undefined): boolean {
  return Boolean(files && (files.ca || files.cert || files.key));
}

/**
 * The TLS files to use: those named explicitly win; with none named, DOCKER_TLS_VERIFY (set
 * to anything, as the docker CLI reads it) takes all three from DOCKER_CERT_PATH. Undefined
 * means no TLS settings at all. Throws when a certificate comes without its key or back.
 */
export function resolveEngineTlsFiles(
  explicit: EngineTlsFiles,
  env: Readonly<Record<string, string | undefined>>,
  sources: EngineTlsSources,
): EngineTlsFiles | undefined {
  let files: EngineTlsFiles | undefined;
  if (hasEngineTls(explicit)) {
    files = {};
    if (explicit.ca) files.ca = explicit.ca;
    if (explicit.cert) files.cert = explicit.cert;
    if (explicit.key) files.key = explicit.key;
  } else if (env.DOCKER_TLS_VERIFY) {
    const dir = env.DOCKER_CERT_PATH || path.join(os.homedir(), ".docker");
    files = {
      ca: path.join(dir, "ca.pem"),
      cert: path.join(dir, "cert.pem"),
      key: path.join(dir, "key.pem"),
    };
  }
  if (files && Boolean(files.cert) !== Boolean(files.key)) {
    throw new Error(
      files.cert
        ? `${sources.cert} is set without ${sources.key}: a client certificate needs its private key`
        : `${sources.key} is set without ${sources.cert}: a private key needs its client certificate`,
    );
  }
  return files;
}

const DESCRIPTION: Record<keyof EngineTlsFiles, string> = {
  ca: "CA certificate",
  cert: "client certificate",
  key: "client key",
};

/** Reads the PEM files; an unreadable or non-PEM file fails naming which one it is. */
export function readEngineTls(files: EngineTlsFiles): EngineTls {
  const tls: EngineTls = {};
  for (const part of ["ca", "cert", "key"] as const) {
    const file = files[part];
    if (!file) continue;
    let content: Buffer;
    try {
      content = readFileSync(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new Error(`Docker TLS ${DESCRIPTION[part]} ${file} cannot be read (${code})`);
    }
    if (!content.includes("-----BEGIN ")) {
      throw new Error(`Docker TLS ${DESCRIPTION[part]} ${file} is not a PEM file`);
    }
    tls[part] = content;
  }
  return tls;
}
