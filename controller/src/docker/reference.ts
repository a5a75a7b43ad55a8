/**
 * Image references, checked against the distribution reference grammar before they go
 * anywhere near the engine: a name such as `x/../../images/get?names=big&a=` would
 * otherwise walk out of `/images/<name>/json` into another endpoint of the Docker API.
 *
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [ domain [ ":" port ] "/" ] path-component { "/" path-component }
 *
 * The pattern avoids backslashes so that the very same text works as a JavaScript
 * RegExp, as RE2 in a CEL rule of the CRD (controller/src/api/types.ts carries a copy; a
 * unit test keeps the two equal) and inside JSON and YAML without escaping. IPv6 registry
 * addresses are not accepted: name the registry by host name or IPv4 address.
 */

const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `${DOMAIN_COMPONENT}(?:[.]${DOMAIN_COMPONENT})*(?::[0-9]+)?`;
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*";
const TAG = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
const DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[a-fA-F0-9]{32,}";

/** The whole grammar, anchored: what the CRD's rule on image.name matches too. */
export const IMAGE_REFERENCE_PATTERN = `^(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*(?::${TAG})?(?:@${DIGEST})?$`;

/** The longest name (the part before tag and digest) the engine accepts. */
export const IMAGE_NAME_MAX_LENGTH = 255;
/** The longest whole reference Berth accepts, as the CRD's maxLength says. */
export const IMAGE_REFERENCE_MAX_LENGTH = 512;

const IMAGE_REFERENCE = new RegExp(IMAGE_REFERENCE_PATTERN);

/** What is wrong with an image reference, for a person; undefined when it is valid. */
export function imageReferenceProblem(reference: string): string | undefined {
  if (reference.length === 0) return "an image reference must not be empty";
  // Length first: it bounds the regular expression's work on hostile input.
  if (reference.length > IMAGE_REFERENCE_MAX_LENGTH) {
    return `an image reference must be at most ${IMAGE_REFERENCE_MAX_LENGTH} characters`;
  }
  if (!IMAGE_REFERENCE.test(reference)) {
    return (
      "not an image reference: expected [registry[:port]/]path[:tag][@digest] with a lowercase path " +
      "of letters, digits and single separators (., _, __, -), such as registry.example.com/team/app:1.2"
    );
  }
  const name = reference.replace(/@.*$/, "").replace(/:[^/:]*$/, "");
  if (name.length > IMAGE_NAME_MAX_LENGTH) {
    return `an image name (without tag and digest) must be at most ${IMAGE_NAME_MAX_LENGTH} characters`;
  }
  return undefined;
}

/**
 * An image reference as one segment of an engine API path. A valid reference has `/` and
 * `:` in it, which the engine's router takes back; encoding them is what keeps any other
 * character from changing the path or adding a query.
 */
export function imagePathSegment(reference: string): string {
  return encodeURIComponent(reference);
}
