/** Which hosts an EndpointSlice can hold, and as what address type. */
import { BlockList, isIPv4, isIPv6 } from "node:net";
import type { EndpointSlice } from "../../kube/resources.js";

export type AddressType = EndpointSlice["addressType"];

export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * IPs the API server refuses in an EndpointSlice: unspecified, loopback, link-local and
 * link-local multicast. (A Node on 127.0.0.1, as `npm start` makes, publishes nothing.)
 */
const REFUSED_IPS = new BlockList();
REFUSED_IPS.addSubnet("0.0.0.0", 32, "ipv4");
REFUSED_IPS.addSubnet("127.0.0.0", 8, "ipv4");
REFUSED_IPS.addSubnet("169.254.0.0", 16, "ipv4");
REFUSED_IPS.addSubnet("224.0.0.0", 24, "ipv4");
REFUSED_IPS.addSubnet("::", 128, "ipv6");
REFUSED_IPS.addSubnet("::1", 128, "ipv6");
REFUSED_IPS.addSubnet("fe80::", 10, "ipv6");
REFUSED_IPS.addSubnet("ff02::", 16, "ipv6");
// IPv4-mapped IPv6 forms of the IPv4 ranges.
REFUSED_IPS.addSubnet("::ffff:127.0.0.0", 104, "ipv6");
REFUSED_IPS.addSubnet("::ffff:169.254.0.0", 112, "ipv6");

type SliceAddress = Readonly<{ addressType: AddressType; address: string }>;

/**
 * Hosts already checked, and what each came to (null: none). Every discovery pass asks for
 * each of its service's Instances, and a cluster has few Node addresses; the check itself
 * (a BlockList lookup builds a socket address each time) was most of a pass's work. Bounded:
 * past the bound the oldest host goes.
 */
const checkedHosts = new Map<string, SliceAddress | null>();
export const CHECKED_HOSTS_KEPT = 4096;

/** The address type and the address as a slice holds it, or undefined for a host no slice can hold. */
export function sliceAddress(host: string): SliceAddress | undefined {
  const known = checkedHosts.get(host);
  if (known !== undefined) return known ?? undefined;
  const checked = checkHost(host);
  if (checkedHosts.size >= CHECKED_HOSTS_KEPT) {
    const oldest = checkedHosts.keys().next().value;
    if (oldest !== undefined) checkedHosts.delete(oldest);
  }
  checkedHosts.set(host, checked ? Object.freeze(checked) : null);
  return checked;
}

/** How many hosts' checks are kept (for tests of the bound). */
export function checkedHostCount(): number {
  return checkedHosts.size;
}

function checkHost(host: string): { addressType: AddressType; address: string } | undefined {
  if (isIPv4(host))
    return REFUSED_IPS.check(host, "ipv4") ? undefined : { addressType: "IPv4", address: host };
  if (isIPv6(host)) {
    return REFUSED_IPS.check(host, "ipv6") ? undefined : { addressType: "IPv6", address: host.toLowerCase() };
  }
  const name = host.toLowerCase().replace(/\.$/, "");
  if (name.length === 0 || name.length > 253) return undefined;
  if (!name.split(".").every((label) => label.length <= 63 && DNS_LABEL.test(label))) return undefined;
  return { addressType: "FQDN", address: name };
}
