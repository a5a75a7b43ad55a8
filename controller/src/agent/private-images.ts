/**
 * Which images on this node came from a registry that asked for credentials. An image the
 * agent pulled with an Instance's pull secret is private: with pullPolicy IfNotPresent the
 * engine would run the cached copy for anyone, so another Instance may use it only after
 * the registry has accepted that Instance's own credentials for it (see images.ts).
 *
 * Kept by image id (a digest of the image's content, so every tag and digest reference of
 * the same image counts) in the agent's state directory, so it outlives agent restarts.
 * Credentials that were accepted for an image are remembered as HMACs under a random key
 * of this file's own, so the same credentials are not sent to the registry again on every
 * container start, and the file never holds a password or anything to test guesses with
 * without the key.
 */
import { createHmac, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { RegistryAuth } from "../docker/options.js";

export const PRIVATE_IMAGES_FILE = "private-images.json";
/**
 * Accepted credentials remembered per image; older ones are forgotten (and asked about again).
 * Images themselves are never forgotten: a forgotten private image would count as public.
 */
const MAX_ACCEPTED = 32;

interface PrivateImage {
  /** The registry host it was pulled from, to name in messages. */
  registry: string;
  /** HMACs of credentials the registry accepted for it. */
  accepted: string[];
}

interface RecordFile {
  version: 1;
  /** Base64 key of the credential HMACs. */
  key: string;
  images: Record<string, PrivateImage>;
}

export class PrivateImages {
  private readonly key: Buffer;
  private readonly images: Map<string, PrivateImage>;

  /** Loads the record from `stateDir`, or keeps it in memory only when stateDir is absent. */
  constructor(private readonly stateDir?: string) {
    const loaded = stateDir ? readRecord(path.join(stateDir, PRIVATE_IMAGES_FILE)) : undefined;
    this.key = loaded ? Buffer.from(loaded.key, "base64") : randomBytes(32);
    this.images = new Map(Object.entries(loaded?.images ?? {}));
  }

  /** The registry a private image came from; undefined for an image not known to be private. */
  registryOf(imageId: string): string | undefined {
    return this.images.get(imageId)?.registry;
  }

  /** Whether the registry has accepted these credentials for this image before. */
  accepted(imageId: string, auth: RegistryAuth): boolean {
    return this.images.get(imageId)?.accepted.includes(this.fingerprint(auth)) ?? false;
  }

  /**
   * After a pull: with credentials the image is private and they are accepted for it; a pull
   * without any proves it public, and it is forgotten.
   */
  pulled(imageId: string, registry: string, auth: RegistryAuth | undefined): void {
    if (!auth) {
      if (this.images.delete(imageId)) this.save();
      return;
    }
    const accepted = this.images.get(imageId)?.accepted ?? [];
    this.images.set(imageId, { registry, accepted: withFingerprint(accepted, this.fingerprint(auth)) });
    this.save();
  }

  /** The registry accepted these credentials (`{}` for none) for a private image. */
  accept(imageId: string, auth: RegistryAuth): void {
    const image = this.images.get(imageId);
    const fingerprint = this.fingerprint(auth);
    if (!image || image.accepted.includes(fingerprint)) return;
    image.accepted = withFingerprint(image.accepted, fingerprint);
    this.save();
  }

  private fingerprint(auth: RegistryAuth): string {
    const fields = [auth.serverAddress, auth.username, auth.password, auth.identityToken].map((f) => f ?? "");
    return createHmac("sha256", this.key).update(JSON.stringify(fields)).digest("base64");
  }

  /** Written whole to a temporary file and renamed, so a crash never leaves half a record. */
  private save(): void {
    if (!this.stateDir) return;
    const record: RecordFile = {
      version: 1,
      key: this.key.toString("base64"),
      images: Object.fromEntries(this.images),
    };
    mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    const file = path.join(this.stateDir, PRIVATE_IMAGES_FILE);
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify(record), { mode: 0o600 });
    renameSync(temporary, file);
  }
}

function withFingerprint(accepted: readonly string[], fingerprint: string): string[] {
  return [...accepted.filter((known) => known !== fingerprint), fingerprint].slice(-MAX_ACCEPTED);
}

/**
 * The record on disk; none when there is no file yet. A file that cannot be read is an
 * error, not an empty record: forgetting would let cached private images run for anyone.
 */
function readRecord(file: string): RecordFile | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  let record: Partial<RecordFile> | null;
  try {
    record = JSON.parse(text) as Partial<RecordFile> | null;
  } catch {
    record = null;
  }
  if (record?.version !== 1 || typeof record.key !== "string" || typeof record.images !== "object") {
    throw new Error(`${file} is not a record of private images; move it away to start a new one`);
  }
  return record as RecordFile;
}
